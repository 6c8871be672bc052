"""The attributes of a SEG object other than its frames, built with pydicom.

:func:`seg_header` makes the dataset of a Segmentation (or Label Map Segmentation) IOD without
its Per-frame Functional Groups and Pixel Data, which :mod:`.segwrite` streams itself: patient
and study (copied from the source images, module by module, with the keyword lists of
:mod:`.modulekeywords`), series, equipment, frame of reference, the segments' descriptions,
the image pixel description, the shared functional groups, the dimension index and the
references to every source image. :func:`frame_references` and :func:`plane_position` are the
two per-frame items that depend on the source slice, for :mod:`.segwrite` to encode once per
slice.

The result is the header highdicom 0.28's ``highdicom.seg.Segmentation`` builds from the same
source images and segments, attribute for attribute (``tests/test_segwrite.py`` and
``tests/test_segattributes.py`` compare the two), but made directly with pydicom: highdicom is
not imported and its tables of the standard (22 MB of JSON on disk, ~60 MB held in memory) are
not loaded. A few things differ on purpose: the file meta information names idcseg as the
implementation (its own ImplementationClassUID, ImplementationVersionName "IDCSEG_<version>");
the Contributing Equipment Sequence lists the source's acquisition equipment only (highdicom
adds itself as processing equipment; idcseg is the General Equipment of the SEG already); text
the source's character set cannot hold makes the SEG UTF-8 (ISO_IR 192) where highdicom writes
"?"; and a source's empty LossyImageCompression (type 1) is written "00", not copied empty.

The geometry helpers (:func:`volume_normal`, :func:`regular_spacing`) answer the two questions
the header asks of the source positions (spacing between slices, "3D" organisation) with the
conventions and tolerances highdicom uses, so that both sides agree on every series.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
)
from pydicom.valuerep import DA, DS, TM, format_number_as_ds

from ..errors import UsageError
from . import modulekeywords
from .segmentspec import SegmentSpec
from .structures import Code

if TYPE_CHECKING:
    from .segwrite import Options

SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
# idcseg's own ImplementationClassUID (PS3.7 D.3.3.2), fixed: a UUID-derived UID (PS3.5 B.2),
# 2.25 and the decimal integer of uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/idcseg/")
IMPLEMENTATION_CLASS_UID = "2.25.170370505894828334354673733050655796446"
TRANSFER_SYNTAXES = {
    "none": ExplicitVRLittleEndian,
    "deflate": DeflatedExplicitVRLittleEndian,
    "jpeg-ls": JPEGLSLossless,
    "rle": RLELossless,
}
ALGORITHM_FAMILY = Code("DCM", "123110", "Artificial Intelligence")
BACKGROUND = Code("DCM", "125040", "Background")
SEGMENTATION_DERIVATION = Code("DCM", "113076", "Segmentation")
SOURCE_FOR_PROCESSING = Code("DCM", "121322", "Source image for image processing operation")
ACQUISITION_EQUIPMENT = Code("DCM", "109101", "Acquisition Equipment")
# highdicom's default tolerances for a regular stack of planes (highdicom.spatial)
SPACING_RTOL = 1e-2
PERPENDICULAR_TOL = 1e-3
MAX_FRACTIONAL_VALUE = 255
_CODE_STRING = re.compile(r"[A-Z0-9_ ]{1,16}")
_SHORT_STRING = 16  # the longest CodeValue (SH)


@dataclass(frozen=True)
class SegUids:
    """The UIDs a new SEG is given (tracking UIDs by segment number)."""

    series: str
    sop: str
    dimension_organization: str
    tracking: dict[int, str]


# --- codes and segments ------------------------------------------------------------------------


def code_item(code: Code) -> Dataset:
    """A Code Sequence item (PS3.3 8.8, Table 8.8-1a).

    Which attribute holds the value follows the conditions of that table: a URN or URL goes in
    URNCodeValue (UR); any other value of more than 16 characters in LongCodeValue (UC); the rest
    in CodeValue (SH). ``SegmentSpec.check`` has checked the values fit.
    """
    item = Dataset()
    if _is_urn_or_url(code.value):
        item.URNCodeValue = code.value
    elif len(code.value) > _SHORT_STRING:
        item.LongCodeValue = code.value
    else:
        item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def _is_urn_or_url(value: str) -> bool:
    """A URN (RFC 8141, "urn:" then a namespace) or a URL with an authority ("scheme://")."""
    return value[:4].lower() == "urn:" or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", value) is not None


# Colour (PS3.3 C.10.7.1.1: RecommendedDisplayCIELabValue is CIE L*a*b*, L* 0..100 and a*, b*
# -128..127 each scaled linearly onto 0..0xFFFF). From sRGB in three published steps:
# IEC 61966-2-1 (sRGB): 8-bit code values -> linear light, then the sRGB primaries and D65 white
# -> CIE 1931 XYZ; CIE 15 (CIE 1976 L*a*b*): XYZ relative to the D65 reference white -> L*a*b*,
# whose cube-root function is continued by a straight line below epsilon = (6/29)**3.
_SRGB_TO_XYZ = np.array(
    [
        [0.4124, 0.3576, 0.1805],
        [0.2126, 0.7152, 0.0722],
        [0.0193, 0.1192, 0.9505],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_DELTA = 6.0 / 29.0


def _srgb_decode(code_value: int) -> float:
    """IEC 61966-2-1: an 8-bit sRGB code value as linear light in [0, 1]."""
    v = code_value / 255.0
    if v <= 0.04045:
        return v / 12.92
    return ((v + 0.055) / 1.055) ** 2.4


def _lab_f(t: float) -> float:
    """CIE 1976: the cube root above (6/29)**3, the tangent line t / (3 (6/29)**2) + 4/29 below."""
    if t > _DELTA**3:
        return t ** (1.0 / 3.0)
    return t / (3.0 * _DELTA**2) + 4.0 / 29.0


def cielab(rgb: tuple[int, int, int]) -> list[int]:
    """RecommendedDisplayCIELabValue of an sRGB colour (0–255 each): CIE L*a*b* under D65,
    scaled to 0–65535 as PS3.3 C.10.7.1.1 says."""
    if any(not 0 <= c <= 255 for c in rgb):
        raise UsageError(f"colour {rgb}: RGB components are 0..255")
    linear = np.array([_srgb_decode(c) for c in rgb])
    relative = (_SRGB_TO_XYZ @ linear) / _D65_WHITE
    fx, fy, fz = (_lab_f(float(t)) for t in relative)
    return _scaled_lab(116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz))


def _scaled_lab(l_star: float, a_star: float, b_star: float) -> list[int]:
    """L* in 0..100 and a*, b* in -128..127 as PS3.3 C.10.7.1.1's unsigned 16-bit values."""
    full = 0xFFFF
    return [
        round(full * l_star / 100.0),
        round(full * (a_star + 128.0) / 255.0),
        round(full * (b_star + 128.0) / 255.0),
    ]


