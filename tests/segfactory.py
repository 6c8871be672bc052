"""Build real DICOM SEG files at test time.

A small CT series is made with pydicom from its bundled ``CT_small.dcm`` (new UIDs, one slice per
position); highdicom then writes SEGs that reference it. Every case in :data:`CASES` covers one
trait the reader must handle (binary with several segments, fractional, label map, legacy SRT
codes, laterality modifiers, algorithm types, missing optional attributes, tracking identifiers).

Pitfalls handled here (see DESIGN §5): highdicom keeps references to code objects, so every
segment gets fresh deep copies; TrackingID and TrackingUID go together; AUTOMATIC and SEMIAUTOMATIC
segments carry an algorithm identification, MANUAL ones do not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

# Codes used by the cases, as (value, scheme, meaning). Fresh objects are built from these on every
# use, never shared between segments.
ANATOMICAL_STRUCTURE = ("91723000", "SCT", "Anatomical Structure")
ANATOMICAL_STRUCTURE_DCMQI = ("123037004", "SCT", "Anatomical Structure")
MORPH_ALTERED = ("49755003", "SCT", "Morphologically Altered Structure")
LIVER = ("10200004", "SCT", "Liver")
KIDNEY = ("64033007", "SCT", "Kidney")
LUNG = ("39607008", "SCT", "Lung")
NEOPLASM = ("108369006", "SCT", "Neoplasm")
ABDOMEN = ("818981001", "SCT", "Abdomen")
LEFT = ("7771000", "SCT", "Left")
RIGHT = ("24028007", "SCT", "Right")
# legacy SNOMED-RT codes as dcmqi wrote them in early IDC collections
SRT_MORPH_ALTERED = ("M-01000", "SRT", "Morphologically Altered Structure")
SRT_NODULE = ("M-03010", "SRT", "Nodule")
SRT_LUNG = ("T-28000", "SRT", "Lung")
SRT_LEFT = ("G-A101", "SRT", "Left")
BACKGROUND = ("125040", "DCM", "Background")


def code(triple: tuple[str, str, str]):
    """A new highdicom CodedConcept for *triple* (never shared)."""
    import highdicom as hd

    value, scheme, meaning = triple
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def code_item(triple: tuple[str, str, str]) -> Dataset:
    """A plain pydicom code sequence item for *triple*."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = triple
    return item


