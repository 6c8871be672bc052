"""Reading TID 1500 SRs: every row checked against an independent pydicom reading of the file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pydicom
import pytest

from idcseg.dicom import sr
from idcseg.dicom.segheader import Malformed, NotDicom, Truncated
from tests.srref import expected_report

REPORTS = ("reader1", "reader2_tracking", "unlinked", "utf8")
VARIANTS = ("implicit", "undefined", "deflate", "big_endian")


def rows(report: sr.Report) -> dict[str, list[dict]]:
    return {
        "groups": report.groups,
        "quantitative": report.quantitative,
        "qualitative": report.qualitative,
    }


@pytest.mark.parametrize("name", REPORTS)
def test_rows_match_an_independent_reading(sr_world, name: str) -> None:
    path = sr_world.reports[name]
    assert rows(sr.read_report(path)) == expected_report(path)


def test_the_reports_hold_what_was_written(sr_world) -> None:
    """The world is not vacuous: LIDC-like values, units, derivation, laterality, links."""
    report = sr.read_report(sr_world.reports["reader1"])
    seg = pydicom.dcmread(sr_world.seg, stop_before_pixels=True)
    assert report.sop_class == sr.COMPREHENSIVE_3D_SR
    assert [g["measurementGroup_number"] for g in report.groups] == [0, 1]
    first = report.groups[0]
    assert first["segmentationInstanceUID"] == seg.SOPInstanceUID
    assert first["segmentationSeriesUID"] == seg.SeriesInstanceUID  # from the evidence
    assert first["segmentationSegmentNumber"] == 1
    assert first["trackingUniqueIdentifier"] == sr_world.tracking_uids[1]
    assert first["trackingIdentifier"] == "Nodule 1"
    assert first["sourceSegmentedSeriesUID"] == seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert first["finding"]["CodeValue"] == "M-03010"
    values = {
        (q["Quantity"]["CodeMeaning"], q["measurementGroup_number"]): (
            q["Value"],
            q["Units"]["CodeValue"],
            (q["derivationModifier"] or {}).get("CodeMeaning"),
            (q["lateralityModifier"] or {}).get("CodeMeaning"),
        )
        for q in report.quantitative
    }
    assert values[("Volume", 0)] == (Decimal("523.6"), "mm3", None, "Left")
    assert values[("Diameter", 0)] == (Decimal("10.25"), "mm", "Maximum", "Left")
    assert values[("Attenuation Coefficient", 0)] == (Decimal("-12.5"), "[hnsf'U]", "Mean", "Left")
    assert values[("Volume", 1)] == (Decimal("0.25"), "ml", None, "Right")
    ratings = {
        (q["Quantity"]["CodeMeaning"], q["measurementGroup_number"]): q["Value"]["CodeMeaning"]
        for q in report.qualitative
    }
    assert ratings[("Malignancy", 0)] == "4 out of 5 (Moderately Suspicious for Cancer)"
    assert ratings[("Calcification", 1)] == "Popcorn calcification sign"
    assert ratings[("Impression", 0)] == "Present"  # coded in DCM: kept (IDC's view drops it)
    # the Image Library's NUM items (pixel spacing…) are not measurements
    assert len(report.quantitative) == 6 and len(report.qualitative) == 8


def test_content_tree_keeps_three_levels(sr_world) -> None:
    group = sr.read_report(sr_world.reports["reader1"]).groups[0]["contentSequence"]
    assert group["ValueType"] == "CONTAINER"
    site = next(
        c
        for c in group["ContentSequence"]
        if c["ConceptNameCodeSequence"][0]["CodeValue"] == "363698007"
    )
    laterality = site["ContentSequence"][0]
    assert laterality["ConceptCodeSequence"][0]["CodeMeaning"] == "Left"
    assert "ContentSequence" in laterality  # level 2 of 3
    image = next(c for c in group["ContentSequence"] if c["ValueType"] == "IMAGE")
    assert image["ReferencedSOPSequence"][0]["ReferencedSegmentNumber"] == [1]


@pytest.mark.parametrize("variant", VARIANTS)
def test_encodings_give_the_same_rows(sr_world, variant: str) -> None:
    assert rows(sr.read_report(sr_world.variants[variant])) == rows(
        sr.read_report(sr_world.reports["reader1"])
    )


@pytest.mark.parametrize("variant", ("implicit", "undefined"))
def test_little_endian_files_never_reach_pydicom(sr_world, variant, monkeypatch) -> None:
    def refuse(data: bytes) -> dict:
        raise AssertionError("read with pydicom")

    monkeypatch.setattr(sr, "_read_with_pydicom", refuse)
    assert len(sr.read_report(sr_world.variants[variant]).quantitative) == 6


@pytest.mark.parametrize("variant", ("deflate", "big_endian"))
def test_other_encodings_are_read_with_pydicom(sr_world, variant, monkeypatch) -> None:
    seen = []
    real = sr._read_with_pydicom
    monkeypatch.setattr(sr, "_read_with_pydicom", lambda data: seen.append(1) or real(data))
    sr.read_report(sr_world.variants[variant])
    assert seen == [1]


def test_utf8_text(sr_world) -> None:
    report = sr.read_report(sr_world.reports["utf8"])
    assert report.groups[0]["trackingIdentifier"] == "Nódulo X – lector 3"
    assert report.qualitative[0]["Value"]["CodeMeaning"] == "3 sur 5 (probabilité indéterminée)"


def test_an_sr_of_another_template_is_refused(sr_world) -> None:
    with pytest.raises(sr.NotMeasurementReport, match="template DCMR 2000, not a TID 1500"):
        sr.read_report(sr_world.others["not_tid1500"])


def test_a_truncated_report_is_refused(sr_world) -> None:
    with pytest.raises(Truncated):
        sr.read_report(sr_world.others["truncated"])


def test_other_files(sr_world, tmp_path: Path) -> None:
    with pytest.raises(sr.NotMeasurementReport, match="not a structured report: Segmentation"):
        sr.read_report(sr_world.seg)
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM at all" * 20)
    with pytest.raises(NotDicom):
        sr.read_report(text)
    with pytest.raises(NotDicom):
        sr.read_report(b"DICM")


def test_a_report_without_uids_is_malformed(sr_world, tmp_path: Path) -> None:
    from tests.srfactory import edited

    def drop(ds):
        del ds.SeriesInstanceUID

    with pytest.raises(Malformed, match="SeriesInstanceUID"):
        sr.read_report(edited(sr_world.reports["reader1"], tmp_path / "x.dcm", drop))


def test_values_are_bigquery_numerics() -> None:
    assert sr.numeric("523.6") == Decimal("523.600000000")
    assert sr.numeric("1.0000000005") == Decimal("1.000000001")  # half away from zero
    assert sr.numeric("-1.0000000005") == Decimal("-1.000000001")
    assert sr.numeric(" 2E3 ") == Decimal("2000")
    assert sr.numeric("12\\13") == Decimal("12")
    assert sr.numeric("9.9e28") == Decimal("9.9e28")
    for bad in ("1e29", "-1e30", "abc", "NaN", "inf", "", None):
        assert sr.numeric(bad) is None


def test_peek_sop_class(sr_world) -> None:
    with open(sr_world.reports["reader1"], "rb") as fp:
        fp.seek(0)
        assert sr.peek_sop_class(fp) == sr.COMPREHENSIVE_3D_SR
        assert fp.tell() == 0
    with open(sr_world.reports["reader2_tracking"], "rb") as fp:
        assert sr.peek_sop_class(fp) == sr.ENHANCED_SR
    with open(sr_world.seg, "rb") as fp:
        assert sr.peek_sop_class(fp) == "1.2.840.10008.5.1.4.1.1.66.4"
