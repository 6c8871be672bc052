"""Read one DICOM Segmentation (SEG): its header, segment rows and series facts.

Only the header is parsed: everything IDC's ``segmentations`` view needs sits before tag
(5200,0000), where the shared and per-frame functional groups (thousands of items on a multi-MB
SEG) and the pixel data begin. :func:`read_header` stops there with
``pydicom.filereader.read_partial``; that is about ten times faster than
``dcmread(stop_before_pixels=True)``, which still walks the per-frame functional groups.

:func:`read_header_prefix` parses the first bytes of a file (as fetched with an HTTP Range
request) and raises :class:`IncompleteHeader` when they end before (5200,0000), so the caller can
fetch more.

Errors are classified with a short reason, all subclasses of :class:`SegReadError`:
:class:`NotDicom`, :class:`NotSegmentation`, :class:`Truncated` (and its subclass
:class:`IncompleteHeader`) and :class:`Malformed`.

Rows follow IDC's ``segmentations`` view (one row per item of SegmentSequence):

- a code column (AnatomicRegion, AnatomicRegionModifier, SegmentedPropertyCategory,
  SegmentedPropertyType) is the first item of its sequence, ``None`` when the sequence is absent
  or empty (never a struct of ``None``\\ s); CodeValue falls back to LongCodeValue, then
  URNCodeValue;
- SegmentedPropertyType also carries its nested AnatomicRegionModifierSequence and
  SegmentedPropertyTypeModifierCodeSequence (laterality lives there) as lists, ``[]`` when
  absent; a type modifier misplaced at the segment level is picked up too;
- empty text values become ``None``;
- ``segmented_SeriesInstanceUID`` is ReferencedSeriesSequence[0].SeriesInstanceUID, else
  ``None``: ReferencedImageSequence / SourceImageSequence name SOP instances only
  (:func:`referenced_instance` returns the first one, for resolution against an index);
- ``viewer_url`` opens the SEG in OHIF v3, over the series it segments, as IDC's own
  ``segmentations.viewer_url`` does since v24 (``None`` without study and series UIDs).

Label maps (Label Map Segmentation Storage, ``…66.7``) usually describe segment 0 as Background.
Its row is kept, as IDC keeps it, and is identified by its SegmentedPropertyType code
DCM 125040 (``Background``): see :func:`is_background`.
"""

from __future__ import annotations

import io
import os
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.multival import MultiValue
from pydicom.uid import UID

from ..errors import IdcsegError
from ..query.spec import LABELMAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE
from . import _skim
from ._skim import skim

SEG_SOP_CLASS_UIDS = (SEGMENTATION_STORAGE, LABELMAP_SEGMENTATION_STORAGE)
HEADER_STOP_TAG = 0x52000000
BACKGROUND_CODE = ("125040", "DCM")
VIEWER_BASE = "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/"
_DEFLATED = _skim.DEFLATED
_NATIVE_LITTLE_ENDIAN = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")

#: The columns of the store's ``segmentations`` table (IDC's view), in order.
SEGMENTATION_COLUMNS = (
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "SegmentationType",
    "AnatomicRegion",
    "AnatomicRegionModifier",
    "SegmentedPropertyCategory",
    "SegmentedPropertyType",
    "SegmentAlgorithmType",
    "SegmentAlgorithmName",
    "SegmentNumber",
    "TrackingUID",
    "TrackingID",
    "segmented_SeriesInstanceUID",
    "viewer_url",
)
#: Columns of a segment row that go to the side table ``segment_labels``.
LABEL_COLUMNS = ("SegmentLabel", "SegmentDescription")
#: The columns of the store's ``local_series`` table (idc_index's), in order.
LOCAL_SERIES_COLUMNS = (
    "collection_id",
    "analysis_result_id",
    "PatientID",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "source_DOI",
    "StudyDate",
    "StudyDescription",
    "BodyPartExamined",
    "Modality",
    "SOPClassUID",
    "Manufacturer",
    "ManufacturerModelName",
    "SeriesDate",
    "SeriesDescription",
    "SeriesNumber",
    "instanceCount",
    "license_short_name",
    "aws_bucket",
    "crdc_series_uuid",
    "series_aws_url",
    "series_size_MB",
)


