"""Walk a DICOM SR file's bytes and keep only what a TID 1500 reader needs.

pydicom builds a Dataset (and a DataElement per attribute) for every item it meets: on an SR
written by dcmqi/DCMTK (sequences of undefined length) with an Image Library of a hundred
images, that is ~100 ms per file. Measurement rows need a few attributes of each content item.
:func:`walk` reads element headers (tag, VR, length) with :mod:`struct`, keeps the values of a
whitelist of tags as raw ``bytes`` (decoded later, only where used), and skips everything else —
including the whole Image Library container — without building any object for it.

The result is plain data: a dataset is a ``dict`` mapping tags (``int``) to ``bytes`` (a value),
to a ``list`` of such dicts (a sequence), or, for ReferencedSegmentNumber, to ``(vr, bytes)``.

Little-endian files (implicit or explicit VR) are walked; anything else (big endian, deflate, a
sequence encoded as UN, a value of undefined length) raises :class:`Unsure` and the caller reads
the file with pydicom instead. Running out of bytes raises :class:`Short`.
"""

from __future__ import annotations

from ._skim import _EXPLICIT, _LONG_VRS, _SHORT_VRS, _TAG_LEN, _TAG_VR_LEN, _U32

ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

# --- tags ---------------------------------------------------------------------------------------
SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_DATE = 0x00080020
SERIES_DATE = 0x00080021
MODALITY = 0x00080060
MANUFACTURER = 0x00080070
STUDY_DESCRIPTION = 0x00081030
SERIES_DESCRIPTION = 0x0008103E
MANUFACTURER_MODEL_NAME = 0x00081090
PATIENT_ID = 0x00100020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
SERIES_NUMBER = 0x00200011

CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102
CODING_SCHEME_VERSION = 0x00080103
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
URN_CODE_VALUE = 0x00080120

REFERENCED_SERIES_SEQUENCE = 0x00081115
REFERENCED_SOP_SEQUENCE = 0x00081199
REFERENCED_SOP_CLASS_UID = 0x00081150
REFERENCED_SOP_INSTANCE_UID = 0x00081155
REFERENCED_FRAME_NUMBER = 0x00081160
REFERENCED_SEGMENT_NUMBER = 0x0062000B

RELATIONSHIP_TYPE = 0x0040A010
VALUE_TYPE = 0x0040A040
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
CONTINUITY_OF_CONTENT = 0x0040A050
UID = 0x0040A124
TEXT_VALUE = 0x0040A160
CONCEPT_CODE_SEQUENCE = 0x0040A168
MEASURED_VALUE_SEQUENCE = 0x0040A300
NUMERIC_VALUE = 0x0040A30A
MEASUREMENT_UNITS_CODE_SEQUENCE = 0x004008EA
CONTENT_TEMPLATE_SEQUENCE = 0x0040A504
MAPPING_RESOURCE = 0x00080105
TEMPLATE_IDENTIFIER = 0x0040DB00
CONTENT_SEQUENCE = 0x0040A730
CURRENT_EVIDENCE = 0x0040A375
PERTINENT_OTHER_EVIDENCE = 0x0040A385

#: Sequence tags an implicit-VR file may hold with a defined length (undefined lengths are
#: recognised as sequences anyway).
SEQUENCE_TAGS = frozenset(
    {
        REFERENCED_SERIES_SEQUENCE,
        REFERENCED_SOP_SEQUENCE,
        CONCEPT_NAME_CODE_SEQUENCE,
        CONCEPT_CODE_SEQUENCE,
        MEASURED_VALUE_SEQUENCE,
        MEASUREMENT_UNITS_CODE_SEQUENCE,
        CONTENT_TEMPLATE_SEQUENCE,
        CONTENT_SEQUENCE,
        CURRENT_EVIDENCE,
        PERTINENT_OTHER_EVIDENCE,
        0x0040A301,  # NumericValueQualifierCodeSequence
        0x00400441,  # ContentItemModifierSequence
        0x0040A088,  # VerifyingObserverSequence
        0x0040A078,  # AuthorObserverSequence
        0x0040A07A,  # ParticipantSequence
        0x0040A07C,  # CustodialOrganizationSequence
        0x0040A370,  # ReferencedRequestSequence
        0x0040A372,  # PerformedProcedureCodeSequence
        0x0040A525,  # IdenticalDocumentsSequence
        0x0040A360,  # PredecessorDocumentsSequence
        0x00081111,  # ReferencedPerformedProcedureStepSequence
        0x00081032,  # ProcedureCodeSequence
    }
)

