"""``idcseg make-seg`` / ``idcseg.make_seg``: masks on a CT series made at test time → SEG → masks.

Every round trip reads the SEG back with highdicom onto the CT's own slices and compares voxels;
dcmqi's ``segimage2itkimage`` reads it too (world coordinates); dcmqi's metadata JSON drives it
as it drives ``itkimage2segimage``; bad input ends in one line, a non-zero exit and no file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

import idcseg
from idcseg.dicom import structures
from idcseg.dicom.geometry import LPS_TO_RAS, Grid
from idcseg.dicom.reference import ReferenceFolder
from idcseg.errors import UsageError
from tests.segfactory import make_ct_series

LABELMAP_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


# dcmqi's segmentAttributes item of a left-lung nodule: every code a segment can carry
NODULE_ATTRIBUTES = {
    "labelID": 1,
    "SegmentLabel": "Nodule 1",
    "SegmentedPropertyCategoryCodeSequence": {
        "CodeValue": "49755003", "CodingSchemeDesignator": "SCT",
        "CodeMeaning": "Morphologically Abnormal Structure"},
    "SegmentedPropertyTypeCodeSequence": {
        "CodeValue": "27925004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Nodule"},
    "AnatomicRegionSequence": {
        "CodeValue": "39607008", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Lung"},
    "AnatomicRegionModifierSequence": {
        "CodeValue": "7771000", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Left"},
    "SegmentAlgorithmType": "MANUAL",
    "TrackingIdentifier": "Nodule 1",
    "TrackingUniqueIdentifier": "2.25.99887766",
}  # fmt: skip


@dataclass
class World:
    root: Path
    ct: Path
    grid: Grid
    uids: list[str]  # SOPInstanceUIDs of the CT, slice by slice of the grid
    positions: list[list[float]]
    masks: dict[str, np.ndarray]  # name → bool [slice, row, column]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A CT of 9 slices of 36 rows × 40 columns, and three overlapping masks on its grid."""
    root = tmp_path_factory.mktemp("makeseg")
    ct = make_ct_series(root / "ct", n_slices=9, size=(36, 40))
    series = ReferenceFolder(root / "ct").series(ct[0].SeriesInstanceUID)
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in series.files]
    shape = series.grid.shape
    liver = np.zeros(shape, dtype=bool)
    liver[1:6, 4:20, 3:25] = True
    kidney = np.zeros(shape, dtype=bool)
    kidney[4:8, 22:30, 28:37] = True
    kidney[6, 25, 30] = False
    nodule = np.zeros(shape, dtype=bool)
    nodule[2:4, 10:14, 20:29] = True  # overlaps the liver
    return World(
        root,
        root / "ct",
        series.grid,
        [ds.SOPInstanceUID for ds in headers],
        [[float(v) for v in ds.ImagePositionPatient] for ds in headers],
        {"liver": liver, "kidney_left": kidney, "lung_nodule": nodule},
    )


def save_nifti(path: Path, array: np.ndarray, grid: Grid, view: str = "aligned") -> Path:
    """*array* ``[slice, row, column]`` on *grid*, written as NIfTI; ``view`` stores the same
    voxels with rows reversed (as dcm2niix does) or rows and columns swapped."""
    index = np.eye(4)  # stored index → grid index
    data = array
    if view == "rows-reversed":
        data = array[:, ::-1, :]
        index[1, 1], index[1, 3] = -1, array.shape[1] - 1
    elif view == "transposed":
        data = array.transpose(0, 2, 1)
        index[1:3, 1:3] = [[0, 1], [1, 0]]
    affine = grid.affine @ index  # stored (slice, row', column') → LPS
    file_affine = affine[:, [2, 1, 0, 3]]  # NIfTI axes: column', row', slice
    image = nib.Nifti1Image(np.ascontiguousarray(data.transpose(2, 1, 0)), LPS_TO_RAS @ file_affine)
    nib.save(image, path)
    return path


def save_nrrd(path: Path, array: np.ndarray, grid: Grid) -> Path:
    import nrrd

    space = grid.nrrd_space()
    nrrd.write(
        str(path),
        np.ascontiguousarray(array.transpose(2, 1, 0)),
        {
            "space": "left-posterior-superior",
            "space directions": space["space directions"],
            "space origin": space["space origin"],
        },
    )
    return path


