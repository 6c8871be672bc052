"""Thin a SEG header before pydicom parses it: keep one item of the long reference sequences.

A SEG header lists every source image it was derived from, in ReferencedSeriesSequence >
ReferencedInstanceSequence and often again in SourceImageSequence: hundreds of items on a CT
series. pydicom builds a Dataset for each item of a sequence of undefined length (as dcmqi and
DCMTK write them), which is most of the time spent reading such a header. IDC's columns need
only the first item of each.

:func:`skim` walks the header's element structure (tags and lengths only, no values) up to the
first top-level tag at or after (5200,0000) and returns a copy of the file's bytes up to there in
which each of those reference sequences keeps its first item only. Everything else is copied
byte for byte. Sequences are re-emitted with undefined lengths, so no length needs fixing.

It handles little-endian files (implicit or explicit VR). Anything it does not understand
(big endian, a VR it does not know, a sequence of UN elements, running out of bytes) raises
:class:`Unsure`: the caller then reads the file the ordinary way.

Deflated files (Deflated Explicit VR Little Endian) are never inflated whole: a few MB of
compressed zeros can inflate to gigabytes of pixel data. :func:`deflated_header` inflates only
as far as the header goes (the first top-level tag at or after (5200,0000)), at most
:data:`INFLATE_LIMIT` bytes, and hands back the header re-deflated on its own.
"""

from __future__ import annotations

import zlib
from contextlib import suppress
from struct import Struct
from typing import IO

STOP_TAG = 0x52000000
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

#: Reference sequences of which only the first item is kept.
THIN_TAGS = frozenset(
    {
        0x00081115,  # ReferencedSeriesSequence
        0x0008114A,  # ReferencedInstanceSequence
        0x00081140,  # ReferencedImageSequence
        0x00082112,  # SourceImageSequence
    }
)

