"""Benchmark: masks → DICOM SEG. ``idcseg make-seg`` vs dcmqi's ``itkimage2segimage`` vs a
plain highdicom script, side by side in one run, on a TotalSegmentator-like input.

The input (made once, kept in ``bench/out/make_seg-data/``): a CT series of 512×512 images
(``--slices``, default 220; zero pixels, realistic headers) and a TotalSegmentator v2 style label
map of it (one ``.nii.gz``, uint8, 117 classes numbered as TotalSegmentator numbers them, ~110 of
them present as organ-sized blobs of 8–150 slices), plus the dcmqi metadata JSON describing the
same segments with the same codes (from idcseg's shipped table), for dcmqi and the highdicom
script.

Each contender runs in a fresh process, ``-n`` times (default 3), interleaved; the parent records
wall time (Popen → ``os.wait4``) and peak RSS (``ru_maxrss`` from ``wait4``):

  (a) ``idcseg make-seg labels.nii.gz --labels totalsegmentator --algorithm-name TotalSegmentator
      --source ct -o out.dcm``
  (b) ``itkimage2segimage --inputImageList labels.nii.gz --inputDICOMDirectory ct
      --outputDICOM out.dcm --inputMetadata meta.json`` (the ``dcmqi`` wheel)
  (c) ``python bench/make_seg_highdicom.py`` (pydicom + nibabel + one ``hd.seg.Segmentation``)

The outputs are checked: idcseg's and highdicom's must hold the same frames (pixel data equal
byte for byte: the same frames in the same order) and dcmqi's the same segments with the same
voxel count each. Memory is reported as peak RSS, and as peak RSS above the import baseline
of idcseg's process (a process importing what ``make-seg`` imports before it reads a mask:
typer, idcseg's CLI and SEG writer, pydicom, numpy, nibabel; not highdicom, which make-seg
imports only to compress with JPEG-LS or RLE), against the input volume (slices × 512 × 512 bytes). The data are built in a child process and this one
imports nothing heavy before the timed runs end: on Linux a child's ``ru_maxrss`` starts from its
parent's RSS at fork. Results go to ``bench/out/make_seg-<time>.json``.

    python bench/make_seg.py              # ~3 min on 2 cores
    python bench/make_seg.py -n 5 --slices 300
    python bench/make_seg.py --no-dcmqi --no-highdicom
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
ROOT = BENCH.parent
MIB = 1024 * 1024


# what `idcseg make-seg` imports before it reads a mask (tests/test_makeseg.py checks that
# highdicom is not among them)
BASELINE_IMPORTS = (
    "import typer.main, idcseg.cli, idcseg.cli.makeseg, idcseg.dicom.makeseg, "
    "idcseg.dicom.segwrite, idcseg.dicom.reference, idcseg.present.progress, nibabel, pydicom"
)


def build_data(folder: Path, slices: int, seed: int = 0) -> dict[str, Path]:
    """The CT series, the label map and the metadata JSON (made once per size)."""
    import nibabel as nib
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    sys.path.insert(0, str(ROOT))
    from idcseg.dicom import dcmqimeta, structures
    from idcseg.dicom.segmentspec import SeriesSpec, from_structure

    ct = folder / "ct"
    labels_path = folder / "labels.nii.gz"
    meta_path = folder / "meta.json"
    done = folder / "complete"
    if done.exists():
        return {"ct": ct, "labels": labels_path, "meta": meta_path}
    shutil.rmtree(folder, ignore_errors=True)
    ct.mkdir(parents=True)
    size, spacing, thickness = 512, 0.78125, 1.5
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    template.remove_private_tags()
    for keyword in ("SpacingBetweenSlices",):
        if keyword in template:
            delattr(template, keyword)
    template.Rows = template.Columns = size
    template.PixelSpacing = [spacing, spacing]
    template.SliceThickness = thickness
    template.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    template.PixelData = np.zeros((size, size), dtype=np.int16).tobytes()
    template.PatientID = "BENCH-TOTALSEG"
    template.StudyInstanceUID = generate_uid()
    template.SeriesInstanceUID = generate_uid()
    template.FrameOfReferenceUID = generate_uid()
    origin = np.array([-200.0, -200.0, -400.0])
    for i in range(slices):
        ds = copy.deepcopy(template)
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [float(v) for v in origin + [0, 0, thickness * i]]
        ds.SliceLocation = float(origin[2] + thickness * i)
        ds.save_as(ct / f"{i:04d}.dcm", enforce_file_format=True)

    # a TotalSegmentator-like label map: organ-sized blobs, later labels drawn over earlier ones
    rng = np.random.default_rng(seed)
    labels = np.zeros((slices, size, size), dtype=np.uint8)
    preset = structures.presets()["totalsegmentator"]
    present = sorted(rng.choice(list(preset), size=110, replace=False).tolist())
    zz, yy, xx = np.ogrid[:slices, :size, :size]
    for value in present:
        half_z = int(rng.integers(4, 75))
        cz = int(rng.integers(half_z, max(half_z + 1, slices - half_z)))
        ry, rx = (int(v) for v in rng.integers(8, 70, size=2))
        cy, cx = (
            int(rng.integers(ry + 40, size - ry - 40)),
            int(rng.integers(rx + 40, size - rx - 40)),
        )
        z0, z1 = max(cz - half_z, 0), min(cz + half_z + 1, slices)
        y0, y1, x0, x1 = cy - ry, cy + ry + 1, cx - rx, cx + rx + 1
        inside = (
            ((zz[z0:z1] - cz) / half_z) ** 2
            + ((yy[:, y0:y1] - cy) / ry) ** 2
            + ((xx[:, :, x0:x1] - cx) / rx) ** 2
        ) <= 1
        labels[z0:z1, y0:y1, x0:x1][inside] = value
    lps = np.eye(4)
    lps[:3, 0] = [spacing, 0, 0]  # NIfTI i = column: +x (L)
    lps[:3, 1] = [0, spacing, 0]  # j = row: +y (P)
    lps[:3, 2] = [0, 0, thickness]  # k = slice: +z (S)
    lps[:3, 3] = origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    image = nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), ras)
    image.set_qform(ras, code=1)
    image.set_sform(ras, code=1)
    nib.save(image, labels_path)

    found = sorted(int(v) for v in np.unique(labels) if v)
    specs = [
        from_structure(
            structures.lookup(preset[v]),
            file_index=0,
            label_value=v,
            algorithm_type="AUTOMATIC",
            algorithm_name="TotalSegmentator",
        )
        for v in found
    ]
    meta_path.write_text(
        dcmqimeta.dumps(SeriesSpec(series_description="TotalSegmentator"), [specs])
    )
    done.write_text("ok")
    return {"ct": ct, "labels": labels_path, "meta": meta_path}


def run(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """One child: wall time, peak RSS, CPU time, exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{cmd[0]} failed ({code}):\n{err[-2000:]}")
    return {
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


def segment_voxels(path: Path) -> dict[str, int]:
    """SegmentLabel → foreground voxel count, from the raw bit-packed frames."""
    import numpy as np
    import pydicom

    ds = pydicom.dcmread(path)
    frame_bytes = ds.Rows * ds.Columns // 8  # 512×512: frames start on byte boundaries
    ones = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
    data = np.frombuffer(ds.PixelData, np.uint8)
    shared = ds.SharedFunctionalGroupsSequence[0]
    counts: dict[int, int] = {}
    for i, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        holder = item if "SegmentIdentificationSequence" in item else shared
        number = int(holder.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        frame = data[i * frame_bytes : (i + 1) * frame_bytes]
        counts[number] = counts.get(number, 0) + int(ones[frame].sum())
    labels = {int(s.SegmentNumber): s.SegmentLabel for s in ds.SegmentSequence}
    return {labels[n]: c for n, c in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--slices", type=int, default=220)
    parser.add_argument("--no-dcmqi", action="store_true")
    parser.add_argument("--no-highdicom", action="store_true")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    folder = OUT / f"make_seg-data-{args.slices}"
    if args.build_only:
        build_data(folder, args.slices)
        return 0
    # the data are made in a child: a child's peak RSS counts its parent's memory at fork time,
    # so this process stays small until every timed run is over
    subprocess.run(
        [sys.executable, __file__, "--build-only", "--slices", str(args.slices)], check=True
    )
    data = {"ct": folder / "ct", "labels": folder / "labels.nii.gz", "meta": folder / "meta.json"}
    work = OUT / "make_seg-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"PYTHONPATH": str(ROOT), "IDCSEG_HOME": str(work / "home")}
    contenders = {
        "idcseg make-seg": [
            sys.executable, "-m", "idcseg", "make-seg", str(data["labels"]),
            "--labels", "totalsegmentator", "--algorithm-name", "TotalSegmentator",
            "--source", str(data["ct"]), "-o", str(work / "idcseg.dcm"), "-q",
        ],
        "dcmqi itkimage2segimage": [
            "itkimage2segimage", "--inputImageList", str(data["labels"]),
            "--inputDICOMDirectory", str(data["ct"]), "--outputDICOM", str(work / "dcmqi.dcm"),
            "--inputMetadata", str(data["meta"]),
        ],
        "highdicom script": [
            sys.executable, str(BENCH / "make_seg_highdicom.py"), str(data["labels"]),
            str(data["ct"]), str(work / "highdicom.dcm"), str(data["meta"]),
        ],
    }  # fmt: skip
    if args.no_dcmqi or shutil.which("itkimage2segimage") is None:
        contenders.pop("dcmqi itkimage2segimage")
    if args.no_highdicom:
        contenders.pop("highdicom script")
    baseline = [run([sys.executable, "-c", BASELINE_IMPORTS], env) for _ in range(2)]
    base_rss = statistics.median(r["peak_rss_mib"] for r in baseline)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for i in range(args.runs):
        for name, cmd in contenders.items():
            results[name].append(run(cmd, env))
            print(
                f"run {i + 1}/{args.runs} {name}: {results[name][-1]['wall_s']:.2f} s",
                file=sys.stderr,
            )

    checks = {}
    ours = work / "idcseg.dcm"
    import pydicom

    ours_ds = pydicom.dcmread(ours, stop_before_pixels=True)
    frames = int(ours_ds.NumberOfFrames)
    if "highdicom script" in contenders:
        theirs = pydicom.dcmread(work / "highdicom.dcm")
        same = theirs.PixelData == pydicom.dcmread(ours).PixelData
        checks["highdicom: same frames, byte for byte"] = same
    if "dcmqi itkimage2segimage" in contenders:
        checks["dcmqi: same segments and voxel counts"] = segment_voxels(ours) == segment_voxels(
            work / "dcmqi.dcm"
        )

    volume_mib = args.slices * 512 * 512 / MIB
    rows = []
    for name, runs in results.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        rss = statistics.median(r["peak_rss_mib"] for r in runs)
        rows.append((name, wall, min(r["wall_s"] for r in runs), max(r["wall_s"] for r in runs),
                     statistics.median(r["cpu_s"] for r in runs), rss))  # fmt: skip
    ours_wall = rows[0][1]
    print(
        f"\ninput: {args.slices} slices of 512×512, {len(ours_ds.SegmentSequence)} segments "
        f"present, label map {volume_mib:.1f} MiB in memory; idcseg's SEG: {frames:,} frames, "
        f"{ours.stat().st_size / 1e6:.0f} MB"
    )
    print(
        f"{'contender':26} {'wall s (median)':>16} {'min–max':>13} {'CPU s':>7} {'peak RSS MiB':>13} {'vs idcseg':>10}"
    )
    for name, wall, low, high, cpu, rss in rows:
        print(
            f"{name:26} {wall:16.2f} {low:6.2f}–{high:<6.2f} {cpu:7.2f} {rss:13.0f} {wall / ours_wall:9.1f}×"
        )
    ours_rss = rows[0][5]
    print(
        f"\nidcseg peak RSS {ours_rss:.0f} MiB = {ours_rss / volume_mib:.1f}× the input volume; "
        f"above its import baseline ({base_rss:.0f} MiB): {ours_rss - base_rss:.0f} MiB = "
        f"{(ours_rss - base_rss) / volume_mib:.2f}× the input volume"
    )
    for check, ok in checks.items():
        print(f"check {check}: {'OK' if ok else '!!! MISMATCH'}")
    OUT.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"make_seg-{stamp}.json").write_text(
        json.dumps(
            {"slices": args.slices, "volume_mib": volume_mib, "frames": frames,
             "import_baseline_rss_mib": base_rss, "results": results, "checks": checks,
             "load": os.getloadavg()},
            indent=2,
        )
    )  # fmt: skip
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
