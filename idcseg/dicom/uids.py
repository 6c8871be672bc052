"""The identity of a DICOM file from its first bytes: its SOPInstanceUID.

Downloads name files ``<SOPInstanceUID>.dcm`` and match a SEG's referenced source instance to the
image series holding it; both read only the start of each file. A Part 10 file's meta group
(0002), always explicit VR little endian, carries MediaStorageSOPInstanceUID (0002,0003), which
the standard requires to equal the SOPInstanceUID: it is read directly (microseconds, no
pydicom). Only a file whose meta group lacks it is parsed with pydicom up to (0008,0018).
"""

from __future__ import annotations

import io
import re
import struct
import warnings

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_SOP_INSTANCE_UID = 0x00080018
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}


def _valid(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip().rstrip("\0").strip()
    return text if len(text) <= 64 and _UID.fullmatch(text) else None


def _from_meta(data: bytes) -> str | None:
    """MediaStorageSOPInstanceUID from the file meta group, or ``None``."""
    position = 132
    while position + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, position)
        if group != 0x0002:
            return None
        vr = data[position + 4 : position + 6]
        if vr in _LONG_VRS:
            if position + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<I", data, position + 8)
            start = position + 12
        else:
            (length,) = struct.unpack_from("<H", data, position + 6)
            start = position + 8
        if length == 0xFFFFFFFF:
            return None
        if element == 0x0003:
            return _valid(data[start : start + length]) if start + length <= len(data) else None
        position = start + length
    return None


def sop_instance_uid(prefix: bytes | bytearray | memoryview) -> str | None:
    """The SOPInstanceUID in the first bytes of a DICOM file (Part 10), or ``None`` when the
    bytes are not DICOM, end before it, or hold no valid UID."""
    data = bytes(prefix)
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    found = _from_meta(data)
    if found:
        return found
    from pydicom.filereader import read_partial

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(
                io.BytesIO(data), stop_when=lambda tag, vr, length: tag > _SOP_INSTANCE_UID
            )
            return _valid(ds.get("SOPInstanceUID"))
    except Exception:  # truncated or malformed: no name from it
        return None
