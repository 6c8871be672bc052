"""Geometry of DICOM image planes and of the volumes they stack into.

Everything here is in DICOM's patient coordinate system: LPS (x to the patient's left, y to the
posterior, z to the head), millimetres. The conventions, shared by ``idcseg masks`` (SEG →
volumes) and ``idcseg make-seg`` (volumes → SEG):

- A volume array is indexed ``[slice, row, column]``: frames stacked in C order, so one slice is
  one DICOM frame as pixel data stores it.
- Its **affine** is a 4×4 matrix taking ``(slice, row, column, 1)`` to LPS millimetres. Column 0
  is the *slice step* (the vector from one slice's position to the next), column 1 the column
  direction times the spacing between rows, column 2 the row direction times the spacing
  between columns, column 3 the position of voxel ``(0, 0, 0)``, i.e. ImagePositionPatient of
  slice 0. highdicom's :class:`~highdicom.Volume` uses the same index order and affine.
- DICOM's names: ImageOrientationPatient is (row direction, column direction); the *row
  direction* points along a row (increasing column index). PixelSpacing is (spacing between
  rows, spacing between columns). The plane *normal* is row direction × column direction.
- Slices are ordered by increasing position along the normal, as ITK and dcmqi order them. The
  slice step may be oblique to the normal (a tilted gantry): the affine keeps it as it is (a
  sheared affine), nothing is resampled.
- File formats see the same bytes with the axes reversed, ``(column, row, slice)``:
  :meth:`Grid.nifti_affine` (RAS, as NIfTI wants) and :meth:`Grid.nrrd_space` (LPS).

Stacks that are not regular are refused with :class:`GeometryError`, naming the problem (frames
not parallel, not on one line, not equidistant, off the reference grid...): a volume is never
resampled silently. Tolerances are a fraction (:data:`RTOL`) of the voxel size in question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import IdcsegError

#: Positions may deviate by this fraction of a voxel (DICOM stores them as ≤16-character text).
RTOL = 0.02
#: Direction cosines of two planes may differ by this much and still be "the same orientation".
COSINE_TOL = 1e-3
#: Two plane positions closer than this (mm) are the same position (several segments' frames).
SAME_POSITION_MM = 0.01
#: LPS → RAS: NIfTI's world is the same space with x and y negated.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class GeometryError(IdcsegError):
    """Planes that do not form the regular volume asked for; the message names the problem."""


def _mm(value: float) -> str:
    return f"{value:.3g} mm"


def plane_vectors(orientation: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row direction, column direction, normal) of an ImageOrientationPatient, as unit vectors.

    Raises :class:`GeometryError` unless the six values are two orthogonal unit vectors (within
    :data:`COSINE_TOL`); they are normalised.
    """
    values = np.asarray([float(v) for v in orientation], dtype=float)
    if values.shape != (6,) or not np.all(np.isfinite(values)):
        raise GeometryError(f"ImageOrientationPatient must be six numbers, not {orientation!r}")
    row, column = values[:3], values[3:]
    lengths = np.linalg.norm(row), np.linalg.norm(column)
    if abs(lengths[0] - 1) > COSINE_TOL * 10 or abs(lengths[1] - 1) > COSINE_TOL * 10:
        raise GeometryError(f"ImageOrientationPatient is not two unit vectors: {orientation!r}")
    row, column = row / lengths[0], column / lengths[1]
    if abs(row @ column) > COSINE_TOL * 10:
        raise GeometryError(f"ImageOrientationPatient is not orthogonal: {orientation!r}")
    normal = np.cross(row, column)
    return row, column, normal / np.linalg.norm(normal)


def same_orientation(a: Sequence[float], b: Sequence[float], tol: float = COSINE_TOL) -> bool:
    """True when two ImageOrientationPatient values describe the same plane directions."""
    return bool(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))) <= tol)


