"""The SEGs ``bench/masks.py`` measures, made once and kept in ``bench/out/masks/``.

Not a measurement. Two SEGs over synthetic CT series (made with :func:`idcseg.examples.make_ct`):

- ``totalseg``: TotalSegmentator-like. 104 non-overlapping "organs" (ellipsoids, each spanning
  5–80 of 240 axial slices of 512×512, 0.8 mm pixels, 1.5 mm slices), written by highdicom as a
  BINARY SEG with empty frames omitted (sparse): ~110 MB, ~3,300 frames.
- ``dcmqi``: dcmqi-style. 60 segments over 120 slices of 512×512, written by dcmqi's own
  ``itkimage2segimage`` (undefined-length sequences, DCMTK's frame order) from NIfTI label maps:
  what most of IDC's older SEGs look like.

    python bench/masks_data.py            # builds what is missing, prints the files
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OUT = REPO / "bench" / "out" / "masks"


def organs(shape: tuple[int, int, int], count: int, seed: int) -> object:
    """A label volume (slices, rows, columns) of *count* ellipsoids, later ones on top."""
    import numpy as np

    rng = np.random.default_rng(seed)
    slices, rows, columns = shape
    labels = np.zeros(shape, dtype=np.uint8)
    for number in range(1, count + 1):
        half = rng.integers(3, 29)  # 7–57 slices
        centre = rng.integers(half, slices - half), *rng.integers(60, rows - 60, 2)
        radii = half, rng.integers(8, 50), rng.integers(8, 50)
        z0, z1 = centre[0] - half, centre[0] + half + 1
        r0, r1 = max(0, centre[1] - radii[1]), min(rows, centre[1] + radii[1] + 1)
        c0, c1 = max(0, centre[2] - radii[2]), min(columns, centre[2] + radii[2] + 1)
        z, r, c = np.ogrid[z0:z1, r0:r1, c0:c1]
        inside = (
            ((z - centre[0]) / radii[0]) ** 2
            + ((r - centre[1]) / radii[1]) ** 2
            + ((c - centre[2]) / radii[2]) ** 2
        ) <= 1
        labels[z0:z1, r0:r1, c0:c1][inside] = number
    return labels


def build_totalseg(folder: Path) -> Path:
    """The TotalSegmentator-like SEG (see the module docstring)."""
    import highdicom as hd
    from pydicom.uid import generate_uid

    from idcseg.examples import ANATOMICAL_STRUCTURE, LIVER, make_ct, segment

    path = folder / "totalseg.dcm"
    if path.exists():
        return path
    ct = make_ct(
        folder / "totalseg_ct",
        "BENCH-TOTALSEG",
        n_slices=240,
        size=512,
        pixel_spacing=(0.8, 0.8),
        slice_spacing=1.5,
    )
    labels = organs((240, 512, 512), 104, seed=104)
    segments = [
        segment(n, f"organ_{n:03d}", ANATOMICAL_STRUCTURE, LIVER, algorithm="TotalSegmentator",
                algorithm_type="AUTOMATIC")
        for n in range(1, 105)
    ]  # fmt: skip
    seg = hd.seg.Segmentation(
        source_images=ct,
        pixel_array=labels,
        segmentation_type="BINARY",
        segment_descriptions=segments,
        series_instance_uid=generate_uid(),
        series_number=42,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="idcseg bench",
        manufacturer_model_name="masks_data",
        software_versions="1",
        device_serial_number="1",
        series_description="TotalSegmentator-like (bench)",
    )
    tmp = path.with_suffix(".tmp")
    seg.save_as(tmp)
    tmp.rename(path)
    return path


def build_dcmqi(folder: Path) -> Path:
    """The dcmqi-style SEG, written by ``itkimage2segimage`` (see the module docstring)."""
    import nibabel as nib
    import numpy as np

    from idcseg.examples import make_ct

    path = folder / "dcmqi.dcm"
    if path.exists():
        return path
    ct_folder = folder / "dcmqi_ct"
    ct = make_ct(
        ct_folder,
        "BENCH-DCMQI",
        n_slices=120,
        size=512,
        pixel_spacing=(0.7, 0.7),
        slice_spacing=2.5,
    )
    labels = organs((120, 512, 512), 60, seed=60)
    # the CT's grid as ITK sees it: i = column, j = row, k = slice; RAS affine
    first = np.array([float(v) for v in ct[0].ImagePositionPatient])
    affine = np.eye(4)
    affine[:3, 0] = [0.7, 0, 0]
    affine[:3, 1] = [0, 0.7, 0]
    affine[:3, 2] = [0, 0, 2.5]
    affine[:3, 3] = first
    affine[:2] *= -1  # LPS -> RAS
    work = folder / "dcmqi_work"
    work.mkdir(exist_ok=True)
    nifti = work / "labels.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(labels.transpose(2, 1, 0)), affine), nifti)
    attributes = [
        {
            "labelID": n,
            "SegmentLabel": f"structure_{n:02d}",
            "SegmentAlgorithmType": "AUTOMATIC",
            "SegmentAlgorithmName": "bench",
            "SegmentedPropertyCategoryCodeSequence": {
                "CodeValue": "123037004",
                "CodingSchemeDesignator": "SCT",
                "CodeMeaning": "Anatomical Structure",
            },
            "SegmentedPropertyTypeCodeSequence": {
                "CodeValue": "10200004",
                "CodingSchemeDesignator": "SCT",
                "CodeMeaning": "Liver",
            },
            "recommendedDisplayRGBValue": [200, 100, 50],
        }
        for n in range(1, 61)
    ]
    meta = {
        "ContentCreatorName": "bench",
        "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "dcmqi-style (bench)",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "BodyPartExamined": "CHEST",
        "segmentAttributes": [attributes],
        "ContentLabel": "SEGMENTATION",
        "ContentDescription": "bench",
        "ClinicalTrialCoordinatingCenterName": "bench",
    }
    (work / "meta.json").write_text(json.dumps(meta))
    tmp = folder / "dcmqi.tmp.dcm"
    subprocess.run(
        [
            "itkimage2segimage",
            "--inputImageList", str(nifti),
            "--inputDICOMDirectory", str(ct_folder),
            "--outputDICOM", str(tmp),
            "--inputMetadata", str(work / "meta.json"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


def build() -> dict[str, Path]:
    """Both SEGs (made if missing); ``{name: path}``."""
    OUT.mkdir(parents=True, exist_ok=True)
    return {"totalseg": build_totalseg(OUT), "dcmqi": build_dcmqi(OUT)}


if __name__ == "__main__":
    start = time.monotonic()
    for name, file in build().items():
        print(f"{name}: {file} ({file.stat().st_size / 1e6:.1f} MB)")
    print(f"({time.monotonic() - start:.1f} s)")
