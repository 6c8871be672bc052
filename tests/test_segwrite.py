"""The SEG writer against highdicom: the same input gives the same DICOM, element by element.

idcseg builds the header with pydicom (idcseg/dicom/segattributes.py) and streams the per-frame
functional groups and pixel data itself (idcseg/dicom/segwrite.py). Here highdicom builds the
whole object from the same masks, the slow way, and every element of the two files must agree,
value and VR, file meta information included — frames, their order and dimension indices,
references, pixel data bytes — except the UIDs and times highdicom makes up on its own and the
implementation the file meta names. Both files must also be consistent in themselves (file meta
against the dataset, one dimension organisation). What idcseg does where highdicom cannot
follow (text outside the source's character set, values DICOM cannot hold) is tested on its own.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from idcseg.dicom import segwrite
from idcseg.dicom.segmentspec import SegmentSpec
from idcseg.dicom.structures import Code
from idcseg.errors import UsageError
from tests.segfactory import make_ct_series

ANATOMY = Code("SCT", "91723000", "Anatomical Structure")
LESION = Code("SCT", "49755003", "Morphologically Abnormal Structure")
LIVER = Code("SCT", "10200004", "Liver")
KIDNEY = Code("SCT", "64033007", "Kidney")
NODULE = Code("SCT", "27925004", "Nodule")
LEFT = Code("SCT", "7771000", "Left")
LUNG = Code("SCT", "39607008", "Lung")
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5)
ROOT = "2.25.4242"
IGNORED = {
    "DimensionOrganizationUID",  # highdicom makes its own; idcseg's is ROOT.3
    "InstanceCreationDate",
    "InstanceCreationTime",
}


def _specs(n: int) -> list[SegmentSpec]:
    kinds = [(ANATOMY, LIVER, None), (ANATOMY, KIDNEY, LEFT), (LESION, NODULE, None)]
    specs = []
    for k in range(1, n + 1):
        category, kind, modifier = kinds[(k - 1) % 3]
        specs.append(
            SegmentSpec(
                file_index=0,
                label_value=k,
                label=f"segment {k}",
                category=category,
                type=kind,
                type_modifier=modifier,
                region=LUNG if kind == NODULE else None,
                algorithm_type="AUTOMATIC" if k % 2 else "MANUAL",
                algorithm_name="model" if k % 2 else None,
                algorithm_version="2",
                rgb=(200, 30 * k % 255, 60),
                tracking_id=f"T{k}" if k == 2 else None,
            )
        )
    return specs


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> list[pydicom.Dataset]:
    """Seven 30×30 CT slices: 900 pixels a frame, not a multiple of 8 (bits carry over)."""
    slices = make_ct_series(tmp_path_factory.mktemp("ct"), n_slices=7, size=30)
    return sorted(slices, key=lambda ds: float(ds.ImagePositionPatient[2]))


def _label_map(n: int, segments: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    labels = np.zeros((n, 30, 30), dtype=np.uint8)
    for k in range(1, segments + 1):
        z0 = int(rng.integers(0, n - 2))
        y0, x0 = (int(v) for v in rng.integers(0, 22, size=2))
        labels[z0 : z0 + 2 + k % 2, y0 : y0 + 6, x0 : x0 + 7] = k
    labels[n // 2] = 0  # an empty slice in the middle: no frame there
    return labels


def _coded(code: Code):
    import highdicom as hd

    return hd.sr.CodedConcept(value=code.value, scheme_designator=code.scheme, meaning=code.meaning)


def _highdicom_description(number: int, spec: SegmentSpec, tracking_uid: str | None):
    """highdicom's SegmentDescription of *spec*: what idcseg's segment items must equal."""
    import highdicom as hd
    from pydicom.sequence import Sequence

    algorithm = None
    if spec.algorithm_type != "MANUAL":
        algorithm = hd.AlgorithmIdentificationSequence(
            name=spec.algorithm_name or "unnamed",
            family=_coded(Code("DCM", "123110", "Artificial Intelligence")),
            version=spec.algorithm_version or "unknown",
        )
    description = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=spec.label,
        segmented_property_category=_coded(spec.category),
        segmented_property_type=_coded(spec.type),
        algorithm_type=spec.algorithm_type,
        algorithm_identification=algorithm,
        tracking_id=spec.tracking_id,
        tracking_uid=tracking_uid if spec.tracking_id else None,
        anatomic_regions=[_coded(spec.region)] if spec.region else None,
        display_color=hd.color.CIELabColor.from_rgb(*spec.rgb) if spec.rgb else None,
    )
    if spec.type_modifier is not None:
        kind = description.SegmentedPropertyTypeCodeSequence[0]
        kind.SegmentedPropertyTypeModifierCodeSequence = Sequence([_coded(spec.type_modifier)])
    if spec.region_modifier is not None and spec.region is not None:
        region = description.AnatomicRegionSequence[0]
        region.AnatomicRegionModifierSequence = Sequence([_coded(spec.region_modifier)])
    if spec.description:
        description.SegmentDescription = spec.description
    return description


def _reference(ct, pixels, kind, specs, options, numbers=None):
    """highdicom's SEG of the same input, built the usual way, as a file read back."""
    import highdicom as hd

    numbers = numbers or list(range(1, len(specs) + 1))
    uids = {
        f"tracking.{n}": f"{ROOT}.4.{n}"
        for n, s in zip(numbers, specs, strict=True)
        if s.tracking_id
    }
    series = options.series
    seg = hd.seg.Segmentation(
        source_images=ct,
        pixel_array=pixels,
        segmentation_type=kind,
        segment_descriptions=[
            _highdicom_description(n, s, uids.get(f"tracking.{n}"))
            for n, s in zip(numbers, specs, strict=True)
        ],
        series_instance_uid=f"{ROOT}.1",
        series_number=series.series_number or 300,
        sop_instance_uid=f"{ROOT}.2",
        instance_number=series.instance_number or 1,
        manufacturer=options.manufacturer,
        manufacturer_model_name=options.manufacturer_model_name,
        software_versions=segwrite._version(),
        device_serial_number=options.device_serial_number,
        fractional_type=options.fractional_type,
        content_description=series.content_description,
        content_creator_name=series.content_creator_name,
        content_label=series.content_label,
        transfer_syntax_uid={
            "jpeg-ls": pydicom.uid.JPEGLSLossless,
            "rle": pydicom.uid.RLELossless,
        }.get(options.compression, pydicom.uid.ExplicitVRLittleEndian),
        series_description=series.series_description or "Segmentation",
        content_date=WHEN.date(),
        content_time=WHEN.time(),
        series_date=WHEN.date(),
        series_time=WHEN.time(),
        omit_empty_frames=options.omit_empty_frames,
    )
    body_part = series.body_part_examined or ct[0].get("BodyPartExamined")
    if body_part:
        seg.BodyPartExamined = body_part
    for keyword, value in series.clinical_trial.items():
        setattr(seg, keyword, value)
    buffer = io.BytesIO()
    seg.save_as(buffer)
    buffer.seek(0)
    return _without_highdicom(pydicom.dcmread(buffer))


