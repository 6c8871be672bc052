"""`find` and `facets` over ingested highdicom SEGs, cross-checked with independent pydicom reads.

The expected rows come from ``tests.dicomref`` (a full ``pydicom.dcmread`` of each file) and
plain Python predicates; the code sets below are written out by hand (SNOMED-CT and their
SNOMED-RT twins), not computed with idcseg.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import idcseg
from tests import dicomref

NODULE = {"SCT:27925004", "SRT:M-03010"}
LUNG = {"SCT:39607008", "SRT:T-28000"}
LEFT = {"SCT:7771000", "SRT:G-A101"}
KIDNEY = {"SCT:64033007", "SRT:T-71000"}


def code(record: dict[str, str] | None) -> str | None:
    return f"{record['CodingSchemeDesignator']}:{record['CodeValue']}" if record else None


def meaning(record: dict[str, str] | None) -> str | None:
    return record["CodeMeaning"].lower() if record else None


def modifiers(row: dict[str, Any]) -> list[dict[str, str]]:
    found = list(
        row["SegmentedPropertyType"].get("SegmentedPropertyTypeModifierCodeSequence") or []
    )
    return found + ([row["AnatomicRegionModifier"]] if row["AnatomicRegionModifier"] else [])


def is_background(row: dict[str, Any]) -> bool:
    return row["SegmentNumber"] == 0 and code(row["SegmentedPropertyType"]) == "DCM:125040"


PREDICATES = {
    "no filter": ({}, lambda r: True),
    "structure meaning": (
        {"structure": "kidney"},
        lambda r: (
            meaning(r["SegmentedPropertyType"]) == "kidney"
            or code(r["SegmentedPropertyType"]) in KIDNEY
        ),
    ),
    "SCT code finds SRT rows": (
        {"structure": "SCT:27925004"},
        lambda r: code(r["SegmentedPropertyType"]) in NODULE,
    ),
    "SRT code finds itself": (
        {"structure": "SRT:M-03010"},
        lambda r: code(r["SegmentedPropertyType"]) in NODULE,
    ),
    "anatomy": ({"anatomy": "SCT:39607008"}, lambda r: code(r["AnatomicRegion"]) in LUNG),
    "modifier Left": (
        {"modifier": "Left"},
        lambda r: any(meaning(m) == "left" or code(m) in LEFT for m in modifiers(r)),
    ),
    "AUTOMATIC is exact": (
        {"algorithm_type": "AUTOMATIC"},
        lambda r: r["SegmentAlgorithmType"] == "AUTOMATIC",
    ),
    "SEMIAUTOMATIC": (
        {"algorithm_type": "semiautomatic"},
        lambda r: r["SegmentAlgorithmType"] == "SEMIAUTOMATIC",
    ),
    "algorithm name text": (
        {"algorithm_name": "slicer"},
        lambda r: "slicer" in (r["SegmentAlgorithmName"] or "").lower(),
    ),
    "category and type": (
        {"category": "Morphologically Altered Structure", "structure": "Neoplasm"},
        lambda r: (
            meaning(r["SegmentedPropertyCategory"]) == "morphologically altered structure"
            and code(r["SegmentedPropertyType"]) in {"SCT:108369006", "SRT:M-8FFFF"}
        ),
    ),
    "hostile": ({"structure": "x') OR 1=1 --"}, lambda r: False),
}


@pytest.fixture
def stored(corpus: Any) -> list[dict[str, Any]]:
    """Ingest the corpus into this test's store; return the independent expected rows."""
    report = idcseg.ingest(corpus.folder)
    assert report.files_ingested == len(corpus.segs)  # the CT slices are reported, not stored
    rows = [row for path in corpus.segs.values() for row in dicomref.expected_rows(path)]
    return [r for r in rows if not is_background(r)]


@pytest.mark.parametrize("case", list(PREDICATES))
def test_find_matches_independent_rows(stored: list[dict[str, Any]], case: str) -> None:
    filters, keep = PREDICATES[case]
    expected = {(r["SOPInstanceUID"], r["SegmentNumber"]) for r in stored if keep(r)}
    frame = idcseg.find(**filters)
    got = set(zip(frame.SOPInstanceUID, frame.SegmentNumber, strict=True))
    assert got == expected
    if case != "hostile":
        assert expected, "a filter that matches nothing proves little"


