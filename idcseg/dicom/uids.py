"""The identity of a DICOM file from its first bytes: its SOPInstanceUID.

Downloads name files ``<SOPInstanceUID>.dcm`` and match a SEG's referenced source instance to the
image series holding it; both read only the start of each file (group 0008 comes first).
"""

from __future__ import annotations

import io
import re
import warnings

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_SOP_INSTANCE_UID = 0x00080018


def sop_instance_uid(prefix: bytes | bytearray | memoryview) -> str | None:
    """The SOPInstanceUID in the first bytes of a DICOM file (Part 10), or ``None`` when the
    bytes are not DICOM, end before it, or hold no valid UID."""
    from pydicom.filereader import read_partial

    data = bytes(prefix)
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(
                io.BytesIO(data), stop_when=lambda tag, vr, length: tag > _SOP_INSTANCE_UID
            )
            value = ds.get("SOPInstanceUID")
            if value is None and ds.file_meta is not None:
                value = ds.file_meta.get("MediaStorageSOPInstanceUID")
    except Exception:  # truncated or malformed: no name from it
        return None
    text = str(value).strip().rstrip("\0") if value is not None else ""
    return text if len(text) <= 64 and _UID.fullmatch(text) else None
