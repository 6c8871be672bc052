"""Cold `idcseg measurements` on a store of 100,000 measurements, against pandas on the same rows.

    python bench/measurements_query.py [--measurements 100000] [-n 7]

Builds (once, cached in ``bench/out/measurements_query/``) a store holding LIDC-like nodule
readings: per reading one SEG instance with one nodule segment and one TID 1500 report with a
volume, a diameter, a surface area and the nine LIDC ratings (12 measurements), until there
are --measurements rows. Rows come from one real SEG and one real report (made with highdicom,
read by idcseg) cloned with new UIDs and values, and are written through ``store_parsed``,
idcseg's own write path (so the store holds what ingest would leave).

Then, for each question, fresh processes (cold process, warm file cache: one untimed warm-up
each) of:

- ``idcseg measurements ...`` writing CSV to a file;
- the alternative a user would pick without idcseg: pandas over the same rows exported as
  parquet (``quantitative_measurements`` and ``qualitative_measurements`` flattened, as a
  BigQuery export of IDC's tables would give them): read, filter, join readings to ratings,
  write CSV.

Wall time (spawn to exit) and peak RSS (``os.wait4``) medians are printed side by side with
the ratio; the two answers' row counts are compared.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "bench" / "out" / "measurements_query"
MALIGNANCY = {
    score: (f"90{score}", "99LIDCQIICR", f"{score} out of 5 ({text})")
    for score, text in {
        1: "Highly Unlikely for Cancer",
        2: "Moderately Unlikely for Cancer",
        3: "Indeterminate Likelihood",
        4: "Moderately Suspicious for Cancer",
        5: "Highly Suspicious for Cancer",
    }.items()
}


def _templates() -> tuple[object, object]:
    """(SEG record, SR report) read by idcseg from files made with highdicom."""
    sys.path.insert(0, str(REPO / "bench"))
    import sr_ingest

    from idcseg.dicom import segheader, sr
    from idcseg.local.ingest import parse_dataset

    folder = REPO / "bench" / "out" / "sr_ingest" / "lidc"
    if not (folder / "template.dcm").is_file():
        sr_ingest.generate(folder.parent, 1)
    seg_path = folder / "seg.dcm"
    seg = parse_dataset(segheader.read_header(seg_path), str(seg_path), seg_path.stat().st_size)
    return seg, sr.read_report(folder / "template.dcm")


def build(folder: Path, measurements: int) -> Path:
    """The store (made if missing or of another size)."""
    marker = folder / f"built-{measurements}"
    if marker.is_file():
        return folder / "home"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    from pydicom.uid import generate_uid

    from idcseg.local.ingest import parse_report, store_parsed
    from idcseg.local.store import Store

    t0 = time.perf_counter()
    seg_template, report_template = _templates()
    per_report = report_template.measurements
    readings = -(-measurements // per_report)
    rng = random.Random(7)
    store = Store(folder / "home")
    batch: list[object] = []
    written = 0
    for i in range(readings):
        seg_sop, seg_series, tracking = generate_uid(), generate_uid(), generate_uid()
        seg = copy.deepcopy(seg_template)
        seg.sop, seg.series, seg.path = seg_sop, seg_series, f"bench://seg/{i}"
        for row in seg.rows:
            row.update(SOPInstanceUID=seg_sop, SeriesInstanceUID=seg_series, TrackingUID=tracking)
        seg.facts = dict(seg.facts, SeriesInstanceUID=seg_series, PatientID=f"BENCH-{i // 8:05d}")
        report = copy.deepcopy(report_template)
        report.sop, report.series = generate_uid(), generate_uid()
        diameter = rng.lognormvariate(2.2, 0.5)
        score = min(5, max(1, round(1 + (diameter - 4) / 5 + rng.gauss(0, 0.8))))
        values = {
            "Volume": 3.14159 / 6 * diameter**3,
            "Diameter": diameter,
            "Surface Area": 3.14159 * diameter**2,
        }
        for kind in ("groups", "quantitative", "qualitative"):
            for row in getattr(report, kind):
                row.update(
                    SOPInstanceUID=report.sop,
                    SeriesInstanceUID=report.series,
                    PatientID=seg.facts["PatientID"],
                    segmentationInstanceUID=seg_sop,
                    segmentationSeriesUID=seg_series,
                    trackingUniqueIdentifier=tracking,
                )
        for row in report.quantitative:
            row["Value"] = Decimal(f"{values[row['Quantity']['CodeMeaning']]:.3f}")
        for row in report.qualitative:
            if row["Quantity"]["CodeMeaning"] == "Malignancy":
                value, scheme, meaning = MALIGNANCY[score]
                row["Value"] = {
                    "CodeValue": value,
                    "CodingSchemeDesignator": scheme,
                    "CodingSchemeVersion": None,
                    "CodeMeaning": meaning,
                }
        batch += [seg, parse_report(report, f"bench://sr/{i}", 10_000)]
        if len(batch) >= 2000 or i == readings - 1:
            done = store_parsed(batch, store)
            assert not done.failures, done.failures[:3]
            written += done.measurements_written
            batch = []
            print(f"\rbuilding the store: {written:,} measurements", end="", file=sys.stderr)
    print(f" in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    _export_parquet(store, folder)
    marker.write_text(str(written))
    return folder / "home"


def _export_parquet(store: object, folder: Path) -> None:
    """The measurement tables flattened to parquet, as a BigQuery export would give them."""
    con = store.connect(read_only=True)  # type: ignore[attr-defined]
    try:
        for table, extra in (
            (
                "quantitative_measurements",
                "CAST(Value AS DOUBLE) AS Value, Units.CodeValue AS units",
            ),
            ("qualitative_measurements", "Value.CodeMeaning AS value_meaning"),
        ):
            con.execute(
                f"COPY (SELECT SOPInstanceUID, measurementGroup_number, segmentationInstanceUID, "
                f"segmentationSegmentNumber, trackingUniqueIdentifier, PatientID, "
                f"Quantity.CodeMeaning AS quantity, {extra} FROM {table}) "
                f"TO '{folder / table}.parquet' (FORMAT parquet)"
            )
    finally:
        con.close()


PANDAS = """
import sys
import pandas as pd
folder, question, out = sys.argv[1], sys.argv[2], sys.argv[3]
if question == "suspicious":
    q = pd.read_parquet(f"{folder}/quantitative_measurements.parquet")
    c = pd.read_parquet(f"{folder}/qualitative_measurements.parquet")
    volume = q[(q.quantity == "Volume") & (q.units == "mm3") & (q.Value >= 500)]
    rated = c[(c.quantity == "Malignancy") & c.value_meaning.str.startswith(("4 out", "5 out"))]
    answer = volume.merge(rated[["SOPInstanceUID", "measurementGroup_number"]],
                          on=["SOPInstanceUID", "measurementGroup_number"])
