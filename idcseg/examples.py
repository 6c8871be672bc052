"""Example DICOM SEG files, to try segment-level search without downloading anything.

``python -m idcseg.examples FOLDER`` writes a small CT series (3 slices, from pydicom's bundled
``CT_small.dcm``) and three SEGs of it, made with highdicom, with fixed UIDs so results repeat:

- ``totalseg.dcm``: BINARY, AUTOMATIC "TotalSegmentator": Liver, Kidney (Left), Kidney (Right)
- ``nodule_srt.dcm``: BINARY, SEMIAUTOMATIC "Reader 1": Nodule coded in legacy SNOMED-RT
  (``SRT:M-03010``), in the Lung, as early IDC collections carry it
- ``lungs_labelmap.dcm``: LABELMAP, AUTOMATIC "nnU-Net": Lung (Left), Lung (Right), plus the
  Background segment 0 every label map has

Then ``idcseg ingest FOLDER`` stores their segments and ``idcseg find`` searches them. The
building blocks — :func:`make_ct`, :func:`segment`, :func:`make_seg` — make other examples (the
notebooks use them). Pitfalls they handle: highdicom keeps references to code objects, so every
use gets fresh ones; AUTOMATIC and SEMIAUTOMATIC segments carry an algorithm identification.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

#: A DICOM code as (CodeValue, CodingSchemeDesignator, CodeMeaning).
Code = tuple[str, str, str]

ANATOMICAL_STRUCTURE: Code = ("91723000", "SCT", "Anatomical Structure")
LIVER: Code = ("10200004", "SCT", "Liver")
KIDNEY: Code = ("64033007", "SCT", "Kidney")
LUNG: Code = ("39607008", "SCT", "Lung")
ABDOMEN: Code = ("818981001", "SCT", "Abdomen")
LEFT: Code = ("7771000", "SCT", "Left")
RIGHT: Code = ("24028007", "SCT", "Right")
SRT_MORPH_ALTERED: Code = ("M-01000", "SRT", "Morphologically Altered Structure")
SRT_NODULE: Code = ("M-03010", "SRT", "Nodule")
SRT_LUNG: Code = ("T-28000", "SRT", "Lung")

ROOT = "2.25.1993"  # fixed UID root: the same files, the same answers, on every machine


def _concept(code: Code) -> Any:
    import highdicom as hd

    value, scheme, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _item(code: Code) -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def _child_uid(parent: str | None, n: int) -> str:
    """``<parent>.<n>`` when that is a valid UID (≤ 64 chars), else a new one."""
    from pydicom.uid import generate_uid

    child = f"{parent}.{n}" if parent else ""
    return child if child and len(child) <= 64 else generate_uid()


def make_ct(
    folder: Path,
    patient_id: str,
    *,
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_uid: str | None = None,
    n_slices: int = 3,
    size: int | tuple[int, int] | None = None,
    pixel_spacing: tuple[float, float] | None = None,
    slice_spacing: float = 5.0,
    orientation: tuple[float, ...] | None = None,
    origin: tuple[float, float, float] | None = None,
    slice_step: tuple[float, float, float] | None = None,
) -> list[Any]:
    """Write a small CT series (pydicom's CT_small.dcm, restacked) into *folder*.

    UIDs not given are generated; slice *i* gets SOPInstanceUID ``<series_uid>.<i+1>`` when
    *series_uid* is given (and that fits in a UID), so fixed inputs give identical files.

    The geometry can be changed for tests and benchmarks of masks:

    - *size*: rows and columns (an int for a square); the image becomes a synthetic phantom
      (air around an ellipse of soft tissue) instead of CT_small's 128×128 picture;
    - *pixel_spacing*: (between rows, between columns) in mm (default CT_small's 0.661468);
    - *orientation*: ImageOrientationPatient, six direction cosines (default axial);
    - *origin*: ImagePositionPatient of the first slice (default CT_small's);
    - *slice_spacing*: mm between slices along the plane's normal (row × column direction);
    - *slice_step*: instead, the LPS vector from one slice's position to the next (a tilted
      gantry: not along the normal).

    SliceThickness and SpacingBetweenSlices say the distance between slices.
    """
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    template.remove_private_tags()
    template.PatientID = patient_id
    template.StudyInstanceUID = study_uid or generate_uid()
    template.SeriesInstanceUID = series_uid or generate_uid()
    template.FrameOfReferenceUID = frame_uid or generate_uid()
    template.BodyPartExamined = "CHEST"
    if size is not None:
        rows, columns = (size, size) if isinstance(size, int) else size
        template.Rows, template.Columns = rows, columns
        template.PixelData = _phantom(rows, columns).tobytes()
    if pixel_spacing is not None:
        template.PixelSpacing = [float(v) for v in pixel_spacing]
    if orientation is not None:
        template.ImageOrientationPatient = [float(v) for v in orientation]
    cosines = np.array([float(v) for v in template.ImageOrientationPatient])
    if slice_step is None:
        step = np.cross(cosines[:3], cosines[3:]) * slice_spacing
    else:
        step = np.array(slice_step, dtype=float)
    distance = float(np.linalg.norm(step))
    template.SliceThickness = template.SpacingBetweenSlices = round(distance, 6)
    start = np.array(origin if origin is not None else template.ImagePositionPatient, float)
    slices = []
    for i in range(n_slices):
        ds = copy.deepcopy(template)
        ds.SOPInstanceUID = _child_uid(series_uid, i + 1)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        position = start + i * step
        ds.ImagePositionPatient = [round(float(v), 6) for v in position]
        ds.SliceLocation = round(float(position @ np.cross(cosines[:3], cosines[3:])), 6)
        ds.save_as(folder / f"ct_{i + 1:03d}.dcm", enforce_file_format=True)
        slices.append(ds)
    return slices


def _phantom(rows: int, columns: int) -> Any:
    """Stored values of a synthetic chest-like CT slice (RescaleIntercept -1024): air
    (-1000 HU) around a body of soft tissue (40 HU) with two lungs (-850 HU) and a spine
    (400 HU)."""
    import numpy as np

    r, c = np.ogrid[:rows, :columns]

    def inside(row: float, column: float, half_rows: float, half_columns: float) -> Any:
        return ((r - row * rows) / (half_rows * rows)) ** 2 + (
            (c - column * columns) / (half_columns * columns)
        ) ** 2 <= 1

    hu = np.full((rows, columns), -1000, dtype=np.int16)
    hu[inside(0.5, 0.5, 0.42, 0.46)] = 40
    for side in (0.3, 0.7):
        hu[inside(0.45, side, 0.25, 0.15)] = -850
    hu[inside(0.78, 0.5, 0.07, 0.07)] = 400
    return hu + 1024


def segment(
    number: int,
    label: str,
    category: Code,
    structure: Code,
    *,
    algorithm: str | None = None,
    algorithm_type: str = "MANUAL",
    anatomy: Code | None = None,
    laterality: Code | None = None,
    laterality_of: str = "structure",
    tracking_id: str | None = None,
) -> Any:
    """A highdicom SegmentDescription built from fresh code objects.

    *algorithm* names the software (AUTOMATIC and SEMIAUTOMATIC segments need one).
    *laterality* (Left/Right) is a modifier of the segmented structure, as TotalSegmentator
    writes it, or with ``laterality_of="anatomy"`` of the anatomic region.
    """
    import highdicom as hd
    from pydicom.sequence import Sequence
    from pydicom.uid import generate_uid

    identification = None
    if algorithm_type != "MANUAL":
        identification = hd.AlgorithmIdentificationSequence(
            name=algorithm or "unnamed",
            family=_concept(("123110", "DCM", "Artificial Intelligence")),
            version="1.0",
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=_concept(category),
        segmented_property_type=_concept(structure),
        algorithm_type=algorithm_type,
        algorithm_identification=identification,
        tracking_id=tracking_id,
        tracking_uid=generate_uid() if tracking_id else None,
        anatomic_regions=[_concept(anatomy)] if anatomy else None,
    )
    if laterality is not None and laterality_of == "anatomy" and anatomy is not None:
        region = description.AnatomicRegionSequence[0]
        region.AnatomicRegionModifierSequence = Sequence([_item(laterality)])
    elif laterality is not None:
        kind = description.SegmentedPropertyTypeCodeSequence[0]
        kind.SegmentedPropertyTypeModifierCodeSequence = Sequence([_item(laterality)])
    return description


def make_seg(
    ct: list[Any],
    path: Path,
    segments: list[Any],
    *,
    description: str,
    series_uid: str | None = None,
    segmentation_type: str = "BINARY",
    pixels: Any = None,
) -> Path:
    """Write a SEG of *ct* with *segments* (a small rectangle each) to *path*.

    With *series_uid*, the SOPInstanceUID is ``<series_uid>.1`` (fixed inputs, same file).
    *pixels* replaces the rectangles: highdicom's ``(slices, rows, columns, segments)`` array
    (or ``(slices, rows, columns)`` of segment numbers for a label map), slices in *ct*'s order.
    """
    import highdicom as hd
    import numpy as np
    from pydicom.uid import generate_uid

    rows, columns, n = int(ct[0].Rows), int(ct[0].Columns), len(ct)
    if pixels is not None:
        pass
    elif segmentation_type == "LABELMAP":
        pixels = np.zeros((n, rows, columns), dtype=np.uint8)
        for k in range(len(segments)):
            pixels[:, 8 + 14 * (k % 8) : 18 + 14 * (k % 8), 20:60] = k + 1
    else:
        pixels = np.zeros((n, rows, columns, len(segments)), dtype=bool)
        for k in range(len(segments)):
            pixels[:, 8 + 14 * (k % 8) : 18 + 14 * (k % 8), 20:60, k] = True
    seg = hd.seg.Segmentation(
        source_images=ct,
        pixel_array=pixels,
        segmentation_type=segmentation_type,
        segment_descriptions=segments,
        series_instance_uid=series_uid or generate_uid(),
        series_number=100,
        sop_instance_uid=_child_uid(series_uid, 1),
        instance_number=1,
        manufacturer="idcseg examples",
        manufacturer_model_name="idcseg",
        software_versions="1",
        device_serial_number="1",
        series_description=description,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def write_example_segs(folder: str | Path) -> list[Path]:
    """Write the example CT series (``folder/ct``) and three SEGs of it; return the SEG paths."""
    folder = Path(folder)
    ct = make_ct(
        folder / "ct", "IDCSEG-EXAMPLE",
        study_uid=f"{ROOT}.2", series_uid=f"{ROOT}.1", frame_uid=f"{ROOT}.3",
    )  # fmt: skip
    organs = [
        segment(1, "liver", ANATOMICAL_STRUCTURE, LIVER, algorithm="TotalSegmentator",
                algorithm_type="AUTOMATIC", anatomy=ABDOMEN),
        segment(2, "kidney_left", ANATOMICAL_STRUCTURE, KIDNEY, algorithm="TotalSegmentator",
                algorithm_type="AUTOMATIC", laterality=LEFT),
        segment(3, "kidney_right", ANATOMICAL_STRUCTURE, KIDNEY, algorithm="TotalSegmentator",
                algorithm_type="AUTOMATIC", laterality=RIGHT),
    ]  # fmt: skip
    nodule = [
        segment(1, "Nodule 1", SRT_MORPH_ALTERED, SRT_NODULE, algorithm="Reader 1",
                algorithm_type="SEMIAUTOMATIC", anatomy=SRT_LUNG),
    ]  # fmt: skip
    lungs = [
        segment(k, f"lung_{side[2].lower()}", ANATOMICAL_STRUCTURE, LUNG, algorithm="nnU-Net",
                algorithm_type="AUTOMATIC", laterality=side)
        for k, side in ((1, LEFT), (2, RIGHT))
    ]  # fmt: skip
    return [
        make_seg(ct, folder / "totalseg.dcm", organs, description="TotalSegmentator organs",
                 series_uid=f"{ROOT}.10.1"),
        make_seg(ct, folder / "nodule_srt.dcm", nodule,
                 description="Nodule, legacy SNOMED-RT codes", series_uid=f"{ROOT}.10.2"),
        make_seg(ct, folder / "lungs_labelmap.dcm", lungs, description="Lungs label map",
                 series_uid=f"{ROOT}.10.3", segmentation_type="LABELMAP"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """``python -m idcseg.examples FOLDER``: write the examples, print the SEG paths."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m idcseg.examples FOLDER  (writes SEGs there)", file=sys.stderr)
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
