"""The SEG header reader: every column of every segment, and every way a file can fail."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest

from idcseg.dicom import segheader
from idcseg.dicom.segheader import (
    IncompleteHeader,
    Malformed,
    NotDicom,
    NotSegmentation,
    SegReadError,
    Truncated,
)
from tests import segfactory
from tests.dicomref import expected_rows, first_referenced_sop

ROW_KEYS = set(segheader.SEGMENTATION_COLUMNS) | set(segheader.LABEL_COLUMNS)
CASE_NAMES = [case.name for case in segfactory.CASES]


def _code(triple):
    value, scheme, meaning = triple
    return {"CodeValue": value, "CodingSchemeDesignator": scheme, "CodeMeaning": meaning}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_rows_match_a_full_read(corpus, name):
    path = corpus.segs[name]
    rows = segheader.segment_rows(segheader.read_header(path))
    assert all(set(row) == ROW_KEYS for row in rows)
    assert rows == expected_rows(path)


@pytest.mark.parametrize("case", segfactory.CASES, ids=CASE_NAMES)
def test_rows_match_what_was_written(corpus, case):
    rows = segheader.segment_rows(segheader.read_header(corpus.segs[case.name]))
    rows = [r for r in rows if not segheader.is_background(r)]
    assert [r["SegmentNumber"] for r in rows] == [s.number for s in case.segments]
    for row, seg in zip(rows, case.segments, strict=True):
        assert row["SegmentLabel"] == seg.label
        assert row["SegmentDescription"] == seg.description
        assert row["SegmentationType"] == case.segmentation_type
        assert row["SegmentedPropertyCategory"] == _code(seg.category)
        seg_type = row["SegmentedPropertyType"]
        assert {k: seg_type[k] for k in _code(seg.type)} == _code(seg.type)
        assert seg_type["AnatomicRegionModifierSequence"] == []
        modifiers = [_code(seg.type_modifier)] if seg.type_modifier else []
        assert seg_type["SegmentedPropertyTypeModifierCodeSequence"] == modifiers
        assert row["AnatomicRegion"] == (_code(seg.region) if seg.region else None)
        assert row["AnatomicRegionModifier"] == (
            _code(seg.region_modifier) if seg.region_modifier else None
        )
        assert row["SegmentAlgorithmType"] == seg.algorithm_type
        assert row["SegmentAlgorithmName"] == seg.algorithm_name
        assert row["TrackingID"] == seg.tracking_id
        assert row["TrackingUID"] == seg.tracking_uid


def test_binary_segments_reference_the_ct_series(corpus):
    ct = pydicom.dcmread(corpus.ct[0])
    ds = segheader.read_header(corpus.segs["binary_multi"])
    rows = segheader.segment_rows(ds)
    assert {r["segmented_SeriesInstanceUID"] for r in rows} == {ct.SeriesInstanceUID}
    assert rows[0]["viewer_url"] == (  # IDC's segmentations.viewer_url since v24: OHIF v3
        "https://viewer.imaging.datacommons.cancer.gov/v3/viewer/"
        f"?StudyInstanceUIDs={ct.StudyInstanceUID}&initialSeriesInstanceUID={ds.SeriesInstanceUID}"
    )
    assert rows[0]["PatientID"] == ct.PatientID
    assert rows[0]["FrameOfReferenceUID"] == ct.FrameOfReferenceUID
    assert segheader.referenced_instance(ds) == first_referenced_sop(corpus.segs["binary_multi"])
    # laterality: Left and Right kidneys are told apart by the type modifier
    lateral = [
        r["SegmentedPropertyType"]["SegmentedPropertyTypeModifierCodeSequence"] for r in rows
    ]
    assert lateral[1] == [_code(segfactory.LEFT)] and lateral[2] == [_code(segfactory.RIGHT)]


def test_labelmap_background_is_kept_and_identifiable(corpus):
    ds = segheader.read_header(corpus.segs["labelmap"])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    rows = segheader.segment_rows(ds)
    assert [r["SegmentNumber"] for r in rows] == [0, 1, 2]
    assert [segheader.is_background(r) for r in rows] == [True, False, False]
    assert rows[0]["SegmentedPropertyType"]["CodeValue"] == "125040"
    assert rows[0]["SegmentedPropertyType"]["CodingSchemeDesignator"] == "DCM"


def test_legacy_srt_codes_are_kept_as_written(corpus):
    path = corpus.segs["legacy_srt"]
    ds = segheader.read_header(path)
    (row,) = segheader.segment_rows(ds)
    assert row["SegmentedPropertyType"]["CodeValue"] == "M-03010"
    assert row["SegmentedPropertyType"]["CodingSchemeDesignator"] == "SRT"
    assert row["AnatomicRegionModifier"] == _code(segfactory.SRT_LEFT)
    # only SourceImageSequence: the instance is known, its series is not
    assert row["segmented_SeriesInstanceUID"] is None
    assert row["viewer_url"].endswith(f"&initialSeriesInstanceUID={ds.SeriesInstanceUID}")
    assert segheader.referenced_instance(ds) == first_referenced_sop(path)
    assert segheader.referenced_instance(ds) == pydicom.dcmread(corpus.ct[0]).SOPInstanceUID


def test_missing_optional_attributes_are_none(corpus):
    ds = segheader.read_header(corpus.segs["minimal"])
    (row,) = segheader.segment_rows(ds)
    assert row["AnatomicRegion"] is None
    assert row["AnatomicRegionModifier"] is None
    assert row["SegmentAlgorithmName"] is None
    assert row["TrackingID"] is None and row["TrackingUID"] is None
    assert row["SegmentDescription"] is None
    assert row["segmented_SeriesInstanceUID"] is None
    assert row["viewer_url"].startswith("https://viewer.imaging.datacommons.cancer.gov/v3/")
    assert segheader.referenced_instance(ds) is None
    facts = segheader.series_facts(ds, corpus.segs["minimal"])
    assert facts["SeriesDescription"] is None and facts["BodyPartExamined"] is None


def test_header_stops_before_functional_groups(corpus):
    ds = segheader.read_header(corpus.segs["binary_multi"])
    assert "SegmentSequence" in ds
    assert "PerFrameFunctionalGroupsSequence" not in ds
    assert "SharedFunctionalGroupsSequence" not in ds
    assert "PixelData" not in ds


def test_series_facts(corpus):
    path = corpus.segs["binary_multi"]
    full = pydicom.dcmread(path)
    facts = segheader.series_facts(segheader.read_header(path), path)
    assert list(facts) == list(segheader.LOCAL_SERIES_COLUMNS)
    assert facts["SeriesInstanceUID"] == full.SeriesInstanceUID
    assert facts["StudyInstanceUID"] == full.StudyInstanceUID
    assert facts["PatientID"] == full.PatientID
    assert facts["Modality"] == "SEG"
    assert facts["SOPClassUID"] == full.SOPClassUID
    assert facts["Manufacturer"] == "idcseg tests"
    assert facts["ManufacturerModelName"] == "segfactory"
    assert facts["SeriesDescription"] == "test SEG binary_multi"
    assert facts["SeriesNumber"] == "300"
    d = full.StudyDate
    assert facts["StudyDate"] == f"{d[:4]}-{d[4:6]}-{d[6:]}"
    assert facts["instanceCount"] == 1
    assert facts["series_size_MB"] == pytest.approx(path.stat().st_size / 1e6)
    assert facts["collection_id"] is None and facts["aws_bucket"] is None


def test_file_object_and_path_agree(corpus):
    path = corpus.segs["fractional"]
    with open(path, "rb") as fp:
        from_file = segheader.segment_rows(segheader.read_header(fp))
    from_bytes = segheader.segment_rows(segheader.read_header(io.BytesIO(path.read_bytes())))
    assert from_file == from_bytes == segheader.segment_rows(segheader.read_header(str(path)))


def test_describe(corpus):
    rows = segheader.describe(corpus.segs["binary_multi"])
    assert [r["SegmentLabel"] for r in rows] == ["Liver", "Kidney L", "Kidney R"]


# --- failures ---------------------------------------------------------------------------------


def test_not_dicom(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 100)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    for path in (text, empty):
        with pytest.raises(NotDicom) as info:
            segheader.read_header(path)
        assert isinstance(info.value, SegReadError) and info.value.reason


def test_other_dicom_is_not_a_segmentation(corpus):
    with pytest.raises(NotSegmentation) as info:
        segheader.read_header(corpus.ct[0])
    assert info.value.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert "CT Image Storage" in info.value.reason


def _cuts(size: int, header_end: int) -> list[int]:
    """Lengths to cut a file to: in the preamble, file meta, header, functional groups, pixels."""
    return sorted(
        {
            100,
            140,
            300,
            header_end // 2,
            header_end + 4,
            header_end + 200,
            (header_end + size) // 2,
            size - 100,
            size - 1,
        }
    )


def _header_end(data: bytes) -> int:
    fp = io.BytesIO(data)
    pydicom.filereader.read_partial(fp, stop_when=lambda tag, vr, length: tag >= 0x52000000)
    return fp.tell()


@pytest.mark.parametrize("name", CASE_NAMES)
def test_truncated_files(corpus, tmp_path, name):
    data = corpus.segs[name].read_bytes()
    for cut in _cuts(len(data), _header_end(data)):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        with pytest.raises((Truncated, NotDicom)) as info:
            segheader.read_header(path)
        if cut >= 132:
            assert isinstance(info.value, Truncated), (cut, info.value)


def test_trailing_padding_is_not_truncation(corpus, tmp_path):
    path = tmp_path / "padded.dcm"
    path.write_bytes(corpus.segs["binary_multi"].read_bytes() + b"\0" * 64)
    assert segheader.segment_rows(segheader.read_header(path))


def test_prefix_reading(corpus):
    data = corpus.segs["binary_multi"].read_bytes()
    end = _header_end(data)
    for n in (0, 131, 132, 400, end - 1, end):
        with pytest.raises(IncompleteHeader) as info:
            segheader.read_header_prefix(data[:n])
        assert info.value.have == n
        assert isinstance(info.value, Truncated)
    ds = segheader.read_header_prefix(data[: end + 12])  # the stop tag and its length
    assert segheader.segment_rows(ds) == segheader.segment_rows(
        segheader.read_header(io.BytesIO(data))
    )
    # the whole file, said to be complete
    assert segheader.read_header_prefix(data, complete=True).SOPInstanceUID
    with pytest.raises(Truncated) as info:
        segheader.read_header_prefix(data[:-10], complete=True)
    assert not isinstance(info.value, IncompleteHeader)


def test_prefix_of_another_sop_class_is_refused_early(corpus):
    data = corpus.ct[0].read_bytes()
    with pytest.raises(NotSegmentation):
        segheader.read_header_prefix(data[:1000])


def test_malformed_without_segment_sequence(corpus, tmp_path):
    path = segfactory.clone_seg(
        corpus.segs["binary_multi"],
        tmp_path / "noseg.dcm",
        edit=lambda ds: delattr(ds, "SegmentSequence"),
    )
    ds = segheader.read_header(path)
    with pytest.raises(Malformed, match="SegmentSequence"):
        segheader.segment_rows(ds)


def test_malformed_segment_number(corpus, tmp_path):
    def edit(ds):
        del ds.SegmentSequence[0].SegmentNumber

    path = segfactory.clone_seg(corpus.segs["binary_multi"], tmp_path / "nonum.dcm", edit=edit)
    with pytest.raises(Malformed, match="SegmentNumber"):
        segheader.describe(path)


def test_garbage_after_file_meta_is_malformed_or_truncated(corpus, tmp_path):
    data = bytearray(corpus.segs["binary_multi"].read_bytes())
    end = _header_end(bytes(data))
    start = end // 2
    data[start : start + 64] = b"\xff" * 64
    path = tmp_path / "garbage.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(SegReadError):
        segheader.segment_rows(segheader.read_header(path))


def test_missing_file_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        segheader.read_header(tmp_path / "absent.dcm")


def test_errors_are_idcseg_errors():
    from idcseg.errors import IdcsegError

    for cls in (NotDicom, NotSegmentation, Truncated, IncompleteHeader, Malformed):
        assert issubclass(cls, SegReadError) and issubclass(cls, IdcsegError)


def test_importing_dicomseg_keeps_highdicom_out(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, idcseg.dicom.segheader, idcseg.local.ingest; print('highdicom' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_repo_path_fixture_is_sane():
    assert (Path(__file__).parent / "segfactory.py").is_file()


# --- thinned reading of the reference sequences ---------------------------------------------


@pytest.mark.parametrize("name", CASE_NAMES)
def test_thinned_and_full_reads_agree(corpus, name):
    path = corpus.segs[name]
    thin = segheader.read_header(path)
    full = segheader.read_header(path, all_references=True)
    assert segheader.segment_rows(thin) == segheader.segment_rows(full)
    assert segheader.referenced_instance(thin) == segheader.referenced_instance(full)
    assert segheader.series_facts(thin, path) == segheader.series_facts(full, path)


def test_reference_sequences_keep_their_first_item(corpus):
    path = corpus.segs["binary_multi"]  # derived from 3 CT slices
    thin = segheader.read_header(path)
    full = segheader.read_header(path, all_references=True)
    for ds, n in ((thin, 1), (full, 3)):
        assert len(ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == n
        assert len(ds.SourceImageSequence) == n
    assert len(thin.SegmentSequence) == len(full.SegmentSequence) == 3


SYNTAXES = [
    pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.ImplicitVRLittleEndian,
    pydicom.uid.DeflatedExplicitVRLittleEndian,
]


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.name)
def test_undefined_length_sequences(corpus, tmp_path, syntax):
    """SEGs as dcmqi writes them: every sequence and item of undefined length."""
    path = segfactory.clone_seg(
        corpus.segs["binary_multi"],
        tmp_path / "undefined.dcm",
        edit=segfactory.undefined_lengths,
        transfer_syntax_uid=syntax,
    )
    data = path.read_bytes()
    if syntax == pydicom.uid.ExplicitVRLittleEndian:
        assert b"\x62\x00\x02\x00SQ\x00\x00\xff\xff\xff\xff" in data  # SegmentSequence
    elif syntax == pydicom.uid.ImplicitVRLittleEndian:
        assert b"\x62\x00\x02\x00\xff\xff\xff\xff" in data
    rows = segheader.describe(path)
    assert rows == expected_rows(path)
    full = segheader.read_header(path, all_references=True)
    assert rows == segheader.segment_rows(full)
    if syntax != pydicom.uid.DeflatedExplicitVRLittleEndian:
        path.write_bytes(data[:-7])
        with pytest.raises(Truncated):
            segheader.read_header(path)
        for n in (_header_end(data) // 2, _header_end(data)):
            with pytest.raises(IncompleteHeader):
                segheader.read_header_prefix(data[:n])