def read_back(path: Path, world: World, **options) -> np.ndarray:
    """The SEG's pixels on the CT's slices: ``[slice, row, column, segment]`` (or label map)."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    return seg.get_pixels_by_source_instance(
        world.uids, skip_overlap_checks=True, assert_missing_frames_are_empty=True, **options
    )


def _masks_as_files(world: World, folder: Path, names=("liver", "kidney_left", "lung_nodule")):
    folder.mkdir(exist_ok=True)
    return [
        save_nifti(folder / f"{n}.nii.gz", world.masks[n].astype(np.uint8), world.grid)
        for n in names
    ]


# --- round trips ------------------------------------------------------------------------------


def test_binary_masks_round_trip_with_names_codes_and_overlaps(world, tmp_path, cli):
    files = _masks_as_files(world, tmp_path / "masks")
    out = tmp_path / "seg.dcm"
    run = cli(
        "make-seg", *map(str, files), "--source", str(world.ct), "-o", str(out),
        "--algorithm-name", "TotalSegmentator", "--algorithm-version", "2.4",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.out.strip() == str(out)
    assert "BINARY SEG, 3 segments" in run.err
    ds = pydicom.dcmread(out)
    assert ds.SOPClassUID == SEGMENTATION_STORAGE and ds.SegmentsOverlap == "YES"
    by_label = {s.SegmentLabel: s for s in ds.SegmentSequence}
    assert list(by_label) == ["Liver", "Left Kidney", "Lung nodule"]
    liver, kidney, nodule = by_label.values()
    assert liver.SegmentedPropertyTypeCodeSequence[0].CodeValue == "10200004"
    assert liver.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
    modifier = kidney.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence
    assert (modifier[0].CodeValue, modifier[0].CodeMeaning) == ("7771000", "Left")
    assert nodule.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
    assert nodule.AnatomicRegionSequence[0].CodeValue == "39607008"
    assert all(s.SegmentAlgorithmType == "AUTOMATIC" for s in ds.SegmentSequence)
    algorithm = liver.SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("TotalSegmentator", "2.4")
    back = read_back(out, world).astype(bool)
    for k, name in enumerate(["liver", "kidney_left", "lung_nodule"]):
        assert np.array_equal(back[..., k], world.masks[name]), name
    # empty frames omitted: one frame per (segment, slice with voxels)
    expected = sum(int(m.reshape(m.shape[0], -1).any(1).sum()) for m in world.masks.values())
    assert int(ds.NumberOfFrames) == expected


def test_label_map_round_trip_as_binary_and_as_label_map(world, tmp_path):
    labels = np.zeros(world.grid.shape, dtype=np.uint8)
    labels[world.masks["liver"]] = 1
    labels[world.masks["kidney_left"]] = 5
    labels[world.masks["lung_nodule"]] = 2
    path = save_nifti(tmp_path / "labels.nii.gz", labels, world.grid)
    mapping = "1=liver,2=lung nodule,5=Left Kidney"
    binary = idcseg.make_seg(path, world.ct, tmp_path / "binary.dcm", labels=mapping)
    assert [(s["SegmentNumber"], s["label_value"]) for s in binary.segments] == [
        (1, 1),
        (2, 2),
        (3, 5),
    ]
    back = read_back(binary.path, world).astype(bool)
    for k, value in enumerate((1, 2, 5)):
        assert np.array_equal(back[..., k], labels == value)
    assert pydicom.dcmread(binary.path).SegmentsOverlap == "NO"

    labelmap = idcseg.make_seg(
        path, world.ct, tmp_path / "labelmap.dcm", labels=mapping, segmentation_type="labelmap"
    )
    ds = pydicom.dcmread(labelmap.path)
    assert ds.SOPClassUID == LABELMAP_STORAGE
    assert [int(s.SegmentNumber) for s in ds.SegmentSequence] == [0, 1, 2, 5]  # 0: Background
    merged = read_back(labelmap.path, world, combine_segments=True, relabel=False)
    assert np.array_equal(merged, labels)  # label values kept, voxel for voxel


def test_fractional_round_trip_within_quantisation(world, tmp_path):
    rng = np.random.default_rng(1)
    probability = np.where(world.masks["liver"], rng.random(world.grid.shape), 0.0).astype(
        np.float32
    )
    path = save_nifti(tmp_path / "liver_tumor.nii.gz", probability, world.grid)
    made = idcseg.make_seg(
        path, world.ct, tmp_path / "p.dcm", segmentation_type="fractional", compression="jpeg-ls"
    )
    ds = pydicom.dcmread(made.path)
    assert ds.SegmentationType == "FRACTIONAL" and ds.MaximumFractionalValue == 255
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLSLossless
    back = read_back(made.path, world)[..., 0]
    assert np.max(np.abs(back - probability)) <= 0.5 / 255 + 1e-6
    assert np.all(back[probability == 0] == 0)


def test_masks_stored_with_other_axes_or_as_nrrd_give_the_same_seg(world, tmp_path):
    liver = world.masks["liver"].astype(np.uint8)
    inputs = {}
    for view in ("aligned", "rows-reversed", "transposed"):
        (tmp_path / view).mkdir()
        inputs[view] = save_nifti(tmp_path / view / "liver.nii.gz", liver, world.grid, view)
    (tmp_path / "nrrd").mkdir()
    inputs["nrrd"] = save_nrrd(tmp_path / "nrrd" / "liver.nrrd", liver, world.grid)
    (tmp_path / "be").mkdir()  # uncompressed, big-endian 16-bit
    image = nib.load(save_nifti(tmp_path / "be" / "liver.nii", liver.astype(np.int16), world.grid))
    header = image.header.as_byteswapped(">")
    data = np.asanyarray(image.dataobj).astype(">i2")
    nib.save(nib.Nifti1Image(data, image.affine, header=header), tmp_path / "be" / "liver.nii")
    assert nib.load(tmp_path / "be" / "liver.nii").header.endianness == ">"
    inputs["big-endian"] = tmp_path / "be" / "liver.nii"
    pixels = {}
    for name, path in inputs.items():
        made = idcseg.make_seg(path, world.ct, tmp_path / f"{name}.dcm", uid_root="2.25.77")
        pixels[name] = pydicom.dcmread(made.path).PixelData
    assert len(set(pixels.values())) == 1, "the same voxels must give the same frames"
    assert np.array_equal(
        read_back(tmp_path / "nrrd.dcm", world)[..., 0].astype(bool), world.masks["liver"]
    )


def test_every_attribute_reads_back_with_pydicom_and_highdicom(world, tmp_path):
    import highdicom as hd

    files = _masks_as_files(world, tmp_path / "masks")
    made = idcseg.make_seg(
        files,
        world.ct,
        tmp_path / "seg.dcm",
        algorithm_type="semiautomatic",
        algorithm_name="Slicer",
        series_description="Organs, checked",
        series_number=42,
        content_creator="Doe^Jane",
    )
    ct0 = pydicom.dcmread(next(world.ct.iterdir()))
    ds = pydicom.dcmread(made.path)
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID", "PatientID", "PatientName"):
        assert ds[keyword].value == ct0[keyword].value, keyword
    assert ds.Modality == "SEG" and ds.SeriesDescription == "Organs, checked"
    assert int(ds.SeriesNumber) == 42 and str(ds.ContentCreatorName) == "Doe^Jane"
    assert ds.SeriesInstanceUID == made.series_instance_uid != ct0.SeriesInstanceUID
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == ct0.SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in referenced.ReferencedInstanceSequence} == set(
        world.uids
    )
    for item in ds.PerFrameFunctionalGroupsSequence:  # each frame: its CT slice, its position
        source = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        k = world.uids.index(source)
        position = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        assert np.allclose(position, world.positions[k], atol=1e-4)
    assert {s.SegmentAlgorithmType for s in ds.SegmentSequence} == {"SEMIAUTOMATIC"}
    seg = hd.seg.segread(made.path)
    assert seg.number_of_segments == 3
    description = seg.get_segment_description(2)
    assert description.segment_label == "Left Kidney"
    assert description.algorithm_identification[0].AlgorithmName == "Slicer"
    rgb = structures.lookup("kidney_left").rgb  # the table's colour, as DICOM's CIELab
    expected = hd.color.CIELabColor.from_rgb(*rgb).value
    assert list(ds.SegmentSequence[1].RecommendedDisplayCIELabValue) == list(expected)
    assert seg.get_source_image_uids()[0][1] == ct0.SeriesInstanceUID


def test_the_seg_is_ready_for_describe_and_ingest(world, tmp_path, cli):
    files = _masks_as_files(world, tmp_path / "masks")
    out = tmp_path / "seg.dcm"
    idcseg.make_seg(files, world.ct, out, compression="deflate", algorithm_name="nnU-Net")
    run = cli("describe", str(out), "-f", "json")
    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert [r["SegmentLabel"] for r in rows] == ["Liver", "Left Kidney", "Lung nodule"]
    assert rows[1]["structure_code"] == "SCT:64033007" and rows[1]["modifier"] == "Left"
    assert rows[0]["segmented_SeriesInstanceUID"] == ReferenceFolder(world.ct).series_uids[0]
    run = cli("ingest", str(out))
    assert run.code == 0, run.err
    found = cli("find", "--structure", "Kidney", "-f", "json")
    assert found.code == 0, found.err
    assert any(r["SegmentLabel"] == "Left Kidney" for r in json.loads(found.out))


def test_same_inputs_and_uid_root_give_the_same_bytes(world, tmp_path, monkeypatch):
    files = _masks_as_files(world, tmp_path / "masks")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a = idcseg.make_seg(files, world.ct, tmp_path / "a.dcm", uid_root="2.25.123")
    b = idcseg.make_seg(files, world.ct, tmp_path / "b.dcm", uid_root="2.25.123")
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (a.series_instance_uid, a.sop_instance_uid) == ("2.25.123.1", "2.25.123.2")
    assert pydicom.dcmread(a.path).ContentDate == "20260101"
    c = idcseg.make_seg(files, world.ct, tmp_path / "c.dcm")
    assert c.series_instance_uid != a.series_instance_uid


def test_empty_segments_are_left_out_and_named(world, tmp_path):
    labels = world.masks["liver"].astype(np.uint8)
    path = save_nifti(tmp_path / "labels.nii.gz", labels, world.grid)
    made = idcseg.make_seg(path, world.ct, tmp_path / "s.dcm", labels={1: "liver", 2: "spleen"})
    assert [s["SegmentLabel"] for s in made.segments] == ["Liver"]
    assert made.skipped == ["Spleen (value 2 of labels.nii.gz)"]


# --- dcmqi ------------------------------------------------------------------------------------

needs_dcmqi = pytest.mark.skipif(
    shutil.which("segimage2itkimage") is None, reason="dcmqi's converters are not installed"
)


def _world_points(path: Path) -> set[tuple[float, float, float]]:
    """LPS centres (0.01 mm) of a NIfTI mask's nonzero voxels."""
    image = nib.load(path)
    ijk = np.argwhere(np.asanyarray(image.dataobj) > 0)
    lps = (LPS_TO_RAS @ image.affine @ np.c_[ijk, np.ones(len(ijk))].T).T[:, :3]
    return {tuple(np.round(p, 2)) for p in lps}


