"""Series-level segment filters (`series --structure ...`) over IDC's seg_index.

A seg_index.parquet with the wheel's schema is built here, independently of idcseg, from full
pydicom reads of highdicom-made SEGs; it is served from 127.0.0.1 and fetched the way a user's
first `--structure` query fetches it. The same SEGs are also ingested, so the test can show that
IDC's seg_index and idcseg's aggregation of local segment rows agree.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import idcseg
from idcseg.local.store import index_version
from idcseg.query.engines.duckdb import DuckDBEngine
from tests import dicomref
from tests.conftest import seg_index_schema
from tests.httpserver import LocalServer

URL = "/{version}/seg_index.parquet"


def seg_index_rows(corpus: Any) -> list[dict[str, Any]]:
    """IDC's seg_index rows for the corpus, aggregated in plain Python (as IDC's SQL does)."""
    by_series: dict[str, list[dict[str, Any]]] = {}
    for path in corpus.segs.values():
        for row in dicomref.expected_rows(path):
            by_series.setdefault(row["SeriesInstanceUID"], []).append(row)

    def meanings(rows: list[dict[str, Any]], column: str) -> list[str]:
        return sorted({r[column]["CodeMeaning"] for r in rows if r[column]})

    out = []
    for series, rows in by_series.items():
        names = sorted({r["SegmentAlgorithmName"] for r in rows if r["SegmentAlgorithmName"]})
        refs = sorted(
            r["segmented_SeriesInstanceUID"] for r in rows if r["segmented_SeriesInstanceUID"]
        )
        out.append(
            {
                "SeriesInstanceUID": series,
                "SegmentationType": rows[0]["SegmentationType"],
                "total_segments": len({r["SegmentNumber"] for r in rows}),
                "AlgorithmType": ",".join(sorted({r["SegmentAlgorithmType"] for r in rows})),
                "AlgorithmName": ",".join(names) or None,
                "segmented_SeriesInstanceUID": refs[0] if refs else None,
                "SegmentedPropertyCategory_CodeMeanings": meanings(
                    rows, "SegmentedPropertyCategory"
                ),
                "SegmentedPropertyType_CodeMeanings": meanings(rows, "SegmentedPropertyType"),
                "AnatomicRegion_CodeMeanings": meanings(rows, "AnatomicRegion"),
            }
        )
    return out


@pytest.fixture
def served(
    corpus: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LocalServer, list[dict[str, Any]]]]:
    """The corpus ingested, and its seg_index served on 127.0.0.1 (not fetched yet)."""
    assert idcseg.ingest(corpus.folder).files_ingested == len(corpus.segs)
    rows = seg_index_rows(corpus)
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=seg_index_schema()), sink)
    server = LocalServer()
    server.route(URL.replace("{version}", index_version()), sink.getvalue())
    monkeypatch.setenv("IDCSEG_INDEX_URLS", server.url(URL))
    yield server, rows
    server.close()


def expected(rows: list[dict[str, Any]], keep: Any) -> set[str]:
    return {r["SeriesInstanceUID"] for r in rows if keep(r)}


def lower(values: list[str]) -> set[str]:
    return {v.lower() for v in values}


GRID = {
    "structure": (
        {"structure": "KIDNEY"},
        lambda r: "kidney" in lower(r["SegmentedPropertyType_CodeMeanings"]),
    ),
    "structure code": (
        {"structure": "SCT:64033007"},
        lambda r: "kidney" in lower(r["SegmentedPropertyType_CodeMeanings"]),
    ),
    "AUTOMATIC exact": (
        {"algorithm_type": "AUTOMATIC"},
        lambda r: "AUTOMATIC" in r["AlgorithmType"].split(","),
    ),
    "SEMIAUTOMATIC": (
        {"algorithm_type": "semiautomatic"},
        lambda r: "SEMIAUTOMATIC" in r["AlgorithmType"].split(","),
    ),
    "algorithm name": (
        {"algorithm_name": "SLICER"},
        lambda r: "slicer" in (r["AlgorithmName"] or "").lower(),
    ),
    "min segments": ({"min_segments": 3}, lambda r: r["total_segments"] >= 3),
    "anatomy + category": (
        {"anatomy": "abdomen", "category": "Anatomical Structure"},
        lambda r: (
            "abdomen" in lower(r["AnatomicRegion_CodeMeanings"])
            and "anatomical structure" in lower(r["SegmentedPropertyCategory_CodeMeanings"])
        ),
    ),
    "hostile": ({"structure": "x' OR 1=1 --"}, lambda r: False),
}


@pytest.mark.parametrize("case", list(GRID))
def test_series_filters_match_python(served: Any, case: str) -> None:
    _, rows = served
    filters, keep = GRID[case]
    want = expected(rows, keep)
    assert set(idcseg.series(**filters).SeriesInstanceUID) == want
    if case != "hostile":
        assert want


def test_local_rows_and_idc_seg_index_agree(served: Any, isolated_home: Any) -> None:
    local_only = idcseg.Explorer(DuckDBEngine(fetch_seg_index=False))
    for filters, _ in GRID.values():
        before = local_only.series(**filters)
        idcseg.remote.segindex.fetch(progress=False)
        after = idcseg.series(**filters)
        pd.testing.assert_frame_equal(before, after)
        local_only.engine.close()
    summary = idcseg.summary(structure="lung")
    assert summary.series_count.sum() == 1


def test_first_use_fetches_with_a_message(served: Any, cli: Any) -> None:
    server, rows = served
    run = cli("series", "--structure", "Kidney", "--algorithm-type", "AUTOMATIC", "-f", "json")
    assert run.code == 0, run.err
    assert "fetching it once" in run.err
    want = expected(
        rows,
        lambda r: (
            "kidney" in lower(r["SegmentedPropertyType_CodeMeanings"])
            and "AUTOMATIC" in r["AlgorithmType"].split(",")
        ),
    )
    assert {r["SeriesInstanceUID"] for r in json.loads(run.out)} == want
    assert json.loads(cli("index", "status", "-f", "json").out)["present"] is True
    again = cli("random", "--structure", "kidney", "--seed", "1")
    assert again.code == 0 and "fetching" not in again.err
    assert sum(server.hits.values()) >= 1 and max(server.hits.values()) == 1


def test_failed_download_is_an_error_and_nothing_is_stored(
    served: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    run = cli(
        "series",
        "--structure",
        "Kidney",
        env={"IDCSEG_INDEX_URLS": server.url("/missing/{version}.parquet")},
    )
    assert run.code == 1
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("idcseg: error: ") and "404" in last and "/missing/" in last
    assert json.loads(cli("index", "status", "-f", "json").out)["present"] is False


def test_series_level_facets_count_series(served: Any) -> None:
    _, rows = served
    idcseg.remote.segindex.fetch(progress=False)
    frame = idcseg.Explorer().query(
        idcseg.query.spec.series_facets_query(idcseg.query.spec.SeriesFilter.build(), "structure")
    )
    counts: dict[str, int] = {}
    for r in rows:
        for m in r["SegmentedPropertyType_CodeMeanings"]:
            counts[m] = counts.get(m, 0) + 1
    assert dict(zip(frame.value, frame.series_count, strict=True)) == counts


def test_facets_level_series_cli(served: Any, cli: Any) -> None:
    run = cli("facets", "--level", "series", "--by", "algorithm_type", "-f", "json")
    assert run.code == 0, run.err
    got = {r["value"]: r["series_count"] for r in json.loads(run.out)}
    _, rows = served
    want: dict[str, int] = {}
    for r in rows:
        for token in r["AlgorithmType"].split(","):
            want[token] = want.get(token, 0) + 1
    assert got == want
    bad = cli("facets", "--level", "series", "--modifier", "Left")
    assert bad.code == 2 and "not in IDC's seg_index" in bad.err
