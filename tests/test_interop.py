"""Real SEG files written by dcmqi and highdicom (``../shared/seg-samples``, beside the repo).

The folder is developer material, absent on a user's machine: the tests skip without it.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from idcseg.dicom import segheader
from idcseg.local.ingest import ingest
from tests.dicomref import expected_rows

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "seg-samples"
SR = "sr-example_sr.dcm"


def _files() -> list[Path]:
    return sorted(SAMPLES.rglob("*.dcm")) if SAMPLES.is_dir() else []


@pytest.fixture(scope="module")
def samples() -> list[Path]:
    files = _files()
    if not files:
        pytest.skip(f"no SEG samples at {SAMPLES}")
    return files


def test_every_sample_seg_parses_like_a_full_read(samples):
    segs = [p for p in samples if p.name != SR]
    assert len(segs) >= 10
    for path in segs:
        ds = segheader.read_header(path)
        rows = segheader.segment_rows(ds)
        assert rows == expected_rows(path), path.name
        full = pydicom.dcmread(path, stop_before_pixels=True)
        assert segheader.series_facts(ds, path)["SOPClassUID"] == full.SOPClassUID


def test_the_sr_is_not_a_segmentation(samples):
    (sr,) = [p for p in samples if p.name == SR]
    with pytest.raises(segheader.NotSegmentation) as info:
        segheader.read_header(sr)
    assert info.value.sop_class_uid == "1.2.840.10008.5.1.4.1.1.88.33"


def test_label_maps_and_legacy_codes(samples):
    by_name = {p.name: p for p in samples}
    rows = segheader.describe(by_name["sparse-labelmap-ppv5.dcm"])
    assert [segheader.is_background(r) for r in rows] == [True, False]
    (liver,) = segheader.describe(by_name["liver.dcm"])
    assert liver["SegmentedPropertyType"]["CodeValue"] == "T-62000"
    assert liver["SegmentedPropertyType"]["CodingSchemeDesignator"] == "SRT"
    assert liver["SegmentAlgorithmType"] == "SEMIAUTOMATIC"
    assert liver["SegmentAlgorithmName"] == "SlicerEditor"


def test_ingest_the_samples_folder(samples):
    report = ingest([SAMPLES], progress=False)
    failed = {Path(p).name: reason for p, reason in report.failures}
    assert set(failed) == {"NOTICE.md"}
    assert report.files_ingested == len(samples)  # the SEGs and the TID 1500 SR
    assert report.measurements_written == 22  # SUVbw statistics, volume, glycolysis…
    # the two sparse label maps share one SOPInstanceUID: stored once
    assert len(report.duplicates) == 1


def test_the_dcmqi_report_reads_like_pydicom(samples):
    """dcmqi's TID 1500 report (undefined lengths, an Image Library of 100+ images) on a
    QIN-HEADNECK PET SEG: SUVbw statistics with derivations, volume in ml."""
    from idcseg.dicom import sr
    from tests.srref import expected_report

    (path,) = [p for p in samples if p.name == SR]
    report = sr.read_report(path)
    assert {
        "groups": report.groups,
        "quantitative": report.quantitative,
        "qualitative": report.qualitative,
    } == expected_report(path)
    seg = pydicom.dcmread(SAMPLES / "dcmqi" / "sr-example_seg.dcm", stop_before_pixels=True)
    group = report.groups[0]
    assert group["segmentationInstanceUID"] == seg.SOPInstanceUID
    assert group["segmentationSeriesUID"] == seg.SeriesInstanceUID
    assert (group["trackingIdentifier"], group["segmentationSegmentNumber"]) == ("primary tumor", 1)
    suv = {
        q["derivationModifier"]["CodeMeaning"]: str(q["Value"])
        for q in report.quantitative
        if q["Quantity"]["CodeMeaning"] == "SUVbw" and q["derivationModifier"]
    }
    assert suv["Mean"] == "6.015290000" and suv["Maximum"] == "10.381400000"
    (volume,) = [q for q in report.quantitative if q["Quantity"]["CodeMeaning"] == "Volume"]
    assert (str(volume["Value"]), volume["Units"]["CodeValue"]) == ("33.582400000", "ml")


def test_the_dcmqi_report_links_to_its_segment(samples):
    import idcseg

    ingest([SAMPLES / "dcmqi"], progress=False)
    frame = idcseg.measurements(quantity="Volume", unit="mm3")
    assert list(frame.value) == [33582.4] and list(frame.link) == ["segment"]
    assert list(frame.SegmentNumber) == [1]
