"""Example DICOM SEG files, to try segment-level search without downloading anything.

``python -m idcseg.examples FOLDER`` writes a small CT series (3 slices, from pydicom's bundled
``CT_small.dcm``) and three SEGs of it, made with highdicom, with fixed UIDs so results repeat:

- ``totalseg.dcm``: BINARY, AUTOMATIC "TotalSegmentator": Liver, Kidney (Left), Kidney (Right)
- ``nodule_srt.dcm``: BINARY, SEMIAUTOMATIC "Reader 1": Nodule coded in legacy SNOMED-RT
  (``SRT:M-03010``), in the Lung, as early IDC collections carry it
- ``lungs_labelmap.dcm``: LABELMAP, AUTOMATIC "nnU-Net": Lung (Left), Lung (Right), plus the
  Background segment 0 every label map has

Then ``idcseg ingest FOLDER`` stores their segments and ``idcseg find`` searches them.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

ROOT = "2.25.1993"  # fixed UID root: the same files, the same answers, on every machine
CT, STUDY, FRAME = f"{ROOT}.1", f"{ROOT}.2", f"{ROOT}.3"

_CODES = {
    "anatomical structure": ("91723000", "SCT", "Anatomical Structure"),
    "liver": ("10200004", "SCT", "Liver"),
    "kidney": ("64033007", "SCT", "Kidney"),
    "lung": ("39607008", "SCT", "Lung"),
    "abdomen": ("818981001", "SCT", "Abdomen"),
    "left": ("7771000", "SCT", "Left"),
    "right": ("24028007", "SCT", "Right"),
    "srt altered": ("M-01000", "SRT", "Morphologically Altered Structure"),
    "srt nodule": ("M-03010", "SRT", "Nodule"),
    "srt lung": ("T-28000", "SRT", "Lung"),
}


def _code(name: str) -> Any:
    import highdicom as hd

    value, scheme, meaning = _CODES[name]
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _ct(folder: Path) -> list[Any]:
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file

    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    template.remove_private_tags()
    template.PatientID = "IDCSEG-EXAMPLE"
    template.StudyInstanceUID, template.SeriesInstanceUID = STUDY, CT
    template.FrameOfReferenceUID = FRAME
    template.BodyPartExamined = "CHEST"
    x, y, z = (float(v) for v in template.ImagePositionPatient)
    slices = []
    for i in range(3):
        ds = copy.deepcopy(template)
        ds.SOPInstanceUID = f"{CT}.{i + 1}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [x, y, z + 5.0 * i]
        ds.PixelData = np.asarray(template.pixel_array).tobytes()
        ds.save_as(folder / "ct" / f"ct_{i + 1}.dcm", enforce_file_format=True)
        slices.append(ds)
    return slices


def _segment(
    number: int,
    label: str,
    category: str,
    kind: str,
    how: str,
    name: str | None,
    modifier: str | None = None,
    region: str | None = None,
) -> Any:
    import highdicom as hd

    algorithm = None
    if how != "MANUAL":
        algorithm = hd.AlgorithmIdentificationSequence(
            name=name or "", version="1", family=_code_family()
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=_code(category),
        segmented_property_type=_code(kind),
        algorithm_type=how,
        algorithm_identification=algorithm,
        anatomic_regions=[_code(region)] if region else None,
    )
    if modifier:  # laterality: a modifier of the segmented property type
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = _CODES[modifier]
        type_item = description.SegmentedPropertyTypeCodeSequence[0]
        type_item.SegmentedPropertyTypeModifierCodeSequence = Sequence([item])
    return description


def _code_family() -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(
        value="123110", scheme_designator="DCM", meaning="Artificial Intelligence"
    )


def _seg(
    source: list[Any], path: Path, uid: int, kind: str, segments: list[Any], description: str
) -> Path:
    import highdicom as hd
    import numpy as np

    rows, cols, n = int(source[0].Rows), int(source[0].Columns), len(source)
    if kind == "LABELMAP":
        pixels = np.zeros((n, rows, cols), dtype=np.uint8)
        for k, _ in enumerate(segments):
            pixels[:, 10 + 20 * k : 20 + 20 * k, 10:40] = k + 1
    else:
        pixels = np.zeros((n, rows, cols, len(segments)), dtype=bool)
        for k in range(len(segments)):
            pixels[:, 10 + 20 * k : 20 + 20 * k, 10:40, k] = True
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=pixels,
        segmentation_type=kind,
        segment_descriptions=segments,
        series_instance_uid=f"{ROOT}.10.{uid}",
        series_number=100 + uid,
        sop_instance_uid=f"{ROOT}.10.{uid}.1",
        instance_number=1,
        manufacturer="idcseg examples",
        manufacturer_model_name="idcseg",
        software_versions="1",
        device_serial_number="1",
        series_description=description,
    )
    seg.save_as(path)
    return path


def write_example_segs(folder: str | Path) -> list[Path]:
    """Write the example CT series (``folder/ct``) and three SEGs of it; return the SEG paths."""
    folder = Path(folder)
    (folder / "ct").mkdir(parents=True, exist_ok=True)
    source = _ct(folder)
    return [
        _seg(
            source,
            folder / "totalseg.dcm",
            1,
            "BINARY",
            [
                _segment(
                    1,
                    "liver",
                    "anatomical structure",
                    "liver",
                    "AUTOMATIC",
                    "TotalSegmentator",
                    region="abdomen",
                ),
                _segment(
                    2,
                    "kidney_left",
                    "anatomical structure",
                    "kidney",
                    "AUTOMATIC",
                    "TotalSegmentator",
                    modifier="left",
                ),
                _segment(
                    3,
                    "kidney_right",
                    "anatomical structure",
                    "kidney",
                    "AUTOMATIC",
                    "TotalSegmentator",
                    modifier="right",
                ),
            ],
            "TotalSegmentator organs",
        ),
        _seg(
            source,
            folder / "nodule_srt.dcm",
            2,
            "BINARY",
            [
                _segment(
                    1,
                    "Nodule 1",
                    "srt altered",
                    "srt nodule",
                    "SEMIAUTOMATIC",
                    "Reader 1",
                    region="srt lung",
                ),
            ],
            "Nodule, legacy SNOMED-RT codes",
        ),
        _seg(
            source,
            folder / "lungs_labelmap.dcm",
            3,
            "LABELMAP",
            [
                _segment(
                    1,
                    "lung_left",
                    "anatomical structure",
                    "lung",
                    "AUTOMATIC",
                    "nnU-Net",
                    modifier="left",
                ),
                _segment(
                    2,
                    "lung_right",
                    "anatomical structure",
                    "lung",
                    "AUTOMATIC",
                    "nnU-Net",
                    modifier="right",
                ),
            ],
            "Lungs label map",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m idcseg.examples FOLDER``: write the examples, print the SEG paths."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(
            "usage: python -m idcseg.examples FOLDER  (writes example SEGs there)", file=sys.stderr
        )
        raise SystemExit(0 if args and args[0] in ("-h", "--help") else 2)
    try:
        paths = write_example_segs(args[0])
    except OSError as exc:
        print(f"idcseg: error: cannot write examples in {args[0]}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