def segment_item(number: int, spec: SegmentSpec, tracking_uid: str | None) -> Dataset:
    """The Segment Sequence item of *spec* as segment *number* (PS3.3 C.8.20.2)."""
    item = Dataset()
    item.SegmentNumber = number
    item.SegmentLabel = spec.label
    item.SegmentedPropertyCategoryCodeSequence = [code_item(spec.category)]
    kind = code_item(spec.type)
    if spec.type_modifier is not None:
        kind.SegmentedPropertyTypeModifierCodeSequence = [code_item(spec.type_modifier)]
    item.SegmentedPropertyTypeCodeSequence = [kind]
    item.SegmentAlgorithmType = spec.algorithm_type
    if spec.algorithm_type != "MANUAL":
        algorithm = Dataset()
        algorithm.AlgorithmName = spec.algorithm_name or "unnamed"
        algorithm.AlgorithmVersion = spec.algorithm_version or "unknown"
        algorithm.AlgorithmFamilyCodeSequence = [code_item(ALGORITHM_FAMILY)]
        item.SegmentAlgorithmName = algorithm.AlgorithmName
        item.SegmentationAlgorithmIdentificationSequence = [algorithm]
    if spec.tracking_id and tracking_uid:
        item.TrackingID = spec.tracking_id
        item.TrackingUID = tracking_uid
    if spec.region is not None:
        region = code_item(spec.region)
        if spec.region_modifier is not None:
            region.AnatomicRegionModifierSequence = [code_item(spec.region_modifier)]
        item.AnatomicRegionSequence = [region]
    if spec.rgb:
        item.RecommendedDisplayCIELabValue = cielab(spec.rgb)
    if spec.description:
        item.SegmentDescription = spec.description
    return item