def orientation_name(orientation: Sequence[float]) -> str:
    """``axial``, ``coronal``, ``sagittal`` or ``oblique``: which axis the normal follows."""
    _, _, normal = plane_vectors(orientation)
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < 1 - COSINE_TOL:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


@dataclass(frozen=True)
class Stack:
    """Plane positions analysed as one regular stack of slices.

    ``origin`` is the position of slice 0, ``step`` the vector from a slice to the next, ``count``
    the number of slices from the first position to the last (gaps included), and ``index`` the
    slice number of each position given (same order).
    """

    origin: np.ndarray
    step: np.ndarray
    count: int
    index: np.ndarray


def stack_positions(
    positions: np.ndarray | Sequence[Sequence[float]],
    normal: np.ndarray,
    *,
    spacing_hint: float | None = None,
    single_spacing: float | None = None,
    allow_gaps: bool = True,
    what: str = "frames",
) -> Stack:
    """Analyse plane positions (ImagePositionPatient of each plane, repeats allowed) as a stack.

    Positions are ordered along *normal*; the slice distance is the smallest distance between
    two distinct positions along it, or a whole fraction of it when *spacing_hint* (e.g.
    SpacingBetweenSlices) says the planes present have gaps between them all. With a single
    position, the step is *single_spacing* (else *spacing_hint*, else 1 mm) along the normal.
    Every position must lie on one line (a tilted gantry's line is oblique to the normal; that
    is kept) at a whole number of steps from the first; with ``allow_gaps=False`` there may be
    no missing step (a reference series must be complete).

    Raises :class:`GeometryError` naming the problem; *what* names the planes in messages.
    """
    points = np.asarray(positions, dtype=float).reshape(-1, 3)
    if len(points) == 0:
        raise GeometryError(f"no {what} with a position")
    if not np.all(np.isfinite(points)):
        raise GeometryError(f"some {what} have no ImagePositionPatient")
    order = np.argsort(points @ normal, kind="stable")
    distinct = [order[0]]
    for i in order[1:]:
        if np.linalg.norm(points[i] - points[distinct[-1]]) > SAME_POSITION_MM:
            distinct.append(i)
    ends = points[distinct]
    if len(distinct) == 1:
        given = [v for v in (single_spacing, spacing_hint) if v and v > 0]
        spacing = float(given[0]) if given else 1.0
        step = normal * spacing
        return Stack(points[order[0]].copy(), step, 1, np.zeros(len(points), dtype=np.int64))
    gaps = np.diff(ends @ normal)
    if np.any(gaps <= 1e-3 * max(1.0, float(np.max(gaps)))):
        i = int(np.argmin(gaps))
        raise GeometryError(
            f"{what} at different positions share a plane (positions "
            f"{_point(ends[i])} and {_point(ends[i + 1])}): they are not one stack of slices"
        )
    spacing = float(np.min(gaps))
    if spacing_hint and 0 < spacing_hint < spacing * (1 - RTOL):
        multiple = spacing / spacing_hint  # only gaps between the frames: trust the header
        if abs(multiple - round(multiple)) <= RTOL * multiple:
            spacing /= round(multiple)
    multiples = gaps / spacing
    rounded = np.round(multiples)
    if np.any(np.abs(multiples - rounded) > RTOL * np.maximum(rounded, 1)):
        odd = sorted({round(float(g), 3) for g in gaps})[:4]
        raise GeometryError(
            f"{what} are not equidistant: distances between neighbouring planes of "
            f"{', '.join(_mm(g) for g in odd)} are not whole multiples of one spacing"
        )
    whole = np.concatenate([[0.0], np.cumsum(rounded)])
    along = ends @ normal - ends[0] @ normal
    spacing = float(along @ whole / (whole @ whole))  # refined over the whole stack
    drift = np.abs(along - whole * spacing)
    if np.max(drift) > RTOL * spacing:
        worst = int(np.argmax(drift))
        raise GeometryError(
            f"{what} are not equidistant: the plane at {_point(ends[worst])} is "
            f"{_mm(float(drift[worst]))} away from a regular {_mm(spacing)} spacing"
        )
    whole = whole.astype(np.int64)
    if not allow_gaps and int(whole[-1]) != len(ends) - 1:
        missing = sorted(set(range(int(whole[-1]) + 1)) - set(whole.tolist()))
        raise GeometryError(
            f"{what} are not equidistant: {len(missing)} plane(s) missing in the stack "
            f"(after plane {missing[0] - 1} of {int(whole[-1]) + 1}), every {_mm(spacing)}"
        )
    # the step vector: least squares through all positions (exact for a regular stack)
    offsets = ends - ends[0]
    step = (whole[:, None] * offsets).sum(axis=0) / float((whole**2).sum())
    residual = np.linalg.norm(offsets - whole[:, None] * step[None, :], axis=1)
    if np.max(residual) > RTOL * max(spacing, 1.0) + 1e-3:
        worst = int(np.argmax(residual))
        raise GeometryError(
            f"{what} are not on one line of slices: the plane at {_point(ends[worst])} is "
            f"{_mm(float(residual[worst]))} off the line through the others"
        )
    slice_of = {int(i): int(k) for i, k in zip(distinct, whole, strict=True)}
    index = np.empty(len(points), dtype=np.int64)
    current = 0
    for i in order:
        if int(i) in slice_of:
            current = slice_of[int(i)]
        index[i] = current
    return Stack(ends[0].copy(), step, int(whole[-1]) + 1, index)


