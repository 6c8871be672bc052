"""Mask volumes as files: NIfTI (``.nii.gz``), NRRD (``.nrrd``) and NumPy (``.npz``).

Every writer takes a :class:`~idcseg.dicom.geometry.Grid` and the volume's non-empty slices
(``(slice index, 2-D array)`` in increasing order); slices not given are zeros. Nothing else is
held in memory, and the zeros cost almost nothing to compress (:mod:`idcseg.dicom._deflate`).
Files are written under a temporary name in the target folder and renamed when complete, so an
interrupted run never leaves a half-written file under a real name.

Layouts (the same bytes, C order ``[slice, row, column]``; see :mod:`idcseg.dicom.geometry`):

- **NIfTI-1**, gzip: axes ``(i, j, k) = (column, row, slice)``; the header is nibabel's, with the
  RAS affine in the sform (and the qform, unless the grid is sheared by a tilted gantry), units mm.
- **NRRD** (0004), gzip: the same axes, ``space: left-posterior-superior``, space directions and
  origin in LPS, formatted with pynrrd's field formatters.
- **npz**: ``mask`` as ``[slice, row, column]`` and ``affine``, the 4×4 LPS affine of those
  indices (:attr:`Grid.affine <idcseg.dicom.geometry.Grid.affine>`); ``np.load`` reads it.

:func:`read_mask` reads any of them back as ``(array [slice, row, column], Grid)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import IdcsegError
from ._deflate import GZIP_HEADER, SparseDeflate, ZipWriter, gzip_trailer
from .geometry import Grid

#: Formats and the file name suffix each writes.
SUFFIXES = {"nifti": ".nii.gz", "nrrd": ".nrrd", "npz": ".npz"}
_NRRD_TYPES = {"uint8": "uint8", "uint16": "uint16", "int16": "int16", "float32": "float"}

Slices = Iterable[tuple[int, np.ndarray]]


def suffix(fmt: str) -> str:
    """The file name suffix of *fmt* (``nifti``, ``nrrd`` or ``npz``)."""
    return SUFFIXES[fmt]


@contextmanager
def atomic(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes *path* only when the block ends without an exception: a
    temporary file made exclusively beside it (:func:`idcseg.files.temp_beside`, with the
    permissions the file should have), renamed over it. A full disk is "could not be done"
    (exit 1), a folder that cannot be written bad input (exit 2)."""
    import errno

    from ..errors import UsageError
    from ..files import temp_beside

    tmp: Path | None = None
    try:
        fd, tmp = temp_beside(path)
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except OSError as exc:
        reason = exc.strerror or exc
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise IdcsegError(
                f"cannot write {path}: {reason}; free some space and run again"
            ) from None
        raise UsageError(f"cannot write {path}: {reason}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _planes(grid: Grid, dtype: np.dtype, slices: Slices) -> Iterator[tuple[int, np.ndarray | None]]:
    """``(run of zero slices, None)`` and ``(1, plane)`` items covering the whole grid."""
    expected = grid.shape[1:]
    nxt = 0
    for k, plane in slices:
        if k < nxt or k >= grid.shape[0]:
            raise ValueError(f"slice {k} out of order or outside {grid.shape[0]} slices")
        if plane.shape != expected:
            raise ValueError(f"slice {k} is {plane.shape}, the grid's slices are {expected}")
        if k > nxt:
            yield k - nxt, None
        yield 1, plane.astype(dtype, copy=False)
        nxt = k + 1
    if nxt < grid.shape[0]:
        yield grid.shape[0] - nxt, None


def _stream(stream: SparseDeflate, grid: Grid, dtype: np.dtype, slices: Slices) -> None:
    plane_bytes = grid.shape[1] * grid.shape[2] * dtype.itemsize
    for count, plane in _planes(grid, dtype, slices):
        if plane is None:
            stream.write_zeros(plane_bytes, count)
        else:
            stream.write_plane(plane)


def _strategy(dtype: np.dtype) -> int:
    import zlib

    return zlib.Z_DEFAULT_STRATEGY if dtype.kind == "f" else zlib.Z_RLE


def nifti_header(grid: Grid, dtype: np.dtype, description: str = "") -> bytes:
    """The 352 bytes that begin a NIfTI-1 file of this grid (header and empty extension)."""
    import nibabel as nib

    header = nib.Nifti1Header()
    columns_rows_slices = grid.shape[::-1]
    header.set_data_shape(columns_rows_slices)
    header.set_data_dtype(dtype)
    affine = grid.nifti_affine()
    if grid.is_orthogonal():
        header.set_qform(affine, code=1)
    else:  # a tilted gantry: only the sform can hold the shear
        header.set_qform(None, code=0)
    header.set_sform(affine, code=1)
    header.set_zooms(tuple(float(np.linalg.norm(affine[:3, i])) for i in range(3)))
    header.set_xyzt_units("mm")
    header["vox_offset"] = 352
    header["descrip"] = description.encode("ascii", "replace")[:79]
    return header.binaryblock + b"\0\0\0\0"


def nrrd_header(grid: Grid, dtype: np.dtype, description: str = "") -> bytes:
    """The text header of a gzip-encoded NRRD file of this grid (LPS space)."""
    import nrrd

    space = grid.nrrd_space()
    kind = _NRRD_TYPES.get(dtype.name)
    if kind is None:
        raise ValueError(f"no NRRD type for {dtype}")
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
    ]
    if description:
        lines.append("# " + description.replace("\n", " "))
    lines += [
        f"type: {kind}",
        "dimension: 3",
        f"space: {space['space']}",
        f"sizes: {nrrd.format_number_list(np.array(grid.shape[::-1]))}",
        f"space directions: {nrrd.format_optional_matrix(space['space directions'])}",
        "kinds: domain domain domain",
        "endian: little",
        "encoding: gzip",
        f"space origin: {nrrd.format_vector(space['space origin'])}",
    ]
    return ("\n".join(lines) + "\n\n").encode("ascii")