def _without_highdicom(ds: pydicom.Dataset) -> pydicom.Dataset:
    """highdicom lists itself as processing equipment; idcseg, which does not use it to build
    the header, does not (the SEG's own General Equipment names idcseg)."""
    items = list(ds.ContributingEquipmentSequence)
    kept = [item for item in items if item.Manufacturer != "Highdicom open-source contributors"]
    assert len(kept) == len(items) - 1
    if kept:
        ds.ContributingEquipmentSequence = kept
    else:
        del ds.ContributingEquipmentSequence
    return ds


IMPLEMENTATION = {"ImplementationClassUID", "ImplementationVersionName"}


def _consistency(ds: pydicom.Dataset) -> list[str]:
    """What a SEG file must agree with itself on: the file meta's SOP class and instance are
    the dataset's, every dimension index names the one dimension organisation."""
    out = []
    meta = ds.file_meta
    if meta.MediaStorageSOPClassUID != ds.SOPClassUID:
        out.append(f"MediaStorageSOPClassUID {meta.MediaStorageSOPClassUID} vs {ds.SOPClassUID}")
    if meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        out.append("MediaStorageSOPInstanceUID is not the SOPInstanceUID")
    organization = ds.DimensionOrganizationSequence[0].DimensionOrganizationUID
    for i, item in enumerate(ds.DimensionIndexSequence):
        if item.DimensionOrganizationUID != organization:
            out.append(f"DimensionIndexSequence[{i}] names another dimension organisation")
    return out