@needs_dcmqi
def test_dcmqi_reads_our_seg_and_finds_the_same_voxels(world, tmp_path):
    files = _masks_as_files(world, tmp_path / "masks")
    made = idcseg.make_seg(files, world.ct, tmp_path / "seg.dcm")
    out = tmp_path / "dcmqi"
    out.mkdir()
    run = subprocess.run(
        ["segimage2itkimage", "--inputDICOM", str(made.path), "--outputDirectory", str(out),
         "--outputType", "nifti"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    meta = json.loads((out / "meta.json").read_text())
    labels = [s["SegmentLabel"] for group in meta["segmentAttributes"] for s in group]
    assert labels == ["Liver", "Left Kidney", "Lung nodule"]
    for number, name in enumerate(["liver", "kidney_left", "lung_nodule"], start=1):
        theirs = _world_points(out / f"{number}.nii.gz")
        ours = _world_points(files[number - 1])
        assert theirs == ours, name


@needs_dcmqi
def test_dcmqi_metadata_json_drives_make_seg_as_it_drives_itkimage2segimage(world, tmp_path):
    files = _masks_as_files(world, tmp_path / "masks", names=("liver", "lung_nodule"))
    meta = {
        "ContentCreatorName": "Reader1",
        "ClinicalTrialSeriesID": "Session1",
        "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "Liver and nodule",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "segmentAttributes": [
            [{
                "labelID": 1,
                "SegmentDescription": "Liver Segmentation",
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeValue": "T-D0050", "CodingSchemeDesignator": "SRT", "CodeMeaning": "Tissue"},
                "SegmentedPropertyTypeCodeSequence": {
                    "CodeValue": "T-62000", "CodingSchemeDesignator": "SRT", "CodeMeaning": "Liver"},
                "SegmentAlgorithmType": "SEMIAUTOMATIC",
                "SegmentAlgorithmName": "SlicerEditor",
                "recommendedDisplayRGBValue": [221, 130, 101],
            }],
            [NODULE_ATTRIBUTES],
        ],
    }  # fmt: skip
    meta_path = tmp_path / "meta.json"
    meta_path.write_text(json.dumps(meta))
    ours = idcseg.make_seg(files, world.ct, tmp_path / "ours.dcm", meta=meta_path).path
    theirs = tmp_path / "dcmqi.dcm"
    run = subprocess.run(
        ["itkimage2segimage", "--inputImageList", ",".join(map(str, files)),
         "--inputDICOMDirectory", str(world.ct), "--outputDICOM", str(theirs),
         "--inputMetadata", str(meta_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    a, b = pydicom.dcmread(ours), pydicom.dcmread(theirs)
    for keyword in ("SeriesDescription", "SeriesNumber", "ContentCreatorName",
                    "ClinicalTrialSeriesID", "ClinicalTrialTimePointID"):  # fmt: skip
        assert str(a[keyword].value) == str(b[keyword].value), keyword
    for x, y in zip(a.SegmentSequence, b.SegmentSequence, strict=True):
        for keyword in ("SegmentNumber", "SegmentLabel", "SegmentAlgorithmType",
                        "SegmentAlgorithmName", "TrackingID", "TrackingUID",
                        "SegmentDescription"):  # fmt: skip
            assert x.get(keyword) == y.get(keyword), keyword
        for keyword in ("SegmentedPropertyCategoryCodeSequence",
                        "SegmentedPropertyTypeCodeSequence", "AnatomicRegionSequence"):  # fmt: skip
            if keyword in y:
                assert (x[keyword][0].CodeValue, x[keyword][0].CodingSchemeDesignator) == (
                    y[keyword][0].CodeValue,
                    y[keyword][0].CodingSchemeDesignator,
                )
    region = a.SegmentSequence[1].AnatomicRegionSequence[0].AnatomicRegionModifierSequence[0]
    assert region.CodeMeaning == "Left"
    colour = a.SegmentSequence[0].RecommendedDisplayCIELabValue
    assert all(
        abs(int(p) - int(q)) <= 2
        for p, q in zip(colour, b.SegmentSequence[0].RecommendedDisplayCIELabValue, strict=True)
    )
    dcmqis = read_back(theirs, world, ignore_spatial_locations=True)  # dcmqi does not say so
    assert np.array_equal(read_back(ours, world), dcmqis)


def _described(path: Path) -> list[tuple]:
    """What a SEG says of each segment, as pydicom reads it: label, codes, modifiers, algorithm,
    tracking and colour."""

    def code(item, keyword):
        seq = item.get(keyword)
        return (
            (seq[0].CodingSchemeDesignator, seq[0].CodeValue, seq[0].CodeMeaning) if seq else None
        )

    out = []
    for item in pydicom.dcmread(path).SegmentSequence:
        kind = item.SegmentedPropertyTypeCodeSequence[0]
        region = item.get("AnatomicRegionSequence")
        out.append((
            item.SegmentLabel, item.get("SegmentDescription"),
            code(item, "SegmentedPropertyCategoryCodeSequence"),
            code(item, "SegmentedPropertyTypeCodeSequence"),
            code(kind, "SegmentedPropertyTypeModifierCodeSequence"),
            code(item, "AnatomicRegionSequence"),
            code(region[0], "AnatomicRegionModifierSequence") if region else None,
            item.SegmentAlgorithmType, item.get("SegmentAlgorithmName"),
            item.get("TrackingID"), item.get("TrackingUID"),
            tuple(item.get("RecommendedDisplayCIELabValue") or ()),
        ))  # fmt: skip
    return out


@pytest.mark.parametrize("merge", [False, True], ids=["one-file-per-segment", "label-map"])
def test_masks_written_by_idcseg_go_back_with_their_segments_json(world, tmp_path, merge):
    """SEG → idcseg masks → make-seg, describing nothing: segments.json keeps every code."""
    files = _masks_as_files(world, tmp_path / "in", names=("kidney_left", "lung_nodule"))
    meta = {
        "segmentAttributes": [
            [{
                "labelID": 1, "SegmentLabel": "Kidney L", "SegmentDescription": "left kidney",
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeValue": "91723000", "CodingSchemeDesignator": "SCT",
                    "CodeMeaning": "Anatomical Structure"},
                "SegmentedPropertyTypeCodeSequence": {
                    "CodeValue": "64033007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Kidney"},
                "SegmentedPropertyTypeModifierCodeSequence": {
                    "CodeValue": "7771000", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Left"},
                "SegmentAlgorithmType": "AUTOMATIC", "SegmentAlgorithmName": "TotalSegmentator",
                "recommendedDisplayRGBValue": [185, 102, 83],
            }],
            [NODULE_ATTRIBUTES],
        ],
    }  # fmt: skip
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    first = idcseg.make_seg(files, world.ct, tmp_path / "first.dcm", meta=tmp_path / "meta.json")
    with idcseg.masks(first.path, reference=world.ct) as masks:
        written = masks.to_nifti(tmp_path / "out", merge=merge)
    assert (tmp_path / "out" / "segments.json").is_file()

    again = idcseg.make_seg(tmp_path / "out", world.ct, tmp_path / "again.dcm")  # no description
    assert _described(again.path) == _described(first.path)
    assert np.array_equal(read_back(again.path, world), read_back(first.path, world))
    # what the command line gives still wins over the file
    renamed = idcseg.make_seg(
        written, world.ct, tmp_path / "named.dcm", algorithm_type="AUTOMATIC", algorithm_name="Mine"
    )
    segments = pydicom.dcmread(renamed.path).SegmentSequence
    assert {(s.SegmentAlgorithmType, s.SegmentAlgorithmName) for s in segments} == {
        ("AUTOMATIC", "Mine")
    }
    assert [s.SegmentLabel for s in segments] == ["Kidney L", "Nodule 1"]


def test_a_damaged_segments_json_is_named_not_trusted(world, tmp_path, cli):
    folder = tmp_path / "masks"
    files = _masks_as_files(world, folder, names=("liver",))
    (folder / "segments.json").write_text('{"segments": [{"file": "liver.nii.gz", ')  # cut short
    line = _fails(cli, tmp_path, files[0], "--source", world.ct)
    assert f"{folder / 'segments.json'} is not the JSON `idcseg masks` writes" in line
    assert "repair or delete it" in line
    # --labels (or --meta) describes the segments instead: the file is not read
    made = idcseg.make_seg(files, world.ct, tmp_path / "s.dcm", labels="liver.nii.gz=liver")
    assert [s["SegmentLabel"] for s in made.segments] == ["Liver"]
    # a sidecar that does not list the files given is someone else's: names describe them
    (folder / "segments.json").write_text(json.dumps({"segments": [{"file": "other.nii.gz"}]}))
    made = idcseg.make_seg(files, world.ct, tmp_path / "t.dcm")
    assert [s["SegmentLabel"] for s in made.segments] == ["Liver"]


# --- bad input: one line, non-zero exit, no file ------------------------------------------------


def _fails(cli, tmp_path, *args, code=2):
    out = tmp_path / "out" / "seg.dcm"
    out.parent.mkdir(exist_ok=True)
    run = cli("make-seg", *map(str, args), "-o", str(out))
    assert run.code == code, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idcseg: error: "), run.err
    assert "Traceback" not in run.err
    assert list(out.parent.iterdir()) == [], "nothing may be left behind"
    return lines[0]


def _meta_file(tmp_path: Path, **changes) -> Path:
    """A dcmqi metadata JSON for one mask file holding the nodule, with *changes* to its
    segment (keys of the segment) or series (keys starting with a capital and no segment key)."""
    segment = {**NODULE_ATTRIBUTES, **changes.pop("segment", {})}
    path = tmp_path / "meta.json"
    path.write_text(json.dumps({**changes, "segmentAttributes": [[segment]]}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"SegmentLabel": "left\\right"}, "holds a backslash"),
        ({"SegmentAlgorithmType": "AUTOMATIC", "SegmentAlgorithmName": "m" * 65},
         "algorithm name is longer than 64"),
        ({"SegmentedPropertyTypeCodeSequence": {
            "CodeValue": "1", "CodingSchemeDesignator": "S" * 17, "CodeMeaning": "x"}},
         "coding scheme designator is longer than 16"),
    ],
)  # fmt: skip
def test_meta_values_dicom_cannot_hold_are_one_line_errors(world, tmp_path, cli, segment, message):
    mask = _masks_as_files(world, tmp_path / "masks", names=("lung_nodule",))[0]
    meta = _meta_file(tmp_path, segment=segment)
    line = _fails(cli, tmp_path, mask, "--source", world.ct, "--meta", meta)
    assert message in line


def test_non_ascii_meta_makes_a_utf8_seg_without_warnings(world, tmp_path, cli):
    mask = _masks_as_files(world, tmp_path / "masks", names=("lung_nodule",))[0]
    meta = _meta_file(
        tmp_path,
        segment={"SegmentLabel": "Läsion 肝臓"},
        SeriesDescription="Łódź Läsionen",
        ContentCreatorName="Müller^Jörg",
    )
    out = tmp_path / "seg.dcm"
    run = cli("make-seg", mask, "--source", world.ct, "--meta", meta, "-o", out)
    assert run.code == 0, run.err
    assert "Warning" not in run.err and "encode" not in run.err, run.err
    ds = pydicom.dcmread(out)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.SegmentSequence[0].SegmentLabel == "Läsion 肝臓"
    assert ds.SeriesDescription == "Łódź Läsionen"
    assert ds.ContentCreatorName == "Müller^Jörg"


def test_a_mask_on_another_grid_is_refused_naming_the_difference(world, tmp_path, cli):
    liver = world.masks["liver"].astype(np.uint8)
    short = save_nifti(tmp_path / "liver.nii.gz", liver[:-1], world.grid)
    message = _fails(cli, tmp_path, short, "--source", world.ct)
    assert "not on the source series' grid (size differ)" in message
    assert "40×36×8 voxels" in message and "40×36×9 voxels" in message
    assert "does not resample" in message

    coarse = Grid(world.grid.shape, world.grid.affine @ np.diag([1, 1.5, 1.5, 1]))
    (tmp_path / "b").mkdir()
    message = _fails(
        cli,
        tmp_path,
        save_nifti(tmp_path / "b" / "liver.nii.gz", liver, coarse),
        "--source",
        world.ct,
    )
    assert "(voxel size differ)" in message

    moved = world.grid.affine.copy()
    moved[:3, 3] += [3.0, 0, 0]
    (tmp_path / "c").mkdir()
    message = _fails(
        cli,
        tmp_path,
        save_nifti(tmp_path / "c" / "liver.nii.gz", liver, Grid(world.grid.shape, moved)),
        "--source",
        world.ct,
    )
    assert "(position differ)" in message


def test_values_without_a_description_are_refused(world, tmp_path, cli):
    labels = world.masks["liver"].astype(np.uint8)
    labels[world.masks["kidney_left"]] = 7
    path = save_nifti(tmp_path / "labels.nii.gz", labels, world.grid)
    message = _fails(cli, tmp_path, path, "--source", world.ct, "--labels", "1=liver")
    assert "label value(s) 7 have no segment description" in message
    named = tmp_path / "liver.nii.gz"  # a structure's name, but a label map inside
    shutil.copy(path, named)
    message = _fails(cli, tmp_path, named, "--source", world.ct)
    assert "holds 2 label values (1, 7): it is a label map" in message


def test_unknown_names_list_close_matches(world, tmp_path, cli):
    path = save_nifti(tmp_path / "livr.nii.gz", world.masks["liver"].astype(np.uint8), world.grid)
    message = _fails(cli, tmp_path, path, "--source", world.ct)
    assert "'livr' is not a structure name" in message and "did you mean liver" in message
    message = _fails(cli, tmp_path, path, "--source", world.ct, "--labels", "1=kidny_left")
    assert "unknown structure 'kidny_left'" in message and "kidney_left" in message


def test_source_folders_with_several_series_or_no_images_are_refused(world, tmp_path, cli):
    path = save_nifti(tmp_path / "liver.nii.gz", world.masks["liver"].astype(np.uint8), world.grid)
    two = tmp_path / "two"
    shutil.copytree(world.ct, two / "a")
    other = make_ct_series(two / "b", n_slices=2, size=(36, 40))
    message = _fails(cli, tmp_path, path, "--source", two)
    assert "holds 2 image series" in message and other[0].SeriesInstanceUID in message
    assert "--source-series" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no DICOM here")
    message = _fails(cli, tmp_path, path, "--source", empty)
    assert "no DICOM images there" in message
    # with --source-series the right one is used
    series = ReferenceFolder(world.ct).series_uids[0]
    made = idcseg.make_seg(path, two, tmp_path / "ok.dcm", source_series=series)
    assert made.source_series_uid == series


def test_unwritable_output_is_one_line_and_no_partial_file(world, tmp_path, cli):
    path = save_nifti(tmp_path / "liver.nii.gz", world.masks["liver"].astype(np.uint8), world.grid)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    run = cli("make-seg", str(path), "--source", str(world.ct), "-o", str(blocker / "seg.dcm"))
    assert run.code == 1 and run.err.startswith("idcseg: error: cannot write")
    assert len(run.err.strip().splitlines()) == 1
    run = cli("make-seg", str(path), "--source", str(world.ct), "-o", str(tmp_path))
    assert run.code == 2 and "is a folder" in run.err


def test_meta_must_describe_every_file_and_codes(world, tmp_path):
    files = _masks_as_files(world, tmp_path / "masks", names=("liver", "kidney_left"))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"segmentAttributes": [[{"labelID": 1,
        "SegmentedPropertyCategoryCodeSequence": {"CodeValue": "91723000", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Anatomical Structure"},
        "SegmentedPropertyTypeCodeSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Liver"},
        "SegmentAlgorithmType": "MANUAL"}]]}))  # fmt: skip
    with pytest.raises(UsageError, match="describes 1 mask file"):
        idcseg.make_seg(files, world.ct, tmp_path / "x.dcm", meta=meta)
    meta.write_text(
        '{"segmentAttributes": [[{"labelID": 1, "SegmentAlgorithmType": "AUTOMATIC"}]]}'
    )
    with pytest.raises(UsageError, match="SegmentedPropertyCategoryCodeSequence is required"):
        idcseg.make_seg(files[:1], world.ct, tmp_path / "x.dcm", meta=meta)
    meta.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        idcseg.make_seg(files[:1], world.ct, tmp_path / "x.dcm", meta=meta)
    assert not (tmp_path / "x.dcm").exists()