class SegReadError(IdcsegError):
    """A file could not be read as a DICOM SEG; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotDicom(SegReadError):
    """The file is not a DICOM Part 10 file (no ``DICM`` marker after the preamble)."""


class NotSegmentation(SegReadError):
    """A DICOM file of another SOP class (``sop_class_uid``, ``None`` when absent)."""

    def __init__(self, reason: str, sop_class_uid: str | None = None) -> None:
        super().__init__(reason)
        self.sop_class_uid = sop_class_uid


class Truncated(SegReadError):
    """The file ends before its header does (before (5200,0000) / the pixel data)."""


class IncompleteHeader(Truncated):
    """A prefix of a file ends before (5200,0000): fetch more bytes (``have`` were given)."""

    def __init__(self, reason: str, have: int) -> None:
        super().__init__(reason)
        self.have = have


class Malformed(SegReadError):
    """A SEG whose header cannot be parsed or lacks what every SEG must have."""


@contextmanager
def quiet() -> Iterator[None]:
    """Silence pydicom's warnings about odd values while reading many files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _stop(tag: int, vr: str | None, length: int) -> bool:
    return tag >= HEADER_STOP_TAG


def _sop_class(ds: Dataset) -> str | None:
    value = ds.get("SOPClassUID")
    if not value:
        meta = getattr(ds, "file_meta", None)
        value = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return str(value) if value else None


def _parse(fp: IO[bytes], *, prefix: bool, all_references: bool = False) -> Dataset:
    """Parse the header from *fp*'s position; classify every way that can fail."""
    start = fp.tell()

    def short(where: str) -> SegReadError:
        if prefix:
            have = fp.seek(0, io.SEEK_END) - start
            return IncompleteHeader(f"the data end {where}", have)
        return Truncated(f"the file ends {where}")

    head = fp.read(132)
    if len(head) < 132:
        if prefix:
            raise short("within the preamble")
        raise NotDicom("too short to be a DICOM file")
    if head[128:132] != b"DICM":
        raise NotDicom("no DICM marker at byte 128")
    try:
        deflated = _skim.transfer_syntax(fp, start) == _DEFLATED
    except Exception:  # odd file meta: pydicom decides below
        deflated = False
    if deflated:
        return _parse_deflated(fp, start, prefix, all_references, short)
    if not all_references:
        try:
            thin, header_end = skim(fp, start)
            buffer = io.BytesIO(thin)
            ds = read_partial(buffer, stop_when=_stop)
            stopped = len(thin) - buffer.tell() in (8, 12)  # at the stop element, as skimmed
        except Exception:  # Unsure, or anything pydicom disliked: read the ordinary way
            stopped = False
        if stopped:
            return _classify(fp, ds, header_end, False, prefix, short)
    fp.seek(start)
    try:
        ds = read_partial(fp, stop_when=_stop)
    except InvalidDicomError as exc:
        raise NotDicom(f"invalid DICOM file meta information: {exc}") from None
    except Exception as exc:  # pydicom raises OSError, struct.error, ValueError, … on bad input
        if not fp.read(1):
            raise short("inside the header") from None
        raise Malformed(f"unreadable header: {type(exc).__name__}: {exc}") from None
    header_end = fp.tell()
    ended = not fp.read(4)
    return _classify(fp, ds, header_end, ended, prefix, short)


