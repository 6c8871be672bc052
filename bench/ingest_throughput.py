"""How fast idcseg reads and ingests multi-MB SEG files, against pydicom and highdicom.

    python bench/ingest_throughput.py [--files 300] [--cache DIR] [--repeat 3]

Generates (once, into ``bench/out/ingest_throughput/`` unless --cache says otherwise) a CT series
of 256×256 slices, one BINARY SEG of it with highdicom (3 segments on every slice, so several
hundred frames and several MB), re-encoded as dcmqi writes SEGs: every sequence and item of
undefined length. That SEG is cloned --files times with new SOP/Series UIDs by rewriting the UID
bytes (same length), which keeps generation fast.

Then, in this one process, on the same (page-cached) files it times:

- ``idcseg.dicom.segheader.read_header`` (pydicom ``read_partial`` stopping at (5200,0000)), alone and
  with ``segment_rows``;
- ``idcseg.local.ingest.ingest`` end to end into a fresh store (one process, one core);
- ``pydicom.dcmread(stop_before_pixels=True)``;
- highdicom ``segread`` on a subset;

and prints a table of medians (per file, and of the run totals over --repeat runs; the slow
pydicom/highdicom reads run --slow-repeat times). Peak RSS of an ingest of 100 and of all files
is measured in fresh subprocesses (``resource.getrusage``), to show that memory does not grow with
the number of files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

N_SLICES = 220
SIZE = 256
N_SEGMENTS = 3
UNDEFINED_SQ = b"SQ\x00\x00\xff\xff\xff\xff"


def _new_uid(old: str, i: int, salt: int) -> str:
    """A UID of the same length as *old*: its last 8 digits replaced by *salt* and *i*."""
    tail = f"{salt:02d}{i:06d}"
    last = old.rsplit(".", 1)[-1]
    if len(last) <= len(tail) or not last.isdigit():
        raise ValueError(f"cannot vary {old!r} in place")
    return old[: -len(tail)] + tail


def generate(cache: Path, n_files: int) -> list[Path]:
    """The benchmark files (made if missing)."""
    files_dir = cache / "segs"
    files = sorted(files_dir.glob("seg_*.dcm"))
    if len(files) >= n_files:
        return files[:n_files]
    import highdicom as hd
    import numpy as np
    import pydicom

    from tests import segfactory

    t0 = time.perf_counter()
    template = cache / "template.dcm"
    if not template.is_file():
        ct = segfactory.make_ct_series(cache / "ct", N_SLICES, size=SIZE)
        case = segfactory.Case(
            "bench",
            "BINARY",
            [
                segfactory.Seg(
                    k + 1,
                    f"organ {k + 1}",
                    segfactory.ANATOMICAL_STRUCTURE_DCMQI,
                    segfactory.LIVER,
                    "AUTOMATIC",
                    "TotalSegmentator",
                )
                for k in range(N_SEGMENTS)
            ],
        )
        pixels = np.zeros((N_SLICES, SIZE, SIZE, N_SEGMENTS), dtype=bool)
        for k in range(N_SEGMENTS):
            pixels[:, 20 + 60 * k : 70 + 60 * k, 30:200, k] = True
        seg = hd.seg.Segmentation(
            source_images=ct,
            pixel_array=pixels,
            segmentation_type=case.segmentation_type,
            segment_descriptions=[s.highdicom() for s in case.segments],
            series_instance_uid=hd.UID(),
            series_number=1,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="idcseg bench",
            manufacturer_model_name="ingest_throughput",
            software_versions="0",
            device_serial_number="1",
        )
        n_sq = segfactory.undefined_lengths(seg)
        seg.save_as(template)
        print(
            f"template: {seg.NumberOfFrames} frames, {n_sq} sequences made undefined-length, "
            f"{template.stat().st_size / 1e6:.1f} MB",
            file=sys.stderr,
        )
    data = template.read_bytes()
    ds = pydicom.dcmread(template, stop_before_pixels=True)
    sop, series = str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)
    # the hex look: SegmentSequence (0062,0002) is written with length FFFFFFFF
    at = data.find(b"\x62\x00\x02\x00SQ")
    print(f"SegmentSequence element at byte {at}: {data[at : at + 12].hex(' ')}", file=sys.stderr)
    assert data[at + 4 : at + 12] == UNDEFINED_SQ, "sequences are not of undefined length"
    files_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        out = files_dir / f"seg_{i:05d}.dcm"
        if out.is_file():
            continue
        clone = data.replace(sop.encode(), _new_uid(sop, i, 11).encode())
        clone = clone.replace(series.encode(), _new_uid(series, i, 22).encode())
        out.write_bytes(clone)
    print(f"generated {n_files} files in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return sorted(files_dir.glob("seg_*.dcm"))[:n_files]


def _time_each(files: list[Path], read) -> list[float]:  # noqa: ANN001
    """Seconds for reading each of *files* with *read*."""
    times = []
    clock = time.perf_counter
    for path in files:
        t0 = clock()
        read(path)
        times.append(clock() - t0)
    return times


def _ingest_seconds(files: list[Path]) -> float:
    from idcseg.local.ingest import ingest
    from idcseg.local.store import Store

    with tempfile.TemporaryDirectory(prefix="idcseg-bench-") as home:
        store = Store(home)
        store.ensure()
        t0 = time.perf_counter()
        report = ingest(files, store=store, progress=False)
        seconds = time.perf_counter() - t0
    assert report.ok and report.files_ingested == len(files), report.summary()
    return seconds


RSS_CHILD = """
import json, resource, sys, tempfile
sys.path.insert(0, sys.argv[1])
from idcseg.local.ingest import ingest
from idcseg.local.store import Store

