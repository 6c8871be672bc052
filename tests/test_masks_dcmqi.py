"""idcseg's masks against dcmqi, the reference converters (the ``dcmqi`` wheel).

- SEGs made with highdicom: ``segimage2itkimage`` and ``idcseg masks`` give the same
  foreground voxels in world coordinates, segment by segment.
- SEGs written by dcmqi's ``itkimage2segimage`` (undefined-length sequences, DCMTK's frame
  order; binary, deflated, label map) from NIfTI files made here: ``idcseg masks --reference``
  gives back exactly the arrays they were made from.
- The real dcmqi and highdicom SEG files in ``../shared/seg-samples`` (skipped where absent).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import idcseg
from tests import maskcheck
from tests import segfactory as sf

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "seg-samples"

pytestmark = pytest.mark.skipif(
    shutil.which("segimage2itkimage") is None, reason="dcmqi is not installed (pip install dcmqi)"
)


def segimage2itkimage(seg: Path, out: Path) -> dict[int, tuple[Path, int]]:
    """dcmqi's conversion of *seg* to NIfTI: ``{segment number: (file, its voxel value)}``
    (one file per segment, value = number; a label map SEG gives one file of them all)."""
    out.mkdir(parents=True)
    run = subprocess.run(
        ["segimage2itkimage", "--inputDICOM", str(seg), "--outputDirectory", str(out),
         "-t", "nifti"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    meta = json.loads((out / "meta.json").read_text())
    return {
        int(entry["labelID"]): (out / f"{i}.nii.gz", int(entry["labelID"]))
        for i, entries in enumerate(meta["segmentAttributes"], start=1)
        for entry in entries
        if int(entry["labelID"]) != 0  # a label map's Background
    }


def foreground(path: Path, value: int | None = None) -> set[tuple[float, float, float]]:
    """World positions of the voxels holding *value* (any non-zero value when ``None``)."""
    values, world, _, _ = maskcheck.file_voxels(path)
    if value is not None:
        values = values == value  # dcmqi fills missing frames with PixelPaddingValue, if any
    return maskcheck.world_voxels(values, world)


def same_as_dcmqi(seg: Path, tmp: Path, **options) -> list[int]:  # noqa: ANN003
    """Compare idcseg's and dcmqi's NIfTI of every segment; return the segment numbers."""
    theirs = segimage2itkimage(seg, tmp / "dcmqi")
    with idcseg.masks(seg, **options) as m:
        ours = dict(zip(m.numbers, m.to_nifti(tmp / "idcseg"), strict=True))
        fractional = m.kind == "FRACTIONAL"
    assert set(ours) == set(theirs)
    for number, path in ours.items():
        file, value = theirs[number]
        expected = foreground(file, None if fractional else value)
        assert foreground(path) == expected, f"segment {number} of {seg.name}"
        assert nib.load(path).shape == nib.load(file).shape  # the same extent
    return sorted(ours)


@pytest.mark.parametrize("geometry", ["axial", "oblique"])
def test_same_voxels_as_segimage2itkimage(mask_cases, geometry, tmp_path: Path) -> None:
    assert same_as_dcmqi(mask_cases[geometry].seg, tmp_path) == [1, 2, 3]


def test_fractional_and_label_map_like_segimage2itkimage(mask_cases, tmp_path: Path) -> None:
    case = mask_cases["axial"]
    fractions = case.source[..., :1].astype(np.float32) * (153 / 255)
    frac = sf.seg_of_arrays(case.ct, tmp_path / "frac.dcm", fractions, sf.MASK_SEGMENTS[:1],
                            "FRACTIONAL")  # fmt: skip
    assert same_as_dcmqi(frac, tmp_path / "frac") == [1]
    labels = case.source[..., 0].astype(np.uint8)
    labels[case.source[..., 2]] = 3
    segments = [sf.MASK_SEGMENTS[0], sf.MASK_SEGMENTS[2]]
    labelmap = sf.seg_of_arrays(case.ct, tmp_path / "lm.dcm", labels, segments, "LABELMAP")
    assert same_as_dcmqi(labelmap, tmp_path / "lm") == [1, 3]


def test_tilted_gantry_where_dcmqi_cannot_follow(mask_cases, tmp_path: Path) -> None:
    """ITK images have no shear: dcmqi stacks tilted slices along the normal, one step length
    (2.15 mm here) apart, where the CT's planes are 2.0 mm apart along it. Slice by slice the
    same pixels are set; only idcseg puts them where the CT's are (each voxel is checked
    against the CT in test_masks.py)."""
    case = mask_cases["tilted"]
    theirs = segimage2itkimage(case.seg, tmp_path / "dcmqi")
    with idcseg.masks(case.seg) as m:
        ours = dict(zip(m.numbers, m.to_nifti(tmp_path / "idcseg"), strict=True))
    ct_z = {round(float(ds.ImagePositionPatient[2]), 2) for ds in case.ct}

    def per_slice(points: set) -> list[tuple[float, int]]:
        zs = sorted({p[2] for p in points})
        return [(z, sum(1 for p in points if p[2] == z)) for z in zs]

    for number, path in ours.items():
        mine, dcmqi = per_slice(foreground(path)), per_slice(foreground(*theirs[number]))
        assert [n for _, n in mine] == [n for _, n in dcmqi]
        assert {z for z, _ in mine} <= ct_z
        if len(mine) > 1:
            assert {z for z, _ in dcmqi} - ct_z  # dcmqi's planes are not the CT's


# --- SEGs written by dcmqi --------------------------------------------------------------------


def _dcmqi_seg(case: sf.MaskCase, tmp: Path, *flags: str, labels: bool = False) -> Path:
    """Write *case*'s arrays as NIfTI on the CT grid (affine from the CT's attributes) and
    convert them with dcmqi's ``itkimage2segimage``."""
    shape, affine = maskcheck.ct_grid(case.ct)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine[:, [2, 1, 0, 3]]  # (column, row, slice)
    tmp.mkdir(parents=True)
    if labels:  # one label image: segments 1 and 3 (they do not overlap)
        volume = case.segment(1) + 3 * case.segment(3)
        images = [(volume, [1, 3])]
    else:
        images = [(case.segment(n), [n]) for n in (1, 2, 3)]
    files, attributes = [], []
    for i, (volume, numbers) in enumerate(images):
        path = tmp / f"in{i}.nii.gz"
        nib.save(nib.Nifti1Image(volume.transpose(2, 1, 0).copy(), ras), path)
        files.append(str(path))
        entries = []
        for n in numbers:
            s = sf.MASK_SEGMENTS[n - 1]
            entries.append(
                {
                    "labelID": 1 if not labels else n,
                    "SegmentLabel": s.label,
                    "SegmentAlgorithmType": "MANUAL",
                    "SegmentedPropertyCategoryCodeSequence": dict(
                        zip(
                            ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"),
                            s.category,
                            strict=True,
                        )  # fmt: skip
                    ),
                    "SegmentedPropertyTypeCodeSequence": dict(
                        zip(
                            ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"),
                            s.type,
                            strict=True,
                        )  # fmt: skip
                    ),
                }
            )
        attributes.append(entries)
    meta = {"ContentCreatorName": "tests", "ClinicalTrialSeriesID": "1", "SeriesNumber": "300",
            "ClinicalTrialTimePointID": "1", "InstanceNumber": "1", "BodyPartExamined": "CHEST",
            "SeriesDescription": "dcmqi test", "segmentAttributes": attributes}  # fmt: skip
    (tmp / "meta.json").write_text(json.dumps(meta))
    out = tmp / "seg.dcm"
    run = subprocess.run(
        ["itkimage2segimage", "--inputImageList", ",".join(files),
         "--inputDICOMDirectory", str(case.ct_folder), "--outputDICOM", str(out),
         "--inputMetadata", str(tmp / "meta.json"), *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return out


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("--compress", "deflate"),
        ("--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"),
    ],
    ids=["binary", "deflated", "labelmap"],
)
def test_segs_written_by_dcmqi_give_back_their_arrays(mask_cases, flags, tmp_path: Path) -> None:
    case = mask_cases["axial"]
    labels = "labelmap" in flags
    seg = _dcmqi_seg(case, tmp_path / "dcmqi", *flags, labels=labels)
    header = pydicom.dcmread(seg, stop_before_pixels=True)
    if "deflate" in flags:
        assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    with idcseg.masks(seg, reference=case.ct_folder) as m:
        assert m.kind == ("LABELMAP" if labels else "BINARY")
        assert m.numbers == ([1, 3] if labels else [1, 2, 3])
        for number in m:
            assert np.array_equal(m[number], case.segment(number)), number
        assert m.segments.SegmentLabel.tolist() == [sf.MASK_SEGMENTS[n - 1].label for n in m]


