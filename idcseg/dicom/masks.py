"""Masks from DICOM SEGs: segments decoded frame by frame onto a regular grid, written one at a
time, measured without building volumes.

The pieces, in the order a run uses them:

- :func:`place` — the grid the masks are put on, and the slice each frame lands in: by default
  the stack the SEG's own frames span (first to last position along the normal, gaps filled
  with zeros, as dcmqi does); with a reference series, exactly that series' grid. Frames that
  are not parallel, not equidistant, off the reference grid or in another frame of reference are
  refused (:class:`~idcseg.dicom.geometry.GeometryError`): nothing is resampled.
- :func:`select` — which segments: numbers, and/or the segment filters of ``find``.
- :func:`planes` — one segment's non-empty slices on that grid, as the files want them: uint8
  0/1 for binary segments and label-map segments, float32 fractions (or uint8 with a
  threshold) for FRACTIONAL SEGs. Frames missing in the SEG are simply zero slices.
- :func:`merged_planes` — a label map of several segments (value = segment number) with an
  explicit overlap policy; a label-map SEG is its own label map.
- :func:`measure` — per-segment statistics from the frames (voxels, volume, bounding box,
  centroid, slices).
- :func:`export` — files (:mod:`idcseg.dicom.maskio`) and the JSON sidecar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IdcsegError, UsageError
from . import maskio
from .geometry import GeometryError, Grid, orientation_name, same_orientation
from .segfile import FRACTIONAL, LABELMAP, SegFile, code_text
from .sidecar import SIDECAR

OVERLAP_POLICIES = ("error", "first", "last")


class OverlapError(IdcsegError):
    """Segments to merge overlap and the policy is ``error``."""


# --- where frames go --------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """The output grid and where each frame of the SEG lands in it.

    ``slices[i]`` is the slice of frame *i*; the frame's first pixel is at (``row``,
    ``column``) of that slice (0, 0 unless a reference image is larger than the frames).
    ``reference`` is the reference :class:`~idcseg.dicom.reference.ImageSeries`, if any.
    """

    grid: Grid
    slices: np.ndarray
    row: int = 0
    column: int = 0
    reference: Any = None


def _frame_orientation(seg: SegFile) -> tuple[float, ...]:
    table = seg.table
    if table.slide:
        raise GeometryError(
            f"{seg.describe()}: a slide-microscopy SEG (frames are tiles of a slide, not slices "
            "of a volume in patient space)"
        )
    orientation = table.orientation
    if table.orientations is not None:
        given = table.orientations[~np.isnan(table.orientations).any(axis=1)]
        if len(given):
            for other in given[1:]:
                if not same_orientation(given[0], other):
                    raise GeometryError(
                        f"{seg.describe()}: frames are not parallel (plane orientations "
                        f"{orientation_name(given[0])} and {orientation_name(other)})"
                    )
            orientation = tuple(float(v) for v in given[0])
    if orientation is None:
        raise GeometryError(
            f"{seg.describe()}: frames have no plane orientation (ImageOrientationPatient): "
            "not slices of a volume"
        )
    return orientation


def place(seg: SegFile, reference: Any = None) -> Placement:
    """The :class:`Placement` of *seg*'s frames: its own stack, or *reference*'s grid (an
    :class:`~idcseg.dicom.reference.ImageSeries`)."""
    table = seg.table
    orientation = _frame_orientation(seg)
    if table.pixel_spacing is None:
        raise GeometryError(f"{seg.describe()}: frames have no PixelSpacing")
    spacings = {tuple(round(v, 6) for v in s[:2]) for s in table.frame_spacings}
    if len(spacings) > 1:
        raise GeometryError(f"{seg.describe()}: frames have different pixel spacings")
    positions = table.positions
    if table.count and np.isnan(positions).any():
        missing = int(np.isnan(positions).any(axis=1).sum())
        raise GeometryError(
            f"{seg.describe()}: {missing} of {table.count} frames have no ImagePositionPatient"
        )
    fmt = seg.format
    if reference is None:
        grid, slices = Grid.from_planes(
            orientation,
            table.pixel_spacing,
            positions,
            fmt.rows,
            fmt.columns,
            spacing_hint=table.spacing_between,
            single_spacing=table.spacing_between or table.slice_thickness,
            what=f"{seg.describe()}: frames",
        )
        return Placement(grid, slices)
    ours, theirs = seg.frame_of_reference, reference.frame_of_reference
    if ours and theirs and ours != theirs:
        raise GeometryError(
            f"{seg.describe()} is in frame of reference {ours}, the reference series "
            f"{reference.series_uid} in {theirs}: they do not share coordinates"
        )
    slices, row, column = reference.grid.locate(
        orientation,
        table.pixel_spacing,
        positions,
        fmt.rows,
        fmt.columns,
        what=f"frames of {seg.describe()}",
        of=f"reference series {reference.series_uid}",
    )
    return Placement(reference.grid, slices, row, column, reference)


# --- which segments ---------------------------------------------------------------------------


def select(
    seg: SegFile, numbers: Sequence[int] | None = None, segment_filter: Any = None
) -> list[int]:
    """Segment numbers of *seg* to use: *numbers* (all when ``None``) that pass
    *segment_filter* (a :class:`~idcseg.query.spec.SegmentFilter`), in increasing order.

    An unknown number is a :class:`~idcseg.errors.UsageError` naming the numbers there are.
    """
    available = sorted(seg.segments)
    if numbers:
        wanted = sorted(set(int(n) for n in numbers))
        unknown = [n for n in wanted if n not in seg.segments]
        if unknown:
            if seg.background is not None and unknown == [seg.background]:
                raise UsageError(
                    f"segment {seg.background} of {seg.describe()} is the label map's "
                    "background, not a structure"
                )
            raise UsageError(
                f"no segment {', '.join(map(str, unknown))} in {seg.describe()} (it has "
                f"{_numbers(available)})"
            )
    else:
        wanted = available
    if segment_filter is not None and not segment_filter.is_empty():
        wanted = [n for n in wanted if segment_filter.matches(seg.segments[n].row)]
    return wanted


def _numbers(numbers: Sequence[int]) -> str:
    if not numbers:
        return "no segments"
    if list(numbers) == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 2:
        return f"segments {numbers[0]}–{numbers[-1]}"
    return "segment" + ("s " if len(numbers) > 1 else " ") + ", ".join(map(str, numbers))


# --- decoding ---------------------------------------------------------------------------------


def mask_dtype(seg: SegFile, threshold: float | None = None) -> np.dtype:
    """The voxel type of one segment's mask: float32 for FRACTIONAL without a threshold,
    else uint8."""
    if seg.kind == FRACTIONAL and threshold is None:
        return np.dtype(np.float32)
    return np.dtype(np.uint8)


def check_threshold(threshold: float | None) -> float | None:
    """A threshold is a number in (0, 1]."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not 0 < float(threshold) <= 1:
        raise UsageError(f"--threshold must be a fraction in (0, 1], not {threshold!r}")
    return float(threshold)


