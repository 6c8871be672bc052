"""The geometry module (grids, stacks, placement) and the sparse deflate streams, on their own."""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib

import numpy as np
import pytest

from idcseg.dicom import _deflate
from idcseg.dicom.geometry import (
    GeometryError,
    Grid,
    orientation_name,
    plane_vectors,
    stack_positions,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
Z = np.array([0.0, 0.0, 1.0])


def positions(zs: list[float], x: float = 0.0) -> np.ndarray:
    return np.array([[x, 0.0, z] for z in zs])


def test_plane_vectors_and_names() -> None:
    row, column, normal = plane_vectors(AXIAL)
    assert np.allclose(normal, Z)
    assert orientation_name(AXIAL) == "axial"
    assert orientation_name((0, 1, 0, 0, 0, -1)) == "sagittal"
    assert orientation_name((1, 0, 0, 0, 0, -1)) == "coronal"
    assert orientation_name((0.866025, 0.5, 0, 0, 0, -1)) == "oblique"
    with pytest.raises(GeometryError, match="not orthogonal"):
        plane_vectors((1, 0, 0, 0.5, 0.866, 0))
    with pytest.raises(GeometryError, match="six numbers"):
        plane_vectors((1, 0, 0))


def test_a_stack_with_gaps_repeats_and_any_order() -> None:
    stack = stack_positions(positions([10.0, 2.5, 10.0, 7.5, 0.0]), Z)
    assert stack.count == 5 and np.allclose(stack.step, [0, 0, 2.5])
    assert np.allclose(stack.origin, [0, 0, 0])
    assert stack.index.tolist() == [4, 1, 4, 3, 0]  # 5.0 is a gap: a zero slice
    with pytest.raises(GeometryError, match=r"1 plane\(s\) missing"):
        stack_positions(positions([10.0, 2.5, 7.5, 0.0]), Z, allow_gaps=False)


def test_spacing_from_the_header_when_every_plane_has_a_gap() -> None:
    assert stack_positions(positions([0.0, 5.0, 15.0]), Z).count == 4  # 5 mm steps
    stack = stack_positions(positions([0.0, 5.0, 15.0]), Z, spacing_hint=2.5)
    assert stack.count == 7 and stack.index.tolist() == [0, 2, 6]
    single = stack_positions(positions([3.0]), Z, single_spacing=1.25)
    assert single.count == 1 and np.allclose(single.step, [0, 0, 1.25])


def test_stacks_that_are_refused() -> None:
    with pytest.raises(GeometryError, match="not equidistant"):
        stack_positions(positions([0.0, 2.5, 6.0]), Z)
    with pytest.raises(GeometryError, match="not on one line"):
        stack_positions(np.array([[0, 0, 0], [0, 0, 2.5], [3, 0, 5], [0, 0, 7.5]], float), Z)
    with pytest.raises(GeometryError, match="share a plane"):
        stack_positions(np.array([[0, 0, 0], [4, 0, 0]], float), Z)
    with pytest.raises(GeometryError, match="no ImagePositionPatient"):
        stack_positions(np.array([[0, 0, np.nan]]), Z)


def test_a_tilted_stack_keeps_its_step() -> None:
    grid, index = Grid.from_planes(
        AXIAL, (0.5, 0.8), positions([0, 2, 4]) + [[0, 0, 0], [0, 1, 0], [0, 2, 0]], 10, 12
    )
    assert np.allclose(grid.step, [0, 1, 2]) and not grid.is_orthogonal()
    assert grid.slice_spacing == pytest.approx(2.0)
    assert grid.voxel_volume == pytest.approx(2.0 * 0.5 * 0.8)
    assert index.tolist() == [0, 1, 2]


def test_grid_indices_world_and_file_affines() -> None:
    sagittal = np.array([[5.0, 1.0, 2.0], [2.5, 1.0, 2.0]])  # the normal is -x
    grid, _ = Grid.from_planes((0, 1, 0, 0, 0, -1), (0.7, 0.9), sagittal, 6, 8)
    index = np.array([[1, 2, 3], [0, 5, 7]], float)
    assert np.allclose(grid.to_index(grid.to_world(index)), index)
    # NIfTI: axes (column, row, slice), RAS
    ras = grid.nifti_affine()
    point = grid.to_world([1, 2, 3])
    assert np.allclose((ras @ [3, 2, 1, 1])[:3], point * [-1, -1, 1])
    space = grid.nrrd_space()
    assert np.allclose(space["space origin"] + space["space directions"].T @ [3, 2, 1], point)
    again = Grid.from_file_affine((8, 6, 2), ras, ras=True)
    assert again == grid and again.shape == (2, 6, 8)
    assert grid.orientation == pytest.approx((0, 1, 0, 0, 0, -1))
    assert grid.pixel_spacing == pytest.approx((0.7, 0.9))


def test_locate_places_frames_or_says_why_not() -> None:
    grid, _ = Grid.from_planes(AXIAL, (1.0, 1.0), positions([0, 1, 2, 3]), 20, 20)
    slices, row, column = grid.locate(AXIAL, (1, 1), np.array([[5, 3, 2.0]]), 4, 4)
    assert slices.tolist() == [2] and (row, column) == (3, 5)  # a smaller frame, offset
    with pytest.raises(GeometryError, match="pixel spacing"):
        grid.locate(AXIAL, (0.5, 1), positions([1]), 20, 20)
    with pytest.raises(GeometryError, match="fall between the voxels"):
        grid.locate(AXIAL, (1, 1), positions([1.5]), 20, 20)
    with pytest.raises(GeometryError, match="lie outside"):
        grid.locate(AXIAL, (1, 1), positions([7.0]), 20, 20)
    with pytest.raises(GeometryError, match="do not fit"):
        grid.locate(AXIAL, (1, 1), np.array([[10, 0, 1.0]]), 20, 20)
    with pytest.raises(GeometryError, match="not parallel"):
        grid.locate((1, 0, 0, 0, 0, -1), (1, 1), positions([1]), 20, 20)


# --- the deflate streams ----------------------------------------------------------------------


@pytest.mark.parametrize("length,times", [(1, 1), (7, 3), (16384, 2), (100_003, 1)])
def test_crc_of_zeros_without_reading_them(length: int, times: int) -> None:
    start = zlib.crc32(b"idcseg")
    assert _deflate.crc32_zeros(start, length, times) == zlib.crc32(bytes(length * times), start)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(3, 5), (37, 41), (300, 512)])