def test_files_named_as_idcseg_masks_names_them_resolve(world, tmp_path):
    (tmp_path / "m").mkdir()
    path = save_nifti(
        tmp_path / "m" / "02_kidney_left.nii.gz",
        world.masks["kidney_left"].astype(np.uint8),
        world.grid,
    )
    made = idcseg.make_seg(tmp_path / "m", world.ct, tmp_path / "s.dcm")  # a folder of masks
    assert [s["SegmentLabel"] for s in made.segments] == ["Left Kidney"]
    assert made.segments[0]["file"] == path.name


@pytest.mark.parametrize(
    ("orientation", "step"),
    [
        ((0.866025, 0.5, 0.0, 0.0, 0.0, -1.0), None),  # oblique planes
        ((1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0, 0.8, 2.0)),  # tilted gantry: step off the normal
    ],
    ids=["oblique", "tilted-gantry"],
)
def test_oblique_and_tilted_series_round_trip(tmp_path, orientation, step):
    ct = make_ct_series(tmp_path / "ct", n_slices=6, size=(30, 34))
    row, column = np.array(orientation[:3]), np.array(orientation[3:])
    normal = np.cross(row, column)
    vector = np.array(step) if step else normal * 3.0
    for i, ds in enumerate(ct):  # restack the series in the new geometry
        ds.ImageOrientationPatient = list(orientation)
        ds.ImagePositionPatient = [
            round(float(v), 6) for v in np.array([10.0, -5.0, 40.0]) + i * vector
        ]
        ds.save_as(tmp_path / "ct" / f"ct_{i:04d}.dcm", enforce_file_format=True)
    series = ReferenceFolder(tmp_path / "ct").series(ct[0].SeriesInstanceUID)
    mask = np.zeros(series.grid.shape, dtype=np.uint8)
    mask[1:5, 3:20, 4:11] = 1
    mask[2, 25:28, 30:33] = 1
    path = save_nifti(tmp_path / "liver.nii.gz", mask, series.grid)
    made = idcseg.make_seg(path, tmp_path / "ct", tmp_path / "seg.dcm")
    import highdicom as hd

    seg = hd.seg.segread(made.path)
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in series.files]
    back = seg.get_pixels_by_source_instance(uids, assert_missing_frames_are_empty=True)
    assert np.array_equal(back[..., 0], mask)
    ds = pydicom.dcmread(made.path)
    assert [
        float(v)
        for v in ds.SharedFunctionalGroupsSequence[0]
        .PlaneOrientationSequence[0]
        .ImageOrientationPatient
    ] == pytest.approx(orientation)


