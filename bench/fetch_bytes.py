"""Benchmark ``fetch-segments``: bytes read per SEG, and series per second, on a local S3.

Starts moto's S3 server on 127.0.0.1 (``moto[server]``, from the ``test`` extra), fills bucket
``idc-open-data`` with highdicom-made SEGs under IDC's key layout
(``<crdc_series_uuid>/<crdc_instance_uuid>.dcm``), one instance per series, and runs
:func:`idcseg.remote.fetch.fetch_segments` on them with its defaults (8 threads, 64 KiB first window)
into a fresh store. Nothing leaves 127.0.0.1.

The SEG kinds (40 frames of 512×512 unless said otherwise):

- ``binary3``: BINARY, 3 segments (4.0 MB)
- ``fractional``: FRACTIONAL, 1 segment (10.5 MB)
- ``labelmap``: LABELMAP, 2 segments (10.5 MB)
- ``binary60``: BINARY, 60 segments on 10 slices (600 frames, 19.7 MB): a header of ~40 kB,
  as TotalSegmentator-style SEGs have
- ``refs400``: BINARY, 2 segments on 400 slices of 256×256 (the header references 400 CT
  instances: ~90 kB, more than one window)

For each kind: file size, the header's own size (where (5200,0000) begins), bytes read, their
share of the file, and requests per file. Then the run: series/s and files/s (wall time of the
whole fetch, listings included), total bytes read / total size, requests and retries. A second
run shows the resume path (everything skipped: one listing per series).

moto's server answers one request per connection and is not fast; the series/s figure is a
floor for what the client does, not a forecast for AWS.

    python bench/fetch_bytes.py                 # 8 series of each kind (40 series)
    python bench/fetch_bytes.py --copies 20 --json bench/out/fetch_bytes.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUCKET = "idc-open-data"


def header_size(path: Path) -> int:
    """Bytes before the top-level (5200,0000) element (the header fetch-segments needs)."""
    from pydicom.filereader import read_partial

    with path.open("rb") as fp:
        read_partial(fp, stop_when=lambda tag, vr, length: tag >= 0x52000000)
        return fp.tell()


def make_kinds(folder: Path) -> dict[str, Path]:
    """One SEG file per kind (see the module docstring)."""
    from tests import segfactory as sf

    cases = {c.name: c for c in sf.CASES}
    ct40 = sf.make_ct_series(folder / "ct40", n_slices=40, size=512)
    kinds = {
        "binary3": sf.make_seg(cases["binary_multi"], ct40, folder / "binary3.dcm"),
        "fractional": sf.make_seg(cases["fractional"], ct40, folder / "fractional.dcm"),
        "labelmap": sf.make_seg(cases["labelmap"], ct40, folder / "labelmap.dcm"),
    }
    ct10 = sf.make_ct_series(folder / "ct10", n_slices=10, size=512)
    many = sf.Case(
        "binary60",
        "BINARY",
        [
            sf.Seg(
                i,
                f"structure {i}",
                sf.ANATOMICAL_STRUCTURE,
                sf.LIVER,
                "AUTOMATIC",
                "TotalSegmentator",
                tracking_id=f"structure-{i}",
                tracking_uid=sf.generate_uid(),
            )
            for i in range(1, 61)
        ],
    )
    kinds["binary60"] = _make_wide(sf, many, ct10, folder / "binary60.dcm")
    ct400 = sf.make_ct_series(folder / "ct400", n_slices=400, size=256)
    two = sf.Case("refs400", "BINARY", cases["binary_multi"].segments[:2])
    kinds["refs400"] = sf.make_seg(two, ct400, folder / "refs400.dcm")
    return kinds


def _make_wide(sf, case, source, path: Path) -> Path:  # noqa: ANN001 - test helper module
    """A BINARY SEG where every segment covers every slice (so all frames are stored)."""
    import highdicom as hd
    import numpy as np

    rows, cols = int(source[0].Rows), int(source[0].Columns)
    pixels = np.zeros((len(source), rows, cols, len(case.segments)), dtype=bool)
    for k in range(len(case.segments)):
        pixels[:, 4 * k : 4 * k + 3, 10:40, k] = True
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=pixels,
        segmentation_type="BINARY",
        segment_descriptions=[s.highdicom() for s in case.segments],
        series_instance_uid=sf.generate_uid(),
        series_number=300,
        sop_instance_uid=sf.generate_uid(),
        instance_number=1,
        manufacturer="idcseg bench",
        manufacturer_model_name="fetch_bytes",
        software_versions="0",
        device_serial_number="1",
        series_description="bench SEG binary60",
    )
    seg.save_as(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=8, help="series per SEG kind (default 8)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from idcseg.local.store import Store
    from idcseg.remote.fetch import DEFAULT_CONCURRENCY, DEFAULT_WINDOW, fetch_segments
    from tests import segfactory as sf
    from tests.s3server import LocalS3

    work = Path(tempfile.mkdtemp(prefix="idcseg-fetch-bench-"))
    os.environ["IDCSEG_HOME"] = str(work / "home")
    t0 = time.monotonic()
    kinds = make_kinds(work / "src")
    s3 = LocalS3()
    s3.public_bucket(BUCKET)
    targets = []
    kind_of: dict[str, str] = {}
    for kind, src in kinds.items():
        for i in range(args.copies):
            path = src if i == 0 else sf.clone_seg(src, work / "copies" / kind / f"{i}.dcm")
            import pydicom

            series_uid = str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
            series_uuid = str(uuid.uuid4())
            key = f"{series_uuid}/{uuid.uuid4()}.dcm"
            s3.put(BUCKET, key, path)
            kind_of[f"s3://{BUCKET}/{key}"] = kind
            targets.append((series_uid, BUCKET, series_uuid))
    setup = time.monotonic() - t0
    print(
        f"setup: {len(targets)} series ({args.copies} per kind) on moto at {s3.endpoint} "
        f"in {setup:.1f} s; concurrency {DEFAULT_CONCURRENCY}, first window {DEFAULT_WINDOW} B"
    )

    store = Store(work / "home")
    report = fetch_segments(targets=targets, store=store, endpoint=s3.endpoint, keep_reads=True)
    if not report.ok:
        print(report.summary())
        return 1
    rerun = fetch_segments(targets=targets, store=store, endpoint=s3.endpoint)

    rows = []
    print()
    print(
        f"{'kind':<11} {'file MB':>8} {'header kB':>9} {'read kB':>8} {'read/file':>9} {'req/file':>8}"
    )
    for kind, src in kinds.items():
        reads = [r for r in report.reads if kind_of[r.location] == kind]
        size = sum(r.size for r in reads) / len(reads)
        got = sum(r.bytes_read for r in reads) / len(reads)
        req = sum(r.requests for r in reads) / len(reads)
        head = header_size(src)
        rows.append(
            {
                "kind": kind,
                "file_bytes": round(size),
                "header_bytes": head,
                "bytes_read": round(got),
                "fraction": got / size,
                "requests_per_file": req,
            }
        )
        print(
            f"{kind:<11} {size / 1e6:>8.2f} {head / 1e3:>9.1f} {got / 1e3:>8.1f} "
            f"{got / size:>9.2%} {req:>8.2f}"
        )
    series_s = report.series_done / report.seconds
    files_s = report.files_stored / report.seconds
    print()
    print(
        f"fetch: {report.series_done} series, {report.files_stored} files, "
        f"{report.rows_written} segments in {report.seconds:.2f} s = {series_s:.1f} series/s "
        f"({files_s:.1f} files/s)"
    )
    print(
        f"bytes: {report.bytes_read / 1e6:.2f} MB read of {report.bytes_total / 1e6:.1f} MB "
        f"({report.header_fraction:.2%}); {report.requests} requests "
        f"({report.retries} retries)"
    )
    print(
        f"rerun (resume): {rerun.files_skipped} files skipped, {rerun.requests} requests, "
        f"{rerun.seconds:.2f} s"
    )
    s3.stop()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "series": report.series_done,
                    "files": report.files_stored,
                    "seconds": report.seconds,
                    "series_per_s": series_s,
                    "bytes_read": report.bytes_read,
                    "bytes_total": report.bytes_total,
                    "requests": report.requests,
                    "kinds": rows,
                    "rerun_seconds": rerun.seconds,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