#: What to keep, per kind of dataset: tag -> schema of its items (a sequence), or None (a value).
Schema = dict[int, "Schema | None"]

CODE: Schema = {
    CODE_VALUE: None,
    CODING_SCHEME_DESIGNATOR: None,
    CODING_SCHEME_VERSION: None,
    CODE_MEANING: None,
    LONG_CODE_VALUE: None,
    URN_CODE_VALUE: None,
}
REFERENCED_SOP: Schema = {
    REFERENCED_SOP_CLASS_UID: None,
    REFERENCED_SOP_INSTANCE_UID: None,
    REFERENCED_SEGMENT_NUMBER: None,
    REFERENCED_FRAME_NUMBER: None,
}
MEASURED_VALUE: Schema = {NUMERIC_VALUE: None, MEASUREMENT_UNITS_CODE_SEQUENCE: CODE}
CONTENT_ITEM: Schema = {
    RELATIONSHIP_TYPE: None,
    VALUE_TYPE: None,
    CONCEPT_NAME_CODE_SEQUENCE: CODE,
    CONTINUITY_OF_CONTENT: None,
    UID: None,
    TEXT_VALUE: None,
    CONCEPT_CODE_SEQUENCE: CODE,
    MEASURED_VALUE_SEQUENCE: MEASURED_VALUE,
    REFERENCED_SOP_SEQUENCE: REFERENCED_SOP,
}
CONTENT_ITEM[CONTENT_SEQUENCE] = CONTENT_ITEM
TEMPLATE: Schema = {MAPPING_RESOURCE: None, TEMPLATE_IDENTIFIER: None}
EVIDENCE_SOP: Schema = {REFERENCED_SOP_CLASS_UID: None, REFERENCED_SOP_INSTANCE_UID: None}
EVIDENCE_SERIES: Schema = {SERIES_INSTANCE_UID: None, REFERENCED_SOP_SEQUENCE: EVIDENCE_SOP}
EVIDENCE: Schema = {STUDY_INSTANCE_UID: None, REFERENCED_SERIES_SEQUENCE: EVIDENCE_SERIES}
DOCUMENT: Schema = {
    SPECIFIC_CHARACTER_SET: None,
    SOP_CLASS_UID: None,
    SOP_INSTANCE_UID: None,
    STUDY_DATE: None,
    SERIES_DATE: None,
    MODALITY: None,
    MANUFACTURER: None,
    STUDY_DESCRIPTION: None,
    SERIES_DESCRIPTION: None,
    MANUFACTURER_MODEL_NAME: None,
    PATIENT_ID: None,
    STUDY_INSTANCE_UID: None,
    SERIES_INSTANCE_UID: None,
    SERIES_NUMBER: None,
    CONCEPT_NAME_CODE_SEQUENCE: CODE,
    CONTENT_TEMPLATE_SEQUENCE: TEMPLATE,
    CONTENT_SEQUENCE: CONTENT_ITEM,
    CURRENT_EVIDENCE: EVIDENCE,
    PERTINENT_OTHER_EVIDENCE: EVIDENCE,
}

IMAGE_LIBRARY = b"111028"  # DCM: the Image Library container, skipped whole

_IMPLICIT = "1.2.840.10008.1.2"


class Unsure(Exception):
    """Not a file this walker reads: read it with pydicom."""