def _parse_deflated(
    fp: IO[bytes],
    start: int,
    prefix: bool,
    all_references: bool,
    short: Callable[[str], SegReadError],
) -> Dataset:
    """Parse a deflated file's header, inflating no more than the header (bounded)."""
    limit = _skim.INFLATE_LIMIT
    try:
        small = _skim.deflated_header(fp, start, thin=not all_references, limit=limit)
    except _skim.TooLarge:
        raise Malformed(
            f"the deflated header inflates to more than {limit // 2**20} MB before the pixel data"
        ) from None
    except _skim.Cut:
        raise short("inside the deflated header") from None
    except zlib.error as exc:
        raise Malformed(f"corrupt deflated data: {exc}") from None
    try:
        ds = read_partial(io.BytesIO(small), stop_when=_stop)
    except Exception as exc:
        raise Malformed(f"unreadable header: {type(exc).__name__}: {exc}") from None
    return _classify(fp, ds, 0, False, prefix, short)


def _classify(
    fp: IO[bytes],
    ds: Dataset,
    header_end: int,
    ended: bool,
    prefix: bool,
    short: Callable[[str], SegReadError],
) -> Dataset:
    """Return *ds* if it is the complete header of a SEG; raise the reason otherwise."""
    try:
        sop = _sop_class(ds)
    except Exception as exc:
        raise Malformed(f"unreadable SOPClassUID: {exc}") from None
    if sop is None:
        if ended:
            raise short("before SOPClassUID")
        raise NotSegmentation("no SOPClassUID", None)
    if sop not in SEG_SOP_CLASS_UIDS:
        name = UID(sop).name
        raise NotSegmentation(f"not a segmentation: {name}", sop)
    transfer_syntax = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    if transfer_syntax == _DEFLATED:
        # read_partial decompressed the whole rest into its own buffer: position says nothing
        if "SegmentSequence" not in ds:
            raise short("before SegmentSequence")
    elif ended:
        raise short("before the pixel data")
    elif not prefix:
        _check_pixel_data_end(fp, ds, transfer_syntax, header_end)
    return ds


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
_SCAN_CHUNK = 1 << 20


def _check_pixel_data_end(
    fp: IO[bytes], ds: Dataset, transfer_syntax: str | None, header_end: int
) -> None:
    """Raise :class:`Truncated` when native pixel data runs past the end of the file.

    The header announces how many bytes of pixel data follow (Rows × Columns × frames × bits).
    PixelData is the last element, so in a whole file its tag sits exactly that far (plus its
    own 8- or 12-byte header) before the end: one small read confirms it. Only when it is not
    there (a cut file, or one with trailing padding or padded frames) is the rest of the file
    scanned for a PixelData element that fits. Encapsulated (compressed) pixel data and
    big-endian files are not checked.
    """
    need = _native_pixel_bytes(ds, transfer_syntax)
    if need is None:
        return
    need += need % 2
    implicit = transfer_syntax == "1.2.840.10008.1.2"
    head = 8 if implicit else 12
    size = fp.seek(0, io.SEEK_END)
    if size - header_end < need + head:
        raise Truncated(f"the file ends inside the pixel data ({size - header_end} bytes left)")
    fp.seek(size - need - head)
    if _pixel_data_length(fp.read(head), implicit) == need:
        return
    fp.seek(header_end)
    position, carry = header_end, b""
    while chunk := fp.read(_SCAN_CHUNK):
        data = carry + chunk
        base = position - len(carry)
        hit = data.find(_PIXEL_DATA_TAG)
        while 0 <= hit <= len(data) - head:
            length = _pixel_data_length(data[hit : hit + head], implicit)
            if length is not None and length >= need and base + hit + head + length <= size:
                return
            hit = data.find(_PIXEL_DATA_TAG, hit + 1)
        carry = data[-(head - 1) :]
        position += len(chunk)
    raise Truncated("the file ends inside the pixel data")


def _pixel_data_length(raw: bytes, implicit: bool) -> int | None:
    """The value length of a little-endian (7FE0,0010) element header in *raw*, else None."""
    if len(raw) < (8 if implicit else 12) or raw[:4] != _PIXEL_DATA_TAG:
        return None
    if implicit:
        return int.from_bytes(raw[4:8], "little")
    if raw[4:8] not in (b"OB\0\0", b"OW\0\0"):
        return None
    return int.from_bytes(raw[8:12], "little")