def _values(seg: SegFile, raw: np.ndarray, number: int, threshold: float | None) -> np.ndarray:
    """One frame as the segment's mask values."""
    if seg.kind == LABELMAP:
        return (raw == number).view(np.uint8)
    if seg.kind == FRACTIONAL:
        if threshold is None:
            return raw.astype(np.float32) / np.float32(seg.max_fraction)
        # raw / max >= threshold, without rounding trouble
        return (raw.astype(np.float64) >= threshold * seg.max_fraction - 1e-9).view(np.uint8)
    if seg.format.bits_allocated != 1:  # a BINARY SEG stored with 8 bits (not the standard's)
        return (raw != 0).view(np.uint8)
    return raw


def prefetch(seg: SegFile, numbers: Sequence[int]) -> None:
    """Read the frames of all *numbers* in one batch (a bucket object: concurrent ranged GETs
    instead of one batch per segment; a local file: nothing to do)."""
    if seg.remote is None or not numbers:
        return
    frames = np.unique(np.concatenate([seg.segments[n].frames for n in numbers]))
    seg.prefetch(frames)


def _by_slice(placement: Placement, frames: np.ndarray) -> list[tuple[int, list[int]]]:
    groups: dict[int, list[int]] = {}
    for i in frames:
        groups.setdefault(int(placement.slices[i]), []).append(int(i))
    return sorted(groups.items())