class Short(Exception):
    """The bytes end inside the dataset (a truncated file)."""


def file_meta(data: bytes) -> tuple[int, dict[int, bytes]]:
    """(offset of the dataset, {tag: value}) of the file meta group after the preamble.

    Raises :class:`Short` when *data* ends inside it and :class:`Unsure` when it is odd.
    """
    pos = 132
    values: dict[int, bytes] = {}
    size = len(data)
    while True:
        if pos + 8 > size:
            raise Short("the data end inside the file meta information")
        group, element, vr, length = _TAG_VR_LEN.unpack_from(data, pos)
        if group != 0x0002:
            return pos, values
        head = 8
        if vr in _LONG_VRS:
            if pos + 12 > size:
                raise Short("the data end inside the file meta information")
            length = _U32.unpack_from(data, pos + 8)[0]
            head = 12
        elif vr not in _SHORT_VRS:
            raise Unsure("odd file meta")
        if pos + head + length > size:
            raise Short("the data end inside the file meta information")
        values[(group << 16) | element] = data[pos + head : pos + head + length]
        pos += head + length


def transfer_syntax(meta: dict[int, bytes]) -> str | None:
    """The TransferSyntaxUID of a file meta group read by :func:`file_meta`."""
    raw = meta.get(0x00020010)
    return raw.rstrip(b"\0 ").decode("ascii", "replace") if raw is not None else None