def _native_pixel_bytes(ds: Dataset, transfer_syntax: str | None) -> int | None:
    """Bytes of uncompressed pixel data the header announces; ``None`` when the pixel data is
    encapsulated, big endian, or the header does not say."""
    if not transfer_syntax or transfer_syntax not in _NATIVE_LITTLE_ENDIAN:
        return None
    try:
        bits = (
            int(ds.Rows)
            * int(ds.Columns)
            * int(ds.get("NumberOfFrames") or 1)
            * int(ds.get("SamplesPerPixel") or 1)
            * int(ds.BitsAllocated)
        )
    except (AttributeError, TypeError, ValueError):
        return None
    return (bits + 7) // 8


def read_header(
    source: str | os.PathLike[str] | IO[bytes], *, all_references: bool = False
) -> Dataset:
    """The header of one SEG: every attribute before tag (5200,0000).

    *source* is a path or a seekable binary file-like object (read from its current position;
    it is not closed). Of ReferencedSeriesSequence, ReferencedInstanceSequence,
    ReferencedImageSequence and SourceImageSequence only the first item is kept (all IDC's
    columns need; hundreds of items on a CT SEG make most of the parsing time), unless
    *all_references* is true.

    Raises :class:`NotDicom`, :class:`NotSegmentation`, :class:`Truncated` or
    :class:`Malformed` (all :class:`SegReadError`); ``OSError`` when a path cannot be opened.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp:
            return _parse(fp, prefix=False, all_references=all_references)
    return _parse(source, prefix=False, all_references=all_references)


def read_header_prefix(
    data: bytes | bytearray | memoryview, *, complete: bool = False, all_references: bool = False
) -> Dataset:
    """The header of a SEG from the first bytes of its file.

    Raises :class:`IncompleteHeader` (a :class:`Truncated`) when *data* ends before (5200,0000):
    fetch a longer prefix and call again. With ``complete=True`` *data* is the whole file and
    running out is :class:`Truncated`. Otherwise as :func:`read_header`.
    """
    return _parse(io.BytesIO(bytes(data)), prefix=not complete, all_references=all_references)


# --- values -----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = text.strip()
    return text or None


def _get_text(ds: Dataset, keyword: str) -> str | None:
    return _text(ds.get(keyword))


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    value = ds.get(keyword)
    return list(value) if value else []


def _code(item: Dataset) -> dict[str, str | None]:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
    return {
        "CodeValue": _text(value),
        "CodingSchemeDesignator": _get_text(item, "CodingSchemeDesignator"),
        "CodeMeaning": _get_text(item, "CodeMeaning"),
    }


def _first_code(ds: Dataset, keyword: str) -> dict[str, str | None] | None:
    items = _items(ds, keyword)
    return _code(items[0]) if items else None


def _date(value: Any) -> str | None:
    """DICOM DA ``YYYYMMDD`` → ``YYYY-MM-DD`` (how IDC's index prints dates)."""
    text = _text(value)
    if text and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def referenced_series(ds: Dataset) -> str | None:
    """SeriesInstanceUID of the segmented series: ReferencedSeriesSequence[0], else ``None``."""
    items = _items(ds, "ReferencedSeriesSequence")
    return _get_text(items[0], "SeriesInstanceUID") if items else None


def referenced_instance(ds: Dataset) -> str | None:
    """The first referenced source SOPInstanceUID, as IDC resolves the segmented series.

    First of ReferencedSeriesSequence[0].ReferencedInstanceSequence, then ReferencedImageSequence,
    then SourceImageSequence; ``None`` when the header references no instance.
    """
    series = _items(ds, "ReferencedSeriesSequence")
    if series:
        instances = _items(series[0], "ReferencedInstanceSequence")
        if instances:
            uid = _get_text(instances[0], "ReferencedSOPInstanceUID")
            if uid:
                return uid
    for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
        items = _items(ds, keyword)
        if items:
            uid = _get_text(items[0], "ReferencedSOPInstanceUID")
            if uid:
                return uid
    return None


def viewer_url(study: str | None, seg_series: str | None) -> str | None:
    """IDC's OHIF v3 link opening a SEG (over the series it segments), ``None`` if unknown."""
    if not (study and seg_series):
        return None
    return f"{VIEWER_BASE}?StudyInstanceUIDs={study}&initialSeriesInstanceUID={seg_series}"


def is_background(row: dict[str, Any]) -> bool:
    """True for a label map's Background segment (SegmentedPropertyType DCM 125040)."""
    code = row.get("SegmentedPropertyType")
    return bool(code) and (code["CodeValue"], code["CodingSchemeDesignator"]) == BACKGROUND_CODE


def segment_rows(ds: Dataset) -> list[dict[str, Any]]:
    """One dict per segment: IDC's ``segmentations`` columns plus SegmentLabel/Description.

    Raises :class:`Malformed` when the header has no SegmentSequence, an item lacks its
    SegmentNumber, or a value cannot be decoded.
    """
    try:
        return _segment_rows(ds)
    except SegReadError:
        raise
    except Exception as exc:
        raise Malformed(f"undecodable segment attributes: {type(exc).__name__}: {exc}") from None


def _segment_rows(ds: Dataset) -> list[dict[str, Any]]:
    segments = _items(ds, "SegmentSequence")
    if not segments:
        raise Malformed("no SegmentSequence")
    study = _get_text(ds, "StudyInstanceUID")
    series = _get_text(ds, "SeriesInstanceUID")
    sop = _get_text(ds, "SOPInstanceUID")
    if not (series and sop):
        raise Malformed("no SeriesInstanceUID or SOPInstanceUID")
    ref_series = referenced_series(ds)
    common = {
        "PatientID": _get_text(ds, "PatientID"),
        "StudyInstanceUID": study,
        "SeriesInstanceUID": series,
        "SOPInstanceUID": sop,
        "FrameOfReferenceUID": _get_text(ds, "FrameOfReferenceUID"),
        "SegmentationType": _get_text(ds, "SegmentationType"),
    }
    url = viewer_url(study, series)
    rows = []
    for item in segments:
        number = item.get("SegmentNumber")
        if number is None or number == "":
            raise Malformed("a segment has no SegmentNumber")
        regions = _items(item, "AnatomicRegionSequence")
        region = _code(regions[0]) if regions else None
        region_modifier = None
        if regions:
            region_modifier = _first_code(regions[0], "AnatomicRegionModifierSequence")
        types = _items(item, "SegmentedPropertyTypeCodeSequence")
        seg_type = None
        if types:
            seg_type = _code(types[0])
            seg_type["AnatomicRegionModifierSequence"] = [
                _code(c) for c in _items(types[0], "AnatomicRegionModifierSequence")
            ]
            modifiers = _items(types[0], "SegmentedPropertyTypeModifierCodeSequence") or _items(
                item, "SegmentedPropertyTypeModifierCodeSequence"
            )
            seg_type["SegmentedPropertyTypeModifierCodeSequence"] = [_code(c) for c in modifiers]
        row = dict(common)
        row.update(
            AnatomicRegion=region,
            AnatomicRegionModifier=region_modifier,
            SegmentedPropertyCategory=_first_code(item, "SegmentedPropertyCategoryCodeSequence"),
            SegmentedPropertyType=seg_type,
            SegmentAlgorithmType=_get_text(item, "SegmentAlgorithmType"),
            SegmentAlgorithmName=_get_text(item, "SegmentAlgorithmName"),
            SegmentNumber=int(number),
            TrackingUID=_get_text(item, "TrackingUID"),
            TrackingID=_get_text(item, "TrackingID"),
            segmented_SeriesInstanceUID=ref_series,
            viewer_url=url,
            SegmentLabel=_get_text(item, "SegmentLabel"),
            SegmentDescription=_get_text(item, "SegmentDescription"),
        )
        rows.append(row)
    return rows


def series_facts(
    ds: Dataset, path: str | os.PathLike[str] | None = None, size: int | None = None
) -> dict[str, Any]:
    """Series-level facts of one SEG instance, with the columns of the ``local_series`` table.

    ``instanceCount`` is 1 and ``series_size_MB`` is this file's size in MB (10^6 bytes, as IDC
    counts; from *size*, else from *path*'s size, else ``None``): sum them over a series' files.
    Columns only IDC knows (collection_id, license, bucket…) are ``None``.
    """
    if size is None and path is not None:
        size = os.stat(path).st_size
    try:
        number = _get_text(ds, "SeriesNumber")
        facts = {name: None for name in LOCAL_SERIES_COLUMNS}
        facts.update(
            PatientID=_get_text(ds, "PatientID"),
            SeriesInstanceUID=_get_text(ds, "SeriesInstanceUID"),
            StudyInstanceUID=_get_text(ds, "StudyInstanceUID"),
            StudyDate=_date(ds.get("StudyDate")),
            StudyDescription=_get_text(ds, "StudyDescription"),
            BodyPartExamined=_get_text(ds, "BodyPartExamined"),
            Modality=_get_text(ds, "Modality"),
            SOPClassUID=_sop_class(ds),
            Manufacturer=_get_text(ds, "Manufacturer"),
            ManufacturerModelName=_get_text(ds, "ManufacturerModelName"),
            SeriesDate=_date(ds.get("SeriesDate")),
            SeriesDescription=_get_text(ds, "SeriesDescription"),
            SeriesNumber=number,
            instanceCount=1,
            series_size_MB=size / 1e6 if size is not None else None,
        )
    except Exception as exc:
        raise Malformed(f"undecodable series attributes: {type(exc).__name__}: {exc}") from None
    return facts


def describe(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The segment rows of one SEG file, without storing anything."""
    with quiet():
        return segment_rows(read_header(path))


DESCRIBE_COLUMNS = (
    "SegmentNumber",
    "SegmentLabel",
    "category",
    "structure",
    "structure_code",
    "anatomy",
    "modifier",
    "SegmentAlgorithmType",
    "SegmentAlgorithmName",
    "TrackingID",
    "SegmentationType",
    "SeriesInstanceUID",
    "segmented_SeriesInstanceUID",
)


def describe_table(path: str | os.PathLike[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The segment table of one SEG file, as ``idcseg describe`` and ``idcseg.describe`` show
    it: :data:`DESCRIBE_COLUMNS`, one flat value each (codes by their meanings, plus the
    structure's ``SCHEME:VALUE``)."""
    return list(DESCRIBE_COLUMNS), [_describe_row(r) for r in describe(path)]


def _code_text(code: dict[str, Any] | None, part: str = "CodeMeaning") -> str | None:
    return code.get(part) if code else None


def _describe_row(row: dict[str, Any]) -> tuple[Any, ...]:
    kind = row.get("SegmentedPropertyType")
    modifiers = (kind or {}).get("SegmentedPropertyTypeModifierCodeSequence") or []
    code = f"{kind['CodingSchemeDesignator']}:{kind['CodeValue']}" if kind else None
    return (
        row["SegmentNumber"],
        row.get("SegmentLabel"),
        _code_text(row.get("SegmentedPropertyCategory")),
        _code_text(kind),
        code,
        _code_text(row.get("AnatomicRegion")),
        _code_text(modifiers[0]) if modifiers else _code_text(row.get("AnatomicRegionModifier")),
        row.get("SegmentAlgorithmType"),
        row.get("SegmentAlgorithmName"),
        row.get("TrackingID"),
        row.get("SegmentationType"),
        row.get("SeriesInstanceUID"),
        row.get("segmented_SeriesInstanceUID"),
    )
