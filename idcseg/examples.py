"""Example DICOM SEG and SR files, to try idcseg without downloading anything.

``python -m idcseg.examples FOLDER`` writes a small CT series (3 slices, from pydicom's bundled
``CT_small.dcm``), three SEGs of it and one measurement report, made with highdicom, with fixed
UIDs so results repeat:

- ``totalseg.dcm``: BINARY, AUTOMATIC "TotalSegmentator": Liver, Kidney (Left), Kidney (Right)
- ``nodule_srt.dcm``: BINARY, SEMIAUTOMATIC "Reader 1": Nodule coded in legacy SNOMED-RT
  (``SRT:M-03010``), in the Lung, as early IDC collections carry it
- ``lungs_labelmap.dcm``: LABELMAP, AUTOMATIC "nnU-Net": Lung (Left), Lung (Right), plus the
  Background segment 0 every label map has
- ``nodule_srt_measurements.dcm``: a TID 1500 measurement report (Comprehensive 3D SR) on the
  nodule, as IDC's LIDC-IDRI SRs hold them: volume, diameter and surface area with UCUM units,
  and a reader's nine ratings (subtlety, internal structure, calcification, sphericity, margin,
  lobulation, spiculation, texture, malignancy), coded as ``dicom_lidc_idri_nodules`` codes them

Then ``idcseg ingest FOLDER`` stores their segments and measurements, ``idcseg find`` and
``idcseg measurements`` search them. The building blocks — :func:`make_ct`, :func:`segment`,
:func:`make_seg`, :func:`measurement_group`, :func:`make_measurement_report` — make other
examples (the notebooks use them). Pitfalls they handle: highdicom keeps references to code
objects, so every use gets fresh ones; AUTOMATIC and SEMIAUTOMATIC segments carry an algorithm
identification.
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

# TID 1500 content as IDC's LIDC-IDRI nodule reports (dicom_lidc_idri_nodules) code it
NODULE: Code = ("M-03010", "SRT", "Nodule")
LUNG_SRT: Code = ("T-28000", "SRT", "Lung")
VOLUME: Code = ("G-D705", "SRT", "Volume")
DIAMETER: Code = ("M-02550", "SRT", "Diameter")
SURFACE_AREA: Code = ("C25244", "NCIt", "Surface Area")
MM: Code = ("mm", "UCUM", "millimeter")
MM2: Code = ("mm2", "UCUM", "square millimeter")
MM3: Code = ("mm3", "UCUM", "cubic millimeter")
ML: Code = ("ml", "UCUM", "milliliter")
#: LIDC-IDRI's nine rated characteristics: name -> (concept code, {rating 1..n: value code}).
LIDC_RATINGS: dict[str, tuple[Code, dict[int, Code]]] = {
    "subtlety": (
        ("C45992", "NCIt", "Subtlety score"),
        {
            1: ("101", "99LIDCQIICR", "1 out of 5 (Extremely subtle)"),
            2: ("102", "99LIDCQIICR", "2 out of 5 (Moderately subtle)"),
            3: ("103", "99LIDCQIICR", "3 out of 5 (Fairly subtle)"),
            4: ("104", "99LIDCQIICR", "4 out of 5 (Moderately obvious)"),
            5: ("105", "99LIDCQIICR", "5 out of 5 (Obvious)"),
        },
    ),
    "internal_structure": (
        ("200", "99LIDCQIICR", "Internal structure"),
        {
            1: ("C12471", "NCIt", "Soft tissue"),
            2: ("C25278", "NCIt", "Fluid"),
            3: ("C12472", "NCIt", "Adipose tissue"),
            4: ("C73434", "NCIt", "Air"),
        },
    ),
    "calcification": (
        ("C3672", "NCIt", "Calcification"),
        {
            1: ("RID35453", "RadLex", "Popcorn calcification sign"),
            2: ("302", "99LIDCQIICR", "Laminated appearance"),
            3: ("RID5741", "RadLex", "Solid appearance"),
            4: ("304", "99LIDCQIICR", "Non-central appearance"),
            5: ("RID5827", "RadLex", "Central calcification"),
            6: ("RID28473", "RadLex", "Absent"),
        },
    ),
    "sphericity": (
        ("400", "99LIDCQIICR", "Sphericity"),
        {
            1: ("RID5811", "RadLex", "linear"),
            2: ("002", "99LIDCQIICR", "2 out of 5"),
            3: ("RID5800", "RadLex", "ovoid"),
            4: ("004", "99LIDCQIICR", "4 out of 5"),
            5: ("RID5799", "RadLex", "round"),
        },
    ),
    "margin": (
        ("C25563", "NCIt", "Margin"),
        {
            1: ("RID5709", "RadLex", "Indistinct margin"),
            2: ("002", "99LIDCQIICR", "2 out of 5"),
            3: ("003", "99LIDCQIICR", "3 out of 5"),
            4: ("004", "99LIDCQIICR", "4 out of 5"),
            5: ("RID5707", "RadLex", "Circumscribed margin"),
        },
    ),
    "lobulation": (
        ("C62175", "NCIt", "Lobular Pattern"),
        {
            1: ("601", "99LIDCQIICR", "1 out of 5 (No lobulation)"),
            2: ("002", "99LIDCQIICR", "2 out of 5"),
            3: ("003", "99LIDCQIICR", "3 out of 5"),
            4: ("004", "99LIDCQIICR", "4 out of 5"),
            5: ("605", "99LIDCQIICR", "5 out of 5 (Marked lobulation)"),
        },
    ),
    "spiculation": (
        ("C28749", "NCIt", "Spiculation"),
        {
            1: ("701", "99LIDCQIICR", "1 out of 5 (No spiculation)"),
            2: ("002", "99LIDCQIICR", "2 out of 5"),
            3: ("003", "99LIDCQIICR", "3 out of 5"),
            4: ("004", "99LIDCQIICR", "4 out of 5"),
            5: ("705", "99LIDCQIICR", "5 out of 5 (Marked spiculation)"),
        },
    ),
    "texture": (
        ("C41144", "NCIt", "Texture"),
        {
            1: ("RID50153", "RadLex", "non-solid pulmonary nodule"),
            2: ("002", "99LIDCQIICR", "2 out of 5"),
            3: ("RID50152", "RadLex", "part-solid pulmonary nodule"),
            4: ("004", "99LIDCQIICR", "4 out of 5"),
            5: ("RID50151", "RadLex", "solid pulmonary nodule"),
        },
    ),
    "malignancy": (
        ("RID36042", "RadLex", "Malignancy"),
        {
            1: ("901", "99LIDCQIICR", "1 out of 5 (Highly Unlikely for Cancer)"),
            2: ("902", "99LIDCQIICR", "2 out of 5 (Moderately Unlikely for Cancer)"),
            3: ("903", "99LIDCQIICR", "3 out of 5 (Indeterminate Likelihood)"),
            4: ("904", "99LIDCQIICR", "4 out of 5 (Moderately Suspicious for Cancer)"),
            5: ("905", "99LIDCQIICR", "5 out of 5 (Highly Suspicious for Cancer)"),
        },
    ),
}


def lidc_ratings(**scores: int) -> list[tuple[Code, Code]]:
    """(concept, value) codes of LIDC ratings, e.g. ``lidc_ratings(malignancy=4, subtlety=5)``."""
    out = []
    for name, score in scores.items():
        concept, values = LIDC_RATINGS[name]
        out.append((concept, values[score]))
    return out


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
    tracking_uid: str | None = None,
) -> Any:
    """A highdicom SegmentDescription built from fresh code objects.

    *algorithm* names the software (AUTOMATIC and SEMIAUTOMATIC segments need one).
    *tracking_id* comes with a TrackingUID (*tracking_uid*, else a new one).
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
        tracking_uid=(tracking_uid or generate_uid()) if tracking_id else None,
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


