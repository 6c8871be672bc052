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
    assert set(failed) == {"NOTICE.md", SR}
    assert "Comprehensive SR" in failed[SR]
    segs = [p for p in samples if p.name != SR]
    assert report.files_ingested == len(segs)
    # the two sparse label maps share one SOPInstanceUID: stored once
    assert len(report.duplicates) == 1