def test_find_columns_carry_what_was_written(stored: list[dict[str, Any]], corpus: Any) -> None:
    frame = idcseg.find(structure="kidney")
    by_key = {(r["SOPInstanceUID"], r["SegmentNumber"]): r for r in stored}
    assert len(frame) == 2
    for row in frame.astype(object).where(frame.notna(), None).itertuples():
        ref = by_key[(row.SOPInstanceUID, row.SegmentNumber)]
        assert row.SegmentLabel == ref["SegmentLabel"]
        assert row.structure == ref["SegmentedPropertyType"]["CodeMeaning"]
        assert row.structure_code == code(ref["SegmentedPropertyType"])
        assert row.SegmentAlgorithmType == ref["SegmentAlgorithmType"]
        assert row.SegmentAlgorithmName == ref["SegmentAlgorithmName"]
        assert row.segmented_SeriesInstanceUID == ref["segmented_SeriesInstanceUID"]
        assert row.modifier in ("Left", "Right")
        assert row.viewer_url is None  # IDC does not host these test SEGs: no link to offer


def test_label_map_background_is_not_a_structure(stored: list[dict[str, Any]], corpus: Any) -> None:
    everything = idcseg.find()
    background = [
        r for p in corpus.segs.values() for r in dicomref.expected_rows(p) if is_background(r)
    ]
    assert background, "the label map case should carry segment 0"
    assert not set(everything.structure_code) & {"DCM:125040"}


def test_per_series_aggregates_segments(stored: list[dict[str, Any]]) -> None:
    per = idcseg.find(per="series")
    counts = Counter(r["SeriesInstanceUID"] for r in stored)
    assert dict(zip(per.SeriesInstanceUID, per.segment_count, strict=True)) == counts
    kidney_series = {
        r["SeriesInstanceUID"] for r in stored if code(r["SegmentedPropertyType"]) in KIDNEY
    }
    (row,) = [r for r in per.itertuples() if r.SeriesInstanceUID in kidney_series]
    assert set(row.structures.split(", ")) == {
        r["SegmentedPropertyType"]["CodeMeaning"]
        for r in stored
        if r["SeriesInstanceUID"] in kidney_series
    }


@pytest.mark.parametrize(
    ("by", "key"),
    [
        (
            "structure",
            lambda r: (r["SegmentedPropertyType"]["CodeMeaning"], code(r["SegmentedPropertyType"])),
        ),
        (
            "category",
            lambda r: (
                r["SegmentedPropertyCategory"]["CodeMeaning"],
                code(r["SegmentedPropertyCategory"]),
            ),
        ),
        (
            "anatomy",
            lambda r: (
                r["AnatomicRegion"]["CodeMeaning"] if r["AnatomicRegion"] else None,
                code(r["AnatomicRegion"]),
            ),
        ),
        ("algorithm_type", lambda r: (r["SegmentAlgorithmType"], None)),
        ("algorithm_name", lambda r: (r["SegmentAlgorithmName"], None)),
    ],
)
def test_facets_count_like_python(stored: list[dict[str, Any]], by: str, key: Any) -> None:
    segments = Counter(key(r) for r in stored)
    series: dict[Any, set[str]] = {}
    for r in stored:
        series.setdefault(key(r), set()).add(r["SeriesInstanceUID"])
    frame = idcseg.facets(by)
    plain = frame.astype(object).where(frame.notna(), None)
    got = {
        (v, c): (s, n)
        for v, c, s, n in zip(
            plain.value, plain.code, plain.segment_count, plain.series_count, strict=True
        )
    }
    assert got == {k: (segments[k], len(series[k])) for k in segments}
    assert list(frame.segment_count) == sorted(frame.segment_count, reverse=True)


def test_cli_find_and_facets(stored: list[dict[str, Any]], cli: Any) -> None:
    run = cli("find", "--structure", "SCT:27925004", "-f", "json")
    assert run.code == 0, run.err
    (row,) = json.loads(run.out)
    assert row["structure_code"] == "SRT:M-03010" and row["modifier"] == "Left"
    facets = cli("facets", "--by", "algorithm_type", "-f", "csv")
    assert facets.out.splitlines()[0] == "value,code,segment_count,series_count"
    bad = cli("find", "--algorithm-type", "AUTO")
    assert bad.code == 2 and "unknown --algorithm-type" in bad.err


def test_describe_reads_one_file_without_storing(corpus: Any, cli: Any) -> None:
    run = cli("describe", str(corpus.segs["binary_multi"]), "-f", "json")
    assert run.code == 0, run.err
    assert [r["SegmentLabel"] for r in json.loads(run.out)] == ["Liver", "Kidney L", "Kidney R"]
    assert json.loads(cli("info", "-f", "json").out)["segment_rows"] == 0
    bad = cli("describe", str(corpus.ct[0]))
    assert bad.code == 1 and "not a segmentation" in bad.err and str(corpus.ct[0]) in bad.err