def measurement_group(
    seg: Any,
    segment_number: int,
    *,
    finding: Code = NODULE,
    finding_site: Code | None = LUNG_SRT,
    laterality: Code | None = None,
    measurements: list[tuple[Code, float, Code] | tuple[Code, float, Code, Code]] = (),  # type: ignore[assignment]
    evaluations: list[tuple[Code, Code]] = (),  # type: ignore[assignment]
    tracking_id: str | None = None,
    tracking_uid: str | None = None,
    source_series: str | None = None,
) -> Any:
    """A TID 1411 measurement group on segment *segment_number* of *seg* (a pydicom Dataset).

    *measurements* are ``(quantity, value, unit)`` or ``(quantity, value, unit, derivation)``,
    *evaluations* ``(concept, value)`` codes. The tracking identifier and UID default to the
    segment's own (TrackingID / TrackingUID), so the group links to it both ways; the source
    series to the SEG's referenced series.
    """
    import highdicom as hd

    item = next(s for s in seg.SegmentSequence if int(s.SegmentNumber) == segment_number)
    source = source_series or seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=tracking_uid or item.get("TrackingUID") or None,
            identifier=tracking_id or item.get("TrackingID") or item.SegmentLabel,
        ),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=segment_number,
            source_series=hd.sr.SourceSeriesForSegmentation(source),
        ),
        finding_type=_concept(finding),
        finding_sites=(
            [
                hd.sr.FindingSite(
                    _concept(finding_site), laterality=_concept(laterality) if laterality else None
                )
            ]
            if finding_site
            else None
        ),
        measurements=[
            hd.sr.Measurement(
                name=_concept(m[0]),
                value=m[1],
                unit=_concept(m[2]),
                derivation=_concept(m[3]) if len(m) > 3 else None,  # type: ignore[misc]
            )
            for m in measurements
        ],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(_concept(name), _concept(value))
            for name, value in evaluations
        ],
    )


