"""Which client should read SEG headers: the standard-library one or obstore? Both, one run.

``fetch-segments`` (and ``download --with-source``) read each SEG's header with HTTP Range
requests (``idcseg.remote.fetch.read_object_header``: 64 KiB, doubled while the header needs
more). This script times that read with :class:`idcseg.remote.bucket.AnonymousS3` (standard
library, a keep-alive connection per thread) and with :class:`idcseg.remote.transfer.ObjectClient`
(obstore), on the same objects of one local S3 server (moto, in a process of its own so this
process's CPU time is the client's):

- **header reads only**: ``read_object_header`` of every object, 8 threads (fetch-segments'
  default), after one listing per series;
- **fetch-segments end to end**: :func:`idcseg.remote.fetch.fetch_segments` with each client
  into a fresh store (listings, reads, parsing, store writes).

The SEGs are ``bench/fetch_bytes.py``'s five kinds (headers of 5–90 kB in files of 4–20 MB),
``--copies`` of each. Medians of ``--runs`` alternating runs; CPU is this process's.

    python bench/header_fetch.py               # 5 kinds × 20 copies, 3 runs each: ~1–2 min
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import download as download_bench  # noqa: E402 - bench/ sibling: its moto launcher
import fetch_bytes  # noqa: E402 - bench/ sibling: the SEG kinds

BUCKET = "idc-open-data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import boto3
    import pydicom

    from idcseg.dicom import segheader
    from idcseg.local.store import Store
    from idcseg.remote.bucket import AnonymousS3
    from idcseg.remote.fetch import fetch_segments, read_object_header
    from idcseg.remote.transfer import ObjectClient
    from tests import segfactory as sf

    work = Path(tempfile.mkdtemp(prefix="idcseg-header-bench-"))
    kinds = fetch_bytes.make_kinds(work / "src")
    moto, endpoint = download_bench.start_moto()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="b",
            aws_secret_access_key="b",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_policy(
            Bucket=BUCKET,
            Policy=json.dumps(
                {
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
            ),
        )
        targets, objects = [], []
        for kind, src in kinds.items():
            for i in range(args.copies):
                path = src if i == 0 else sf.clone_seg(src, work / "c" / kind / f"{i}.dcm")
                uid = str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)
                prefix = str(uuid.uuid4())
                key = f"{prefix}/{uuid.uuid4()}.dcm"
                s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                targets.append((uid, BUCKET, prefix))
                objects.append((key, path.stat().st_size))
        print(
            f"{len(objects)} SEG objects ({args.copies} of each of {len(kinds)} kinds) at {endpoint}"
        )

        def reads(client) -> tuple[float, float, int]:
            before = client.stats.requests
            c0, t0 = time.process_time(), time.perf_counter()

            def one(item):
                key, size = item
                with segheader.quiet():
                    return read_object_header(client, BUCKET, key, size)[1]

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(one, objects))
            return (
                time.perf_counter() - t0,
                time.process_time() - c0,
                client.stats.requests - before,
            )

        def fetch(client, n: int) -> tuple[float, float, int]:
            store = Store(work / f"store-{type(client).__name__}-{n}")
            c0, t0 = time.process_time(), time.perf_counter()
            report = fetch_segments(targets=targets, store=store, client=client, progress=False)
            assert report.ok and report.files_stored == len(objects), report.summary()
            return time.perf_counter() - t0, time.process_time() - c0, report.requests

        results: dict[str, dict[str, list[tuple[float, float, int]]]] = {}
        for n in range(args.runs):
            for name, make in (
                ("stdlib AnonymousS3", lambda: AnonymousS3(endpoint)),
                ("obstore ObjectClient", lambda: ObjectClient(endpoint)),
            ):
                client = make()
                results.setdefault(name, {}).setdefault("reads", []).append(reads(client))
                results[name].setdefault("fetch", []).append(fetch(client, n))
                r, f = results[name]["reads"][-1], results[name]["fetch"][-1]
                print(
                    f"  run {n + 1} {name}: header reads {r[0]:.2f} s, fetch-segments {f[0]:.2f} s"
                )
                if hasattr(client, "close"):
                    client.close()

        print()
        print(
            "| client | header reads: wall s | files/s | CPU s | requests | fetch-segments: wall s | files/s | CPU s |"
        )
        print("|---|---|---|---|---|---|---|---|")
        record = {}
        for name, parts in results.items():
            med = {
                k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in parts.items()
            }
            record[name] = {"runs": parts, "medians": med}
            r, f = med["reads"], med["fetch"]
            print(
                f"| {name} | {r[0]:.2f} | {len(objects) / r[0]:.0f} | {r[1]:.2f} | {r[2]:.0f} | "
                f"{f[0]:.2f} | {len(objects) / f[0]:.0f} | {f[1]:.2f} |"
            )
        std, obs = (record[k]["medians"] for k in results)
        print(
            f"obstore / stdlib wall time: header reads {obs['reads'][0] / std['reads'][0]:.2f}, "
            f"fetch-segments {obs['fetch'][0] / std['fetch'][0]:.2f} (< 1: obstore faster)"
        )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(record, indent=1))
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("IDCSEG_HOME", tempfile.mkdtemp(prefix="idcseg-header-bench-home-"))
    sys.exit(main())
