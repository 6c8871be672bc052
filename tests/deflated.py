"""Deflated SEG files for tests (Deflated Explicit VR Little Endian, PS3.5 A.5), written here.

:func:`write_deflated` re-encodes a SEG made with highdicom as a deflated file, optionally with
*pixel_zeros* bytes of zero pixel data or a private OB element of *private_zeros* zero bytes
before SegmentSequence. Zeros are streamed through the compressor a megabyte at a time, so a file
that inflates to a gigabyte is made (and is ~1 MB on disk) without holding it in memory.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

DEFLATED = "1.2.840.10008.1.2.1.99"


def _explicit_le(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_dataset(fp, ds)
    return fp.getvalue()


def write_deflated(
    src: Path, dst: Path, *, pixel_zeros: int | None = None, private_zeros: int = 0
) -> Path:
    """Write the SEG *src* to *dst* deflated; *pixel_zeros* replaces its pixel data with that
    many zero bytes (``None`` keeps it), *private_zeros* adds a private (0009,1001) OB element."""
    ds = pydicom.dcmread(src)
    meta = ds.file_meta
    meta.TransferSyntaxUID = DEFLATED
    pixels = ds.PixelData
    del ds.PixelData
    before, after = Dataset(), Dataset()
    for elem in ds:
        (before if elem.tag < 0x00090000 else after).add(elem)
    deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(dst, "wb") as out:
        out.write(b"\0" * 128 + b"DICM")
        head = DicomBytesIO()
        write_file_meta_info(head, meta)
        out.write(head.getvalue())

        def emit(data: bytes) -> None:
            out.write(deflate.compress(data))

        def zeros(n: int) -> None:
            block = b"\0" * (1 << 20)
            while n > 0:
                emit(block[: min(n, len(block))])
                n -= len(block)

        emit(_explicit_le(before))
        if private_zeros:
            emit(b"\x09\x00\x10\x00LO\x0c\x00idcseg test ")
            emit(b"\x09\x00\x01\x10OB\0\0" + private_zeros.to_bytes(4, "little"))
            zeros(private_zeros)
        emit(_explicit_le(after))
        if pixel_zeros is None:
            emit(b"\xe0\x7f\x10\x00OB\0\0" + len(pixels).to_bytes(4, "little") + pixels)
        else:
            emit(b"\xe0\x7f\x10\x00OB\0\0" + pixel_zeros.to_bytes(4, "little"))
            zeros(pixel_zeros)
        out.write(deflate.flush())
    return dst
