"""One SEG instance opened for reading its masks: header, segments, frame table and bytes.

:meth:`SegFile.open` reads a local file (memory-mapped: frames are read from the page cache, not
copied); :meth:`SegFile.open_object` reads an object of a bucket through
:class:`~idcseg.remote.ranges.ObjectBytes`: a growing prefix until the header and the frame
descriptions are complete, then only the byte ranges of the frames asked for
(:meth:`SegFile.prefetch`). Deflated files are inflated whole (their frames have no byte ranges).

:meth:`SegFile.frame` decodes one frame as stored: 0/1 for BINARY, 0…MaximumFractionalValue for
FRACTIONAL, segment numbers for label maps (``…66.7``).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import segheader
from .frames import (
    DEFLATED,
    FrameTable,
    NeedMore,
    PixelFormat,
    decode_encapsulated,
    decode_native,
    file_meta,
    inflate,
    scan,
)
from .segheader import SegReadError

BINARY, FRACTIONAL, LABELMAP = "BINARY", "FRACTIONAL", "LABELMAP"
GROW = 64 * 1024  # a bucket object's prefix grows by at least this much per request


@dataclass
class Segment:
    """One segment of a SEG: its header row (codes as in IDC's ``segmentations`` table), label,
    recommended display colour (sRGB) and the frames that hold it."""

    number: int
    label: str | None
    row: dict[str, Any]
    color: tuple[int, int, int] | None
    frames: np.ndarray = field(repr=False)

    def code(self, column: str) -> dict[str, Any] | None:
        """A code of the row: ``SegmentedPropertyType``, ``SegmentedPropertyCategory``,
        ``AnatomicRegion``..."""
        return self.row.get(column)

    @property
    def modifiers(self) -> list[dict[str, Any]]:
        """Type modifiers (laterality) and the anatomic region's modifier, if any."""
        kind = self.row.get("SegmentedPropertyType") or {}
        found = list(kind.get("SegmentedPropertyTypeModifierCodeSequence") or [])
        if self.row.get("AnatomicRegionModifier"):
            found.append(self.row["AnatomicRegionModifier"])
        return found


def code_text(code: dict[str, Any] | None) -> str | None:
    """``SCHEME:VALUE`` of a code dict, ``None`` when absent."""
    if not code or not code.get("CodeValue"):
        return None
    return f"{code.get('CodingSchemeDesignator')}:{code.get('CodeValue')}"


def cielab_to_rgb(value: Any) -> tuple[int, int, int] | None:
    """sRGB (0–255) of a RecommendedDisplayCIELabValue (DICOM's scaled L*a*b*), by highdicom."""
    try:
        from highdicom.color import CIELabColor

        rgb = CIELabColor.from_dicom_value([int(v) for v in value]).to_rgb(clip=True)
        return int(rgb[0]), int(rgb[1]), int(rgb[2])
    except Exception:
        return None


class SegFile:
    """A SEG instance, ready to decode frames. Use :meth:`open` or :meth:`open_object`.

    Attributes:
        location: the file path or ``s3://bucket/key``.
        size: bytes of the file.
        header: the header as a pydicom Dataset (everything before the functional groups).
        format: :class:`~idcseg.dicom.frames.PixelFormat` of the frames.
        table: :class:`~idcseg.dicom.frames.FrameTable`: per-frame positions, segments, bytes.
        kind: ``BINARY``, ``FRACTIONAL`` or ``LABELMAP``.
        segments: number → :class:`Segment` (a label map's Background excluded).
    """

    def __init__(
        self,
        location: str,
        size: int,
        header: Any,
        table: FrameTable,
        data: Any,
        remote: Any = None,
    ) -> None:
        self.location = location
        self.size = size
        self.header = header
        self.format = table.format
        self.table = table
        self._data = data
        self._remote = remote
        self._cache: dict[int, np.ndarray] = {}
        sop = str(header.SOPClassUID)
        if sop == segheader.LABELMAP_SEGMENTATION_STORAGE:
            self.kind = LABELMAP
        else:
            kind = str(header.get("SegmentationType") or BINARY).upper()
            self.kind = FRACTIONAL if kind == FRACTIONAL else BINARY
        self.max_fraction = int(header.get("MaximumFractionalValue") or 255)
        self.segments, self.background = self._segments()

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SegFile:
        """Open a local SEG file (raises the :class:`~idcseg.dicom.segheader.SegReadError`
        family, ``OSError`` when it cannot be read)."""
        path = Path(path)
        with segheader.quiet():
            header = segheader.read_header(path)
        fmt = PixelFormat.from_header(header)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            data: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        start, syntax = file_meta(data, size)
        if syntax == DEFLATED:
            data = inflate(data, start)
            size = len(data)
        table = scan(data, fmt, size=size)
        return cls(str(path), os.path.getsize(path), header, table, data)

    @classmethod
    def open_object(cls, remote: Any) -> SegFile:
        """Open a SEG in a bucket from a :class:`~idcseg.remote.ranges.ObjectBytes`: reads a
        prefix, doubled until the header and frame descriptions are complete."""
        need = 0
        header = None
        while True:
            prefix = remote.grow_prefix(need)
            complete = len(prefix) >= remote.size
            if header is None:
                try:
                    with segheader.quiet():
                        header = segheader.read_header_prefix(prefix, complete=complete)
                except segheader.IncompleteHeader:
                    need = 2 * len(prefix)
                    continue
            fmt = PixelFormat.from_header(header)
            start, syntax = file_meta(prefix, remote.size)
            if syntax == DEFLATED:
                if not complete:
                    need = remote.size  # deflated: no byte ranges, read it all
                    continue
                data = inflate(prefix, start)
                table = scan(data, fmt, size=len(data))
                return cls(remote.location, remote.size, header, table, data)
            try:
                table = scan(prefix, fmt, size=remote.size)
            except NeedMore as more:
                need = max(more.size, len(prefix) + GROW)
                continue
            return cls(remote.location, remote.size, header, table, None, remote=remote)

    def close(self) -> None:
        """Release the memory map (local files)."""
        if isinstance(self._data, mmap.mmap):
            self._data.close()
        self._data = None
        self._cache.clear()

    def __enter__(self) -> SegFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what it holds -------------------------------------------------------------------------

    def _segments(self) -> tuple[dict[int, Segment], int | None]:
        with segheader.quiet():
            rows = segheader.segment_rows(self.header)
        labs: dict[int, Any] = {}
        for item in self.header.get("SegmentSequence") or []:
            value = item.get("RecommendedDisplayCIELabValue")
            if value is not None and item.get("SegmentNumber") is not None:
                labs[int(item.SegmentNumber)] = value
        everything = np.arange(self.table.count)
        segments: dict[int, Segment] = {}
        background = None
        for row in rows:
            number = int(row["SegmentNumber"])
            if self.kind == LABELMAP and segheader.is_background(row):
                background = number
                continue
            frames = (
                everything
                if self.kind == LABELMAP
                else np.flatnonzero(self.table.segments == number)
            )
            color = cielab_to_rgb(labs[number]) if number in labs else None
            segments[number] = Segment(number, row.get("SegmentLabel"), row, color, frames)
        return segments, background

    @property
    def series_uid(self) -> str:
        """SeriesInstanceUID of the SEG."""
        return str(self.header.SeriesInstanceUID)

    @property
    def sop_uid(self) -> str:
        """SOPInstanceUID of the SEG."""
        return str(self.header.SOPInstanceUID)

    @property
    def frame_of_reference(self) -> str | None:
        """FrameOfReferenceUID of the SEG (``None`` when absent)."""
        value = self.header.get("FrameOfReferenceUID")
        return str(value) if value else None

    @property
    def referenced_series(self) -> str | None:
        """SeriesInstanceUID of the segmented series (ReferencedSeriesSequence), if given."""
        return segheader.referenced_series(self.header)

    @property
    def remote(self) -> Any:
        """The :class:`~idcseg.remote.ranges.ObjectBytes` of a bucket object, else ``None``."""
        return self._remote

    # --- frames --------------------------------------------------------------------------------

    def prefetch(self, frames: np.ndarray | list[int]) -> None:
        """Read the bytes of *frames* now (one batch of ranged requests for a bucket object)."""
        if self._remote is None or len(frames) == 0:
            return
        self._remote.fetch([self.table.frame_range(int(i)) for i in frames])

    def release(self, frames: np.ndarray | list[int]) -> None:
        """Drop the memory-mapped pages of *frames* from this process (a local file: they stay
        in the OS's cache and come back on the next read), so decoding segment after segment
        holds about one segment's frames, not the whole file."""
        if not isinstance(self._data, mmap.mmap) or len(frames) == 0:
            return
        from .frames import merge_ranges

        page = mmap.PAGESIZE
        size = len(self._data)
        for start, stop in merge_ranges([self.table.frame_range(int(i)) for i in frames]):
            first = start - start % page
            if stop > first:
                self._data.madvise(mmap.MADV_DONTNEED, first, min(stop, size) - first)

    def _bytes(self, start: int, stop: int) -> Any:
        if self._remote is not None:
            return self._remote.view(start, stop)
        return memoryview(self._data)[start:stop]

    def frame(self, i: int) -> np.ndarray:
        """Frame *i* as stored, ``(rows, columns)``: uint8 (BINARY 0/1, FRACTIONAL 0…max,
        8-bit label maps) or uint16 (16-bit label maps). Read-only for native frames."""
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        start, stop = self.table.frame_range(i)
        raw = self._bytes(start, stop)
        if self.table.starts is None:
            return decode_native(raw, self.format, self.table.bit_offset(i))[0]
        frame = decode_encapsulated(raw, self.format, i)
        if self.format.bits_allocated == 1 or self.kind == BINARY:
            frame = (frame != 0).astype(np.uint8)
        self._cache[i] = frame  # compressed frames are decoded once
        return frame

    def describe(self) -> str:
        """A short name for messages: the file name or the object's URL."""
        return self.location


def open_path(path: str | os.PathLike[str]) -> SegFile:
    """:meth:`SegFile.open`, with the file named in every error's message."""
    try:
        return SegFile.open(path)
    except OSError as exc:
        raise SegReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except SegReadError as exc:
        exc.args = (f"{path}: {exc.reason}",)
        raise