def _background(first: Dataset, coloured: bool) -> Dataset:
    """Segment 0 of a label map: the background, described as the first segment's algorithm."""
    item = Dataset()
    item.SegmentNumber = 0
    item.SegmentLabel = "Background"
    item.SegmentedPropertyCategoryCodeSequence = [code_item(BACKGROUND)]
    item.SegmentedPropertyTypeCodeSequence = [code_item(BACKGROUND)]
    item.SegmentAlgorithmType = first.SegmentAlgorithmType
    if "SegmentAlgorithmName" in first:
        item.SegmentAlgorithmName = first.SegmentAlgorithmName
    if coloured:
        item.RecommendedDisplayCIELabValue = _scaled_lab(0.0, 0.0, 0.0)  # black
    return item


# --- geometry ----------------------------------------------------------------------------------


def volume_normal(orientation: Sequence[float]) -> np.ndarray:
    """The normal of the image planes along which highdicom orders a volume's slices: column
    direction × row direction (the volume index ``[slice, row, column]`` is right-handed)."""
    cosines = np.array([float(v) for v in orientation], dtype=np.float64)
    return np.cross(cosines[3:], cosines[:3])


def regular_spacing(
    positions: Sequence[Sequence[float]], orientation: Sequence[float], *, sort: bool = True
) -> float | None:
    """The spacing of planes at *positions* if they form a regular stack along the normal of
    *orientation*, else None (duplicates, uneven gaps, or steps off the normal).

    The distinct positions are taken in coordinate order and, with *sort*, ordered along the
    normal; gaps must agree with the mean step within 1 % and every step from the first plane
    must lie along the normal (cosine within 0.001 of ±1), as highdicom decides. One position
    (or one distinct position) has spacing 1.0.
    """
    points = np.array([[float(v) for v in p] for p in positions], dtype=np.float64)
    if len(points) == 1:
        return 1.0
    distinct = np.unique(points, axis=0)
    if len(distinct) < len(points):
        return None
    normal = volume_normal(orientation)
    distances = distinct @ normal
    order = np.argsort(distances) if sort else np.arange(len(distinct))
    along = distances[order]
    step = (along[-1] - along[0]) / (len(along) - 1)
    regular = bool(np.isclose(np.diff(along), step, rtol=SPACING_RTOL, atol=0.0).all())
    spans = distinct[order[1:]] - distinct[order[0]]
    spans /= np.linalg.norm(spans, axis=1)[:, None]
    cosines = spans @ normal
    on_normal = bool(
        np.all(
            (np.abs(cosines - 1.0) < PERPENDICULAR_TOL)
            | (np.abs(cosines + 1.0) < PERPENDICULAR_TOL)
        )
    )
    return abs(float(step)) if regular and on_normal else None


# --- per-frame pieces --------------------------------------------------------------------------


def frame_references(source: Dataset) -> DataElement:
    """DerivationImageSequence of a frame on *source* (a single-frame image, locations
    preserved)."""
    reference = Dataset()
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    reference.PurposeOfReferenceCodeSequence = [code_item(SOURCE_FOR_PROCESSING)]
    reference.SpatialLocationsPreserved = "YES"
    derivation = Dataset()
    derivation.DerivationCodeSequence = [code_item(SEGMENTATION_DERIVATION)]
    derivation.SourceImageSequence = [reference]
    return DataElement(0x00089124, "SQ", [derivation])


def plane_position(source: Dataset) -> DataElement:
    """PlanePositionSequence of a frame on *source*."""
    item = Dataset()
    item.ImagePositionPatient = [DS(v, auto_format=True) for v in source.ImagePositionPatient]
    return DataElement(0x00209113, "SQ", [item])


# --- the header --------------------------------------------------------------------------------


