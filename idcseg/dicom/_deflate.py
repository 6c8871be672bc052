"""Deflate for volumes that are mostly zeros: gzip (``.nii.gz``, NRRD) and zip (``.npz``) members.

A segment's mask is a volume of zeros with a small object in it. zlib deflates zeros at ~300 MB/s
on this machine, so a 240×512×512 mask costs ~0.2 s however little it holds, and a SEG of a hundred
segments ~20 s. Here only the bands of rows that hold something are compressed; every all-zero
band is written as bytes compressed once and reused:

- the stream is a sequence of independent chunks, each compressed by a fresh zlib compressor and
  ended with a sync flush (non-final blocks, byte-aligned), so chunks can be cached and
  concatenated; one final empty block ends the stream (pigz joins blocks the same way);
- the CRC-32 of a run of zeros is an affine function of the CRC before it, so it is applied with
  four table look-ups per chunk instead of reading the zeros.

The output is ordinary deflate: any gzip/zip reader (zlib, nibabel, ITK, numpy) reads it.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from typing import BinaryIO

import numpy as np

BAND_BYTES = 16384  # rows are grouped into bands of about this many bytes
_SYNC = zlib.Z_SYNC_FLUSH
_FINAL_EMPTY_BLOCK = b"\x03\x00"


def _compress(data: bytes | memoryview, level: int, strategy: int) -> bytes:
    engine = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return engine.compress(data) + engine.flush(_SYNC)


@lru_cache(maxsize=64)
def _zero_chunk(length: int, level: int, strategy: int) -> bytes:
    return _compress(bytes(length), level, strategy)


@lru_cache(maxsize=64)
def _zero_crc(length: int) -> tuple[int, tuple[tuple[int, ...], ...]]:
    """``crc32(zeros(length), c) = base ^ T0[c & 255] ^ T1[c >> 8 & 255] ^ ...``: (base, tables)."""
    zeros = bytes(length)
    base = zlib.crc32(zeros, 0)
    basis = [zlib.crc32(zeros, 1 << bit) ^ base for bit in range(32)]
    tables = []
    for byte in range(4):
        table = [0] * 256
        for value in range(1, 256):
            low = value & -value
            table[value] = table[value ^ low] ^ basis[8 * byte + low.bit_length() - 1]
        tables.append(tuple(table))
    return base, tuple(tables)


def crc32_zeros(crc: int, length: int, times: int = 1) -> int:
    """``zlib.crc32(bytes(length) * times, crc)`` without reading the zeros."""
    if length <= 0 or times <= 0:
        return crc
    base, (t0, t1, t2, t3) = _zero_crc(length)
    for _ in range(times):
        crc = base ^ t0[crc & 255] ^ t1[(crc >> 8) & 255] ^ t2[(crc >> 16) & 255] ^ t3[crc >> 24]
    return crc


class SparseDeflate:
    """A raw deflate stream written to *out*; ``crc`` and ``size`` follow what went in.

    Args:
        out: a binary file.
        level: zlib level of the chunks that hold data (1: fast; masks compress well anyway).
        strategy: ``zlib.Z_RLE`` suits masks (runs); ``zlib.Z_DEFAULT_STRATEGY`` suits floats.
    """

    def __init__(self, out: BinaryIO, level: int = 1, strategy: int = zlib.Z_RLE) -> None:
        self.out = out
        self.level = level
        self.strategy = strategy
        self.crc = 0
        self.size = 0
        self.written = 0

    def _emit(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.written += len(chunk)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Compress *data* as one chunk."""
        if not len(data):
            return
        self._emit(_compress(data, self.level, self.strategy))
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)

    def write_zeros(self, length: int, times: int = 1) -> None:
        """*times* runs of *length* zero bytes, each from the cache."""
        if length <= 0 or times <= 0:
            return
        chunk = _zero_chunk(length, self.level, self.strategy)
        self._emit(chunk * times)
        self.crc = crc32_zeros(self.crc, length, times)
        self.size += length * times

    def write_plane(self, plane: np.ndarray) -> None:
        """One 2-D slice (C order): bands of rows holding something are compressed, all-zero
        bands come from the cache."""
        plane = np.ascontiguousarray(plane)
        rows = plane.shape[0]
        row_bytes = plane.nbytes // max(rows, 1)
        band = max(1, BAND_BYTES // max(row_bytes, 1))
        occupied = _rows_occupied(plane)
        raw = memoryview(plane.reshape(-1).view(np.uint8))
        for r0 in range(0, rows, band):
            r1 = min(rows, r0 + band)
            if occupied[r0:r1].any():
                self.write(raw[r0 * row_bytes : r1 * row_bytes])
            else:
                self.write_zeros((r1 - r0) * row_bytes)

    def finish(self) -> None:
        """End the stream (a final empty block)."""
        self._emit(_FINAL_EMPTY_BLOCK)


def _rows_occupied(plane: np.ndarray) -> np.ndarray:
    """Which rows hold a non-zero byte."""
    flat = plane.reshape(plane.shape[0], -1).view(np.uint8)
    if flat.shape[1] % 8 == 0:
        flat = flat.view(np.uint64)
    return flat.any(axis=1)


# --- containers -------------------------------------------------------------------------------

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, OS unknown


def gzip_trailer(stream: SparseDeflate) -> bytes:
    """CRC-32 and size (mod 2³²) that end a gzip member."""
    return struct.pack("<II", stream.crc & 0xFFFFFFFF, stream.size & 0xFFFFFFFF)


class ZipWriter:
    """A zip archive of deflated members written one after another (what ``.npz`` is).

    Each member's local header is written with placeholder sizes and patched when the member
    ends (the file must be seekable); sizes over 4 GiB use zip64 fields.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.members: list[tuple[bytes, int, int, int, int, bool]] = []

    def member(self, name: str, size_hint: int) -> _ZipMember:
        """Start member *name* (*size_hint*: its uncompressed size, to choose zip64)."""
        return _ZipMember(self, name.encode(), size_hint >= 0xFF000000)

    def close(self) -> None:
        """Write the central directory."""
        out = self.out
        start = out.tell()
        for name, offset, crc, csize, usize, zip64 in self.members:
            extra = b""
            sizes = (csize, usize)
            rel = offset
            if zip64 or offset >= 0xFFFFFFFF:
                extra = struct.pack("<HHQQQ", 1, 24, usize, csize, offset)
                sizes, rel = (0xFFFFFFFF, 0xFFFFFFFF), 0xFFFFFFFF
            out.write(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    45,
                    45,
                    0,
                    8,
                    0,
                    0x21,
                    crc,
                    sizes[0],
                    sizes[1],
                    len(name),
                    len(extra),
                    0,
                    0,
                    0,
                    0,
                    rel,
                )  # fmt: skip
                + name
                + extra
            )
        end = out.tell()
        count = len(self.members)
        if count >= 0xFFFF or end >= 0xFFFFFFFF or start >= 0xFFFFFFFF:
            out.write(
                struct.pack(
                    "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, end - start, start
                )  # fmt: skip
                + struct.pack("<IIQI", 0x07064B50, 0, end, 1)
            )
        out.write(
            struct.pack(
                "<IHHHHIIH",
                0x06054B50,
                0,
                0,
                min(count, 0xFFFF),
                min(count, 0xFFFF),
                min(end - start, 0xFFFFFFFF),
                min(start, 0xFFFFFFFF),
                0,
            )  # fmt: skip
        )


class _ZipMember:
    def __init__(self, archive: ZipWriter, name: bytes, zip64: bool) -> None:
        self.archive, self.name, self.zip64 = archive, name, zip64
        out = archive.out
        self.offset = out.tell()
        extra = struct.pack("<HHQQ", 1, 16, 0, 0) if zip64 else b""
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0x21, 0, 0, 0, len(name), len(extra)
            )  # fmt: skip
            + name
            + extra
        )
        self.data_start = out.tell()
        self.stream = SparseDeflate(out)

    def close(self) -> None:
        """End the member and patch its local header."""
        stream = self.stream
        stream.finish()
        out = self.archive.out
        end = out.tell()
        csize, usize, crc = end - self.data_start, stream.size, stream.crc & 0xFFFFFFFF
        if not self.zip64 and (csize >= 0xFFFFFFFF or usize >= 0xFFFFFFFF):
            raise OverflowError("a zip member grew past 4 GiB without zip64 fields")
        out.seek(self.offset + 14)
        if self.zip64:
            out.write(struct.pack("<III", crc, 0xFFFFFFFF, 0xFFFFFFFF))
            out.seek(self.offset + 30 + len(self.name) + 4)
            out.write(struct.pack("<QQ", usize, csize))
        else:
            out.write(struct.pack("<III", crc, csize, usize))
        out.seek(end)
        self.archive.members.append((self.name, self.offset, crc, csize, usize, self.zip64))