def test_sparse_deflate_is_plain_gzip(dtype, shape) -> None:  # noqa: ANN001
    rng = np.random.default_rng(sum(shape))
    planes = [np.zeros(shape, dtype) for _ in range(4)]
    planes[1][shape[0] // 2 :, : shape[1] // 3] = rng.integers(
        1, 9, (shape[0] - shape[0] // 2, shape[1] // 3)
    )
    planes[3][-1, -1] = 7
    out = io.BytesIO()
    stream = _deflate.SparseDeflate(out)
    out.write(_deflate.GZIP_HEADER)
    stream.write(b"header bytes")
    for plane in planes[:3]:
        stream.write_plane(plane)
    stream.write_zeros(planes[0].nbytes, times=3)
    stream.write_plane(planes[3])
    stream.finish()
    out.write(_deflate.gzip_trailer(stream))
    expected = (
        b"header bytes"
        + b"".join(p.tobytes() for p in planes[:3])
        + bytes(planes[0].nbytes * 3)
        + planes[3].tobytes()
    )
    assert gzip.decompress(out.getvalue()) == expected  # gzip checks the CRC and the size


@pytest.mark.parametrize("zip64", [False, True])
def test_zip_members_read_by_zipfile_and_numpy(zip64: bool) -> None:
    out = io.BytesIO()
    archive = _deflate.ZipWriter(out)
    for name, data in (("a.bin", b"x" * 1000 + bytes(70000)), ("b.bin", b"")):
        member = archive.member(name, 0xFF000000 if zip64 else len(data))
        member.stream.write(data)
        member.close()
    archive.close()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as z:
        assert z.testzip() is None
        assert z.read("a.bin") == b"x" * 1000 + bytes(70000) and z.read("b.bin") == b""