def seg_header(
    source: Sequence[Dataset],
    segments: list[tuple[int, SegmentSpec]],
    options: Options,
    uids: SegUids,
    *,
    frames: int,
    overlap: str,
    included: Sequence[int],
    software_versions: str,
    bits_allocated: int,
) -> Dataset:
    """The SEG's dataset (with ``file_meta``) but for its per-frame functional groups and pixels.

    *source*: the single-frame images the masks lie on (the order the references list them);
    *segments*: (segment number, description) of the segments written; *frames*: their number;
    *overlap*: SegmentsOverlap; *included*: the source indices that have a frame, in frame
    order (they decide the "3D" dimension organisation); *bits_allocated*: the pixels' bits,
    what :func:`bits_allocated` says of the segments written.

    SpecificCharacterSet is the source's while every text value fits it, else ISO_IR 192
    (UTF-8), the values copied from the source re-encoded (see :func:`character_set`).
    """
    kind = options.segmentation_type
    first = source[0]
    if "FrameOfReferenceUID" not in first or "ImageOrientationPatient" not in first:
        raise UsageError(
            "the source images have no frame of reference (FrameOfReferenceUID, "
            "ImageOrientationPatient): a SEG needs images placed in the patient"
        )
    series = options.series
    check_text(options)
    labelmap = kind == "LABELMAP"
    sop_class = LABEL_MAP_SEGMENTATION_STORAGE if labelmap else SEGMENTATION_STORAGE
    bits = bits_allocated
    when = options.timestamp or dt.datetime.now()

    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, uids.sop, TRANSFER_SYNTAXES[options.compression])
    _patient_and_study(ds, first)
    # series, equipment, SOP common
    ds.SeriesInstanceUID = uids.series
    ds.SeriesNumber = series.series_number if series.series_number is not None else 300
    ds.Modality = "SEG"
    ds.SeriesDescription = series.series_description or "Segmentation"
    ds.Manufacturer = options.manufacturer
    ds.ManufacturerModelName = options.manufacturer_model_name
    ds.DeviceSerialNumber = options.device_serial_number
    ds.SoftwareVersions = software_versions
    ds.SOPInstanceUID = uids.sop
    ds.SOPClassUID = sop_class
    ds.InstanceNumber = series.instance_number if series.instance_number is not None else 1
    ds.InstanceCreationDate = ds.ContentDate = DA(when.date())
    ds.InstanceCreationTime = ds.ContentTime = TM(when.time())
    if options.timestamp is not None:
        ds.SeriesDate, ds.SeriesTime = DA(when.date()), TM(when.time())
    acquisition = _acquisition_equipment(first)
    if acquisition is not None:
        ds.ContributingEquipmentSequence = [acquisition]
    # segmentation image
    ds.SegmentationType = kind
    ds.ContentLabel = series.content_label or f"{first.Modality}_SEG"
    ds.ContentDescription = series.content_description
    if series.content_creator_name is not None:
        ds.ContentCreatorName = series.content_creator_name
    if kind == "FRACTIONAL":
        ds.SegmentationFractionalType = options.fractional_type
        ds.MaximumFractionalValue = MAX_FRACTIONAL_VALUE
    if labelmap:
        ds.PixelPaddingValue = 0
    items = [segment_item(n, spec, uids.tracking.get(n)) for n, spec in segments]
    if labelmap:
        coloured = any("RecommendedDisplayCIELabValue" in item for item in items)
        items.insert(0, _background(items[0], coloured))
    ds.SegmentSequence = items
    ds.SegmentsOverlap = overlap
    # frame of reference
    ds.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.PositionReferenceIndicator = first.get("PositionReferenceIndicator")
    # image pixel, general image
    ds.BitsAllocated = bits
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PresentationLUTShape = "IDENTITY"
    _source_references(ds, source)
    ds.LossyImageCompression = first.get("LossyImageCompression") or "00"  # type 1
    if ds.LossyImageCompression == "01":
        for keyword in ("LossyImageCompressionRatio", "LossyImageCompressionMethod"):
            if keyword in first:
                setattr(ds, keyword, first[keyword].value)
    ds.Rows, ds.Columns = int(first.Rows), int(first.Columns)
    ds.NumberOfFrames = frames
    # multi-frame functional groups and dimensions
    channels = 1 if labelmap else len(segments)
    ds.DimensionIndexSequence = _dimension_index(uids.dimension_organization, labelmap)
    ds.SharedFunctionalGroupsSequence = [_shared_groups(source, segments, labelmap)]
    organization = Dataset()
    organization.DimensionOrganizationUID = uids.dimension_organization
    ds.DimensionOrganizationSequence = [organization]
    if channels == 1 and len(included) > 1:
        spacing = regular_spacing(
            [source[j].ImagePositionPatient for j in included],
            first.ImageOrientationPatient,
            sort=False,
        )
        if spacing is not None and spacing > 0.0:
            ds.DimensionOrganizationType = "3D"
    # what dcmqi's metadata adds and highdicom leaves to its caller
    body_part = series.body_part_examined or first.get("BodyPartExamined")
    if body_part:
        ds.BodyPartExamined = body_part
    for keyword, value in series.clinical_trial.items():
        setattr(ds, keyword, value)
    if any(keyword in ds for keyword in modulekeywords.CLINICAL_TRIAL_SERIES):
        # the Clinical Trial Series module is there: its type 2 attribute too
        ds.ClinicalTrialCoordinatingCenterName = ds.get("ClinicalTrialCoordinatingCenterName")
    charset = character_set(ds, first.get("SpecificCharacterSet"))
    if charset is not None:
        ds.SpecificCharacterSet = charset
    return ds