class _Walker:
    __slots__ = ("data", "implicit", "size")

    def __init__(self, data: bytes, implicit: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.size = len(data)

    def dataset(self, pos: int, end: int | None, schema: Schema | None, out: dict | None) -> int:
        """Read elements from *pos* to *end* (``None``: to the item delimiter); keep *schema*'s
        tags in *out*. Returns the position after the dataset (and its delimiter)."""
        data, size, implicit = self.data, self.size, self.implicit
        limit = size if end is None else end
        while pos < limit:
            if pos + 8 > size:
                raise Short("the data end inside an element header")
            if implicit or data[pos : pos + 2] == b"\xfe\xff":
                group, element, length = _TAG_LEN.unpack_from(data, pos)
                vr = None
                head = 8
            else:
                group, element, vr, length = _TAG_VR_LEN.unpack_from(data, pos)
                if vr in _LONG_VRS:
                    if pos + 12 > size:
                        raise Short("the data end inside an element header")
                    length = _U32.unpack_from(data, pos + 8)[0]
                    head = 12
                elif vr in _SHORT_VRS:
                    head = 8
                else:
                    raise Unsure(f"VR {vr!r}")
            tag = (group << 16) | element
            if tag == ITEM_END:
                if end is not None:
                    raise Unsure("stray item delimiter")
                return pos + 8
            value = pos + head
            if vr == b"SQ" or (vr is None and (length == UNDEFINED or tag in SEQUENCE_TAGS)):
                wanted = schema.get(tag) if schema is not None else None
                if (
                    wanted is CONTENT_ITEM
                    and tag == CONTENT_SEQUENCE
                    and out is not None
                    and _is_image_library(out)
                ):
                    wanted = None
                if wanted is None or out is None:
                    pos = self.sequence(value, length, None, None)
                else:
                    items: list[dict] = []
                    pos = self.sequence(value, length, wanted, items)
                    out[tag] = items
                continue
            if length == UNDEFINED:
                if vr == b"UN":
                    raise Unsure("a sequence encoded as UN")
                raise Unsure(f"undefined length for ({group:04X},{element:04X})")
            stop = value + length
            if stop > size:
                raise Short("the data end inside a value")
            if out is not None and schema is not None and tag in schema:
                if tag == REFERENCED_SEGMENT_NUMBER:
                    out[tag] = (vr, data[value:stop])
                else:
                    out[tag] = data[value:stop]
            pos = stop
        if end is None and pos >= size:
            raise Short("the data end inside an item")
        return pos

    def skip(self, pos: int) -> int:
        """The position after the undefined-length sequence whose items start at *pos*: element
        headers only, nothing kept (the Image Library, evidence of other kinds…)."""
        data, size, implicit = self.data, self.size, self.implicit
        depth = 0  # items and sequences of undefined length still open below this sequence
        unpack_tag, unpack_vr, unpack_u32 = (
            _TAG_LEN.unpack_from,
            _TAG_VR_LEN.unpack_from,
            _U32.unpack_from,
        )
        while True:
            if pos + 8 > size:
                raise Short("the data end inside a sequence")
            group, element, length = unpack_tag(data, pos)
            if group == 0xFFFE:
                if element == 0xE0DD:  # sequence delimiter
                    pos += 8
                    if depth == 0:
                        return pos
                    depth -= 1
                elif element == 0xE00D:  # item delimiter
                    pos += 8
                    depth -= 1
                elif element == 0xE000:  # item
                    if length == UNDEFINED:
                        pos += 8
                        depth += 1
                    else:
                        pos += 8 + length
                else:
                    raise Unsure("odd delimiter")
                continue
            if implicit:
                head = 8
                vr = None
            else:
                _, _, vr, length = unpack_vr(data, pos)
                if vr in _LONG_VRS:
                    if pos + 12 > size:
                        raise Short("the data end inside an element header")
                    length = unpack_u32(data, pos + 8)[0]
                    head = 12
                elif vr in _SHORT_VRS:
                    head = 8
                else:
                    raise Unsure(f"VR {vr!r}")
            if length == UNDEFINED:
                if vr not in (b"SQ", None):
                    raise Unsure("undefined length outside a sequence")
                pos += head
                depth += 1
                continue
            pos += head + length
            if pos > size:
                raise Short("the data end inside a value")

    def sequence(self, pos: int, length: int, schema: Schema | None, out: list | None) -> int:
        """Read the items of a sequence; keep them in *out* (read with *schema*) or skip them."""
        data, size = self.data, self.size
        if length != UNDEFINED and out is None:
            if pos + length > size:
                raise Short("the data end inside a sequence")
            return pos + length
        if out is None:
            return self.skip(pos)
        end = pos + length if length != UNDEFINED else None
        while end is None or pos < end:
            if pos + 8 > size:
                raise Short("the data end inside a sequence")
            group, element, item_length = _TAG_LEN.unpack_from(data, pos)
            tag = (group << 16) | element
            if tag == SEQUENCE_END:
                pos += 8
                break
            if tag != ITEM:
                raise Unsure("not an item")
            pos += 8
            if item_length != UNDEFINED:
                if pos + item_length > size:
                    raise Short("the data end inside an item")
                if out is None:
                    pos += item_length
                    continue
                item: dict = {}
                pos = self.dataset(pos, pos + item_length, schema, item)
                out.append(item)
            else:
                item = {} if out is not None else None  # type: ignore[assignment]
                pos = self.dataset(pos, None, schema if out is not None else None, item)
                if out is not None:
                    out.append(item)
        if end is not None and pos != end:
            raise Unsure("sequence length mismatch")
        return pos


def _is_image_library(item: dict) -> bool:
    names = item.get(CONCEPT_NAME_CODE_SEQUENCE)
    if not names:
        return False
    value = names[0].get(CODE_VALUE)
    if isinstance(value, str):  # read by pydicom
        value = value.encode("ascii", "replace")
    return value is not None and value.strip(b" \0") == IMAGE_LIBRARY


def walk(data: bytes, start: int, syntax: str | None) -> dict:
    """The document's kept attributes (see :data:`DOCUMENT`), from the dataset at *start*.

    Raises :class:`Unsure` for transfer syntaxes other than implicit/explicit VR little endian.
    """
    if syntax not in (_IMPLICIT, _EXPLICIT):
        raise Unsure(f"transfer syntax {syntax}")
    out: dict = {}
    _Walker(data, implicit=syntax == _IMPLICIT).dataset(start, len(data), DOCUMENT, out)
    return out
