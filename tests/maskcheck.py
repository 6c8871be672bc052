"""Independent checks of mask files, for the masks tests: no idcseg code is used here.

:func:`file_voxels` reads a NIfTI (nibabel), NRRD (pynrrd) or npz (numpy) file and returns every
voxel's value with its position in LPS millimetres, computed from the file's own affine.
:func:`ct_values` says what each of those positions holds in the arrays a SEG was made from,
using only the CT slices' DICOM attributes (ImagePositionPatient of each slice,
ImageOrientationPatient, PixelSpacing): the slice whose plane contains the point, and the
row and column it falls on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOLERANCE_MM = 1e-3


def file_voxels(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], np.ndarray]:
    """(values (m,), LPS positions (m, 3), the array's shape, its 4×4 LPS affine) of every
    voxel of a mask file, in the file's own index order."""
    name = path.name
    if name.endswith(".nii.gz"):
        import nibabel as nib

        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
        affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ image.affine  # RAS → LPS
    elif name.endswith(".nrrd"):
        import nrrd

        data, header = nrrd.read(str(path))
        assert header["space"] == "left-posterior-superior"
        affine = np.eye(4)
        affine[:3, :3] = np.asarray(header["space directions"], dtype=float).T
        affine[:3, 3] = header["space origin"]
    elif name.endswith(".npz"):
        with np.load(path) as npz:
            data, affine = npz["mask"], npz["affine"]
    else:
        raise ValueError(name)
    index = np.indices(data.shape).reshape(data.ndim, -1).T.astype(float)
    world = index @ affine[:3, :3].T + affine[:3, 3]
    return data.reshape(-1), world, data.shape, affine


def ct_frame(
    ct: list,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """(IPP per slice (n, 3), row direction, column direction, normal, (row, column) spacing)."""
    ipp = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in ct])
    iop = np.array([float(v) for v in ct[0].ImageOrientationPatient])
    row_dir, col_dir = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
    normal = np.cross(row_dir, col_dir)
    spacing = tuple(float(v) for v in ct[0].PixelSpacing)
    return ipp, row_dir, col_dir, normal, spacing  # type: ignore[return-value]


def ct_values(ct: list, source: np.ndarray, points: np.ndarray) -> np.ndarray:
    """What *source* (``(slices, rows, columns)`` in the order of the *ct* datasets) holds at
    each LPS point. Every point must lie on a CT pixel centre (asserted)."""
    ipp, row_dir, col_dir, normal, (row_spacing, col_spacing) = ct_frame(ct)
    offsets = points[:, None, :] - ipp[None, :, :]
    along = np.abs(offsets @ normal)
    k = np.argmin(along, axis=1)
    assert np.all(along[np.arange(len(points)), k] < TOLERANCE_MM), "a voxel off every CT slice"
    d = offsets[np.arange(len(points)), k]
    r = d @ col_dir / row_spacing
    c = d @ row_dir / col_spacing
    assert np.all(np.abs(r - np.round(r)) < 1e-3) and np.all(np.abs(c - np.round(c)) < 1e-3)
    r, c = np.round(r).astype(int), np.round(c).astype(int)
    inside = (r >= 0) & (r < source.shape[1]) & (c >= 0) & (c < source.shape[2])
    out = np.zeros(len(points), dtype=source.dtype)
    out[inside] = source[k[inside], r[inside], c[inside]]
    return out


def ct_grid(ct: list) -> tuple[tuple[int, int, int], np.ndarray]:
    """The CT's own (slices, rows, columns) and the 4×4 LPS affine of those indices, slices
    ordered along the normal, from the datasets alone."""
    ipp, row_dir, col_dir, normal, (row_spacing, col_spacing) = ct_frame(ct)
    order = np.argsort(ipp @ normal)
    first, second = ipp[order[0]], ipp[order[1]]
    affine = np.eye(4)
    affine[:3, 0] = second - first
    affine[:3, 1] = col_dir * row_spacing
    affine[:3, 2] = row_dir * col_spacing
    affine[:3, 3] = first
    return (len(ct), int(ct[0].Rows), int(ct[0].Columns)), affine


def world_voxels(values: np.ndarray, world: np.ndarray) -> set[tuple[float, float, float]]:
    """Positions (rounded to 0.01 mm) of the non-zero voxels."""
    return {tuple(p) for p in np.round(world[values != 0], 2).tolist()}