def bits_allocated(segmentation_type: str, segment_numbers: Sequence[int]) -> int:
    """BitsAllocated of a SEG of *segmentation_type* holding the segments *segment_numbers*
    (those written, which have voxels): 1 for BINARY, 8 for FRACTIONAL, 8 or 16 for a label map
    (its pixels are segment numbers)."""
    if segmentation_type == "BINARY":
        return 1
    if segmentation_type == "LABELMAP" and max(segment_numbers) > 255:
        return 16
    return 8


_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UT", "UC", "PN"})
UTF8 = "ISO_IR 192"


def character_set(ds: Dataset, source_charset: str | list[str] | None) -> str | list[str] | None:
    """The SpecificCharacterSet to write *ds* with: the source's when every text value of *ds*
    (its own and the ones copied from the source, in sequences too) can be encoded in it — or,
    for a source that declares none, is ASCII — else ISO_IR 192 (UTF-8, which holds any text).
    None: declare none (the source did not, and all text is ASCII).

    pydicom encodes each value in the character set the dataset declares when it writes it;
    copied person names, which remember the bytes they were read as, are made again from their
    text so that they are re-encoded too.
    """
    from pydicom.charset import convert_encodings, decode_bytes, encode_string
    from pydicom.valuerep import PersonName

    encodings = convert_encodings(source_charset) if source_charset else None

    def fits(text: str) -> bool:
        if encodings is None or text.isascii():
            return text.isascii()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                encoded = encode_string(text, encodings)
                return decode_bytes(encoded, encodings, set()) == text
        except (UnicodeError, UserWarning, LookupError):
            return False

    texts: list[DataElement] = []
    pending = [ds]
    while pending:
        for element in pending.pop():
            if element.VR == "SQ":
                pending.extend(element.value)
            elif element.VR in _TEXT_VRS and element.value not in (None, ""):
                texts.append(element)
    if all(fits(str(value)) for element in texts for value in _values(element)):
        return source_charset
    for element in texts:
        if element.VR == "PN":
            fresh = [PersonName(str(value)) for value in _values(element)]
            element.value = fresh if element.VM > 1 else fresh[0]
    return UTF8


def _values(element: DataElement) -> list:
    return list(element.value) if element.VM > 1 else [element.value]


def implementation_version_name() -> str:
    """ImplementationVersionName: "IDCSEG_" and the version, cut to the 16 characters of SH."""
    from .. import __version__

    return f"IDCSEG_{__version__}"[:16]


def _file_meta(sop_class: str, sop_instance: str, syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = implementation_version_name()
    return meta


def _patient_and_study(ds: Dataset, first: Dataset) -> None:
    """The type 2 patient and study attributes (empty when the source has none), then every
    attribute of the source's Patient, Clinical Trial Subject, General Study, Patient Study,
    Clinical Trial Study (and Specimen) modules, as the source has them."""
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyID",
    ):
        setattr(ds, keyword, None)
    ds.StudyInstanceUID = first.StudyInstanceUID
    modules = list(modulekeywords.SOURCE_MODULES)
    if first.SOPClassUID in modulekeywords.SPECIMEN_SOP_CLASSES:
        modules.append(modulekeywords.SPECIMEN)
    for module in modules:
        for keyword in module:
            tag = tag_for_keyword(keyword)
            if tag is not None and tag in first:
                ds.add(first[tag])


def _acquisition_equipment(first: Dataset) -> Dataset | None:
    """The source's acquisition equipment as a Contributing Equipment item (none without a
    manufacturer)."""
    manufacturer = first.get("Manufacturer")
    if not manufacturer:
        return None
    item = Dataset()
    item.Manufacturer = manufacturer
    item.PurposeOfReferenceCodeSequence = [code_item(ACQUISITION_EQUIPMENT)]
    for keyword in (
        "ManufacturerModelName",
        "InstitutionName",
        "InstitutionalDepartmentName",
        "InstitutionAddress",
        "StationName",
        "DeviceSerialNumber",
        "SoftwareVersions",
    ):
        value = first.get(keyword)
        if value is not None:
            setattr(item, keyword, value)
    if first.get("AcquisitionDateTime") is not None:
        item.ContributionDateTime = first.AcquisitionDateTime
    item.ContributionDescription = "Acquisition equipment of the source image(s)"
    return item


