"""How fast idcseg reads and ingests TID 1500 SR files, against highdicom's SR parsing.

    python bench/sr_ingest.py [--files 1000] [--repeat 3] [--highdicom-files 30]

Generates (once, into ``bench/out/sr_ingest/`` unless --cache says otherwise) LIDC-sized
measurement reports: one measurement group on a nodule segment with the nine LIDC-IDRI ratings
and volume, diameter and surface area in UCUM units, no Image Library, written with highdicom and
re-encoded as dcmqi wrote IDC's LIDC-IDRI SRs (every sequence and item of undefined length). The
template is cloned --files times with new SOP/Series UIDs by rewriting the UID bytes (same
length). When ``../shared/seg-samples`` is there, dcmqi's own report (QIN-HEADNECK PET, an Image
Library of 100+ images, 77 kB) is cloned as a second, heavier corpus.

Then, in this one process, on the same (page-cached) files it times, per corpus:

- ``idcseg.dicom.sr.read_report`` (the byte walker, rows built);
- ``idcseg.local.ingest.ingest`` end to end into a fresh store (one process, one core);
- ``pydicom.dcmread`` of the whole file (no rows);
- highdicom, as its documentation reads a report: ``hd.sr.srread`` and, for each volumetric
  measurement group, its tracking UID, referenced segment, finding, finding sites,
  measurements (name, value, unit, derivation) and qualitative evaluations (on a subset);

and prints medians (per file, and of run totals over --repeat runs; pydicom and highdicom run
--slow-repeat times) with the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SAMPLE = REPO.parent / "shared" / "seg-samples" / "dcmqi" / "sr-example_sr.dcm"


def _new_uid(old: str, i: int, salt: int) -> str:
    """A UID of the same length as *old*: its last 8 digits replaced by *salt* and *i*."""
    tail = f"{salt:02d}{i:06d}"
    last = old.rsplit(".", 1)[-1]
    if len(last) <= len(tail) or not last.isdigit():
        raise ValueError(f"cannot vary {old!r} in place")
    return old[: -len(tail)] + tail


def _lidc_template(folder: Path) -> Path:
    """One LIDC-sized report (highdicom), re-encoded with undefined lengths as dcmqi writes."""
    import pydicom

    from idcseg import examples
    from tests import segfactory

    ct = examples.make_ct(folder / "ct", "LIDC-IDRI-9999")
    seg_path = examples.make_seg(
        ct,
        folder / "seg.dcm",
        [
            examples.segment(
                1, "Nodule 1", examples.SRT_MORPH_ALTERED, examples.SRT_NODULE,
                anatomy=examples.SRT_LUNG, tracking_id="Nodule 1 - Annotation 1",
            )
        ],
        description="Segmentation of Nodule 1",
    )  # fmt: skip
    seg = pydicom.dcmread(seg_path)
    group = examples.measurement_group(
        seg,
        1,
        measurements=[
            (examples.VOLUME, 523.62, examples.MM3),
            (examples.DIAMETER, 10.87, examples.MM),
            (examples.SURFACE_AREA, 371.96, examples.MM2),
        ],
        evaluations=examples.lidc_ratings(
            subtlety=5, internal_structure=1, calcification=6, sphericity=4, margin=4,
            lobulation=2, spiculation=1, texture=5, malignancy=4,
        ),
    )  # fmt: skip
    made = examples.make_measurement_report(
        folder / "report.dcm", seg, [group], observer="Reader1",
        description="Nodule 1 - Annotation 1 evaluations",
    )  # fmt: skip
    ds = pydicom.dcmread(made)
    segfactory.undefined_lengths(ds)
    out = folder / "template.dcm"
    ds.save_as(out)
    return out


def generate(cache: Path, n_files: int, sample: Path = SAMPLE) -> dict[str, list[Path]]:
    """The corpora (made if missing): name -> files."""
    import pydicom

    corpora: dict[str, Path] = {}
    lidc_dir = cache / "lidc"
    if not (lidc_dir / "template.dcm").is_file():
        lidc_dir.mkdir(parents=True, exist_ok=True)
        _lidc_template(lidc_dir)
    corpora["lidc"] = lidc_dir / "template.dcm"
    if sample.is_file():
        corpora["dcmqi_pet"] = sample
    out: dict[str, list[Path]] = {}
    for name, template in corpora.items():
        files_dir = cache / f"{name}_files"
        files = sorted(files_dir.glob("sr_*.dcm"))
        if len(files) < n_files:
            t0 = time.perf_counter()
            files_dir.mkdir(parents=True, exist_ok=True)
            data = template.read_bytes()
            ds = pydicom.dcmread(template)
            sop, series = str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)
            for i in range(n_files):
                path = files_dir / f"sr_{i:05d}.dcm"
                if path.is_file():
                    continue
                try:
                    clone = data.replace(sop.encode(), _new_uid(sop, i, 33).encode())
                    clone = clone.replace(series.encode(), _new_uid(series, i, 44).encode())
                    path.write_bytes(clone)
                except ValueError:  # UIDs too short to vary in place: pydicom keeps the lengths
                    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{sop}.{i}"
                    ds.SeriesInstanceUID = f"{series}.{i}"
                    ds.save_as(path)
            print(f"generated {n_files} {name} files in {time.perf_counter() - t0:.1f} s")
            files = sorted(files_dir.glob("sr_*.dcm"))
        out[name] = files[:n_files]
    return out


def highdicom_read(path: Path) -> int:
    """Read one report with highdicom's object model: what idcseg extracts. Returns the count
    of measurements and evaluations read."""
    import highdicom as hd

    document = hd.sr.srread(path)
    count = 0
    for group in document.content.get_volumetric_roi_measurement_groups():
        _ = (group.tracking_uid, group.referenced_segment, group.finding_type)
        _ = group.finding_sites
        for m in group.get_measurements():
            _ = (m.name, m.value, m.unit, m.derivation)
            count += 1
        for q in group.get_qualitative_evaluations():
            _ = (q.name, q.value)
            count += 1
    return count


def _time_each(files: list[Path], read) -> list[float]:  # noqa: ANN001
    clock = time.perf_counter
    times = []
    for path in files:
        t0 = clock()
        read(path)
        times.append(clock() - t0)
    return times


def _ingest_seconds(files: list[Path]) -> tuple[float, int]:
    from idcseg.local.ingest import ingest
    from idcseg.local.store import Store

    with tempfile.TemporaryDirectory(prefix="idcseg-bench-sr-") as home:
        store = Store(home)
        store.ensure()
        t0 = time.perf_counter()
        report = ingest(files, store=store, progress=False)
        seconds = time.perf_counter() - t0
    assert report.ok and report.files_ingested == len(files), report.summary()
    return seconds, report.measurements_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "sr_ingest")
    parser.add_argument("--repeat", type=int, default=3, help="runs of idcseg's methods")
    parser.add_argument("--slow-repeat", type=int, default=1, help="runs of pydicom / highdicom")
    parser.add_argument("--highdicom-files", type=int, default=30)
    parser.add_argument("--fresh", action="store_true", help="regenerate the corpora")
    parser.add_argument(
        "--sample", type=Path, default=SAMPLE, help="dcmqi's TID 1500 report (a second corpus)"
    )
    args = parser.parse_args()
    if args.fresh and args.cache.exists():
        shutil.rmtree(args.cache)

    import highdicom as hd
    import pydicom

    from idcseg.dicom import sr

    corpora = generate(args.cache, args.files, args.sample)
    print(
        f"python {sys.version.split()[0]}, pydicom {pydicom.__version__}, highdicom "
        f"{hd.__version__}, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )
    summary = []
    for name, files in corpora.items():
        for p in files:  # warm the page cache for every method alike
            p.read_bytes()
        report = sr.read_report(files[0])
        size = statistics.median(p.stat().st_size for p in files)
        print()
        print(
            f"corpus {name}: {len(files)} files of {size / 1e3:.1f} kB (median), "
            f"{len(report.groups)} measurement group(s), {len(report.quantitative)} quantitative "
            f"+ {len(report.qualitative)} qualitative rows each"
        )
        subset = files[: args.highdicom_files]
        assert highdicom_read(files[0]) == report.measurements, "highdicom reads as much"
        methods = {
            "idcseg sr.read_report": (files, sr.read_report, args.repeat),
            "pydicom dcmread (whole file, no rows)": (files, pydicom.dcmread, args.slow_repeat),
            f"highdicom srread + groups ({len(subset)} files)": (
                subset,
                highdicom_read,
                args.slow_repeat,
            ),
        }
        results: dict[str, tuple[int, int, float | None, float]] = {}
        for method, (chosen, read, runs) in methods.items():
            timings = [_time_each(chosen, read) for _ in range(runs)]
            per_file = statistics.median(t for run in timings for t in run)
            results[method] = (len(chosen), runs, per_file, statistics.median(map(sum, timings)))
        ingests = [_ingest_seconds(files) for _ in range(args.repeat)]
        assert all(n == report.measurements * len(files) for _, n in ingests)
        results["idcseg ingest (store writes included)"] = (
            len(files),
            args.repeat,
            None,
            statistics.median(s for s, _ in ingests),
        )
        print(
            f"{'method':<44} {'files':>5} {'runs':>4} {'median ms/file':>14} "
            f"{'median s/run':>12} {'files/s':>8}"
        )
        for method, (n, runs, per_file, seconds) in results.items():
            ms = f"{1000 * per_file:.2f}" if per_file is not None else "-"
            print(f"{method:<44} {n:>5} {runs:>4} {ms:>14} {seconds:>12.2f} {n / seconds:>8.1f}")
        rate = {m: n / s for m, (n, _, _, s) in results.items()}
        hd_rate = rate[f"highdicom srread + groups ({len(subset)} files)"]
        ingest_rate = rate["idcseg ingest (store writes included)"]
        read_rate = rate["idcseg sr.read_report"]
        print(f"ratio read_report / highdicom: {read_rate / hd_rate:.0f}x")
        print(f"ratio ingest / highdicom:      {ingest_rate / hd_rate:.0f}x")
        print(
            f"ratio ingest / pydicom dcmread: {ingest_rate / rate[next(iter(list(rate)[1:]))]:.1f}x"
        )
        summary.append((name, ingest_rate, read_rate, hd_rate))
    print()
    for name, ingest_rate, _read_rate, hd_rate in summary:
        verdict = "meets" if ingest_rate >= 100 and ingest_rate >= 10 * hd_rate else "MISSES"
        print(
            f"{name}: ingest {ingest_rate:.0f} files/s, {ingest_rate / hd_rate:.0f}x highdicom "
            f"({verdict} the target: >= 100 files/s and >= 10x highdicom)"
        )


if __name__ == "__main__":
    main()