def make_ct_series(
    folder: Path,
    n_slices: int = 3,
    size: int | tuple[int, int] | None = None,
    patient_id: str = "IDCSEG-TEST-1",
) -> list[Dataset]:
    """Write *n_slices* CT images of one new series into *folder*; return the datasets.

    The slices share study, series and frame of reference; each has its own SOPInstanceUID and
    z position. With *size* (``N`` or ``(rows, columns)``), the image is replaced by a
    synthetic one of that size.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    template.remove_private_tags()
    if size is not None:
        rows, columns = (size, size) if isinstance(size, int) else size
        template.Rows, template.Columns = rows, columns
        template.PixelData = np.zeros((rows, columns), dtype=np.int16).tobytes()
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    x, y, z0 = (float(v) for v in template.ImagePositionPatient)
    slices = []
    for i in range(n_slices):
        ds = copy.deepcopy(template)
        ds.PatientID = patient_id
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [x, y, z0 + 5.0 * i]
        ds.SliceLocation = z0 + 5.0 * i
        ds.save_as(folder / f"ct_{i:04d}.dcm", enforce_file_format=True)
        slices.append(ds)
    return slices


@dataclass
class Seg:
    """One segment to write: a label, codes, and how it was made."""

    number: int
    label: str
    category: tuple[str, str, str]
    type: tuple[str, str, str]
    algorithm_type: str = "MANUAL"
    algorithm_name: str | None = None
    region: tuple[str, str, str] | None = None
    region_modifier: tuple[str, str, str] | None = None
    type_modifier: tuple[str, str, str] | None = None
    tracking_id: str | None = None
    tracking_uid: str | None = None
    description: str | None = None
    color: tuple[int, int, int] | None = None  # recommended display colour, sRGB

    def highdicom(self):
        """A highdicom SegmentDescription built from fresh code objects."""
        import highdicom as hd

        algorithm = None
        if self.algorithm_type != "MANUAL":
            algorithm = hd.AlgorithmIdentificationSequence(
                name=self.algorithm_name or "unnamed",
                family=code(("123110", "DCM", "Artificial Intelligence")),
                version="1.0",
            )
        desc = hd.seg.SegmentDescription(
            segment_number=self.number,
            segment_label=self.label,
            segmented_property_category=code(self.category),
            segmented_property_type=code(self.type),
            algorithm_type=self.algorithm_type,
            algorithm_identification=algorithm,
            tracking_id=self.tracking_id,
            tracking_uid=self.tracking_uid,
            anatomic_regions=[code(self.region)] if self.region else None,
            display_color=hd.color.CIELabColor.from_rgb(*self.color) if self.color else None,
        )
        if self.region_modifier is not None:
            desc.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = Sequence(
                [code_item(self.region_modifier)]
            )
        if self.type_modifier is not None:
            desc.SegmentedPropertyTypeCodeSequence[
                0
            ].SegmentedPropertyTypeModifierCodeSequence = Sequence([code_item(self.type_modifier)])
        if self.description is not None:
            desc.SegmentDescription = self.description
        return desc


@dataclass
class Case:
    """A SEG file to build: its segmentation type and segments, plus post-edits."""

    name: str
    segmentation_type: str
    segments: list[Seg]
    edit: Callable[[Dataset], None] | None = None


def _drop_optional(ds: Dataset) -> None:
    """Remove optional series attributes and every reference to the source images."""
    for keyword in (
        "SeriesDescription",
        "BodyPartExamined",
        "StudyDescription",
        "SeriesDate",
        "ReferencedSeriesSequence",
        "SourceImageSequence",
    ):
        if keyword in ds:
            delattr(ds, keyword)


def _refs_as_source_images(ds: Dataset) -> None:
    """Keep only SOP instance references (SourceImageSequence), as some older writers did."""
    source = Sequence()
    for ref in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence:
        item = Dataset()
        item.ReferencedSOPClassUID = ref.ReferencedSOPClassUID
        item.ReferencedSOPInstanceUID = ref.ReferencedSOPInstanceUID
        source.append(item)
    ds.SourceImageSequence = source
    del ds.ReferencedSeriesSequence


CASES: list[Case] = [
    Case(
        "binary_multi",
        "BINARY",
        [
            Seg(
                1,
                "Liver",
                ANATOMICAL_STRUCTURE,
                LIVER,
                "AUTOMATIC",
                "TotalSegmentator",
                region=ABDOMEN,
                tracking_id="liver-1",
                tracking_uid=generate_uid(),
                description="whole liver",
            ),
            Seg(
                2,
                "Kidney L",
                ANATOMICAL_STRUCTURE,
                KIDNEY,
                "SEMIAUTOMATIC",
                "SlicerEditor",
                type_modifier=LEFT,
            ),
            Seg(
                3,
                "Kidney R",
                ANATOMICAL_STRUCTURE,
                KIDNEY,
                "SEMIAUTOMATIC",
                "SlicerEditor",
                type_modifier=RIGHT,
                region=ABDOMEN,
                region_modifier=RIGHT,
            ),
        ],
    ),
    Case(
        "fractional",
        "FRACTIONAL",
        [Seg(1, "Tumor", MORPH_ALTERED, NEOPLASM, "MANUAL")],
    ),
    Case(
        "labelmap",
        "LABELMAP",
        [
            Seg(
                1,
                "Lung L",
                ANATOMICAL_STRUCTURE_DCMQI,
                LUNG,
                "AUTOMATIC",
                "nnU-Net",
                type_modifier=LEFT,
            ),
            Seg(
                2,
                "Lung R",
                ANATOMICAL_STRUCTURE_DCMQI,
                LUNG,
                "AUTOMATIC",
                "nnU-Net",
                type_modifier=RIGHT,
            ),
        ],
    ),
    Case(
        "legacy_srt",
        "BINARY",
        [
            Seg(
                1,
                "Nodule 1",
                SRT_MORPH_ALTERED,
                SRT_NODULE,
                "MANUAL",
                region=SRT_LUNG,
                region_modifier=SRT_LEFT,
                tracking_id="Nodule 1",
                tracking_uid=generate_uid(),
            ),
        ],
        edit=_refs_as_source_images,
    ),
    Case(
        "minimal",
        "BINARY",
        [Seg(1, "thing", MORPH_ALTERED, NEOPLASM, "MANUAL")],
        edit=_drop_optional,
    ),
]


def make_seg(
    case: Case,
    source: list[Dataset],
    path: Path,
    *,
    sop_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
) -> Path:
    """Write the SEG *case* for the CT *source* slices to *path*."""
    import highdicom as hd

    rows, cols = int(source[0].Rows), int(source[0].Columns)
    n = len(source)
    if case.segmentation_type == "LABELMAP":
        pixels = np.zeros((n, rows, cols), dtype=np.uint8)
        for k, seg in enumerate(case.segments):
            pixels[:, 10 + 20 * k : 20 + 20 * k, 10:40] = seg.number
    elif case.segmentation_type == "FRACTIONAL":
        pixels = np.zeros((n, rows, cols, len(case.segments)), dtype=np.float32)
        pixels[:, 10:40, 10:40, :] = 0.75
    else:
        pixels = np.zeros((n, rows, cols, len(case.segments)), dtype=bool)
        for k in range(len(case.segments)):
            pixels[:, 10 + 20 * k : 20 + 20 * k, 10:40, k] = True
    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=pixels,
        segmentation_type=case.segmentation_type,
        segment_descriptions=[s.highdicom() for s in case.segments],
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=300,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer="idcseg tests",
        manufacturer_model_name="segfactory",
        software_versions="0",
        device_serial_number="1",
        series_description=f"test SEG {case.name}",
    )
    if case.edit is not None:
        case.edit(seg)
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


def make_all(folder: Path, n_slices: int = 3) -> dict[str, Path]:
    """The CT series under ``folder/ct`` and one SEG per case under ``folder/seg``."""
    ct = make_ct_series(folder / "ct", n_slices)
    return {case.name: make_seg(case, ct, folder / "seg" / f"{case.name}.dcm") for case in CASES}


def undefined_lengths(ds: Dataset) -> int:
    """Mark every sequence and item of *ds* as undefined length, as dcmqi/DCMTK write them.

    Returns how many sequences were marked.
    """
    n = 0
    for elem in ds:
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            n += 1
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
                n += undefined_lengths(item)
    return n


def clone_seg(
    src: Path,
    dst: Path,
    *,
    sop_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    edit: Callable[[Dataset], None] | None = None,
    transfer_syntax_uid: str | None = None,
) -> Path:
    """Copy the SEG *src* to *dst* with a new SOPInstanceUID (and series, unless given).

    *edit* changes the dataset before it is written; *transfer_syntax_uid* re-encodes it.
    """
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = series_instance_uid or generate_uid()
    if edit is not None:
        edit(ds)
    if transfer_syntax_uid is not None:
        ds.file_meta.TransferSyntaxUID = transfer_syntax_uid
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


# --- volumes with known geometry, for the masks tests ------------------------------------------

#: CT geometries the masks tests cover: non-unit spacing everywhere, oblique planes (neither
#: axial, coronal nor sagittal) and a tilted gantry (slice step oblique to the plane normal).
GEOMETRIES: dict[str, dict] = {
    "axial": dict(size=(40, 48), pixel_spacing=(0.7, 0.9), slice_spacing=2.5,
                  origin=(-20.0, 30.0, -50.0)),
    "oblique": dict(size=(36, 44), pixel_spacing=(0.8, 0.6), slice_spacing=3.0,
                    orientation=(0.866025, 0.5, 0.0, 0.0, 0.0, -1.0), origin=(10.0, -5.0, 40.0)),
    "tilted": dict(size=(40, 40), pixel_spacing=(0.9, 0.9), slice_step=(0.0, 0.8, 2.0),
                   origin=(0.0, 0.0, 0.0)),
}  # fmt: skip


def volume_ct(folder: Path, geometry: str, n_slices: int = 11, **extra) -> list[Dataset]:
    """A CT series with one of :data:`GEOMETRIES`, written with :func:`idcseg.examples.make_ct`."""
    from idcseg.examples import make_ct

    return make_ct(folder, f"IDCSEG-MASKS-{geometry}", n_slices=n_slices,
                   **{**GEOMETRIES[geometry], **extra})  # fmt: skip


def sparse_masks(n_slices: int, rows: int, columns: int) -> np.ndarray:
    """Three segments ``(slices, rows, columns, 3)``, bool, with empty slices the SEG omits.

    Slices 0, 1, 5 and 9+ hold nothing at all (5 is a gap inside the stack); segments 1 and 2
    overlap on slices 3, 4, 6 and 7; segment 3 is a single pixel run on slice 6.
    """
    masks = np.zeros((n_slices, rows, columns, 3), dtype=bool)
    masks[[2, 3, 4, 6, 7, 8], 4:20, 5:22, 0] = True
    masks[[3, 4, 6, 7], 12:30, 15:35, 1] = True
    masks[6, rows - 3, columns - 9 : columns - 1, 2] = True
    masks[2, 4, 5, 0] = False  # not a plain box
    return masks


MASK_SEGMENTS = [
    Seg(1, "Liver", ANATOMICAL_STRUCTURE, LIVER, "AUTOMATIC", "TotalSegmentator", region=ABDOMEN,
        color=(221, 130, 101)),
    Seg(2, "Kidney left", ANATOMICAL_STRUCTURE, KIDNEY, "SEMIAUTOMATIC", "Slicer",
        type_modifier=LEFT),
    Seg(3, "Nodule", SRT_MORPH_ALTERED, SRT_NODULE, "MANUAL", region=SRT_LUNG),
]  # fmt: skip


def seg_of_arrays(
    source: list[Dataset],
    path: Path,
    pixels: np.ndarray,
    segments: list[Seg],
    segmentation_type: str = "BINARY",
    **options,
) -> Path:
    """Write a SEG of *source* holding exactly *pixels* (highdicom's layout: ``(slices, rows,
    columns, segments)``, or ``(slices, rows, columns)`` of segment numbers for label maps).
    Empty frames are omitted (highdicom's default). *options* go to highdicom's Segmentation
    (``transfer_syntax_uid``, ``max_fractional_value``, ``use_extended_offset_table``...)."""
    import highdicom as hd

    seg = hd.seg.Segmentation(
        source_images=source,
        pixel_array=pixels,
        segmentation_type=segmentation_type,
        segment_descriptions=[s.highdicom() for s in segments],
        series_instance_uid=generate_uid(),
        series_number=400,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="idcseg tests",
        manufacturer_model_name="segfactory",
        software_versions="0",
        device_serial_number="1",
        series_description=f"test SEG {path.stem}",
        **options,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path)
    return path


class MaskCase:
    """A CT series of one of :data:`GEOMETRIES` (``ct_folder``), the arrays of
    :func:`sparse_masks` (``source``) and the BINARY SEG made of them (``seg``)."""

    def __init__(self, folder: Path, geometry: str) -> None:
        self.geometry = geometry
        self.folder = folder
        self.ct_folder = folder / "ct"
        self.ct = volume_ct(self.ct_folder, geometry)
        rows, columns = int(self.ct[0].Rows), int(self.ct[0].Columns)
        self.source = sparse_masks(len(self.ct), rows, columns)
        self.seg = seg_of_arrays(self.ct, folder / "seg.dcm", self.source, MASK_SEGMENTS)

    def segment(self, number: int) -> np.ndarray:
        """Segment *number*'s array, uint8, in CT order."""
        return self.source[..., number - 1].astype(np.uint8)