def _source_references(ds: Dataset, source: Sequence[Dataset]) -> None:
    """SourceImageSequence and ReferencedSeriesSequence: every source image."""
    references = []
    for image in source:
        reference = Dataset()
        reference.ReferencedSOPClassUID = image.SOPClassUID
        reference.ReferencedSOPInstanceUID = image.SOPInstanceUID
        references.append(reference)
    ds.SourceImageSequence = references
    series = Dataset()
    series.SeriesInstanceUID = source[0].SeriesInstanceUID
    series.ReferencedInstanceSequence = references
    ds.ReferencedSeriesSequence = [series]


def _dimension_index(organization_uid: str, labelmap: bool) -> list[Dataset]:
    """Frames are indexed by segment number (but in a label map) and by position."""
    dimensions = [] if labelmap else [(0x0062000B, 0x0062000A, "Referenced Segment Number")]
    dimensions.append((0x00200032, 0x00209113, "Image Position Patient"))
    items = []
    for pointer, group, label in dimensions:
        item = Dataset()
        item.DimensionOrganizationUID = organization_uid
        item.DimensionIndexPointer = pointer
        item.FunctionalGroupPointer = group
        item.DimensionDescriptionLabel = label
        items.append(item)
    return items


def _shared_groups(
    source: Sequence[Dataset], segments: list[tuple[int, SegmentSpec]], labelmap: bool
) -> Dataset:
    """Plane orientation and pixel measures of the source; the segment when there is one."""
    first = source[0]
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [
        DS(v, auto_format=True) for v in first.ImageOrientationPatient
    ]
    shared.PlaneOrientationSequence = [orientation]
    measures = Dataset()
    measures.PixelSpacing = [DS(v, auto_format=True) for v in first.PixelSpacing]
    thickness = first.get("SliceThickness")
    if thickness is not None:  # type 1C here: absent rather than empty, as highdicom writes it
        measures.SliceThickness = DS(thickness, auto_format=True)
    between = first.get("SpacingBetweenSlices")
    if between is not None:
        measures.SpacingBetweenSlices = DS(between, auto_format=True)
    else:
        spacing = regular_spacing(
            [ds.ImagePositionPatient for ds in source], first.ImageOrientationPatient
        )
        if spacing is not None:
            measures.SpacingBetweenSlices = format_number_as_ds(spacing)
    shared.PixelMeasuresSequence = [measures]
    if not labelmap and len(segments) == 1:
        identification = Dataset()
        identification.ReferencedSegmentNumber = segments[0][0]
        shared.SegmentIdentificationSequence = [identification]
    return shared


def check_text(options: Options) -> None:
    """Raise UsageError for series values DICOM cannot hold: long strings (LO) of at most 64
    characters without a backslash, a code string ContentLabel, a person name of at most five
    components of 64 characters (no backslash), series and instance numbers in IS's range."""
    series = options.series
    for name, value in (
        ("series description", series.series_description),
        ("content description", series.content_description),
        ("manufacturer", options.manufacturer),
        ("manufacturer model name", options.manufacturer_model_name),
        ("device serial number", options.device_serial_number),
        *((keyword, value) for keyword, value in series.clinical_trial.items()),
    ):
        if value is not None and (len(value) > 64 or "\\" in value):
            raise UsageError(f"{name} {value!r}: at most 64 characters, no backslash")
    label = series.content_label
    if label is not None and not _CODE_STRING.fullmatch(label):
        raise UsageError(
            f"content label {label!r}: at most 16 upper-case letters, digits, spaces or "
            "underscores (a DICOM code string)"
        )
    creator = series.content_creator_name
    if creator is not None:
        groups = creator.split("=")
        if (
            "\\" in creator
            or len(groups) > 3
            or any(len(part) > 64 for group in groups for part in group.split("^"))
            or any(group.count("^") > 4 for group in groups)
        ):
            raise UsageError(
                f"content creator name {creator!r}: a DICOM person name (Family^Given^Middle"
                "^Prefix^Suffix, each part at most 64 characters, no backslash)"
            )
    for name, number in (
        ("series number", series.series_number),
        ("instance number", series.instance_number),
    ):
        if number is not None and not -(2**31) <= number < 2**31:
            raise UsageError(f"{name} {number}: DICOM holds -2147483648..2147483647")