def _point(p: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in p) + ")"


class Grid:
    """A regular 3-D grid of voxels in patient space: a shape and an affine.

    Args:
        shape: ``(slices, rows, columns)``.
        affine: 4×4 matrix taking ``(slice, row, column, 1)`` to LPS millimetres (see the
            module docstring).

    Grids compare equal when shapes are equal and affines agree within a small fraction of a
    voxel (:meth:`same_as`).
    """

    def __init__(self, shape: Sequence[int], affine: np.ndarray | Sequence[Sequence[float]]):
        self.shape: tuple[int, int, int] = tuple(int(v) for v in shape)  # type: ignore[assignment]
        self.affine = np.array(affine, dtype=float).reshape(4, 4)
        self.affine.setflags(write=False)
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise GeometryError(f"a grid needs three positive sizes, not {shape!r}")

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_planes(
        cls,
        orientation: Sequence[float],
        pixel_spacing: Sequence[float],
        positions: np.ndarray | Sequence[Sequence[float]],
        rows: int,
        columns: int,
        *,
        spacing_hint: float | None = None,
        single_spacing: float | None = None,
        allow_gaps: bool = True,
        what: str = "frames",
    ) -> tuple[Grid, np.ndarray]:
        """The grid spanned by parallel planes, and the slice index of each position.

        *positions* are the planes' ImagePositionPatient (repeats allowed: several segments'
        frames at one position). The grid runs from the lowest to the highest position along
        the normal; missing planes in between become slices too (``allow_gaps``).
        """
        row_dir, column_dir, normal = plane_vectors(orientation)
        row_spacing, column_spacing = _spacing(pixel_spacing)
        stack = stack_positions(
            positions,
            normal,
            spacing_hint=spacing_hint,
            single_spacing=single_spacing,
            allow_gaps=allow_gaps,
            what=what,
        )
        affine = np.eye(4)
        affine[:3, 0] = stack.step
        affine[:3, 1] = column_dir * row_spacing
        affine[:3, 2] = row_dir * column_spacing
        affine[:3, 3] = stack.origin
        return cls((stack.count, rows, columns), affine), stack.index

    @classmethod
    def from_slices(cls, datasets: Iterable[Any], *, what: str = "reference images") -> Grid:
        """The grid of a series of single-frame images (CT, MR...): pydicom datasets or any
        objects with ImageOrientationPatient, ImagePositionPatient, PixelSpacing, Rows and
        Columns. All must share orientation, spacing and size, and form a complete regular
        stack (no missing slice)."""
        items = list(datasets)
        if not items:
            raise GeometryError(f"no {what}")
        first = items[0]
        for name in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
            if getattr(first, name, None) is None:
                raise GeometryError(f"{what} lack {name}: not images in patient space")
        orientation = [float(v) for v in first.ImageOrientationPatient]
        spacing = [float(v) for v in first.PixelSpacing]
        size = int(first.Rows), int(first.Columns)
        for ds in items[1:]:
            if not same_orientation(orientation, [float(v) for v in ds.ImageOrientationPatient]):
                raise GeometryError(f"{what} are not parallel (two ImageOrientationPatient)")
            if not np.allclose(spacing, [float(v) for v in ds.PixelSpacing], rtol=1e-4):
                raise GeometryError(f"{what} have different PixelSpacing")
            if (int(ds.Rows), int(ds.Columns)) != size:
                raise GeometryError(f"{what} have different sizes (Rows, Columns)")
        positions = [[float(v) for v in ds.ImagePositionPatient] for ds in items]
        thickness = getattr(first, "SpacingBetweenSlices", None) or getattr(
            first, "SliceThickness", None
        )
        grid, index = cls.from_planes(
            orientation,
            spacing,
            positions,
            *size,
            single_spacing=float(thickness) if thickness else None,
            allow_gaps=False,
            what=what,
        )
        if len(set(index.tolist())) != len(items):
            raise GeometryError(f"{what}: two images share one position")
        return grid

    # --- what it is ----------------------------------------------------------------------------

    @property
    def step(self) -> np.ndarray:
        """The vector (mm) from one slice's position to the next."""
        return self.affine[:3, 0].copy()

    @property
    def row_direction(self) -> np.ndarray:
        """Unit vector along a row (increasing column index): ImageOrientationPatient[:3]."""
        v = self.affine[:3, 2]
        return v / np.linalg.norm(v)

    @property
    def column_direction(self) -> np.ndarray:
        """Unit vector down a column (increasing row index): ImageOrientationPatient[3:]."""
        v = self.affine[:3, 1]
        return v / np.linalg.norm(v)

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the planes: row direction × column direction."""
        return np.cross(self.row_direction, self.column_direction)

    @property
    def orientation(self) -> tuple[float, ...]:
        """ImageOrientationPatient of the planes."""
        return tuple(float(v) for v in (*self.row_direction, *self.column_direction))

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """PixelSpacing: (between rows, between columns), mm."""
        return (
            float(np.linalg.norm(self.affine[:3, 1])),
            float(np.linalg.norm(self.affine[:3, 2])),
        )

    @property
    def slice_spacing(self) -> float:
        """Distance between neighbouring planes along the normal, mm."""
        return float(abs(self.step @ self.normal))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size (slice distance along the normal, row spacing, column spacing), mm."""
        return (self.slice_spacing, *self.pixel_spacing)

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel, mm³ (|det| of the affine; right for a tilted gantry too)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def origin(self) -> np.ndarray:
        """LPS position of voxel (0, 0, 0): ImagePositionPatient of slice 0."""
        return self.affine[:3, 3].copy()

    def is_orthogonal(self, tol: float = COSINE_TOL) -> bool:
        """True unless the slice step is oblique to the normal (a tilted gantry)."""
        step = self.step / np.linalg.norm(self.step)
        return bool(abs(abs(step @ self.normal) - 1) <= tol)

    def slice_position(self, k: int | np.ndarray) -> np.ndarray:
        """ImagePositionPatient of slice *k* (or of each of several slices)."""
        k = np.asarray(k, dtype=float)
        return self.affine[:3, 3] + k[..., None] * self.affine[:3, 0]

    def to_world(self, index: np.ndarray | Sequence[float]) -> np.ndarray:
        """LPS mm of voxel indices ``(..., 3)`` as ``(slice, row, column)``."""
        index = np.asarray(index, dtype=float)
        return index @ self.affine[:3, :3].T + self.affine[:3, 3]

    def to_index(self, points: np.ndarray | Sequence[float]) -> np.ndarray:
        """Continuous ``(slice, row, column)`` indices of LPS points ``(..., 3)``."""
        points = np.asarray(points, dtype=float)
        inverse = np.linalg.inv(self.affine)
        return points @ inverse[:3, :3].T + inverse[:3, 3]

    def corners(self) -> np.ndarray:
        """LPS positions of the 8 corner voxel centres, ``(8, 3)``."""
        s, r, c = (n - 1 for n in self.shape)
        index = np.array([[a, b, d] for a in (0, s) for b in (0, r) for d in (0, c)], float)
        return self.to_world(index)

    def same_as(self, other: Grid, rtol: float = RTOL) -> bool:
        """Same shape, and every corner within *rtol* of a voxel of the other's."""
        if self.shape != other.shape:
            return False
        tolerance = rtol * min(min(self.spacing), min(other.spacing))
        return bool(np.max(np.abs(self.corners() - other.corners())) <= tolerance + 1e-6)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.same_as(other)

    def __hash__(self) -> int:
        return hash(self.shape)

    def __repr__(self) -> str:
        spacing = ", ".join(f"{v:.4g}" for v in self.spacing)
        return (
            f"Grid(shape={self.shape}, spacing=({spacing}) mm, "
            f"origin={_point(self.origin)}, {orientation_name(self.orientation)})"
        )

    # --- other grids' planes in this one -------------------------------------------------------

    def locate(
        self,
        orientation: Sequence[float],
        pixel_spacing: Sequence[float],
        positions: np.ndarray,
        rows: int,
        columns: int,
        *,
        what: str = "frames",
        of: str = "the reference",
    ) -> tuple[np.ndarray, int, int]:
        """Where planes of another image sit in this grid, without resampling.

        Returns the slice index of each position and the (row, column) offset of the planes'
        first pixel. Raises :class:`GeometryError` when the planes are not parallel to this
        grid's, have another pixel spacing, fall between its slices or pixels, or lie outside it.
        """
        if not same_orientation(orientation, self.orientation):
            raise GeometryError(
                f"the {what} are not parallel to {of}: plane orientation "
                f"{orientation_name(orientation)} {_cosines(orientation)} vs "
                f"{orientation_name(self.orientation)} {_cosines(self.orientation)}"
            )
        theirs = _spacing(pixel_spacing)
        if not np.allclose(theirs, self.pixel_spacing, rtol=1e-3):
            raise GeometryError(
                f"the {what} have pixel spacing {theirs[0]:.4g}×{theirs[1]:.4g} mm, {of} "
                f"{self.pixel_spacing[0]:.4g}×{self.pixel_spacing[1]:.4g} mm: a mask on "
                f"{of}'s grid would need resampling"
            )
        index = self.to_index(np.asarray(positions, dtype=float).reshape(-1, 3))
        whole = np.round(index)
        off = np.abs(index - whole)
        if np.max(off[:, 0], initial=0) > RTOL * 5 or np.max(off[:, 1:], initial=0) > RTOL * 5:
            worst = int(np.argmax(off.max(axis=1)))
            raise GeometryError(
                f"{what} fall between the voxels of {of} (a plane at {_point(positions[worst])} "
                f"is at slice {index[worst, 0]:.2f}, row {index[worst, 1]:.2f}, column "
                f"{index[worst, 2]:.2f}): that would need resampling"
            )
        whole = whole.astype(np.int64)
        row_offsets, column_offsets = set(whole[:, 1].tolist()), set(whole[:, 2].tolist())
        if len(row_offsets) > 1 or len(column_offsets) > 1:
            raise GeometryError(f"the {what} are not on one line of slices of {of}")
        row0, column0 = row_offsets.pop(), column_offsets.pop()
        outside = (whole[:, 0] < 0) | (whole[:, 0] >= self.shape[0])
        if np.any(outside):
            worst = int(np.argmax(outside))
            raise GeometryError(
                f"{what} lie outside {of}: a plane at {_point(positions[worst])} would be slice "
                f"{int(whole[worst, 0])} of {self.shape[0]}"
            )
        if (
            row0 < 0
            or column0 < 0
            or row0 + rows > self.shape[1]
            or column0 + columns > self.shape[2]
        ):
            raise GeometryError(
                f"the {what} ({rows}×{columns} pixels from row {row0}, column {column0}) do not "
                f"fit in {of}'s {self.shape[1]}×{self.shape[2]} pixels"
            )
        return whole[:, 0], row0, column0

    # --- file formats --------------------------------------------------------------------------

    def file_affine(self) -> np.ndarray:
        """LPS affine for the axes ``(column, row, slice)`` of the same bytes (NRRD's, ITK's)."""
        affine = np.eye(4)
        affine[:3, 0] = self.affine[:3, 2]
        affine[:3, 1] = self.affine[:3, 1]
        affine[:3, 2] = self.affine[:3, 0]
        affine[:3, 3] = self.affine[:3, 3]
        return affine

    def nifti_affine(self) -> np.ndarray:
        """The RAS affine NIfTI wants, for axes ``(i, j, k) = (column, row, slice)``."""
        return LPS_TO_RAS @ self.file_affine()

    def nrrd_space(self) -> dict[str, Any]:
        """NRRD fields for axes ``(column, row, slice)``: space, space directions, origin."""
        affine = self.file_affine()
        return {
            "space": "left-posterior-superior",
            "space directions": affine[:3, :3].T.copy(),
            "space origin": affine[:3, 3].copy(),
        }

    @classmethod
    def from_file_affine(cls, shape_xyz: Sequence[int], affine: np.ndarray, ras: bool) -> Grid:
        """The grid of a file's array of shape ``(column, row, slice)`` and its affine (RAS for
        NIfTI, LPS for NRRD): the inverse of :meth:`nifti_affine` / :meth:`file_affine`."""
        affine = np.asarray(affine, dtype=float)
        if ras:
            affine = LPS_TO_RAS @ affine
        ours = np.eye(4)
        ours[:3, 0] = affine[:3, 2]
        ours[:3, 1] = affine[:3, 1]
        ours[:3, 2] = affine[:3, 0]
        ours[:3, 3] = affine[:3, 3]
        columns, rows, slices = (int(v) for v in shape_xyz)
        return cls((slices, rows, columns), ours)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for sidecars)."""
        return {
            "shape": list(self.shape),
            "axes": ["slice", "row", "column"],
            "affine_lps": [[round(float(v), 6) for v in row] for row in self.affine],
            "spacing_mm": [round(v, 6) for v in self.spacing],
            "ImageOrientationPatient": [round(v, 6) for v in self.orientation],
            "ImagePositionPatient_first": [round(float(v), 6) for v in self.origin],
            "orientation": orientation_name(self.orientation),
            "orthogonal": self.is_orthogonal(),
        }


def _spacing(pixel_spacing: Sequence[float]) -> tuple[float, float]:
    values = [float(v) for v in pixel_spacing]
    if len(values) != 2 or not all(np.isfinite(values)) or min(values) <= 0:
        raise GeometryError(f"PixelSpacing must be two positive numbers, not {pixel_spacing!r}")
    return values[0], values[1]


def _cosines(orientation: Sequence[float]) -> str:
    return "[" + ", ".join(f"{float(v):.3g}" for v in orientation) + "]"