# --- real files -------------------------------------------------------------------------------


def _samples() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    return sorted(p for p in SAMPLES.rglob("*.dcm") if not p.name.endswith("_sr.dcm"))


def test_seg_samples_like_segimage2itkimage(tmp_path: Path) -> None:
    files = _samples()
    if not files:
        pytest.skip(f"no SEG samples at {SAMPLES}")
    compared, refused = [], {}
    for path in files:
        try:
            idcseg.masks(path).close()
        except idcseg.IdcsegError as exc:
            refused[path.name] = str(exc)
            run = subprocess.run(
                ["segimage2itkimage", "--inputDICOM", str(path), "--outputDirectory",
                 str(tmp_path)], capture_output=True, timeout=120,
            )  # fmt: skip
            assert run.returncode != 0, f"dcmqi converts {path.name}, idcseg refuses it"
            continue
        same_as_dcmqi(path, tmp_path / path.stem)
        compared.append(path.name)
    assert len(compared) >= 9
    # what neither tool turns into a volume: slide microscopy and a projection radiograph
    assert set(refused) == {
        "seg_image_sm_control.dcm", "seg_image_sm_control_labelmap.dcm", "seg_image_cr_binary.dcm",
    }, refused  # fmt: skip
    assert all(
        "slide-microscopy" in why or "no plane orientation" in why for why in refused.values()
    )