def _differences(a, b, path="", out=None, meta_ignored=frozenset()) -> list[str]:
    """Elements of *a* (idcseg's) and *b* (highdicom's) that differ in value or VR — the file
    meta too (but for the implementation it names) — and what either gets wrong on its own."""
    out = [] if out is None else out
    if not path:
        out.extend(f"ours: {problem}" for problem in _consistency(a))
        out.extend(f"highdicom: {problem}" for problem in _consistency(b))
        skip = IMPLEMENTATION | {"FileMetaInformationGroupLength"} | meta_ignored
        meta_a = pydicom.Dataset({e.tag: e for e in a.file_meta if e.keyword not in skip})
        meta_b = pydicom.Dataset({e.tag: e for e in b.file_meta if e.keyword not in skip})
        _differences(meta_a, meta_b, "file_meta.", out)
    tags_a, tags_b = {e.tag for e in a}, {e.tag for e in b}
    for tag in sorted(tags_a ^ tags_b):
        out.append(
            f"{path}{pydicom.datadict.keyword_for_tag(tag)} only in {'ours' if tag in tags_a else 'highdicom'}"
        )
    for tag in sorted(tags_a & tags_b):
        x, y = a[tag], b[tag]
        if x.keyword in IGNORED:
            continue
        if x.VR != y.VR:
            out.append(f"{path}{x.keyword}: VR {x.VR} vs {y.VR}")
            continue
        if x.VR == "SQ":
            if len(x.value) != len(y.value):
                out.append(f"{path}{x.keyword}: {len(x.value)} vs {len(y.value)} items")
                continue
            for i, (ix, iy) in enumerate(zip(x.value, y.value, strict=True)):
                _differences(ix, iy, f"{path}{x.keyword}[{i}].", out)
        elif x.keyword == "PixelData" and a.get("BitsAllocated") == 1:
            # the bits of every frame; then one padding byte to an even length, which highdicom
            # writes as an ASCII '0' and idcseg as a zero byte
            payload = (int(a.NumberOfFrames) * a.Rows * a.Columns + 7) // 8
            if x.value[:payload] != y.value[:payload] or len(x.value) != len(y.value):
                out.append(f"{path}PixelData differs")
        elif x.value != y.value:
            out.append(f"{path}{x.keyword}: {str(x.value)[:60]!r} vs {str(y.value)[:60]!r}")
    return out


def _write(tmp_path: Path, ct, layers, **options) -> tuple[pydicom.Dataset, segwrite.Options]:
    opts = segwrite.Options(uid_root=ROOT, timestamp=WHEN, **options)
    path = tmp_path / "ours.dcm"
    segwrite.write(ct, layers, path, opts)
    return pydicom.dcmread(path), opts