def _embed(placement: Placement, plane: np.ndarray) -> np.ndarray:
    """A frame inside the grid's slice (reference images larger than the frames)."""
    rows, columns = placement.grid.shape[1:]
    if plane.shape == (rows, columns):
        return plane
    out = np.zeros((rows, columns), dtype=plane.dtype)
    r, c = placement.row, placement.column
    out[r : r + plane.shape[0], c : c + plane.shape[1]] = plane
    return out


def planes(
    seg: SegFile, placement: Placement, number: int, threshold: float | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Segment *number*'s slices that have frames, ``(slice index, 2-D mask)`` in slice order.

    Two frames of one segment at one position (a malformed but real case) are combined by
    their maximum.
    """
    frames = seg.segments[number].frames
    seg.prefetch(frames)
    for k, group in _by_slice(placement, frames):
        plane = _values(seg, seg.frame(group[0]), number, threshold)
        for i in group[1:]:
            plane = np.maximum(plane, _values(seg, seg.frame(i), number, threshold))
        yield k, _embed(placement, plane)
    seg.release(frames)


def merged_dtype(numbers: Sequence[int]) -> np.dtype:
    """uint8 for segment numbers up to 255, else uint16."""
    return np.dtype(np.uint8 if max(numbers, default=0) <= 255 else np.uint16)


def merged_planes(
    seg: SegFile,
    placement: Placement,
    numbers: Sequence[int],
    overlap: str = "error",
    threshold: float | None = None,
    counts: dict[int, int] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """A label map of *numbers* (voxel value = segment number), slice by slice.

    *overlap*: ``error`` (raise :class:`OverlapError` naming the overlapping segments, after
    looking at every slice), ``first`` (a voxel keeps the lowest segment number claiming it) or
    ``last`` (the highest). A label-map SEG is its own label map (no overlap possible). Voxels
    each segment ends up with are added to *counts*.
    """
    if overlap not in OVERLAP_POLICIES:
        raise UsageError(f"unknown --overlap {overlap!r} (choose from error, first, last)")
    if seg.kind == FRACTIONAL and threshold is None:
        raise UsageError("--merge of a FRACTIONAL SEG needs --threshold T (a label map is binary)")
    dtype = merged_dtype(numbers)
    counts = counts if counts is not None else {}
    prefetch(seg, numbers)
    if seg.kind == LABELMAP:
        wanted = np.array(sorted(numbers))
        frames = np.arange(seg.table.count)
        seg.prefetch(frames)
        for k, group in _by_slice(placement, frames):
            raw = seg.frame(group[0])
            plane = np.where(np.isin(raw, wanted), raw, 0).astype(dtype)
            values, found = np.unique(plane[plane > 0], return_counts=True)
            for value, n in zip(values.tolist(), found.tolist(), strict=True):
                counts[value] = counts.get(value, 0) + n
            yield k, _embed(placement, plane)
        return
    todo: dict[int, list[tuple[int, list[int]]]] = {}
    for number in numbers:
        frames = seg.segments[number].frames
        seg.prefetch(frames)
        for k, group in _by_slice(placement, frames):
            todo.setdefault(k, []).append((number, group))
    overlaps: dict[tuple[int, int], int] = {}
    order = sorted(numbers, reverse=overlap == "first")  # the winner is written last
    rank = {n: i for i, n in enumerate(order)}
    for k in sorted(todo):
        plane: np.ndarray | None = None
        for number, group in sorted(todo[k], key=lambda item: rank[item[0]]):
            mask = _values(seg, seg.frame(group[0]), number, threshold).astype(bool)
            for i in group[1:]:
                mask |= _values(seg, seg.frame(i), number, threshold).astype(bool)
            if plane is None:
                plane = np.zeros(mask.shape, dtype=dtype)
            taken = plane[mask]
            if taken.any():
                others, found = np.unique(taken[taken > 0], return_counts=True)
                for other, n in zip(others.tolist(), found.tolist(), strict=True):
                    pair = (min(number, other), max(number, other))
                    overlaps[pair] = overlaps.get(pair, 0) + n
                    counts[other] -= n
            plane[mask] = number
            counts[number] = counts.get(number, 0) + int(mask.sum())
        if overlaps and overlap == "error":
            continue  # keep looking, to name every overlap; nothing is written
        assert plane is not None
        yield k, _embed(placement, plane)
    if overlaps and overlap == "error":
        pairs = sorted(overlaps.items(), key=lambda item: -item[1])
        named = ", ".join(f"{a} and {b} ({n} voxels)" for (a, b), n in pairs[:6])
        more = f" and {len(pairs) - 6} more pairs" if len(pairs) > 6 else ""
        raise OverlapError(
            f"{seg.describe()}: segments overlap: {named}{more}; choose --overlap first or "
            "last, or write the segments without --merge"
        )


# --- statistics -------------------------------------------------------------------------------

STAT_COLUMNS = (
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SegmentNumber",
    "SegmentLabel",
    "structure",
    "structure_code",
    "voxel_count",
    "volume_ml",
    "slice_first",
    "slice_last",
    "slice_count",
    "row_first",
    "row_last",
    "column_first",
    "column_last",
    "bbox_x_min_mm",
    "bbox_y_min_mm",
    "bbox_z_min_mm",
    "bbox_x_max_mm",
    "bbox_y_max_mm",
    "bbox_z_max_mm",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
)

#: Fractional segments are counted where the fraction reaches this, unless told otherwise.
STATS_THRESHOLD = 0.5


def measure(
    seg: SegFile, placement: Placement, numbers: Sequence[int], threshold: float | None = None
) -> list[dict[str, Any]]:
    """One row of :data:`STAT_COLUMNS` per segment, computed from its frames.

    Voxel and slice indices are those of the placement's grid; mm values are LPS patient
    coordinates of voxel centres (the bounding box is that of the voxel-index box's corners).
    FRACTIONAL segments count voxels whose fraction is at least *threshold* (default
    :data:`STATS_THRESHOLD`).
    """
    if seg.kind == FRACTIONAL and threshold is None:
        threshold = STATS_THRESHOLD
    grid = placement.grid
    prefetch(seg, numbers)
    rows = []
    for number in numbers:
        count, sums = 0, np.zeros(3)
        low = np.array([np.inf] * 3)
        high = np.array([-np.inf] * 3)
        slices = 0
        for k, plane in planes(seg, placement, number, threshold):
            mask = plane.astype(bool, copy=False)
            n = int(np.count_nonzero(mask))
            if not n:
                continue
            slices += 1
            r_any, c_any = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            r_idx, c_idx = np.nonzero(mask)
            count += n
            sums += (k * n, float(r_idx.sum()), float(c_idx.sum()))
            low = np.minimum(low, (k, r_any[0], c_any[0]))
            high = np.maximum(high, (k, r_any[-1], c_any[-1]))
        segment = seg.segments[number]
        kind = segment.row.get("SegmentedPropertyType")
        row: dict[str, Any] = dict.fromkeys(STAT_COLUMNS)
        row.update(
            SeriesInstanceUID=seg.series_uid,
            SOPInstanceUID=seg.sop_uid,
            SegmentNumber=number,
            SegmentLabel=segment.label,
            structure=(kind or {}).get("CodeMeaning"),
            structure_code=code_text(kind),
            voxel_count=count,
            volume_ml=round(count * grid.voxel_volume / 1000.0, 6),
            slice_count=slices,
        )
        if count:
            corners = np.array(
                [[a, b, c] for a in (low[0], high[0]) for b in (low[1], high[1])
                 for c in (low[2], high[2])]
            )  # fmt: skip
            world = grid.to_world(corners)
            centroid = grid.to_world(sums / count)
            row.update(
                slice_first=int(low[0]),
                slice_last=int(high[0]),
                row_first=int(low[1]),
                row_last=int(high[1]),
                column_first=int(low[2]),
                column_last=int(high[2]),
            )
            for axis, name in enumerate("xyz"):
                row[f"bbox_{name}_min_mm"] = round(float(world[:, axis].min()), 4)
                row[f"bbox_{name}_max_mm"] = round(float(world[:, axis].max()), 4)
                row[f"centroid_{name}_mm"] = round(float(centroid[axis]), 4)
        rows.append(row)
    return rows


# --- files ------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(number: int, label: str | None, width: int = 2) -> str:
    """A file name a person can read: ``03_Kidney_right`` (segment number, then the label with
    anything but letters, digits, ``.``, ``_`` and ``-`` turned into ``_``)."""
    text = _UNSAFE.sub("_", label or "").strip("._-")[:60]
    return f"{number:0{width}d}_{text}" if text else f"{number:0{width}d}"


@dataclass
class Written:
    """One file written: which segment (``None`` for a merged label map), where, voxels."""

    number: int | None
    path: Path
    voxel_count: int


def _counted(
    items: Iterator[tuple[int, np.ndarray]], tally: list[int]
) -> Iterator[tuple[int, np.ndarray]]:
    for k, plane in items:
        tally[0] += int(np.count_nonzero(plane))
        yield k, plane


def export(
    seg: SegFile,
    placement: Placement,
    numbers: Sequence[int],
    folder: Path,
    *,
    fmt: str = "nifti",
    merge: bool = False,
    overlap: str = "error",
    threshold: float | None = None,
    done: Callable[[Written], None] | None = None,
) -> list[Written]:
    """Write each segment of *numbers* (or one label map of them, with *merge*) into *folder*,
    then the JSON sidecar; return what was written. *done* is called after each file."""
    grid = placement.grid
    suffix = maskio.suffix(fmt)
    written: list[Written] = []
    prefetch(seg, numbers)
    if merge:
        counts: dict[int, int] = {}
        path = folder / f"labelmap{suffix}"
        maskio.write_mask(
            path,
            grid,
            merged_planes(seg, placement, numbers, overlap, threshold, counts),
            fmt=fmt,
            dtype=merged_dtype(numbers),
            description=f"idcseg label map of SEG {seg.series_uid}",
        )
        item = Written(None, path, sum(counts.values()))
        written.append(item)
        if done:
            done(item)
        write_sidecar(seg, placement, numbers, folder, fmt, written, threshold, counts=counts)
        return written
    width = max(2, len(str(max(numbers, default=0))))
    dtype = mask_dtype(seg, threshold)
    for number in numbers:
        segment = seg.segments[number]
        path = folder / (file_stem(number, segment.label, width) + suffix)
        tally = [0]
        maskio.write_mask(
            path,
            grid,
            _counted(planes(seg, placement, number, threshold), tally),
            fmt=fmt,
            dtype=dtype,
            description=f"idcseg segment {number} {segment.label or ''}".strip(),
        )
        item = Written(number, path, tally[0])
        written.append(item)
        if done:
            done(item)
    write_sidecar(seg, placement, numbers, folder, fmt, written, threshold)
    return written


def _code_json(code: dict[str, Any] | None) -> dict[str, Any] | None:
    if not code or not code.get("CodeValue"):
        return None
    return {"code": code_text(code), "meaning": code.get("CodeMeaning")}


def _first(kind: dict[str, Any] | None) -> dict[str, Any] | None:
    """The structure's (first) type modifier, e.g. laterality."""
    found = (kind or {}).get("SegmentedPropertyTypeModifierCodeSequence") or []
    return found[0] if found else None


def segment_json(seg: SegFile, number: int) -> dict[str, Any]:
    """A segment's description for the sidecar: number, label, codes, algorithm, colour."""
    segment = seg.segments[number]
    row = segment.row
    return {
        "SegmentNumber": number,
        "SegmentLabel": segment.label,
        "SegmentDescription": row.get("SegmentDescription"),
        "category": _code_json(row.get("SegmentedPropertyCategory")),
        "structure": _code_json(row.get("SegmentedPropertyType")),
        "anatomy": _code_json(row.get("AnatomicRegion")),
        "modifiers": [_code_json(c) for c in segment.modifiers],
        "structure_modifier": _code_json(_first(row.get("SegmentedPropertyType"))),
        "anatomy_modifier": _code_json(row.get("AnatomicRegionModifier")),
        "SegmentAlgorithmType": row.get("SegmentAlgorithmType"),
        "SegmentAlgorithmName": row.get("SegmentAlgorithmName"),
        "TrackingID": row.get("TrackingID"),
        "TrackingUID": row.get("TrackingUID"),
        "recommended_display_rgb": list(segment.color) if segment.color else None,
    }


def write_sidecar(
    seg: SegFile,
    placement: Placement,
    numbers: Sequence[int],
    folder: Path,
    fmt: str,
    written: list[Written],
    threshold: float | None,
    counts: dict[int, int] | None = None,
) -> Path:
    """``segments.json``: every segment written, with its file and voxel count, the SEG's
    identity and the geometry (atomically)."""
    by_number = {w.number: w for w in written}
    merged = by_number.get(None)
    segments = []
    for number in numbers:
        entry = segment_json(seg, number)
        if merged is not None:
            entry.update(file=merged.path.name, label_value=number,
                         voxel_count=(counts or {}).get(number, 0))  # fmt: skip
        else:
            entry.update(
                file=by_number[number].path.name, voxel_count=by_number[number].voxel_count
            )
        segments.append(entry)
    reference = placement.reference
    document = {
        "source": seg.location,
        "SeriesInstanceUID": seg.series_uid,
        "SOPInstanceUID": seg.sop_uid,
        "StudyInstanceUID": _text(seg.header.get("StudyInstanceUID")),
        "PatientID": _text(seg.header.get("PatientID")),
        "FrameOfReferenceUID": seg.frame_of_reference,
        "SegmentationType": seg.kind,
        "segmented_SeriesInstanceUID": seg.referenced_series,
        "format": fmt,
        "merged": merged is not None,
        "threshold": threshold,
        "voxel_values": _voxel_values(seg, merged is not None, threshold),
        "geometry": {
            **placement.grid.as_dict(),
            "grid_of": "reference series" if reference is not None else "SEG frames",
            "reference_SeriesInstanceUID": reference.series_uid if reference else None,
            "file_axes": "column, row, slice" if fmt != "npz" else "slice, row, column",
        },
        "segments": segments,
    }
    path = folder / SIDECAR
    with maskio.atomic(path) as fh:
        fh.write(json.dumps(document, indent=2).encode())
    return path


def _voxel_values(seg: SegFile, merged: bool, threshold: float | None) -> str:
    if merged:
        return "segment number (0 outside every segment)"
    if seg.kind == FRACTIONAL and threshold is None:
        return f"fraction 0–1 (stored value / {seg.max_fraction}), float32"
    return "1 inside the segment, 0 outside"


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


# --- a picture --------------------------------------------------------------------------------


def busiest_slice(
    seg: SegFile, placement: Placement, numbers: Sequence[int], threshold: float | None = None
) -> int:
    """The slice holding the most voxels of the segments *numbers* (the middle slice of the
    grid when they are empty)."""
    totals: dict[int, float] = {}
    prefetch(seg, numbers)
    for number in numbers:
        for k, plane in planes(seg, placement, number, threshold):
            totals[k] = totals.get(k, 0.0) + float(np.count_nonzero(plane))
    if not totals or max(totals.values()) == 0:
        return placement.grid.shape[0] // 2
    return max(sorted(totals), key=lambda k: totals[k])


def preview(
    seg: SegFile,
    placement: Placement,
    numbers: Sequence[int],
    *,
    threshold: float | None = None,
    slice_index: int | None = None,
) -> Any:
    """A matplotlib Figure: the segments *numbers* on one slice (by default the busiest), over
    the reference image when the placement has one. See :mod:`idcseg.present.overlay`."""
    from ..present.overlay import overlay_figure

    grid = placement.grid
    k = busiest_slice(seg, placement, numbers, threshold) if slice_index is None else slice_index
    if not 0 <= k < grid.shape[0]:
        raise UsageError(f"slice {k} is outside the grid's {grid.shape[0]} slices")
    layers = []
    for number in numbers:
        plane = dict(planes(seg, placement, number, threshold)).get(k)
        if plane is None:
            plane = np.zeros(grid.shape[1:], dtype=np.uint8)
        segment = seg.segments[number]
        layers.append((f"{number} {segment.label or ''}".strip(), segment.color, plane))
    image = placement.reference.image(k) if placement.reference is not None else None
    position = ", ".join(f"{v:.1f}" for v in grid.slice_position(k))
    title = f"SEG {seg.series_uid}\nslice {k} of {grid.shape[0]} (position {position} mm LPS)" + (
        "" if image is not None else "; no reference image"
    )
    return overlay_figure(image, layers, spacing=grid.pixel_spacing, title=title)