def make_measurement_report(
    path: Path,
    seg: Any,
    groups: list[Any],
    *,
    observer: str = "Reader",
    description: str = "Nodule measurements",
    series_uid: str | None = None,
    images: list[Any] = (),  # type: ignore[assignment]
) -> Path:
    """Write a TID 1500 measurement report (Comprehensive 3D SR) of *groups* on *seg*.

    *images* (pydicom Datasets, e.g. the CT) go to the Image Library. With *series_uid*, the
    SOPInstanceUID is ``<series_uid>.1`` (fixed inputs, same file).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=observer
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=_concept(("77477000", "SCT", "Computed Tomography")),
        imaging_measurements=groups,
        referenced_images=list(images) or None,
    )
    series_uid = series_uid or generate_uid()
    document = hd.sr.Comprehensive3DSR(
        evidence=[seg, *images],
        content=report[0],
        series_instance_uid=series_uid,
        series_number=200,
        sop_instance_uid=_child_uid(series_uid, 1),
        instance_number=1,
        manufacturer="idcseg examples",
        series_description=description,
        is_complete=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save_as(path)
    return path


def write_example_segs(folder: str | Path) -> list[Path]:
    """Write the example CT series (``folder/ct``), three SEGs of it and a measurement report
    on the nodule; return the SEG and SR paths."""
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
                algorithm_type="SEMIAUTOMATIC", anatomy=SRT_LUNG, tracking_id="Nodule 1",
                tracking_uid=f"{ROOT}.30.1"),
    ]  # fmt: skip
    lungs = [
        segment(k, f"lung_{side[2].lower()}", ANATOMICAL_STRUCTURE, LUNG, algorithm="nnU-Net",
                algorithm_type="AUTOMATIC", laterality=side)
        for k, side in ((1, LEFT), (2, RIGHT))
    ]  # fmt: skip
    written = [
        make_seg(ct, folder / "totalseg.dcm", organs, description="TotalSegmentator organs",
                 series_uid=f"{ROOT}.10.1"),
        make_seg(ct, folder / "nodule_srt.dcm", nodule,
                 description="Nodule, legacy SNOMED-RT codes", series_uid=f"{ROOT}.10.2"),
        make_seg(ct, folder / "lungs_labelmap.dcm", lungs, description="Lungs label map",
                 series_uid=f"{ROOT}.10.3", segmentation_type="LABELMAP"),
    ]  # fmt: skip
    import pydicom

    seg = pydicom.dcmread(written[1])
    group = measurement_group(
        seg, 1,
        measurements=[(VOLUME, 523.6, MM3), (DIAMETER, 10.2, MM), (SURFACE_AREA, 310.4, MM2)],
        evaluations=lidc_ratings(subtlety=5, internal_structure=1, calcification=6,
                                 sphericity=4, margin=4, lobulation=2, spiculation=1,
                                 texture=5, malignancy=4),
    )  # fmt: skip
    written.append(
        make_measurement_report(
            folder / "nodule_srt_measurements.dcm", seg, [group], observer="Reader^One",
            description="Nodule 1 - Reader 1 measurements", series_uid=f"{ROOT}.20.1",
        )
    )  # fmt: skip
    return written


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