@pytest.mark.parametrize(
    ("kind", "compression"),
    [
        ("BINARY", "none"),
        ("FRACTIONAL", "none"),
        ("FRACTIONAL", "jpeg-ls"),
        ("LABELMAP", "none"),
        ("LABELMAP", "jpeg-ls"),
        ("LABELMAP", "rle"),
    ],
)
def test_one_label_map_is_written_as_highdicom_writes_it(tmp_path, ct, kind, compression):
    labels = _label_map(len(ct), 5)
    specs = _specs(5)
    ours, opts = _write(
        tmp_path,
        ct,
        [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
        segmentation_type=kind,
        compression=compression,
    )
    theirs = _reference(ct, labels, kind, specs, opts)
    assert _differences(ours, theirs) == []
    assert ours.file_meta.TransferSyntaxUID == theirs.file_meta.TransferSyntaxUID
    assert int(ours.NumberOfFrames) == int(theirs.NumberOfFrames) > 0


def test_overlapping_binary_masks_from_several_files_as_highdicom_writes_them(tmp_path, ct):
    labels = _label_map(len(ct), 3)
    stack = np.stack([labels == k for k in (1, 2, 3)], axis=-1)
    stack[:, 10:20, 10:20, 0] = True  # segment 1 overlaps the others
    stack[:, 12:18, 12:18, 2] = True
    specs = [s for s in _specs(3)]
    layers = [
        segwrite.Layer(
            f"m{k}.nii.gz", [specs[k]], lambda k=k: stack[..., k].astype(np.uint8), "nonzero"
        )
        for k in range(3)
    ]
    ours, opts = _write(tmp_path, ct, layers)
    theirs = _reference(ct, stack.astype(np.uint8), "BINARY", specs, opts)
    assert theirs.SegmentsOverlap == "YES"
    assert _differences(ours, theirs) == []


def test_fractional_masks_as_highdicom_writes_them(tmp_path, ct):
    rng = np.random.default_rng(3)
    probability = np.zeros((len(ct), 30, 30), dtype=np.float32)
    probability[1:4, 5:25, 5:25] = rng.random((3, 20, 20), dtype=np.float32)
    spec = _specs(1)
    ours, opts = _write(
        tmp_path,
        ct,
        [segwrite.Layer("p.nii.gz", spec, lambda: probability, "fractional")],
        segmentation_type="FRACTIONAL",
        fractional_type="OCCUPANCY",
    )
    theirs = _reference(ct, probability[..., None], "FRACTIONAL", spec, opts)
    assert _differences(ours, theirs) == []
    assert ours.DimensionOrganizationType == "3D"


def test_keeping_empty_frames_as_highdicom_does(tmp_path, ct):
    labels = _label_map(len(ct), 2)
    specs = _specs(2)
    ours, opts = _write(
        tmp_path,
        ct,
        [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
        omit_empty_frames=False,
    )
    theirs = _reference(ct, labels, "BINARY", specs, opts)
    assert int(ours.NumberOfFrames) == 2 * len(ct)
    assert _differences(ours, theirs) == []


def test_deflate_holds_the_same_dataset(tmp_path, ct):
    labels = _label_map(len(ct), 3)
    specs = _specs(3)
    layer = [segwrite.Layer("labels.nii.gz", specs, lambda: labels)]
    plain, _ = _write(tmp_path, ct, layer)
    (tmp_path / "d").mkdir()
    deflated, _ = _write(tmp_path / "d", ct, layer, compression="deflate")
    assert deflated.file_meta.TransferSyntaxUID == pydicom.uid.DeflatedExplicitVRLittleEndian
    assert _differences(deflated, plain, meta_ignored={"TransferSyntaxUID"}) == []
    assert (tmp_path / "d" / "ours.dcm").stat().st_size < (tmp_path / "ours.dcm").stat().st_size / 3


def test_binary_with_jpeg_ls_is_refused_with_the_reason(tmp_path, ct):
    with pytest.raises(UsageError, match="1 bit per pixel"):
        segwrite.Options(compression="jpeg-ls").check()


def test_nothing_is_left_behind_when_the_masks_are_refused(tmp_path, ct):
    labels = _label_map(len(ct), 3)
    specs = _specs(2)  # value 3 has no description
    with pytest.raises(UsageError, match="label value\\(s\\) 3 have no segment description"):
        segwrite.write(
            ct, [segwrite.Layer("labels.nii.gz", specs, lambda: labels)], tmp_path / "x.dcm"
        )
    assert list(tmp_path.iterdir()) == []


def _rich_source(ct: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    """The CT with patient, study, clinical trial, specimen and equipment attributes set, some
    of them empty, and some attributes highdicom does not need absent."""
    from pydicom.dataset import Dataset

    rich = []
    for ds in ct:
        ds = copy.deepcopy(ds)
        ds.PatientName = ""
        ds.PatientBirthTime = "101500"
        ds.IssuerOfPatientID = "IDC"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "Per DICOM PS 3.15 AnnexE"
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "113100", "DCM", "Basic"
        ds.DeidentificationMethodCodeSequence = [code]
        ds.ClinicalTrialSponsorName = "NCI"
        ds.ClinicalTrialProtocolID = "LIDC-IDRI"
        ds.ClinicalTrialSiteID = ""
        ds.ClinicalTrialSubjectID = "LIDC-0001"
        ds.ClinicalTrialTimePointID = "baseline"
        ds.StudyDescription = "Chest CT"
        ds.StudyID = ""
        ds.PatientAge = "061Y"
        ds.PatientSize = "1.72"
        ds.SmokingStatus = "NO"
        ds.ContainerIdentifier = "slide 4"  # Specimen module: part of the CT Image IOD
        ds.AcquisitionDateTime = "20040119072730"
        ds.InstitutionName = "Somewhere"
        ds.StationName = "CT2"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionRatio = "2.5"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.SpacingBetweenSlices = "5"
        for keyword in (
            "ReferringPhysicianName",
            "PositionReferenceIndicator",
            "OtherPatientIDsSequence",
        ):
            if keyword in ds:
                delattr(ds, keyword)
        rich.append(ds)
    return rich


def test_patient_study_trial_and_series_attributes_as_highdicom_writes_them(tmp_path, ct):
    from idcseg.dicom.segmentspec import SeriesSpec

    source = _rich_source(ct)
    labels = _label_map(len(ct), 4)
    specs = _specs(4)
    specs[2] = dataclasses.replace(
        specs[2],
        region_modifier=LEFT,
        description="a nodule, seen twice",
        type=Code("SCT", "1234567890123456789", "A concept with a long code value"),
    )
    series = SeriesSpec(
        series_description="Liver model v2",
        series_number=7,
        instance_number=3,
        content_creator_name="Doe^Jane",
        content_label="LIVER_V2",
        content_description="model output",
        body_part_examined="ABDOMEN",
        clinical_trial={"ClinicalTrialSeriesID": "S1", "ClinicalTrialCoordinatingCenterName": "C"},
    )
    for kind in ("BINARY", "LABELMAP"):
        (tmp_path / kind).mkdir()
        ours, opts = _write(
            tmp_path / kind,
            source,
            [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
            segmentation_type=kind,
            series=series,
        )
        theirs = _reference(source, labels, kind, specs, opts)
        assert _differences(ours, theirs) == []
        assert ours.ClinicalTrialSubjectID == "LIDC-0001"
        assert ours.ContainerIdentifier == "slide 4"
        assert ours.ContentCreatorName == "Doe^Jane"
        assert ours.ContributingEquipmentSequence[0].StationName == "CT2"
        third = next(s for s in ours.SegmentSequence if s.SegmentNumber == 3)
        assert third.SegmentedPropertyTypeCodeSequence[0].LongCodeValue == "1234567890123456789"


def test_sources_without_equipment_or_colours_as_highdicom_writes_them(tmp_path, ct):
    source = copy.deepcopy(ct)
    for ds in source:
        del ds.Manufacturer
        del ds.SpacingBetweenSlices  # highdicom computes it from the positions
        ds.PatientSex = ""
    labels = _label_map(len(ct), 3)
    specs = [dataclasses.replace(s, rgb=None) for s in _specs(3)]
    ours, opts = _write(
        tmp_path,
        source,
        [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
        segmentation_type="LABELMAP",
    )
    theirs = _reference(source, labels, "LABELMAP", specs, opts)
    assert "ContributingEquipmentSequence" not in ours
    assert "RecommendedDisplayCIELabValue" not in ours.SegmentSequence[0]
    assert _differences(ours, theirs) == []


def test_absent_type_2_attributes_are_written_empty(tmp_path, ct):
    """highdicom needs the source to hold AccessionNumber, StudyID...: idcseg writes them empty
    when it does not, as highdicom writes a source's empty values."""
    labels = _label_map(len(ct), 2)
    specs = _specs(2)
    absent, empty = copy.deepcopy(ct), copy.deepcopy(ct)
    for a, e in zip(absent, empty, strict=True):
        for keyword in ("AccessionNumber", "StudyID", "PatientBirthDate", "StudyTime"):
            delattr(a, keyword)
            setattr(e, keyword, "")
    ours, opts = _write(tmp_path, absent, [segwrite.Layer("l.nii.gz", specs, lambda: labels)])
    theirs = _reference(empty, labels, "BINARY", specs, opts)
    assert _differences(ours, theirs) == []
    assert ours.AccessionNumber == ""


@pytest.mark.parametrize("compression", ["none", "rle"])
def test_a_uint16_label_map_of_300_segments_as_highdicom_writes_it(tmp_path, ct, compression):
    labels = np.zeros((len(ct), 30, 30), dtype=np.uint16)
    flat = labels.reshape(len(ct), -1)
    for k in range(1, 301):
        flat[k % len(ct), 2 * k : 2 * k + 2] = k
    specs = _specs(300)
    ours, opts = _write(
        tmp_path,
        ct,
        [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
        segmentation_type="LABELMAP",
        compression=compression,
    )
    theirs = _reference(ct, labels, "LABELMAP", specs, opts)
    assert ours.BitsAllocated == 16
    assert len(ours.SegmentSequence) == 301
    assert _differences(ours, theirs) == []


def test_bad_content_label_is_refused_before_anything_is_written(tmp_path, ct):
    from idcseg.dicom.segmentspec import SeriesSpec

    labels = _label_map(len(ct), 1)
    with pytest.raises(UsageError, match="content label 'my label'"):
        _write(
            tmp_path,
            ct,
            [segwrite.Layer("l.nii.gz", _specs(1), lambda: labels)],
            series=SeriesSpec(content_label="my label"),
        )
    assert list(tmp_path.iterdir()) == []


def test_differences_sees_a_vr_a_file_meta_and_a_dimension_organisation(tmp_path, ct):
    """The comparison itself: a changed VR, a file meta naming another SOP class and a dimension
    index naming another organisation are each reported (else the tests above prove nothing)."""
    labels = _label_map(len(ct), 2)
    ours, _ = _write(tmp_path, ct, [segwrite.Layer("l.nii.gz", _specs(2), lambda: labels)])
    again = pydicom.dcmread(tmp_path / "ours.dcm")
    assert _differences(ours, again) == []
    again.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0][
        "ReferencedSegmentNumber"
    ].VR = "SS"
    again.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.7"
    again.DimensionIndexSequence[1].DimensionOrganizationUID = "1.2.3"
    found = "\n".join(_differences(ours, again))
    assert "ReferencedSegmentNumber: VR US vs SS" in found
    assert "highdicom: MediaStorageSOPClassUID" in found
    assert "highdicom: DimensionIndexSequence[1] names another" in found


def test_the_file_meta_names_idcseg(tmp_path, ct):
    from idcseg import __version__
    from idcseg.dicom import segattributes

    labels = _label_map(len(ct), 2)
    ours, _ = _write(tmp_path, ct, [segwrite.Layer("l.nii.gz", _specs(2), lambda: labels)])
    uid = ours.file_meta.ImplementationClassUID
    assert uid == segattributes.IMPLEMENTATION_CLASS_UID
    assert uid.startswith("2.25.") and uid.is_valid and len(uid) <= 64
    name = ours.file_meta.ImplementationVersionName
    assert name == f"IDCSEG_{__version__}"[:16] and len(name) <= 16


@pytest.mark.parametrize("compression", ["none", "rle"])
def test_a_label_map_described_beyond_255_holding_low_values_is_8_bit(tmp_path, ct, compression):
    """--meta describes segment 300, the masks hold 1..3: the SEG holds those three (8 bits),
    header and pixels alike."""
    labels = _label_map(len(ct), 3)
    specs = _specs(3) + [dataclasses.replace(_specs(1)[0], label_value=300, label="absent")]
    ours, opts = _write(
        tmp_path,
        ct,
        [segwrite.Layer("labels.nii.gz", specs, lambda: labels)],
        segmentation_type="LABELMAP",
        compression=compression,
    )
    theirs = _reference(ct, labels, "LABELMAP", specs[:3], opts)
    assert ours.BitsAllocated == 8
    assert _differences(ours, theirs) == []


def test_empty_slice_thickness_is_left_out_as_highdicom_does(tmp_path, ct):
    source = copy.deepcopy(ct)
    for ds in source:
        ds.SliceThickness = None
    labels = _label_map(len(ct), 3)
    specs = _specs(3)
    ours, opts = _write(tmp_path, source, [segwrite.Layer("l.nii.gz", specs, lambda: labels)])
    theirs = _reference(source, labels, "BINARY", specs, opts)
    measures = ours.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert "SliceThickness" not in measures
    assert _differences(ours, theirs) == []


def test_empty_lossy_compression_is_written_00_and_a_trial_series_has_its_center(tmp_path, ct):
    from idcseg.dicom.segmentspec import SeriesSpec

    source = copy.deepcopy(ct)
    for ds in source:
        ds.LossyImageCompression = ""
    labels = _label_map(len(ct), 1)
    ours, _ = _write(
        tmp_path,
        source,
        [segwrite.Layer("l.nii.gz", _specs(1), lambda: labels)],
        series=SeriesSpec(clinical_trial={"ClinicalTrialSeriesID": "S1"}),
    )
    assert ours.LossyImageCompression == "00"
    assert ours.ClinicalTrialSeriesID == "S1"
    assert ours["ClinicalTrialCoordinatingCenterName"].value in (None, "")


def _saved(source: list[pydicom.Dataset], folder: Path, **attributes) -> list[pydicom.Dataset]:
    """*source* with *attributes* set, written to *folder* and read back (raw elements, as a
    user's files are read)."""
    folder.mkdir()
    read = []
    for k, ds in enumerate(source):
        ds = copy.deepcopy(ds)
        for keyword, value in attributes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(folder / f"{k}.dcm", enforce_file_format=True)
        read.append(pydicom.dcmread(folder / f"{k}.dcm"))
    return read


@pytest.mark.parametrize(
    ("charset", "labels_", "written"),
    [
        # no character set declared, labels outside ASCII: UTF-8 declared
        (None, ["Läsion", "肝臓"], "ISO_IR 192"),
        # Latin-1 declared, a label outside it: UTF-8, the Latin-1 patient name re-encoded
        ("ISO_IR 100", ["Łódź lesion", "肝臓"], "ISO_IR 192"),
        # Latin-1 declared and every value fits: kept
        ("ISO_IR 100", ["Läsion", "Ödem"], "ISO_IR 100"),
        # none declared, all ASCII: none written
        (None, ["lesion", "edema"], None),
    ],
)
def test_text_outside_the_sources_character_set_makes_the_seg_utf8(
    tmp_path, ct, charset, labels_, written
):
    import warnings

    from idcseg.dicom.segmentspec import SeriesSpec

    ascii_only = written is None
    name = "Muller^Jorg" if ascii_only else "Müller^Jörg"
    study = "Thorax" if ascii_only else "Thorax-Übersicht"
    source = _saved(
        ct,
        tmp_path / "src",
        SpecificCharacterSet=charset,
        PatientName=name,
        StudyDescription=study,
        StationName=study[:10],  # copied into the Contributing Equipment Sequence item
    )
    specs = [dataclasses.replace(s, label=t) for s, t in zip(_specs(2), labels_, strict=True)]
    labels = _label_map(len(ct), 2)
    creator = "Doe^John" if ascii_only else "Doe^Jürgen"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom's "Failed to encode value" among them
        ours, _ = _write(
            tmp_path,
            source,
            [segwrite.Layer("l.nii.gz", specs, lambda: labels)],
            series=SeriesSpec(series_description=labels_[0] + " map", content_creator_name=creator),
        )
    assert ours.get("SpecificCharacterSet") == written
    assert [s.SegmentLabel for s in ours.SegmentSequence] == labels_
    assert ours.SeriesDescription == labels_[0] + " map"
    assert ours.PatientName == name
    assert ours.StudyDescription == study
    assert ours.ContentCreatorName == creator
    assert ours.ContributingEquipmentSequence[0].StationName == study[:10]
    raw = (tmp_path / "ours.dcm").read_bytes()
    if written == "ISO_IR 192":
        assert name.encode("utf-8") in raw and labels_[0].encode("utf-8") in raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "a\\b"}, "holds a backslash"),
        ({"algorithm_name": "x" * 65}, "algorithm name is longer than 64"),
        ({"algorithm_version": "v" * 65}, "algorithm version is longer than 64"),
        ({"type": Code("SCT-VERY-LONG-SCHEME", "1", "x")}, "coding scheme designator is longer"),
        ({"type": Code("SCT", "1", "x" * 65)}, "code meaning is longer than 64"),
    ],
)
def test_segment_values_dicom_cannot_hold_are_refused_before_anything_is_written(
    tmp_path, ct, change, message
):
    labels = _label_map(len(ct), 1)
    specs = [dataclasses.replace(_specs(1)[0], **change)]
    with pytest.raises(UsageError, match=message):
        _write(tmp_path, ct, [segwrite.Layer("l.nii.gz", specs, lambda: labels)])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ({"content_creator_name": "D" * 65}, "content creator name"),
        ({"content_creator_name": "a\\b"}, "content creator name"),
        ({"series_number": 2**40}, "series number"),
        ({"clinical_trial": {"ClinicalTrialSeriesID": "x" * 65}}, "ClinicalTrialSeriesID"),
    ],
)
def test_series_values_dicom_cannot_hold_are_refused(tmp_path, ct, series, message):
    from idcseg.dicom.segmentspec import SeriesSpec

    labels = _label_map(len(ct), 1)
    with pytest.raises(UsageError, match=message):
        _write(
            tmp_path,
            ct,
            [segwrite.Layer("l.nii.gz", _specs(1), lambda: labels)],
            series=SeriesSpec(**series),
        )
    assert list(tmp_path.iterdir()) == []