def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))

files = json.loads(sys.stdin.read())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory(prefix="idcseg-bench-rss-") as home:
    report = ingest(files, store=Store(home), progress=False)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"files": report.files_ingested, "before_kb": before, "peak_kb": after,
                  "hwm_kb": hwm()}))
"""


def _rss(files: list[Path]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(REPO)],
        input=json.dumps([str(p) for p in files]),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "ingest_throughput")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast methods")
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of dcmread / segread")
    parser.add_argument("--highdicom-files", type=int, default=20)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.cache, args.files)
        return
    # generate in a child, so that this process stays small: a child's ru_maxrss starts from
    # its parent's peak at fork, which would hide the ingest's own peak below
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--generate-only",
            "--files",
            str(args.files),
            "--cache",
            str(args.cache),
        ],
        check=True,
    )
    files = sorted((args.cache / "segs").glob("seg_*.dcm"))[: args.files]

    print("peak RSS of an ingest in a fresh process (getrusage ru_maxrss; VmHWM):")
    for n in sorted({min(100, len(files)), len(files)}):
        r = _rss(files[:n])
        print(
            f"  {r['files']:>5} files: {r['before_kb'] / 1024:6.1f} MB after imports, "
            f"{r['peak_kb'] / 1024:6.1f} MB peak (VmHWM {r['hwm_kb'] / 1024:.1f} MB)"
        )
    print(
        f"  (this process before the timings: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
    )
    print()

    import highdicom as hd
    import pydicom

    from idcseg.dicom import segheader

    sizes = [p.stat().st_size for p in files]
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    print(
        f"{len(files)} SEG files, {statistics.median(sizes) / 1e6:.2f} MB each (median), "
        f"{ds.NumberOfFrames} frames of {ds.Rows}x{ds.Columns}, {len(ds.SegmentSequence)} "
        f"segments, undefined-length sequences; python {sys.version.split()[0]}, "
        f"pydicom {pydicom.__version__}, highdicom {hd.__version__}, cpus {os.cpu_count()}"
    )
    for p in files:  # warm the page cache for every method alike
        p.read_bytes()

    def header_and_rows(path: Path) -> None:
        with segheader.quiet():
            segheader.segment_rows(segheader.read_header(path))

    subset = files[: args.highdicom_files]
    methods = {
        "idcseg read_header (thinned, read_partial)": (files, segheader.read_header),
        "idcseg read_header(all_references=True)": (
            files,
            lambda p: segheader.read_header(p, all_references=True),
        ),
        "idcseg read_header + segment_rows": (files, header_and_rows),
        "pydicom dcmread(stop_before_pixels)": (
            files,
            lambda p: pydicom.dcmread(p, stop_before_pixels=True),
        ),
        f"highdicom segread ({len(subset)} files)": (subset, hd.seg.segread),
    }
    slow = {"pydicom dcmread(stop_before_pixels)", f"highdicom segread ({len(subset)} files)"}
    # name -> (files, runs, median seconds per file, median seconds per run)
    results: dict[str, tuple[int, int, float | None, float]] = {}
    for name, (chosen, read) in methods.items():
        runs = args.slow_repeat if name in slow else args.repeat
        timings = [_time_each(chosen, read) for _ in range(runs)]
        per_file = statistics.median(t for run in timings for t in run)
        results[name] = (len(chosen), runs, per_file, statistics.median(map(sum, timings)))
    ingest_runs = [_ingest_seconds(files) for _ in range(args.repeat)]
    results["idcseg ingest (store writes included)"] = (
        len(files),
        args.repeat,
        None,
        statistics.median(ingest_runs),
    )

    print(
        f"{'method':<44} {'files':>5} {'runs':>4} {'median ms/file':>14} "
        f"{'median s/run':>12} {'files/s':>8}"
    )
    for name, (n, runs, per_file, seconds) in results.items():
        ms = f"{1000 * per_file:.2f}" if per_file is not None else "-"
        print(f"{name:<44} {n:>5} {runs:>4} {ms:>14} {seconds:>12.2f} {n / seconds:>8.1f}")
    print()
    rate = {name: n / seconds for name, (n, _, _, seconds) in results.items()}
    dcmread = rate["pydicom dcmread(stop_before_pixels)"]
    print()
    print(
        f"ratio read_header / dcmread(stop_before_pixels): "
        f"{rate['idcseg read_header (thinned, read_partial)'] / dcmread:.1f}x"
    )
    print(
        f"ratio ingest / dcmread(stop_before_pixels):      "
        f"{rate['idcseg ingest (store writes included)'] / dcmread:.1f}x"
    )
    segread = rate[f"highdicom segread ({len(subset)} files)"]
    print(
        f"ratio ingest / highdicom segread:                "
        f"{rate['idcseg ingest (store writes included)'] / segread:.1f}x"
    )


if __name__ == "__main__":
    main()