else:
    c = pd.read_parquet(f"{folder}/qualitative_measurements.parquet")
    answer = c[c.quantity == "Malignancy"]
answer.to_csv(out, index=False)
"""

QUESTIONS = {
    "suspicious": (
        "malignancy 4 or 5, volume >= 500 mm3",
        ["measurements", "--quantity", "Volume", "--min", "500", "--unit", "mm3",
         "-e", "Malignancy~4 out of 5", "-e", "Malignancy~5 out of 5"],
    ),
    "ratings": (
        "every malignancy rating",
        ["measurements", "--quantity", "Malignancy"],
    ),
}  # fmt: skip


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, CPU seconds) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def rows(path: Path) -> int:
    with open(path) as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", type=int, default=100_000)
    parser.add_argument("-n", type=int, default=7, help="timed runs per question and tool")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build(OUT, args.measurements)
        return
    # build in a child: a child's peak RSS as wait4 reports it starts at its parent's, so this
    # process must stay small
    subprocess.run(
        [sys.executable, __file__, "--build-only", "--measurements", str(args.measurements)],
        check=True,
    )
    home = OUT / "home"
    env = {**os.environ, "IDCSEG_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("IDCSEG_ENGINE", None)
    con_check = subprocess.run(
        [sys.executable, "-m", "idcseg", "info", "--format", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    import json

    facts = json.loads(con_check.stdout)
    print(
        f"store: {facts['measurements']:,} measurements in {facts['measurement_groups']:,} "
        f"groups, {facts['segment_rows']:,} segments; cpus {os.cpu_count()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'question':<38} {'tool':<8} {'rows':>6} {'wall s (median)':>16} {'min':>6} "
        f"{'max':>6} {'peak MiB':>9} {'CPU s':>6}"
    )
    with tempfile.TemporaryDirectory(prefix="idcseg-bench-mq-") as tmp:
        for name, (label, cli) in QUESTIONS.items():
            ours_out, theirs_out = (
                Path(tmp) / f"{name}-idcseg.csv",
                Path(tmp) / f"{name}-pandas.csv",
            )
            ours = [sys.executable, "-m", "idcseg", *cli, "--format", "csv", "-o", str(ours_out)]
            theirs = [sys.executable, "-c", PANDAS, str(OUT), name, str(theirs_out)]
            run(ours, env)  # warm-up: file cache, transpiled-SQL cache
            run(theirs, env)
            timings: dict[str, list[tuple[float, float, float]]] = {"idcseg": [], "pandas": []}
            for _ in range(args.n):  # interleaved: drift in load hits both alike
                timings["idcseg"].append(run(ours, env))
                timings["pandas"].append(run(theirs, env))
            answers = {"idcseg": rows(ours_out), "pandas": rows(theirs_out)}
            for tool, runs in timings.items():
                walls = [w for w, _, _ in runs]
                print(
                    f"{label:<38} {tool:<8} {answers[tool]:>6} {statistics.median(walls):>16.3f} "
                    f"{min(walls):>6.3f} {max(walls):>6.3f} "
                    f"{statistics.median(r for _, r, _ in runs):>9.0f} "
                    f"{statistics.median(c for _, _, c in runs):>6.2f}"
                )
            ratio = statistics.median(w for w, _, _ in timings["pandas"]) / statistics.median(
                w for w, _, _ in timings["idcseg"]
            )
            same = "same row count" if answers["idcseg"] == answers["pandas"] else "!!! ROWS DIFFER"
            print(f"{'':<38} {'ratio':<8} {ratio:>6.1f}x faster ({same})")
    print(f"(load at the end {os.getloadavg()[0]:.1f}; target: idcseg cold query <= 0.5 s)")


if __name__ == "__main__":
    main()
