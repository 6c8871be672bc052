"""``idcseg masks`` / ``idcseg.masks``: SEGs made with highdicom over CT series made here, every
output voxel checked against the arrays the SEG was made from, through world coordinates.

The CT geometries (``tests/segfactory.GEOMETRIES``): axial with non-unit spacing, oblique planes
and a tilted gantry. The masks (``sparse_masks``): three segments, two of them overlapping,
with empty slices the SEG omits, one of them inside the stack. The checks read the files with
nibabel, pynrrd and numpy and map each voxel to the CT with the CT's own DICOM attributes
(``tests/maskcheck.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

import idcseg
from idcseg.dicom import masks as core
from idcseg.dicom.geometry import GeometryError
from idcseg.errors import IdcsegError, UsageError
from tests import maskcheck
from tests import segfactory as sf

FORMATS = ("nifti", "nrrd", "npz")
SUFFIX = {"nifti": ".nii.gz", "nrrd": ".nrrd", "npz": ".npz"}


def check_file(path: Path, case: sf.MaskCase, expected: np.ndarray) -> tuple[int, ...]:
    """Every voxel of *path* equals *expected* (in CT order) at the same place; the shape."""
    values, world, shape, _ = maskcheck.file_voxels(path)
    truth = maskcheck.ct_values(case.ct, expected, world)
    assert values.dtype == expected.dtype, path.name
    assert np.array_equal(values, truth), f"{path.name}: voxels differ from the SEG's arrays"
    return shape


# --- every voxel, every format, every geometry -------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("geometry", sorted(sf.GEOMETRIES))
def test_every_voxel_lands_where_the_ct_voxel_is(mask_cases, geometry, fmt, tmp_path: Path) -> None:
    case = mask_cases[geometry]
    with idcseg.masks(case.seg) as m:
        files = m.write(tmp_path, fmt)
    assert [f.name for f in files] == [
        f"01_Liver{SUFFIX[fmt]}",
        f"02_Kidney_left{SUFFIX[fmt]}",
        f"03_Nodule{SUFFIX[fmt]}",
    ]
    for number, path in enumerate(files, start=1):
        shape = check_file(path, case, case.segment(number))
        # the SEG's own frames span slices 2..8 of the CT: 7 slices, the empty slice 5 included
        assert sorted(shape) == sorted((7, 40 if geometry != "oblique" else 36,
                                        48 if geometry == "axial" else 40 if geometry == "tilted" else 44))  # fmt: skip
    sidecar = json.loads((tmp_path / "segments.json").read_text())
    assert [s["voxel_count"] for s in sidecar["segments"]] == [
        int(case.source[..., k].sum()) for k in range(3)
    ]


@pytest.mark.parametrize("geometry", sorted(sf.GEOMETRIES))
def test_reference_gives_exactly_the_ct_grid(mask_cases, geometry, tmp_path: Path) -> None:
    case = mask_cases[geometry]
    shape, affine = maskcheck.ct_grid(case.ct)
    with idcseg.masks(case.seg, reference=case.ct_folder) as m:
        assert m.shape == shape
        assert np.allclose(m.affine, affine, atol=1e-4)
        assert np.array_equal(m[2], case.segment(2))  # CT order is along the normal here
        files = m.to_nifti(tmp_path)
    for number, path in enumerate(files, start=1):
        values, world, file_shape, file_affine = maskcheck.file_voxels(path)
        assert file_shape == shape[::-1]  # NIfTI axes: column, row, slice
        assert np.allclose(file_affine[:3, 3], affine[:3, 3], atol=1e-4)
        assert np.allclose(file_affine[:3, 2], affine[:3, 0], atol=1e-4)  # slice step
        assert np.array_equal(values, maskcheck.ct_values(case.ct, case.segment(number), world))


def test_sparse_frames_become_zero_slices_never_dropped(mask_cases) -> None:
    case = mask_cases["axial"]
    ds = pydicom.dcmread(case.seg, stop_before_pixels=True)
    assert int(ds.NumberOfFrames) == 11  # only frames with something in them
    with idcseg.masks(case.seg, segments=3) as m:
        assert m.shape[0] == 7  # slices 2..8 of the CT
        volume = m[3]
        assert volume.sum() == 8 and np.flatnonzero(volume.reshape(7, -1).any(axis=1)).tolist() == [
            4
        ]
    with idcseg.masks(case.seg) as m:
        assert not any(m[n][3].any() for n in m)  # CT slice 5: zeros in every segment


def test_nifti_header_is_what_readers_expect(mask_cases, tmp_path: Path) -> None:
    import nibabel as nib

    with idcseg.masks(mask_cases["axial"].seg, segments=[1]) as m:
        (path,) = m.to_nifti(tmp_path)
    image = nib.load(path)
    assert image.header["sform_code"] == 1 and image.header["qform_code"] == 1
    assert np.allclose(image.header.get_zooms(), (0.9, 0.7, 2.5), atol=1e-5)
    assert image.header.get_xyzt_units()[0] == "mm"
    assert np.allclose(image.get_qform(), image.get_sform(), atol=1e-4)
    with idcseg.masks(mask_cases["tilted"].seg, segments=[1]) as m:
        (tilted,) = m.to_nifti(tmp_path / "tilted")
    header = nib.load(tilted).header
    assert header["qform_code"] == 0 and header["sform_code"] == 1  # a shear lives in the sform


# --- merging, fractions, label maps ------------------------------------------------------------


def test_merge_names_overlaps_and_writes_nothing(mask_cases, tmp_path: Path) -> None:
    with idcseg.masks(mask_cases["axial"].seg) as m, pytest.raises(core.OverlapError) as info:
        m.to_nifti(tmp_path, merge=True)
    overlap = int((mask_cases["axial"].source[..., 0] & mask_cases["axial"].source[..., 1]).sum())
    assert f"segments overlap: 1 and 2 ({overlap} voxels)" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no label map, no temporary file, no sidecar


@pytest.mark.parametrize("policy", ["first", "last"])
def test_merge_policies(mask_cases, policy, tmp_path: Path) -> None:
    case = mask_cases["oblique"]
    with idcseg.masks(case.seg) as m:
        (path,) = m.write(tmp_path, "nrrd", merge=True, overlap=policy)
        assert np.array_equal(m.label_map(policy), m.label_map(policy))
    expected = np.zeros(case.source.shape[:3], dtype=np.uint8)
    numbers = [1, 2, 3] if policy == "last" else [3, 2, 1]
    for n in numbers:
        expected[case.source[..., n - 1]] = n
    check_file(path, case, expected)
    sidecar = json.loads((tmp_path / "segments.json").read_text())
    assert sidecar["merged"] and {s["file"] for s in sidecar["segments"]} == {"labelmap.nrrd"}
    assert [s["voxel_count"] for s in sidecar["segments"]] == [
        int((expected == n).sum()) for n in (1, 2, 3)
    ]


def test_fractional_probabilities_and_threshold(mask_cases, tmp_path: Path) -> None:
    case = mask_cases["axial"]
    fractions = np.zeros(case.source.shape[:3], dtype=np.float32)
    fractions[case.source[..., 0]] = 51 / 255
    fractions[case.source[..., 1]] = 204 / 255
    seg = sf.seg_of_arrays(case.ct, tmp_path / "frac.dcm", fractions[..., None],
                           sf.MASK_SEGMENTS[:1], "FRACTIONAL")  # fmt: skip
    with idcseg.masks(seg) as m:
        assert m.kind == "FRACTIONAL"
        (path,) = m.to_npz(tmp_path / "float")
    check_file(path, case, fractions)  # float32, exactly stored value / 255
    with idcseg.masks(seg, threshold=0.5) as m:
        (path,) = m.to_nifti(tmp_path / "half")
    check_file(path, case, (fractions >= 0.5).astype(np.uint8))
    with idcseg.masks(seg) as m, pytest.raises(UsageError, match="needs --threshold"):
        m.to_nifti(tmp_path / "merged", merge=True)
    stats = idcseg.segment_stats(seg)  # fractional segments are counted at 0.5 by default
    assert stats.voxel_count.tolist() == [int((fractions >= 0.5).sum())]


@pytest.mark.parametrize("syntax", ["native", "rle", "jpegls", "eot"])
def test_label_map_seg(mask_cases, syntax, tmp_path: Path) -> None:
    from pydicom.uid import JPEGLSLossless, RLELossless

    case = mask_cases["tilted"]
    labels = np.zeros(case.source.shape[:3], dtype=np.uint8)
    labels[case.source[..., 0]] = 1
    labels[case.source[..., 2]] = 3  # segment 2 left out: a number the map does not use
    options = {
        "native": {},
        "rle": {"transfer_syntax_uid": RLELossless},
        "jpegls": {"transfer_syntax_uid": JPEGLSLossless},
        "eot": {"transfer_syntax_uid": RLELossless, "use_extended_offset_table": True},
    }[syntax]
    segments = [sf.MASK_SEGMENTS[0], sf.MASK_SEGMENTS[2]]
    seg = sf.seg_of_arrays(case.ct, tmp_path / "lm.dcm", labels, segments, "LABELMAP", **options)
    with idcseg.masks(seg) as m:
        assert m.kind == "LABELMAP" and list(m) == [1, 3]  # Background is not a segment
        files = m.to_nifti(tmp_path / "each")
    for number, path in zip((1, 3), files, strict=True):
        check_file(path, case, (labels == number).astype(np.uint8))
    with idcseg.masks(seg) as m:
        (path,) = m.to_nifti(tmp_path / "merged", merge=True)  # the SEG's own label map
    check_file(path, case, labels)
    with pytest.raises(UsageError, match="background"):
        idcseg.masks(seg, segments=0)


# --- choosing segments -------------------------------------------------------------------------


def test_segments_by_number_and_by_find_filters(mask_cases) -> None:
    seg = mask_cases["axial"].seg
    assert list(idcseg.masks(seg, segments=[3, 1])) == [1, 3]
    assert list(idcseg.masks(seg, structure="Kidney")) == [2]
    assert list(idcseg.masks(seg, modifier="Left")) == [2]
    assert list(idcseg.masks(seg, structure="SCT:27925004")) == [3]  # SRT M-03010 in the file
    assert list(idcseg.masks(seg, algorithm_type="AUTOMATIC")) == [1]
    assert list(idcseg.masks(seg, anatomy="abdomen", segments=[1, 2])) == [1]
    frame = idcseg.masks(seg).segments
    assert frame.SegmentLabel.tolist() == ["Liver", "Kidney left", "Nodule"]
    assert frame.structure_code.tolist() == ["SCT:10200004", "SCT:64033007", "SRT:M-03010"]
    assert frame.modifier.tolist()[1] == "Left"
    with pytest.raises(UsageError, match=r"no segment 7 in .* \(it has segments 1–3\)"):
        idcseg.masks(seg, segments=[7])
    with pytest.raises(UsageError, match="no segment matches"):
        idcseg.masks(seg, structure="Liver", modifier="Right")


# --- statistics --------------------------------------------------------------------------------


def test_stats_match_numpy_on_the_source_arrays(mask_cases) -> None:
    case = mask_cases["oblique"]
    stats = idcseg.segment_stats(case.seg, reference=case.ct_folder)
    shape, affine = maskcheck.ct_grid(case.ct)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000
    assert stats.SegmentNumber.tolist() == [1, 2, 3]
    for k, row in stats.iterrows():
        mask = case.source[..., k]
        index = np.argwhere(mask)
        assert row.voxel_count == len(index)
        assert row.volume_ml == pytest.approx(len(index) * voxel_ml)
        lo, hi = index.min(axis=0), index.max(axis=0)
        assert (row.slice_first, row.row_first, row.column_first) == tuple(lo)
        assert (row.slice_last, row.row_last, row.column_last) == tuple(hi)
        assert row.slice_count == len(np.unique(index[:, 0]))
        world = index @ affine[:3, :3].T + affine[:3, 3]
        centroid = world.mean(axis=0)
        assert (row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm) == pytest.approx(
            tuple(centroid), abs=1e-3
        )
        assert row.bbox_z_min_mm <= world[:, 2].min() + 1e-3
        assert row.bbox_z_max_mm >= world[:, 2].max() - 1e-3
    own = idcseg.segment_stats(case.seg)  # on the SEG's own grid: same mm, other indices
    assert own.centroid_x_mm.tolist() == pytest.approx(stats.centroid_x_mm.tolist(), abs=1e-3)
    assert (own.slice_first + 2).tolist() == stats.slice_first.tolist()


def test_stats_command_formats(cli, mask_cases, tmp_path: Path) -> None:
    seg = str(mask_cases["axial"].seg)
    run = cli("stats", seg, "--structure", "Kidney", "--format", "csv")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split(",")[:8] == [
        "SeriesInstanceUID", "SOPInstanceUID", "SegmentNumber", "SegmentLabel", "structure",
        "structure_code", "voxel_count", "volume_ml",
    ]  # fmt: skip
    assert len(lines) == 2 and ",2,Kidney left,Kidney,SCT:64033007," in lines[1]
    out = tmp_path / "stats.parquet"
    run = cli("stats", seg, "--format", "parquet", "-o", str(out))
    assert run.code == 0, run.err
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("voxel_count").to_pylist() == [
        int(mask_cases["axial"].source[..., k].sum()) for k in range(3)
    ]


# --- the command -------------------------------------------------------------------------------


def test_masks_command_end_to_end(cli, mask_cases, tmp_path: Path) -> None:
    case = mask_cases["axial"]
    out = tmp_path / "out"
    preview = tmp_path / "overlay.png"
    run = cli("masks", str(case.seg), "-o", str(out), "--reference", str(case.ct_folder),
              "--format", "nrrd", "--preview", str(preview), "-n", "1", "-n", "2")  # fmt: skip
    assert run.code == 0, run.err
    assert sorted(p.name for p in out.iterdir()) == [
        "01_Liver.nrrd", "02_Kidney_left.nrrd", "segments.json",
    ]  # fmt: skip
    assert "wrote 2 nrrd files of 1 SEG into" in run.err and "preview written to" in run.err
    check_file(out / "02_Kidney_left.nrrd", case, case.segment(2))
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sidecar = json.loads((out / "segments.json").read_text())
    shape, affine = maskcheck.ct_grid(case.ct)
    geometry = sidecar["geometry"]
    assert geometry["shape"] == list(shape) and geometry["grid_of"] == "reference series"
    assert np.allclose(geometry["affine_lps"], affine, atol=1e-4)
    first = sidecar["segments"][0]
    assert first["structure"] == {"code": "SCT:10200004", "meaning": "Liver"}
    assert first["category"]["code"] == "SCT:91723000"
    assert first["anatomy"] == {"code": "SCT:818981001", "meaning": "Abdomen"}
    assert first["SegmentAlgorithmType"] == "AUTOMATIC"
    assert first["SegmentAlgorithmName"] == "TotalSegmentator"
    assert first["file"] == "01_Liver.nrrd" and first["voxel_count"] == int(
        case.source[..., 0].sum()
    )
    assert first["recommended_display_rgb"] == [221, 130, 101]  # through CIELab and back
    assert sidecar["segments"][1]["recommended_display_rgb"] is None
    assert sidecar["segments"][1]["modifiers"] == [{"code": "SCT:7771000", "meaning": "Left"}]
    assert sidecar["SeriesInstanceUID"] == str(pydicom.dcmread(case.seg).SeriesInstanceUID)


def test_a_folder_of_segs_gets_a_subfolder_each(cli, mask_cases, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("axial", "tilted"):
        (folder / f"{name}.dcm").write_bytes(mask_cases[name].seg.read_bytes())
    (folder / "ct.dcm").write_bytes(next(mask_cases["axial"].ct_folder.iterdir()).read_bytes())
    out = tmp_path / "out"
    run = cli("masks", str(folder), "-o", str(out), "--structure", "Nodule", "--merge")
    assert run.code == 0, run.err
    uids = {str(pydicom.dcmread(mask_cases[n].seg).SeriesInstanceUID) for n in ("axial", "tilted")}
    assert {p.name for p in out.iterdir()} == uids
    for uid in uids:
        assert sorted(p.name for p in (out / uid).iterdir()) == ["labelmap.nii.gz", "segments.json"]
    assert "skipped 1 files that are not SEGs" in run.err


# --- bad input ---------------------------------------------------------------------------------


def _no_traceback(run) -> None:  # noqa: ANN001
    assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert run.err.startswith("idcseg: error: ")


def test_bad_input_is_one_line(cli, mask_cases, tmp_path: Path) -> None:
    seg = str(mask_cases["axial"].seg)
    out = tmp_path / "out"
    ct_file = str(next(mask_cases["axial"].ct_folder.iterdir()))
    runs = {
        "not a SEG": (cli("masks", ct_file, "-o", str(out)), 1, "not a segmentation: CT Image"),
        "no segment 9": (cli("masks", seg, "-o", str(out), "-n", "9"), 2, "no segment 9"),
        "format": (cli("masks", seg, "-o", str(out), "-f", "png"), 2, "unknown --format"),
        "threshold": (cli("masks", seg, "-o", str(out), "--threshold", "2"), 2, "(0, 1]"),
        "overlap": (cli("masks", seg, "-o", str(out), "--merge"), 1, "segments overlap: 1 and 2"),
        "no source": (cli("masks", "nothing-here.dcm", "-o", str(out)), 2, "no such file"),
        "no output": (cli("masks", seg), 2, "--output DIR"),
        "no match": (cli("masks", seg, "-o", str(out), "-s", "Spleen"), 2, "matches the filters"),
        "reference": (
            cli("masks", seg, "-o", str(out), "--reference", str(mask_cases["oblique"].ct_folder)),
            1,
            "which is not in",
        ),
        "output is a file": (cli("masks", seg, "-o", ct_file), 2, "a file, not a folder"),
        "cannot make": (cli("masks", seg, "-o", ct_file + "/sub"), 2, "cannot make the folder"),
    }
    for name, (run, code, text) in runs.items():
        assert run.code == code, (name, run.err)
        assert text in run.err, (name, run.err)
        _no_traceback(run)
    assert not out.exists() or [p.name for p in out.iterdir()] == []


def test_truncated_pixel_data(cli, mask_cases, tmp_path: Path) -> None:
    cut = tmp_path / "cut.dcm"
    data = mask_cases["axial"].seg.read_bytes()
    cut.write_bytes(data[: len(data) - 500])
    run = cli("masks", str(cut), "-o", str(tmp_path / "out"))
    assert run.code == 1 and "the file ends inside the pixel data" in run.err, run.err
    _no_traceback(run)


def test_mismatched_reference_is_refused(mask_cases, tmp_path: Path) -> None:
    axial = mask_cases["axial"]
    # another frame of reference
    other = sf.volume_ct(tmp_path / "other", "axial")
    for ds in other:
        ds.SeriesInstanceUID = str(
            pydicom.dcmread(axial.seg).ReferencedSeriesSequence[0].SeriesInstanceUID
        )
    folder = tmp_path / "other_for"
    folder.mkdir()
    for i, ds in enumerate(other):
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    with pytest.raises(GeometryError, match="frame of reference .* do not share coordinates"):
        idcseg.masks(axial.seg, reference=folder)
    # the right series and frame of reference, but sagittal: the frames are not parallel to it
    from idcseg.examples import make_ct

    header = pydicom.dcmread(axial.seg, stop_before_pixels=True)
    make_ct(tmp_path / "turned", "P", n_slices=11, size=(40, 48), pixel_spacing=(0.7, 0.9),
            orientation=(0, 1, 0, 0, 0, -1), frame_uid=str(header.FrameOfReferenceUID),
            series_uid=str(header.ReferencedSeriesSequence[0].SeriesInstanceUID))  # fmt: skip
    with pytest.raises(GeometryError, match="not parallel to reference series"):
        idcseg.masks(axial.seg, reference=tmp_path / "turned")
    # a slice missing from the reference: not equidistant
    gap = tmp_path / "gap"
    gap.mkdir()
    for i, path in enumerate(sorted(axial.ct_folder.iterdir())):
        if i != 4:
            (gap / path.name).write_bytes(path.read_bytes())
    with pytest.raises(GeometryError, match="not equidistant: 1 plane"):
        idcseg.masks(axial.seg, reference=gap)
    # half a slice off: the frames fall between the reference's slices
    with pytest.raises(GeometryError, match="fall between the voxels"):
        _with_ct_edit(axial, tmp_path / "shifted", shift=(0, 0, 1.25))
    with pytest.raises(IdcsegError, match="segments series .*, which is not in"):
        idcseg.masks(axial.seg, reference=mask_cases["oblique"].ct_folder)


def _with_ct_edit(case: sf.MaskCase, folder: Path, shift) -> None:  # noqa: ANN001
    folder.mkdir()
    for path in sorted(case.ct_folder.iterdir()):
        ds = pydicom.dcmread(path)
        if shift is not None:
            ds.ImagePositionPatient = [
                float(a) + b for a, b in zip(ds.ImagePositionPatient, shift, strict=True)
            ]
        ds.save_as(folder / path.name)
    idcseg.masks(case.seg, reference=folder)


def test_frames_that_are_not_a_regular_stack_are_refused(mask_cases, tmp_path: Path) -> None:
    case = mask_cases["axial"]

    def edited(name: str, edit) -> Path:  # noqa: ANN001
        return sf.clone_seg(case.seg, tmp_path / f"{name}.dcm", edit=edit)

    def not_equidistant(ds) -> None:  # noqa: ANN001
        position = ds.PerFrameFunctionalGroupsSequence[5].PlanePositionSequence[0]
        position.ImagePositionPatient[2] = float(position.ImagePositionPatient[2]) + 0.7

    def not_parallel(ds) -> None:  # noqa: ANN001
        groups = ds.PerFrameFunctionalGroupsSequence
        for i, item in enumerate(groups):
            orientation = pydicom.Dataset()
            orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0] if i else [0, 1, 0, 0, 0, -1]
            item.PlaneOrientationSequence = [orientation]

    def off_line(ds) -> None:  # noqa: ANN001  every frame of one plane moved sideways
        groups = ds.PerFrameFunctionalGroupsSequence
        z = float(groups[3].PlanePositionSequence[0].ImagePositionPatient[2])
        for item in groups:
            position = item.PlanePositionSequence[0]
            if float(position.ImagePositionPatient[2]) == z:
                position.ImagePositionPatient[0] = float(position.ImagePositionPatient[0]) + 5

    for name, edit, text in (
        ("spacing", not_equidistant, "not equidistant"),
        ("parallel", not_parallel, "frames are not parallel"),
        ("line", off_line, "not on one line of slices"),
    ):
        with pytest.raises(GeometryError, match=text):
            idcseg.masks(edited(name, edit))


def test_an_interrupted_export_leaves_only_whole_files(mask_cases, tmp_path: Path) -> None:
    from idcseg.dicom.segfile import SegFile

    seg = SegFile.open(mask_cases["axial"].seg)
    placement = core.place(seg)

    def stop_after_two(written) -> None:  # noqa: ANN001
        if written.number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        core.export(seg, placement, [1, 2, 3], tmp_path, done=stop_after_two)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01_Liver.nii.gz",
        "02_Kidney_left.nii.gz",
    ]
    check_file(
        tmp_path / "02_Kidney_left.nii.gz", mask_cases["axial"], mask_cases["axial"].segment(2)
    )


def test_a_frame_that_cannot_be_decoded_leaves_no_file(mask_cases, tmp_path: Path) -> None:
    from pydicom.uid import RLELossless

    case = mask_cases["axial"]
    labels = case.source[..., 0].astype(np.uint8)
    seg = sf.seg_of_arrays(case.ct, tmp_path / "rle.dcm", labels, sf.MASK_SEGMENTS[:1],
                           "LABELMAP", transfer_syntax_uid=RLELossless)  # fmt: skip
    data = bytearray(seg.read_bytes())
    data[-40:-8] = b"\xff" * 32  # garble the last frame's RLE segment
    seg.write_bytes(bytes(data))
    out = tmp_path / "out"
    with idcseg.masks(seg) as m, pytest.raises(IdcsegError, match="cannot decode a frame"):
        m.to_nifti(out)
    assert list(out.iterdir()) == []