def write_mask(
    path: str | os.PathLike[str],
    grid: Grid,
    slices: Slices,
    *,
    fmt: str = "nifti",
    dtype: Any = np.uint8,
    description: str = "",
) -> Path:
    """Write a volume of *grid* whose non-empty slices are *slices* to *path* (atomically).

    Args:
        path: the file to write (its suffix is not checked against *fmt*).
        grid: the volume's grid; each slice is ``grid.shape[1:]``.
        slices: ``(slice index, 2-D array)`` in increasing slice order; missing slices are zero.
        fmt: ``nifti``, ``nrrd`` or ``npz``.
        dtype: voxel type: uint8 (masks), uint16 (label maps), float32 (fractions).
        description: a short text kept in the file (NIfTI ``descrip``, a NRRD comment).
    """
    path = Path(path)
    dtype = np.dtype(dtype)
    if fmt not in SUFFIXES:
        raise ValueError(f"unknown mask format {fmt!r}")
    with atomic(path) as fh:
        if fmt == "npz":
            _write_npz(fh, grid, dtype, slices)
            return path
        stream = SparseDeflate(fh, strategy=_strategy(dtype))
        if fmt == "nifti":  # the whole file is one gzip member
            fh.write(GZIP_HEADER)
            stream.write(nifti_header(grid, dtype, description))
        else:  # NRRD: a text header, then the gzip member of the voxels
            fh.write(nrrd_header(grid, dtype, description))
            fh.write(GZIP_HEADER)
        _stream(stream, grid, dtype, slices)
        stream.finish()
        fh.write(gzip_trailer(stream))
    return path


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    import io

    from numpy.lib import format as npy

    buffer = io.BytesIO()
    header = {"descr": npy.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    npy.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _write_npz(fh: IO[bytes], grid: Grid, dtype: np.dtype, slices: Slices) -> None:
    archive = ZipWriter(fh)
    head = _npy_header(grid.shape, dtype)
    member = archive.member("mask.npy", len(head) + int(np.prod(grid.shape)) * dtype.itemsize)
    member.stream.strategy = _strategy(dtype)
    member.stream.write(head)
    _stream(member.stream, grid, dtype, slices)
    member.close()
    affine = np.ascontiguousarray(grid.affine, dtype=np.float64)
    head = _npy_header(affine.shape, affine.dtype)
    member = archive.member("affine.npy", len(head) + affine.nbytes)
    member.stream.write(head + affine.tobytes())
    member.close()
    archive.close()


def array_slices(array: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """The non-empty slices of a ``[slice, row, column]`` volume, for :func:`write_mask`."""
    occupied = array.reshape(array.shape[0], -1).any(axis=1)
    for k in np.flatnonzero(occupied):
        yield int(k), array[k]


def read_mask(path: str | os.PathLike[str]) -> tuple[np.ndarray, Grid]:
    """A mask file written by idcseg (or any 3-D NIfTI / NRRD / idcseg npz) as
    ``(array [slice, row, column], Grid)``."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npz"):
        with np.load(path) as npz:
            array = npz["mask"]
            return array, Grid(array.shape, npz["affine"])
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
        if data.ndim != 3:
            raise IdcsegError(f"{path}: a {data.ndim}-D image, not a 3-D mask")
        grid = Grid.from_file_affine(data.shape, image.affine, ras=True)
        return np.ascontiguousarray(data.transpose(2, 1, 0)), grid
    if name.endswith((".nrrd", ".nhdr")):
        import nrrd

        data, header = nrrd.read(str(path))
        if data.ndim != 3:
            raise IdcsegError(f"{path}: a {data.ndim}-D image, not a 3-D mask")
        space = str(header.get("space", "left-posterior-superior")).lower()
        directions = np.asarray(header["space directions"], dtype=float)
        affine = np.eye(4)
        affine[:3, :3] = directions.T
        affine[:3, 3] = np.asarray(header.get("space origin", [0, 0, 0]), dtype=float)
        ras = space in ("right-anterior-superior", "ras")
        if space not in ("left-posterior-superior", "lps", "right-anterior-superior", "ras"):
            raise IdcsegError(f"{path}: NRRD space {space!r} is not patient space")
        grid = Grid.from_file_affine(data.shape, affine, ras=ras)
        return np.ascontiguousarray(data.transpose(2, 1, 0)), grid
    raise IdcsegError(f"{path}: not a .nii.gz, .nii, .nrrd or .npz file")
