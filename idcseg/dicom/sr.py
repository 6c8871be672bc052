"""Read DICOM SR measurement reports (TID 1500) into IDC's measurement tables' rows.

IDC flattens TID 1500 documents into three BigQuery views (see ImagingDataCommons/etl_flow,
``derived_data_views``): ``measurement_groups`` (one row per Measurement Group, with its tracking
identifiers, finding, finding site, the SEG segment it measures and the group's content tree),
``quantitative_measurements`` (one row per NUM item of a group: quantity, value, UCUM units,
derivation) and ``qualitative_measurements`` (one row per coded evaluation: concept and value).
:func:`read_report` returns the same rows for one SR file; :mod:`idcseg.local.ingest` stores them.

Speed: the file is not handed to pydicom's object model. :mod:`idcseg.dicom._srwalk` walks the
bytes, keeps a few attributes per content item and skips the Image Library whole (hundreds of
image references in a dcmqi-written report). Files it cannot walk (big endian, deflate, ISO 2022
character sets, sequences encoded as UN) are read with pydicom, with the same result.

What is read, and where idcseg differs from IDC's views (IDC's SQL joins each group's parts with
inner joins, so it drops a group that lacks any of them; idcseg keeps every group):

- Documents: SOP classes Basic Text, Enhanced, Comprehensive, Comprehensive 3D and Extensible SR
  whose ContentTemplateSequence names template 1500 of DCMR (as IDC selects them). Any other SR
  raises :class:`NotMeasurementReport`.
- Groups: CONTAINER items "Measurement Group" (DCM 125007) among the children of a top-level
  container; ``measurementGroup_number`` is the item's 0-based position among its siblings, as
  IDC numbers it. A missing tracking identifier, finding, finding site, source series or segment
  reference leaves that column NULL.
- ``segmentationInstanceUID`` / ``segmentationSegmentNumber``: the first IMAGE item referencing a
  Segmentation (binary or label map) and its first ReferencedSegmentNumber;
  ``segmentationSeriesUID`` is that SEG's series as the SR's evidence sequences list it.
- ``findingSite``: the first CODE item "Finding Site" (SRT G-C0E3 or SCT 363698007); its
  Laterality child (SCT 272741003) is ``lateralityModifier``.
- Quantitative: every NUM item of a group. ``Value`` is NumericValue as BigQuery's NUMERIC
  (rounded to 9 decimals; NULL when absent, not a number, or beyond NUMERIC's range), ``Units``
  the first MeasurementUnitsCodeSequence item, ``derivationModifier`` the value of a "Derivation"
  (DCM 121401) child anywhere among the NUM's children (IDC looks at the first child only).
- Qualitative: every CODE item of a group with relationship CONTAINS except the Finding
  (IDC's view also drops every evaluation coded in the DCM or SRT schemes, and groups whose
  finding site is coded in SCT).
- ``contentSequence``: the group's content tree, three levels deep (an item's children's
  children), with IDC's field names; dates, times and graphic data are not kept.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import IO, Any

from . import _srwalk as w
from .segheader import Malformed, NotDicom, SegReadError, Truncated

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
EXTENSIBLE_SR = "1.2.840.10008.5.1.4.1.1.88.35"
#: The SR SOP classes IDC's measurement views read (and idcseg ingests).
SR_SOP_CLASSES = {
    BASIC_TEXT_SR: "Basic Text SR",
    ENHANCED_SR: "Enhanced SR",
    COMPREHENSIVE_SR: "Comprehensive SR",
    COMPREHENSIVE_3D_SR: "Comprehensive 3D SR",
    EXTENSIBLE_SR: "Extensible SR",
}
SEG_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")
CONTENT_DEPTH = 3  # levels of children kept in contentSequence

MEASUREMENT_GROUP = ("125007", "DCM")
TRACKING_IDENTIFIER = ("112039", "DCM")
TRACKING_UID = ("112040", "DCM")
FINDING = ("121071", "DCM")
FINDING_SITES = (("G-C0E3", "SRT"), ("363698007", "SCT"))
LATERALITY = (("272741003", "SCT"), ("G-C171", "SRT"))
SOURCE_SERIES = ("121232", "DCM")
DERIVATION = ("121401", "DCM")

#: Columns every measurement row shares with its group (IDC's views), in order.
GROUP_COLUMNS = (
    "PatientID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "SeriesDescription",
    "measurementGroup_number",
    "segmentationInstanceUID",
    "segmentationSeriesUID",
    "segmentationSegmentNumber",
    "sourceSegmentedSeriesUID",
    "trackingIdentifier",
    "trackingUniqueIdentifier",
)
#: Columns of the store's ``measurement_groups`` (IDC's view), in order.
MEASUREMENT_GROUP_COLUMNS = (*GROUP_COLUMNS, "finding", "findingSite", "contentSequence")
#: Columns of the store's ``quantitative_measurements`` (IDC's view), in order.
QUANTITATIVE_COLUMNS = (
    *GROUP_COLUMNS,
    "Quantity",
    "derivationModifier",
    "Value",
    "Units",
    "finding",
    "findingSite",
    "lateralityModifier",
)
#: Columns of the store's ``qualitative_measurements`` (IDC's view), in order.
QUALITATIVE_COLUMNS = (*GROUP_COLUMNS, "Quantity", "Value", "finding", "findingSite")


class NotMeasurementReport(SegReadError):
    """A DICOM file that is not a TID 1500 SR (``sop_class_uid``, ``None`` when absent)."""

    def __init__(self, reason: str, sop_class_uid: str | None = None) -> None:
        super().__init__(reason)
        self.sop_class_uid = sop_class_uid


@dataclass
class Report:
    """The rows of one TID 1500 document, in the columns of IDC's three views."""

    sop_class: str
    sop: str
    series: str
    study: str | None
    patient: str | None
    groups: list[dict[str, Any]] = field(default_factory=list)
    quantitative: list[dict[str, Any]] = field(default_factory=list)
    qualitative: list[dict[str, Any]] = field(default_factory=list)

    @property
    def measurements(self) -> int:
        """Quantitative plus qualitative rows."""
        return len(self.quantitative) + len(self.qualitative)