_IMPLICIT = "1.2.840.10008.1.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
#: The most bytes a deflated header may inflate to (IDC's largest SEG headers are a few MB).
INFLATE_LIMIT = 64 * 2**20
_EXPLICIT = "1.2.840.10008.1.2.1"
_ENCAPSULATED = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")  # explicit VR little endian
_LONG_VRS = frozenset(
    (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")
)
_SHORT_VRS = frozenset(
    (
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT",
        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    )
)  # fmt: skip
_TAG_LEN = Struct("<HHI")
_TAG_VR_LEN = Struct("<HH2sH")
_U32 = Struct("<I")
_ITEM_START = _TAG_LEN.pack(0xFFFE, 0xE000, UNDEFINED)
_ITEM_STOP = _TAG_LEN.pack(0xFFFE, 0xE00D, 0)
_SEQUENCE_STOP = _TAG_LEN.pack(0xFFFE, 0xE0DD, 0)


class Unsure(Exception):
    """The header is not one :func:`skim` can thin; read it the ordinary way."""


class _Discard(list):
    def append(self, _: object) -> None:
        pass


_DISCARD = _Discard()


class _Buffer:
    """The file's bytes from its start, read on demand in growing chunks."""

    def __init__(self, fp: IO[bytes], start: int) -> None:
        self.fp = fp
        fp.seek(start)
        self.data = bytearray(fp.read(1 << 16))

    def ensure(self, end: int) -> None:
        while len(self.data) < end:
            chunk = self.fp.read(max(end - len(self.data), len(self.data)))
            if not chunk:
                raise Unsure("ran out of bytes")
            self.data += chunk


class _Walker:
    def __init__(self, buf: _Buffer, implicit: bool, thin: frozenset[int] = THIN_TAGS) -> None:
        self.buf = buf
        self.implicit = implicit
        self.thin = thin

    def header(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """(tag, VR or None, value length, header length) of the element at *pos*."""
        buf = self.buf
        buf.ensure(pos + 12)
        data = buf.data
        if self.implicit or data[pos : pos + 2] == b"\xfe\xff":
            group, element, length = _TAG_LEN.unpack_from(data, pos)
            return (group << 16) | element, None, length, 8
        group, element, vr, length = _TAG_VR_LEN.unpack_from(data, pos)
        tag = (group << 16) | element
        if vr in _SHORT_VRS:
            return tag, vr, length, 8
        if vr in _LONG_VRS:
            return tag, vr, _U32.unpack_from(data, pos + 8)[0], 12
        raise Unsure(f"VR {vr!r}")

    def dataset(self, pos: int, end: int | None, out: list, top: bool = False) -> int:
        """Copy the elements from *pos* to *end* (or to the item delimiter, or the stop tag)."""
        data_end = end
        while data_end is None or pos < data_end:
            tag, vr, length, head = self.header(pos)
            if top and tag >= STOP_TAG:
                return pos
            if tag == ITEM_END:
                if top or end is not None:
                    raise Unsure("stray item delimiter")
                out.append(_ITEM_STOP)
                return pos + 8
            is_sequence = vr == b"SQ" or (vr is None and (length == UNDEFINED or tag in THIN_TAGS))
            if is_sequence:
                pos = self.sequence(pos, tag, length, head, out, tag in self.thin)
            elif length == UNDEFINED:
                raise Unsure(f"undefined length for ({tag >> 16:04X},{tag & 0xFFFF:04X})")
            else:
                stop = pos + head + length
                self.buf.ensure(stop)
                out.append(self.buf.data[pos:stop])
                pos = stop
        if top:
            raise Unsure("no stop tag")
        return pos

    def sequence(self, pos: int, tag: int, length: int, head: int, out: list, thin: bool) -> int:
        group, element = tag >> 16, tag & 0xFFFF
        if self.implicit:
            out.append(_TAG_LEN.pack(group, element, UNDEFINED))
        else:
            out.append(_TAG_VR_LEN.pack(group, element, b"SQ", 0) + _U32.pack(UNDEFINED))
        pos += head
        end = pos + length if length != UNDEFINED else None
        kept = 0
        while end is None or pos < end:
            self.buf.ensure(pos + 8)
            group, element, item_length = _TAG_LEN.unpack_from(self.buf.data, pos)
            item_tag = (group << 16) | element
            if item_tag == SEQUENCE_END:
                pos += 8
                break
            if item_tag != ITEM:
                raise Unsure("not an item")
            keep = not thin or kept == 0
            kept += 1
            if not keep and item_length != UNDEFINED:
                pos += 8 + item_length
                continue
            target = out if keep else _DISCARD
            target.append(_ITEM_START)
            if item_length == UNDEFINED:
                pos = self.dataset(pos + 8, None, target)
            else:
                pos = self.dataset(pos + 8, pos + 8 + item_length, target)
                target.append(_ITEM_STOP)
        if end is not None and pos != end:
            raise Unsure("sequence length mismatch")
        out.append(_SEQUENCE_STOP)
        return pos


def _file_meta_end(buf: _Buffer, start: int) -> tuple[int, str]:
    """Where the file meta group ends and the transfer syntax it names."""
    pos = start + 132
    syntax = None
    while True:
        buf.ensure(pos + 12)
        group, element, vr, length = _TAG_VR_LEN.unpack_from(buf.data, pos)
        if group != 0x0002:
            break
        head = 8
        if vr in _LONG_VRS:
            length = _U32.unpack_from(buf.data, pos + 8)[0]
            head = 12
        elif vr not in _SHORT_VRS:
            raise Unsure("odd file meta")
        if element == 0x0010:
            buf.ensure(pos + head + length)
            syntax = bytes(buf.data[pos + head : pos + head + length]).rstrip(b"\0 ").decode()
        pos += head + length
    if syntax is None:
        raise Unsure("no transfer syntax")
    return pos, syntax


def skim(fp: IO[bytes], start: int = 0) -> tuple[bytes, int]:
    """Thinned bytes of the file at *start*, up to and including the stop element's header.

    Returns the bytes (preamble and file meta as they are, then the thinned dataset, then the
    header of the first element at or after (5200,0000)) and the offset of that element in the
    file. Raises :class:`Unsure` when the file is not one it can thin.
    """
    buf = _Buffer(fp, start)
    meta_end, syntax = _file_meta_end(buf, 0)
    if syntax not in (_IMPLICIT, _EXPLICIT) and not syntax.startswith(_ENCAPSULATED):
        raise Unsure(f"transfer syntax {syntax}")  # big endian, deflate, private
    walker = _Walker(buf, implicit=syntax == _IMPLICIT)
    out: list = [buf.data[:meta_end]]
    stop = walker.dataset(meta_end, None, out, top=True)
    _, _, _, head = walker.header(stop)
    out.append(buf.data[stop : stop + head])
    return b"".join(out), start + stop


def transfer_syntax(fp: IO[bytes], start: int = 0) -> str:
    """The transfer syntax named in the file meta of the file at *start* (:class:`Unsure` when
    the file meta cannot be walked)."""
    return _file_meta_end(_Buffer(fp, start), 0)[1]


class TooLarge(Exception):
    """A deflated header inflates past the limit."""


class Cut(Exception):
    """A deflated stream ends (the bytes run out) before the header does."""


class _Inflater:
    """A read-only stream of the inflated bytes of a raw-deflate stream, inflated on demand.

    *head* holds compressed bytes already read from *fp*; more are read as needed. Reading past
    *limit* inflated bytes raises :class:`TooLarge`; the end of the compressed bytes before the
    end of the deflate stream raises :class:`Cut`.
    """

    def __init__(self, head: bytes, fp: IO[bytes], limit: int) -> None:
        self.pending = bytes(head)
        self.fp = fp
        self.limit = limit
        self.done = 0
        self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)

    def seek(self, _: int) -> None:  # _Buffer starts at 0, where it is already
        pass

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n and not self.inflate.eof:
            if self.done + len(out) >= self.limit:
                raise TooLarge
            if not self.pending and not self.inflate.unconsumed_tail:
                self.pending = self.fp.read(1 << 16)
                if not self.pending:
                    raise Cut
            source = self.inflate.unconsumed_tail or self.pending
            if source is self.pending:
                self.pending = b""
            want = min(n - len(out), self.limit - self.done - len(out) + 1)
            out += self.inflate.decompress(source, want)
        self.done += len(out)
        return bytes(out)


def deflated_header(
    fp: IO[bytes], start: int = 0, *, thin: bool = True, limit: int = INFLATE_LIMIT
) -> bytes:
    """A Deflated Explicit VR Little Endian file's header, as a small file of its own.

    Returns the preamble and file meta as they are, followed by the (thinned, unless not *thin*)
    header up to and including the header of the first top-level element at or after
    (5200,0000), deflated again: what ``pydicom.filereader.read_partial`` reads in a moment.
    Only that much is inflated. Raises :class:`TooLarge` past *limit* inflated bytes,
    :class:`Cut` when the file ends first, ``zlib.error`` for a corrupt stream. A header the
    walker does not understand is returned whole, as far as *limit* (pydicom stops at the
    pixel data).
    """
    raw = _Buffer(fp, start)
    meta_end, syntax = _file_meta_end(raw, 0)
    if syntax != DEFLATED:
        raise Unsure(f"transfer syntax {syntax}")
    buf = _Buffer(_Inflater(raw.data[meta_end:], fp, limit), 0)  # type: ignore[arg-type]
    walker = _Walker(buf, implicit=False, thin=THIN_TAGS if thin else frozenset())
    out: list = []
    try:
        stop = walker.dataset(0, None, out, top=True)
        _, _, _, head = walker.header(stop)
        out.append(buf.data[stop : stop + head])
    except Unsure as exc:
        if str(exc) != "ran out of bytes":  # not walkable: pydicom finds the end, in *limit*
            with suppress(TooLarge, Unsure):
                buf.ensure(limit)
        out = [buf.data[:limit]]  # all of it, or as far as the limit
    return bytes(raw.data[:meta_end]) + zlib.compress(b"".join(out), 1, -zlib.MAX_WBITS)