# make-seg run in a fresh process, then what it imported and loaded is reported
_PRODUCT_PATH = """
import json, runpy, sys
sys.argv = ["idcseg", *sys.argv[1:]]
try:
    runpy.run_module("idcseg", run_name="__main__")
except SystemExit as exc:
    code = exc.code
tables = None
if "highdicom._standard_utils" in sys.modules:
    from highdicom._standard_utils import get_module_attribute_map
    tables = get_module_attribute_map.cache_info().currsize
print(json.dumps({"code": code, "highdicom": "highdicom" in sys.modules, "tables": tables}))
"""


@pytest.mark.parametrize(
    ("options", "imports_highdicom"),
    [
        ([], False),
        (["--type", "labelmap", "--compress", "deflate"], False),
        (["--type", "fractional", "--compress", "rle"], True),  # highdicom encodes the frames
    ],
)
def test_make_seg_loads_no_table_of_the_standard(world, tmp_path, options, imports_highdicom):
    """The header is built without highdicom's tables of the standard (22 MB of JSON on disk,
    ~60 MB held in memory: issue 15's memory target);
    highdicom is imported only to compress frames with JPEG-LS or RLE."""
    labels = np.zeros(world.grid.shape, dtype=np.uint8)
    labels[world.masks["liver"]] = 1
    labels[world.masks["kidney_left"]] = 2
    path = save_nifti(tmp_path / "labels.nii.gz", labels, world.grid)
    out = tmp_path / "seg.dcm"
    run = subprocess.run(
        [sys.executable, "-c", _PRODUCT_PATH, "make-seg", str(path), "--source", str(world.ct),
         "-o", str(out), "--labels", "1=liver,2=Left Kidney", *options],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), run.stderr
    assert pydicom.dcmread(out).NumberOfFrames
    assert report["highdicom"] is imports_highdicom
    assert report["tables"] in (None, 0)