# --- the file ---------------------------------------------------------------------------------


def is_sr_class(uid: str | None) -> bool:
    """True for the SR SOP classes IDC's measurement views read."""
    return uid in SR_SOP_CLASSES


def peek_sop_class(fp: IO[bytes]) -> str | None:
    """MediaStorageSOPClassUID from a file's meta group (``None`` if it has none); rewinds.

    Reads at most 64 KiB, for ingest to choose a reader before parsing anything.
    """
    start = fp.tell()
    try:
        head = fp.read(1 << 16)
    finally:
        fp.seek(start)
    if len(head) < 132 or head[128:132] != b"DICM":
        return None
    try:
        _, meta = w.file_meta(head)
    except (w.Short, w.Unsure, struct.error):
        return None
    raw = meta.get(0x00020002)
    return raw.rstrip(b"\0 ").decode("ascii", "replace") if raw else None


def read_report(source: str | os.PathLike[str] | IO[bytes] | bytes) -> Report:
    """The measurement rows of one TID 1500 SR: a path, a binary file object, or its bytes.

    Raises :class:`NotDicom`, :class:`NotMeasurementReport`, :class:`Truncated` or
    :class:`Malformed` (all :class:`~idcseg.dicom.segheader.SegReadError`); ``OSError`` when a
    path cannot be read.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp:
            data = fp.read()
    else:
        data = source.read()
    return _read(data)


def _read(data: bytes) -> Report:
    if len(data) < 132:
        raise NotDicom("too short to be a DICOM file")
    if data[128:132] != b"DICM":
        raise NotDicom("no DICM marker at byte 128")
    try:
        start, meta = w.file_meta(data)
        doc = w.walk(data, start, w.transfer_syntax(meta))
        decode = _decoder(doc.get(w.SPECIFIC_CHARACTER_SET))
    except w.Short as exc:
        raise Truncated(f"the file ends too early ({exc})") from None
    except (w.Unsure, struct.error, LookupError):
        doc, decode = _read_with_pydicom(data), _no_decode
    try:
        return _report(doc, decode, _meta_sop_class(data))
    except SegReadError:
        raise
    except Exception as exc:
        raise Malformed(f"undecodable SR content: {type(exc).__name__}: {exc}") from None


def _meta_sop_class(data: bytes) -> str | None:
    try:
        return peek_sop_class(io.BytesIO(data[: 1 << 16]))
    except Exception:
        return None


# --- values -----------------------------------------------------------------------------------


def _no_decode(raw: Any) -> str | None:
    text = (raw if isinstance(raw, str) else raw.decode("latin-1")).strip(" \0")
    return text or None


def _decoder(raw: bytes | None):  # noqa: ANN202
    """A bytes → text function for the document's SpecificCharacterSet: stripped of padding,
    ``None`` when empty, memoised (a report repeats its codes' meanings many times)."""
    codec = "latin-1"
    if raw is not None:
        terms = [t.strip() for t in raw.decode("ascii", "replace").strip(" \0").split("\\")]
        terms = [t for t in terms if t]
        if len(terms) > 1 or (terms and terms[0].startswith("ISO 2022")):
            raise w.Unsure("ISO 2022 character sets")
        if terms and terms[0] == "ISO_IR 192":
            codec = "utf-8"
        elif terms and terms[0] != "ISO_IR 6":
            from pydicom.charset import python_encoding

            codec = python_encoding[terms[0]]  # KeyError (a LookupError): read with pydicom
    memo: dict[bytes, str | None] = {}

    def decode(value: bytes) -> str | None:
        text = memo.get(value, False)
        if text is False:
            text = memo[value] = value.decode(codec, "replace").strip(" \0") or None
        return text  # type: ignore[return-value]

    return decode


def _text(item: dict, tag: int, decode: Any) -> str | None:
    value = item.get(tag)
    if value is None:
        return None
    if isinstance(value, bytes):
        return decode(value)
    return value.strip(" \0") or None


def _uid(item: dict, tag: int) -> str | None:
    value = item.get(tag)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    value = value.strip(" \0")
    return value or None


def _numbers(value: Any) -> list[int]:
    """ReferencedSegmentNumber values, however they were encoded."""
    if value is None:
        return []
    vr, raw = value
    if vr == "py":
        return [int(v) for v in raw]
    if vr in (b"IS", b"DS", b"LO", b"SH", b"CS"):
        return [int(float(v)) for v in raw.decode("ascii").strip(" \0").split("\\") if v.strip()]
    if vr == b"UL":
        return list(struct.unpack(f"<{len(raw) // 4}I", raw[: len(raw) // 4 * 4]))
    if vr == b"SS":
        return list(struct.unpack(f"<{len(raw) // 2}h", raw[: len(raw) // 2 * 2]))
    return list(struct.unpack(f"<{len(raw) // 2}H", raw[: len(raw) // 2 * 2]))  # US, UN, implicit


_NUMERIC = Context(prec=60)
_NINE = Decimal("1e-9")
_NUMERIC_LIMIT = Decimal(10) ** 29


def numeric(text: str | None) -> Decimal | None:
    """A DS value as BigQuery's NUMERIC (``SAFE_CAST(x AS NUMERIC)``): rounded half away from
    zero to 9 decimals; ``None`` for no value, not a number, or beyond NUMERIC's range."""
    if text is None:
        return None
    first = text.split("\\")[0].strip()
    try:
        value = Decimal(first)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    value = value.quantize(_NINE, rounding=ROUND_HALF_UP, context=_NUMERIC)
    if abs(value) >= _NUMERIC_LIMIT:
        return None
    return value


def _code(item: dict | None, decode: Any, version: bool = True) -> dict[str, str | None] | None:
    if item is None:
        return None
    value = _text(item, w.CODE_VALUE, decode)
    if value is None:
        value = _text(item, w.LONG_CODE_VALUE, decode) or _text(item, w.URN_CODE_VALUE, decode)
    if version:
        return {
            "CodeValue": value,
            "CodingSchemeDesignator": _text(item, w.CODING_SCHEME_DESIGNATOR, decode),
            "CodingSchemeVersion": _text(item, w.CODING_SCHEME_VERSION, decode),
            "CodeMeaning": _text(item, w.CODE_MEANING, decode),
        }
    return {
        "CodeValue": value,
        "CodingSchemeDesignator": _text(item, w.CODING_SCHEME_DESIGNATOR, decode),
        "CodeMeaning": _text(item, w.CODE_MEANING, decode),
    }


def _first(item: dict, tag: int) -> dict | None:
    items = item.get(tag)
    return items[0] if items else None


def _key(item: dict | None, decode: Any) -> tuple[str | None, str | None] | None:
    """(CodeValue, CodingSchemeDesignator) of a code item."""
    if item is None:
        return None
    value = _text(item, w.CODE_VALUE, decode)
    return (value, _text(item, w.CODING_SCHEME_DESIGNATOR, decode))


# --- the document -----------------------------------------------------------------------------


def _report(doc: dict, decode: Any, meta_class: str | None) -> Report:
    sop_class = _uid(doc, w.SOP_CLASS_UID) or meta_class
    if sop_class is None:
        raise NotMeasurementReport("no SOPClassUID", None)
    if not is_sr_class(sop_class):
        from pydicom.uid import UID

        raise NotMeasurementReport(f"not a structured report: {UID(sop_class).name}", sop_class)
    templates = doc.get(w.CONTENT_TEMPLATE_SEQUENCE) or []
    template = templates[0] if templates else {}
    identifier = _text(template, w.TEMPLATE_IDENTIFIER, decode)
    resource = _text(template, w.MAPPING_RESOURCE, decode)
    if (identifier, resource) != ("1500", "DCMR"):
        what = f"template {resource or '?'} {identifier}" if identifier else "no template"
        name = SR_SOP_CLASSES[sop_class]
        raise NotMeasurementReport(
            f"a {name} document with {what}, not a TID 1500 measurement report", sop_class
        )
    sop = _uid(doc, w.SOP_INSTANCE_UID)
    series = _uid(doc, w.SERIES_INSTANCE_UID)
    if not (sop and series):
        raise Malformed("no SeriesInstanceUID or SOPInstanceUID")
    report = Report(
        sop_class=sop_class,
        sop=sop,
        series=series,
        study=_uid(doc, w.STUDY_INSTANCE_UID),
        patient=_text(doc, w.PATIENT_ID, decode),
    )
    document = {
        "PatientID": report.patient,
        "SOPInstanceUID": sop,
        "SeriesInstanceUID": series,
        "SeriesDescription": _text(doc, w.SERIES_DESCRIPTION, decode),
    }
    seg_series = _evidence(doc)
    for container in doc.get(w.CONTENT_SEQUENCE) or []:
        for number, item in enumerate(container.get(w.CONTENT_SEQUENCE) or []):
            if _is_group(item, decode):
                _group(report, document, number, item, decode, seg_series)
    return report


def _is_group(item: dict, decode: Any) -> bool:
    if _text(item, w.VALUE_TYPE, decode) != "CONTAINER":
        return False
    name = _first(item, w.CONCEPT_NAME_CODE_SEQUENCE)
    if name is None:
        return False
    return (
        _key(name, decode) == MEASUREMENT_GROUP
        or _text(name, w.CODE_MEANING, decode) == "Measurement Group"
    )


def _evidence(doc: dict) -> dict[str, str]:
    """SOPInstanceUID → SeriesInstanceUID of the Segmentations the evidence sequences list."""
    found: dict[str, str] = {}
    for tag in (w.CURRENT_EVIDENCE, w.PERTINENT_OTHER_EVIDENCE):
        for study in doc.get(tag) or []:
            for series in study.get(w.REFERENCED_SERIES_SEQUENCE) or []:
                uid = _uid(series, w.SERIES_INSTANCE_UID)
                for ref in series.get(w.REFERENCED_SOP_SEQUENCE) or []:
                    if _uid(ref, w.REFERENCED_SOP_CLASS_UID) in SEG_CLASSES:
                        instance = _uid(ref, w.REFERENCED_SOP_INSTANCE_UID)
                        if instance and uid:
                            found.setdefault(instance, uid)
    return found


def _group(
    report: Report,
    document: dict[str, Any],
    number: int,
    group: dict,
    decode: Any,
    seg_series: dict[str, str],
) -> None:
    children = group.get(w.CONTENT_SEQUENCE) or []
    tracking_id = tracking_uid = source = seg = finding = site = laterality = None
    segment_number = None
    nums: list[dict] = []
    codes: list[dict] = []
    for child in children:
        kind = _text(child, w.VALUE_TYPE, decode)
        concept = _key(_first(child, w.CONCEPT_NAME_CODE_SEQUENCE), decode)
        if kind == "NUM":
            nums.append(child)
        elif kind == "CODE":
            if concept == FINDING:
                if finding is None:
                    finding = _code(_first(child, w.CONCEPT_CODE_SEQUENCE), decode)
            elif concept in FINDING_SITES:
                if site is None:
                    site = _code(_first(child, w.CONCEPT_CODE_SEQUENCE), decode)
                    laterality = _laterality(child, decode)
            elif _text(child, w.RELATIONSHIP_TYPE, decode) == "CONTAINS":
                codes.append(child)
        elif kind == "TEXT" and concept == TRACKING_IDENTIFIER:
            tracking_id = tracking_id or _text(child, w.TEXT_VALUE, decode)
        elif kind == "UIDREF" and concept == TRACKING_UID:
            tracking_uid = tracking_uid or _uid(child, w.UID)
        elif kind == "UIDREF" and concept == SOURCE_SERIES:
            source = source or _uid(child, w.UID)
        elif kind == "IMAGE" and seg is None:
            ref = _first(child, w.REFERENCED_SOP_SEQUENCE)
            if ref is not None and _uid(ref, w.REFERENCED_SOP_CLASS_UID) in SEG_CLASSES:
                seg = _uid(ref, w.REFERENCED_SOP_INSTANCE_UID)
                numbers = _numbers(ref.get(w.REFERENCED_SEGMENT_NUMBER))
                segment_number = numbers[0] if numbers else None
    common = dict(document)
    common.update(
        measurementGroup_number=number,
        segmentationInstanceUID=seg,
        segmentationSeriesUID=seg_series.get(seg) if seg else None,
        segmentationSegmentNumber=segment_number,
        sourceSegmentedSeriesUID=source,
        trackingIdentifier=tracking_id,
        trackingUniqueIdentifier=tracking_uid,
    )
    report.groups.append(
        {
            **common,
            "finding": finding,
            "findingSite": site,
            "contentSequence": _content(group, 0, decode),
        }
    )
    for num in nums:
        measured = _first(num, w.MEASURED_VALUE_SEQUENCE)
        value = units = None
        if measured is not None:
            value = numeric(_text(measured, w.NUMERIC_VALUE, decode))
            units = _code(_first(measured, w.MEASUREMENT_UNITS_CODE_SEQUENCE), decode)
        report.quantitative.append(
            {
                **common,
                "Quantity": _code(_first(num, w.CONCEPT_NAME_CODE_SEQUENCE), decode, False),
                "derivationModifier": _derivation(num, decode),
                "Value": value,
                "Units": units,
                "finding": finding,
                "findingSite": site,
                "lateralityModifier": laterality,
            }
        )
    for evaluation in codes:
        report.qualitative.append(
            {
                **common,
                "Quantity": _code(_first(evaluation, w.CONCEPT_NAME_CODE_SEQUENCE), decode, False),
                "Value": _code(_first(evaluation, w.CONCEPT_CODE_SEQUENCE), decode),
                "finding": finding,
                "findingSite": site,
            }
        )


def _laterality(site: dict, decode: Any) -> dict[str, str | None] | None:
    for child in site.get(w.CONTENT_SEQUENCE) or []:
        if _key(_first(child, w.CONCEPT_NAME_CODE_SEQUENCE), decode) in LATERALITY:
            return _code(_first(child, w.CONCEPT_CODE_SEQUENCE), decode)
    return None


def _derivation(num: dict, decode: Any) -> dict[str, str | None] | None:
    for child in num.get(w.CONTENT_SEQUENCE) or []:
        if _key(_first(child, w.CONCEPT_NAME_CODE_SEQUENCE), decode) == DERIVATION:
            return _code(_first(child, w.CONCEPT_CODE_SEQUENCE), decode, False)
    return None


def _content(item: dict, depth: int, decode: Any) -> dict[str, Any]:
    """One content item in the nesting of IDC's ``measurement_groups.contentSequence``."""
    out: dict[str, Any] = {
        "RelationshipType": _text(item, w.RELATIONSHIP_TYPE, decode),
        "ValueType": _text(item, w.VALUE_TYPE, decode),
        "ConceptNameCodeSequence": [
            _code(c, decode, False) for c in item.get(w.CONCEPT_NAME_CODE_SEQUENCE) or []
        ],
        "ContinuityOfContent": _text(item, w.CONTINUITY_OF_CONTENT, decode),
        "UID": _uid(item, w.UID),
        "TextValue": _text(item, w.TEXT_VALUE, decode),
        "ConceptCodeSequence": [_code(c, decode) for c in item.get(w.CONCEPT_CODE_SEQUENCE) or []],
        "MeasuredValueSequence": [
            {
                "MeasurementUnitsCodeSequence": [
                    _code(c, decode) for c in m.get(w.MEASUREMENT_UNITS_CODE_SEQUENCE) or []
                ],
                "NumericValue": _values(_text(m, w.NUMERIC_VALUE, decode)),
            }
            for m in item.get(w.MEASURED_VALUE_SEQUENCE) or []
        ],
        "ReferencedSOPSequence": [
            {
                "ReferencedSOPClassUID": _uid(r, w.REFERENCED_SOP_CLASS_UID),
                "ReferencedSOPInstanceUID": _uid(r, w.REFERENCED_SOP_INSTANCE_UID),
                "ReferencedSegmentNumber": _numbers(r.get(w.REFERENCED_SEGMENT_NUMBER)),
                "ReferencedFrameNumber": _values(_text(r, w.REFERENCED_FRAME_NUMBER, decode)),
            }
            for r in item.get(w.REFERENCED_SOP_SEQUENCE) or []
        ],
    }
    if depth < CONTENT_DEPTH:
        out["ContentSequence"] = [
            _content(c, depth + 1, decode) for c in item.get(w.CONTENT_SEQUENCE) or []
        ]
    return out


def _values(text: str | None) -> list[str]:
    return [v.strip() for v in text.split("\\")] if text else []


# --- files the walker leaves to pydicom ---------------------------------------------------------


def _read_with_pydicom(data: bytes) -> dict:
    """The walker's result, from pydicom (big endian, deflate, ISO 2022 character sets…)."""
    import warnings

    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data))
            return _as_walked(ds, w.DOCUMENT)
    except InvalidDicomError as exc:
        raise NotDicom(f"invalid DICOM file meta information: {exc}") from None
    except (EOFError, struct.error) as exc:
        raise Truncated(f"the file ends too early ({type(exc).__name__})") from None
    except SegReadError:
        raise
    except Exception as exc:
        raise Malformed(f"unreadable SR: {type(exc).__name__}: {exc}") from None


def _as_walked(ds: Any, schema: w.Schema) -> dict:
    out: dict = {}
    for tag, inner in schema.items():
        element = ds.get(tag)
        if element is None or element.value is None:
            continue
        if inner is not None:
            if inner is w.CONTENT_ITEM and tag == w.CONTENT_SEQUENCE and w._is_image_library(out):
                continue
            out[tag] = [_as_walked(item, inner) for item in element.value]
        elif tag == w.REFERENCED_SEGMENT_NUMBER:
            value = element.value
            many = not isinstance(value, str | bytes) and hasattr(value, "__iter__")
            out[tag] = ("py", list(value) if many else [value])
        else:
            value = element.value
            if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
                value = "\\".join(str(v) for v in value)
            out[tag] = str(value)
    return out
