"""Benchmark ``idcseg masks`` side by side with dcmqi and highdicom, in one run.

For two SEGs (``masks_data.py``: a TotalSegmentator-like SEG of 104 segments over 240 slices of
512×512, sparse frames, ~110 MB; and a dcmqi-written one of 60 segments over 120 slices), every
segment to NIfTI (``.nii.gz``) by, in fresh processes, interleaved:

  (a) ``idcseg masks SEG -o DIR``;
  (b) dcmqi's ``segimage2itkimage --inputDICOM SEG --outputDirectory DIR -t nifti``;
  (c) a plain highdicom loop (``masks_highdicom.py``): ``segread``, then per segment
      ``get_volume`` and ``nibabel.save``.

Wall time (``Popen`` to ``os.wait4``), peak RSS (``ru_maxrss``) and CPU time of each child, as
``cli_cold.py`` measures them; medians over the runs, and the ratio to idcseg. The answers are
compared: for every 4th segment (``--check-all``: every one), the world positions (LPS, 0.01 mm)
of the foreground voxels must be the same in all three outputs.

Memory target: idcseg's peak RSS ≤ 1.5 × (largest output volume + the file).

Then the bucket: the large SEG is put into a local S3 server (moto on 127.0.0.1, as the tests
use), a stand-in IDC index maps its SeriesInstanceUID to it, and ``idcseg masks UID --segment N
-o DIR`` reads one segment: bytes read / file size (target < 10 %), requests, and the time,
beside a whole-object GET of the same file (what downloading it first costs).

    python bench/masks_data.py        # once: makes the SEGs (~1 min)
    python bench/masks.py             # ~10 min: 5 idcseg, 3 dcmqi, 3 highdicom runs per SEG
    python bench/masks.py --quick     # 1 run each
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO))

from cli_cold import Run, run_child, summarise, wait_quiet  # noqa: E402

OUT = BENCH / "out"
MIB = 1024 * 1024
TARGET_SPEEDUP = 3.0
TARGET_MEMORY = 1.5
TARGET_SHARE = 0.10


def commands(seg: Path, out: Path) -> dict[str, list[str]]:
    """The three ways to write every segment of *seg* into *out* (one folder per tool)."""
    return {
        "idcseg masks": [sys.executable, "-m", "idcseg", "masks", str(seg), "-o", str(out),
                         "--no-progress"],
        "segimage2itkimage": ["segimage2itkimage", "--inputDICOM", str(seg),
                              "--outputDirectory", str(out), "-t", "nifti"],
        "highdicom loop": [sys.executable, str(BENCH / "masks_highdicom.py"), str(seg),
                           str(out)],
    }  # fmt: skip


TIME = shutil.which("time") or "/usr/bin/time"


def timed(argv: list[str], env: dict[str, str], quiet: float = 0.0) -> tuple[Run, str]:
    """Run *argv* in a fresh process: ``cli_cold.run_child``'s wall time, and the peak RSS and
    CPU time GNU time reports for the command itself (``ru_maxrss`` of a child forked from this
    process would include this process's own memory, which the answer checks make large)."""
    if quiet:
        wait_quiet(quiet)
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as sheet:
        wrapped = [TIME, "-o", sheet.name, "-f", "%M %U %S", *argv] if Path(TIME).exists() else argv
        run, _, err = run_child(wrapped, env)
        figures = sheet.read().split()
    if len(figures) >= 3 and wrapped is not argv:
        run.peak_rss_mib = int(figures[-3]) / 1024
        run.user_s, run.sys_s = float(figures[-2]), float(figures[-1])
    return run, err


def segment_files(tool: str, folder: Path) -> dict[int, Path]:
    """Segment number → NIfTI file of one tool's output."""
    if tool == "idcseg masks":
        sidecar = json.loads((folder / "segments.json").read_text())
        return {s["SegmentNumber"]: folder / s["file"] for s in sidecar["segments"]}
    if tool == "segimage2itkimage":
        meta = json.loads((folder / "meta.json").read_text())
        return {
            int(entries[0]["labelID"]): folder / f"{i}.nii.gz"
            for i, entries in enumerate(meta["segmentAttributes"], start=1)
        }
    return {int(p.name.split(".")[0]): p for p in folder.glob("*.nii.gz")}


def world_keys(path: Path) -> Any:
    """Sorted LPS positions (units of 0.01 mm) of a NIfTI file's foreground voxels."""
    import nibabel as nib
    import numpy as np

    image = nib.load(path)
    index = np.argwhere(np.asanyarray(image.dataobj) != 0)
    ras = index @ image.affine[:3, :3].T + image.affine[:3, 3]
    keys = np.round(ras * 100).astype(np.int64)
    return keys[np.lexsort(keys.T[::-1])]


def compare(outputs: dict[str, Path], every: int) -> list[str]:
    """Differences between the tools' foreground voxels, segment by segment."""
    import numpy as np

    files = {tool: segment_files(tool, folder) for tool, folder in outputs.items()}
    problems = []
    numbers = sorted(files["idcseg masks"])
    for tool, found in files.items():
        if sorted(found) != numbers:
            problems.append(f"{tool}: segments {sorted(found)[:5]}… vs idcseg's {numbers[:5]}…")
    for number in numbers[::every]:
        ours = world_keys(files["idcseg masks"][number])
        for tool, found in files.items():
            if tool != "idcseg masks" and number in found:
                theirs = world_keys(found[number])
                if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
                    problems.append(f"segment {number}: {tool} has {len(theirs)} foreground "
                                    f"voxels elsewhere or more than idcseg's {len(ours)}")  # fmt: skip
    return problems


def largest_output(folder: Path) -> int:
    """Bytes of the largest volume idcseg wrote (its uncompressed voxels)."""
    import nibabel as nib

    sizes = []
    for path in folder.glob("*.nii.gz"):
        header = nib.load(path).header
        sizes.append(int(math.prod(header.get_data_shape())) * header.get_data_dtype().itemsize)
    return max(sizes)


def run_tools(
    seg: Path, rounds: dict[str, int], work: Path, quiet: float
) -> tuple[dict[str, Any], dict[str, Path]]:
    """All runs of the three tools on *seg*; the first output of each is kept for the checks."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    runs: dict[str, list[Any]] = {tool: [] for tool in rounds}
    kept: dict[str, Path] = {}
    largest = 0
    for round_number in range(max(rounds.values())):
        for tool in rounds:
            if round_number >= rounds[tool]:
                continue
            out = work / f"{tool.split()[0]}-{round_number}"
            out.mkdir(parents=True)  # segimage2itkimage wants it to exist
            run, err = timed(commands(seg, out)[tool], env, quiet)
            if run.exit_code != 0:
                raise SystemExit(f"{tool} failed on {seg.name}:\n{err[-2000:]}")
            runs[tool].append(run)
            print(f"  {seg.name}: {tool:<18} {run.wall_s:7.2f} s  {run.peak_rss_mib:7.0f} MiB",
                  file=sys.stderr)  # fmt: skip
            if tool not in kept:
                kept[tool] = out
                if tool == "idcseg masks":
                    largest = largest_output(out)
            else:
                shutil.rmtree(out)
    return {"runs": runs, "largest_output_bytes": largest}, kept


def bucket(seg: Path, segment: int, rounds: int, work: Path, quiet: float) -> dict[str, Any]:
    """One segment of *seg* read from a local S3 server by ``idcseg masks UID``."""
    import pydicom

    from idcseg.remote.bucket import AnonymousS3
    from tests import fetchworld
    from tests.s3server import FaultProxy, LocalS3

    uid = str(pydicom.dcmread(seg, stop_before_pixels=True).SeriesInstanceUID)
    s3 = LocalS3()
    proxy = FaultProxy((s3.host, s3.port))
    try:
        s3.public_bucket(fetchworld.BUCKET)
        series = fetchworld.Series("bench", uid, str(uuid.uuid4()))
        series.keys.append(f"{series.uuid}/{uuid.uuid4()}.dcm")
        series.files.append(seg)
        s3.put(fetchworld.BUCKET, series.keys[0], seg)
        fetchworld._write_index(work / "index" / "idc_index_data", {"bench": series}, ("bench",))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(work / "index"), str(REPO), env.get("PYTHONPATH", "")]
        )
        env["IDCSEG_S3_ENDPOINT"] = proxy.endpoint
        env["IDCSEG_HOME"] = str(work / "home")
        argv = [sys.executable, "-m", "idcseg", "masks", uid, "-n", str(segment), "-o",
                str(work / "one"), "--no-progress"]  # fmt: skip
        timed(argv, env)  # warm-up: makes the stand-in index's DuckDB copy
        runs, shares, requests = [], [], []
        for _ in range(rounds):
            proxy.reset()
            run, err = timed(argv, env, quiet)
            if run.exit_code != 0:
                raise SystemExit(f"idcseg masks from the bucket failed:\n{err[-2000:]}")
            found = re.search(r"\(([\d.]+)%\) from the bucket in (\d+) range request", err)
            if found is None:
                raise SystemExit(f"no share-read line in:\n{err}")
            runs.append(run)
            shares.append(proxy.bytes_sent / seg.stat().st_size)
            requests.append(int(found.group(2)))
        client = AnonymousS3(proxy.endpoint)
        size = seg.stat().st_size
        start = time.perf_counter()
        whole = client.get_range(fetchworld.BUCKET, series.keys[0], 0, size - 1)
        whole_s = time.perf_counter() - start
        client.close()
        assert len(whole.data) == size
    finally:
        proxy.stop()
        s3.stop()
    return {
        "segment": segment,
        "file_bytes": seg.stat().st_size,
        "runs": runs,
        "share_read": shares,
        "requests": requests,
        "whole_object_get_s": whole_s,
    }


def median_segment(seg: Path) -> int:
    """The segment with the median number of frames (a typical organ)."""
    from idcseg.dicom.segfile import SegFile

    with SegFile.open(seg) as opened:
        counts = sorted((len(s.frames), n) for n, s in opened.segments.items())
    return counts[len(counts) // 2][1]  # (read in this process before any bucket run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="idcseg runs per SEG (default 5)")
    parser.add_argument("--others", type=int, default=3, help="dcmqi and highdicom runs (3)")
    parser.add_argument("--quick", action="store_true", help="one run of each tool")
    parser.add_argument("--check-all", action="store_true", help="compare every segment")
    parser.add_argument("--no-bucket", action="store_true", help="skip the bucket part")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        help="before each run, wait up to S seconds for other processes to calm down (30)",
    )
    args = parser.parse_args(argv)
    from masks_data import build

    segs = build()
    n_ours, n_others = (1, 1) if args.quick else (args.n, args.others)
    rounds = {"idcseg masks": n_ours, "segimage2itkimage": n_others, "highdicom loop": n_others}
    every = 1 if args.check_all else 4
    report: dict[str, Any] = {
        "time": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },  # fmt: skip
        "segs": {},
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="idcseg-bench-masks-") as tmp:
        work = Path(tmp)
        outputs = {}
        for name, seg in segs.items():
            result, outputs[name] = run_tools(seg, rounds, work / name, args.wait_quiet)
            result["file_bytes"] = seg.stat().st_size
            report["segs"][name] = result
        if not args.no_bucket:
            seg = segs["totalseg"]
            report["bucket"] = bucket(
                seg, median_segment(seg), max(1, n_ours), work / "bucket", args.wait_quiet
            )
        for name, kept in outputs.items():  # after every timed run
            report["segs"][name]["problems"] = compare(kept, every)
    print()
    print(f"{'SEG':<34} {'tool':<18} {'median s':>9} {'min-max s':>13} {'peak MiB':>9} "
          f"{'CPU s':>7} {'vs idcseg':>10}")  # fmt: skip
    for name, result in report["segs"].items():
        size = result["file_bytes"]
        ours = summarise(result["runs"]["idcseg masks"])
        label = f"{name} ({size / 1e6:.0f} MB)"
        for tool, runs in result["runs"].items():
            s = summarise(runs)
            ratio = s["median_wall_s"] / ours["median_wall_s"]
            print(f"{label:<34} {tool:<18} {s['median_wall_s']:9.2f} "
                  f"{s['min_wall_s']:6.2f}-{s['max_wall_s']:<6.2f} {s['median_peak_rss_mib']:9.0f} "
                  f"{s['median_cpu_s']:7.2f} {ratio:9.1f}×")  # fmt: skip
            label = ""
        dcmqi = summarise(result["runs"]["segimage2itkimage"])["median_wall_s"]
        speedup = dcmqi / ours["median_wall_s"]
        budget = TARGET_MEMORY * (result["largest_output_bytes"] + size)
        peak = ours["max_peak_rss_mib"] * MIB
        print(f"  speed: {speedup:.1f}× segimage2itkimage (target ≥ {TARGET_SPEEDUP:g}×) "
              f"{'OK' if speedup >= TARGET_SPEEDUP else 'MISSED'}; peak memory "
              f"{peak / 1e6:.0f} MB ≤ 1.5 × ({result['largest_output_bytes'] / 1e6:.0f} MB "
              f"volume + {size / 1e6:.0f} MB file) = {budget / 1e6:.0f} MB "
              f"{'OK' if peak <= budget else 'MISSED'}")  # fmt: skip
        failed |= speedup < TARGET_SPEEDUP or peak > budget
        if result["problems"]:
            failed = True
            print("!!! ANSWER MISMATCH", *result["problems"][:10], sep="\n!!! ")
        else:
            checked = "every" if every == 1 else f"every {every}th"
            print(f"  answers: the same foreground voxels in world coordinates ({checked} segment)")
    if "bucket" in report:
        b = report["bucket"]
        s = summarise(b["runs"])
        share = max(b["share_read"])
        print(f"\nbucket (local S3): one segment (#{b['segment']}) of the {b['file_bytes'] / 1e6:.0f}"
              f" MB SEG: {share:.1%} of the file read (target < {TARGET_SHARE:.0%}) "
              f"{'OK' if share < TARGET_SHARE else 'MISSED'}, {b['requests'][0]} range requests, "
              f"{s['median_wall_s']:.2f} s median, {s['median_peak_rss_mib']:.0f} MiB; a "
              f"whole-object GET alone: {b['whole_object_get_s']:.2f} s")  # fmt: skip
        failed |= share >= TARGET_SHARE
    OUT.mkdir(exist_ok=True)
    path = OUT / f"masks-{dt.datetime.now():%Y%m%d-%H%M%S}.json"

    def plain(value: Any) -> Any:
        if hasattr(value, "__dataclass_fields__"):
            return asdict(value)
        raise TypeError(type(value))

    path.write_text(json.dumps(report, indent=2, default=plain))
    print(f"\n(full results: {path.relative_to(REPO)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
