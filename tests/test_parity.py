"""The two engines agree: every template, a grid of filters, the same IDC-shaped rows, in every
schema era of IDC's tables.

The BigQuery side is the real google-cloud-bigquery client against bqemulator on 127.0.0.1,
with IDC's nested schemas in one ``bigquery-public-data`` dataset per era (tests/bqemulator.py:
``IDC_ERAS``): ``idc_v12`` (v1–v12: no series UIDs or algorithm names in ``segmentations``),
``idc_v20`` (v13–v23: SegmentAlgorithmName is ARRAY<STRING>), ``idc_v24``, ``idc_v25`` (label
maps in ``dicom_all`` only) and ``idc_current`` (a release whose view also holds label maps);
every era has instance-level ``dicom_all`` with the files' own BodyPartExamined and
``dicom_metadata_curated`` with IDC's curated one.

The DuckDB side gets the same world the way idcseg holds it locally: a series-level
``idc_index.parquet`` built from that era's instances as idc-index-data builds it (curated
BodyPartExamined) and the era's segment rows in the store, as ``sync`` from that release would
leave them (columns the release lacks are NULL, the first algorithm name of a list).

The whole grid runs on ``idc_v25``; the other eras run the queries whose SQL their schema
changes (everything that reads segment rows) on a smaller set of filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from idcseg.local.store import Store
from idcseg.query import spec
from idcseg.query.engines.bigquery import BigQueryEngine
from idcseg.query.engines.duckdb import DuckDBEngine
from tests.bqemulator import (
    IDC_ERAS,
    LABELMAP_SEG_STORAGE,
    MEASUREMENT_SERIES_SINCE,
    SEGMENTATION_TYPE_SINCE,
    SEGMENTATIONS_V13_COLUMNS,
    Era,
    dicom_all_rows,
    dicom_metadata_curated_rows,
    fixture_reports,
    fixture_series,
    measurement_rows,
    segmentations_rows,
)

pytestmark = pytest.mark.bqemulator

ERAS = {era.dataset: era for era in IDC_ERAS}
FULL_GRID_ERA = "idc_v25"


def store_rows(era: Era) -> list[dict[str, Any]]:
    """The segment rows ``sync`` from *era* would store: IDC's view rows as that release has
    them, and label-map rows as ``dicom_all`` has them (complete in every release)."""
    series = fixture_series()
    labelmaps = {s.uid for s in series if s.sop_class == LABELMAP_SEG_STORAGE}
    rows = []
    for row in segmentations_rows(series, 25, labelmaps=True):
        if row["SeriesInstanceUID"] not in labelmaps:
            if era.version < 13:
                row.update(
                    dict.fromkeys(
                        set(SEGMENTATIONS_V13_COLUMNS) - {"StudyInstanceUID", "SeriesInstanceUID"}
                    )
                )
            if era.version < SEGMENTATION_TYPE_SINCE:
                row["SegmentationType"] = None
        assert not isinstance(row["SegmentAlgorithmName"], list)
        rows.append(row)
    return rows


def make_duck(era: Era, folder: Path, sql_cache: Path) -> DuckDBEngine:
    """*era*'s world on the embedded engine."""
    series = fixture_series()
    instances = pd.DataFrame(dicom_all_rows(series, era.version)).drop(
        columns=["SegmentSequence", "ReferencedSeriesSequence"]
    )
    curated = pd.DataFrame(dicom_metadata_curated_rows(series))[
        ["SOPInstanceUID", "BodyPartExamined"]
    ]
    index = folder / "index"
    index.mkdir()
    con = duckdb.connect()
    con.register("instances", instances)
    con.register("curated", curated)
    con.execute(f"""
        COPY (
          SELECT SeriesInstanceUID, ANY_VALUE(collection_id) AS collection_id,
            ANY_VALUE(analysis_result_id) AS analysis_result_id, ANY_VALUE(PatientID) AS PatientID,
            ANY_VALUE(StudyInstanceUID) AS StudyInstanceUID, ANY_VALUE(Source_DOI) AS source_DOI,
            ANY_VALUE(curated.BodyPartExamined) AS BodyPartExamined,
            ANY_VALUE(Modality) AS Modality,
            ANY_VALUE(SOPClassUID) AS SOPClassUID, ANY_VALUE(Manufacturer) AS Manufacturer,
            ANY_VALUE(SeriesDescription) AS SeriesDescription,
            COUNT(instances.SOPInstanceUID) AS instanceCount,
            ANY_VALUE(license_short_name) AS license_short_name,
            ANY_VALUE(aws_bucket) AS aws_bucket, ANY_VALUE(crdc_series_uuid) AS crdc_series_uuid,
            ANY_VALUE(series_aws_url) AS series_aws_url,
            SUM(CAST(instance_size AS DOUBLE)) / 1000000. AS series_size_MB
          FROM instances JOIN curated USING (SOPInstanceUID)
          GROUP BY SeriesInstanceUID
        ) TO '{index / "idc_index.parquet"}' (FORMAT parquet)""")
    (folder / "store").mkdir()
    (folder / "store" / "cache").symlink_to(sql_cache)  # one transpile per query shape
    store = Store(folder / "store")
    with store.connect() as db:
        for row in store_rows(era):
            db.execute(
                f"INSERT INTO segmentations ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        for row in dicom_all_rows(series, era.version):
            for item in row["SegmentSequence"]:
                db.execute(
                    "INSERT OR REPLACE INTO segment_labels VALUES (?, ?, ?, ?)",
                    [
                        row["SOPInstanceUID"],
                        item["SegmentNumber"],
                        item["SegmentLabel"],
                        item["SegmentDescription"],
                    ],
                )
        store_measurements(db, era_measurements(era))
    return DuckDBEngine(store=store, dataset="idc_v25", index_folder=index, fetch_seg_index=False)


def era_measurements(era: Era) -> dict[str, list[dict[str, Any]]]:
    """The measurement rows ``sync --measurements`` from *era* would store: releases before
    the SR's series were recorded leave those columns NULL."""
    tables = measurement_rows(fixture_reports())
    if era.version < MEASUREMENT_SERIES_SINCE:
        for name, rows in tables.items():
            for row in rows:
                row.update(SeriesInstanceUID=None, segmentationSeriesUID=None)
                if name == "qualitative_measurements":
                    row["SeriesDescription"] = None
    return tables


def store_measurements(db: Any, tables: dict[str, list[dict[str, Any]]]) -> None:
    """The measurement tables' rows, typed like the store's columns (contentSequence left
    out: the store keeps fewer levels and fields of it than IDC's schema declares)."""
    from decimal import Decimal

    import pyarrow as pa

    for name, rows in tables.items():
        schema = db.table(name).limit(0).to_arrow_table().schema
        if "contentSequence" in schema.names:
            schema = schema.remove(schema.get_field_index("contentSequence"))
        fitted = [
            {
                f.name: Decimal(row[f.name]) if pa.types.is_decimal(f.type) else row.get(f.name)
                for f in schema
            }
            for row in rows
        ]
        db.register("_rows", pa.Table.from_pylist(fitted, schema=schema))
        db.execute(statement_insert(name))
        db.unregister("_rows")


def statement_insert(name: str) -> str:
    """INSERT the registered rows into store table *name* (one of three fixed names)."""
    assert name in ("measurement_groups", "quantitative_measurements", "qualitative_measurements")
    return f"INSERT INTO {name} BY NAME SELECT * FROM _rows"


@pytest.fixture(scope="module")
def sql_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sql-cache")


@pytest.fixture(scope="module")
def engines(
    bq_client: Any, bq_idc: Any, tmp_path_factory: pytest.TempPathFactory, sql_cache: Path
) -> dict[str, tuple[DuckDBEngine, BigQueryEngine]]:
    """Per era: the world on the embedded engine and on BigQuery (results cache off)."""
    out = {}
    for name, era in ERAS.items():
        folder = tmp_path_factory.mktemp(name)
        bq = BigQueryEngine(name, client=bq_client, cache=False, store=Store(folder / "bq"))
        out[name] = (make_duck(era, folder, sql_cache), bq)
    return out


SERIES_FILTERS = [
    {},
    {"collection": "LIDC_IDRI"},
    {"analysis_result": "totalsegmentator_ct_segmentations", "body_part": "chest"},
    {"sop_class": "labelmap"},
    {"description": "nodule"},
    {"description": "x'; DROP TABLE t; --"},
    {"structure": "Kidney"},
    {"structure": "lung", "algorithm_type": "AUTOMATIC"},
    {"algorithm_type": "SEMIAUTOMATIC"},
    {"anatomy": "lung", "min_segments": 1},
    {"source_modality": "CT", "category": "Anatomical Structure"},
    {"algorithm_name": "nnu"},
    {"body_part": "abdomen", "source": "idc"},  # curated: the files say ABD
    {"source": "local"},
]
SEGMENT_FILTERS = [
    {},
    {"structure": "SCT:27925004"},  # Nodule: matches the legacy SRT:M-03010 row
    {"structure": "Kidney", "modifier": "Right"},
    {"modifier": "left"},
    {"algorithm_type": "AUTOMATIC"},
    {"algorithm_type": "MANUAL", "anatomy": "Lung"},
    {"category": "Morphologically Altered Structure"},
    {"algorithm_name": "hover"},
    {"structure": "\u00c5ngstr\u00f6m' OR 1=1 --"},
]
SEGMENT_SERIES_FILTERS = [  # the series filters find and facets take
    {},
    {"collection": "nlst"},
    {"body_part": "ABDOMEN", "sop_class": "labelmap"},
    {"body_part": "chest", "source": "idc", "sop_class": "binary"},
]
# The other eras run every template once and the filters whose SQL their schema changes: segment
# rows with and without series UIDs, algorithm names (a list before v24, absent before v13),
# label maps (from dicom_all, or from the view itself), curated body parts.
ERA_GRID = (
    "series0", "series3", "series6", "series11", "series12", "summary6",
    "find0.0", "find-series0.0", "find1.0", "find2.2", "find7.0",
    "facets-structure0", "series-facets", "url-series", "info", "sync",
    "measurements0", "measurements-linked", "sync-measurements",
)  # fmt: skip


SEGMENT_KEYS = ("structure", "category", "anatomy", "modifier", "algorithm_type", "algorithm_name")
MEASUREMENT_FILTERS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    ({}, {"kind": "qualitative"}),
    ({}, {"quantity": "Volume"}),
    ({}, {"quantity": "SCT:118565006"}),  # matches the SRT-coded volumes too
    ({}, {"quantity": "Volume", "min": 500}),
    ({}, {"quantity": "volume", "min": "600", "unit": "mm3"}),
    ({}, {"quantity": "Volume", "max": 1.5, "unit": "ml"}),
    ({}, {"quantity": "Attenuation Coefficient", "max": 0}),
    ({}, {"evaluation": "Malignancy~suspicious"}),
    ({}, {"evaluation": ["malignancy=99lidcqiicr:905", "Malignancy=99LIDCQIICR:904"]}),
    ({}, {"evaluation": ["Malignancy~suspicious", "Subtlety score~obvious"], "quantity": "Volume"}),
    ({"structure": "Nodule"}, {}),
    ({"collection": "nlst"}, {"kind": "quantitative"}),
    ({"structure": "Liver"}, {"quantity": "Volume", "unit": "ml"}),
    ({}, {"evaluation": "Malignancy=x'; DROP TABLE t; --"}),
]


def queries(era: str = FULL_GRID_ERA) -> list[tuple[str, spec.Query]]:
    """The parity grid of *era*: (name, query) pairs."""
    out: list[tuple[str, spec.Query]] = []
    for i, filters in enumerate(SERIES_FILTERS):
        f = spec.SeriesFilter.build(**filters)
        out += [
            (f"series{i}", spec.series_query(f)),
            (f"summary{i}", spec.summary_query(f, "analysis_result")),
            (f"random{i}", spec.random_query(f, n=3, seed=7)),
        ]
    for i, filters in enumerate(SEGMENT_FILTERS):
        g = spec.SegmentFilter.build(**filters)
        for j, series_filters in enumerate(SEGMENT_SERIES_FILTERS):
            if j >= 2 and i not in (0, 2):
                continue
            f = spec.SeriesFilter.build(**series_filters)
            out.append((f"find{i}.{j}", spec.find_query(f, g)))
            if j == 0:
                out.append((f"find-series{i}.{j}", spec.find_query(f, g, per="series")))
        for by in spec.FACETS if i in (0, 2, 4) else ():
            out.append((f"facets-{by}{i}", spec.facets_query(spec.SeriesFilter.build(), g, by)))
    for i, (segment, measured) in enumerate(MEASUREMENT_FILTERS):
        g = spec.SegmentFilter.build(**{k: v for k, v in segment.items() if k in SEGMENT_KEYS})
        f = spec.SeriesFilter.build(**{k: v for k, v in segment.items() if k not in SEGMENT_KEYS})
        m = spec.MeasurementFilter.build(**measured)
        out.append((f"measurements{i}", spec.measurements_query(f, g, m)))
    out.append(
        (
            "measurements-linked",
            spec.measurements_query(
                spec.SeriesFilter.build(series=["2.25.2.1.2", "2.25.1.1.2"]),
                spec.SegmentFilter.build(),
                spec.MeasurementFilter(),
                linked=True,
            ),
        )
    )
    everything = spec.SeriesFilter.build()
    out += [
        ("find-v2", spec.find_query(everything, spec.SegmentFilter.build(), viewer="ohif_v2")),
        (
            "facets-body-part",
            spec.facets_query(
                spec.SeriesFilter.build(body_part="abdomen"),
                spec.SegmentFilter.build(),
                "structure",
            ),
        ),
        ("series-facets", spec.series_facets_query(everything, "structure")),
        (
            "series-facets-local",
            spec.series_facets_query(spec.SeriesFilter.build(source="local"), "algorithm_name"),
        ),
        ("url-study", spec.viewer_urls_query("2.25.4.1")),
        ("url-series", spec.viewer_urls_query("2.25.3.1", ["2.25.3.1.2", "2.25.3.1.1", "9.9"])),
        ("info", spec.Query("info.sql")),
        (
            "fetch-targets",
            spec.Query("fetch_targets.sql", {}, {"series": ["2.25.3.1.2", "2.25.1.1.2", "9.9"]}),
        ),
        ("sync", spec.sync_query(everything, spec.SegmentFilter.build())),
        (
            "sync-measurements",
            spec.sync_measurements_query(spec.SeriesFilter.build(), spec.SegmentFilter.build()),
        ),
        (
            "sync-measurements-filtered",
            spec.sync_measurements_query(
                spec.SeriesFilter.build(collection="nlst"),
                spec.SegmentFilter.build(structure="Liver"),
            ),
        ),
        (
            "sync-filtered",
            spec.sync_query(
                spec.SeriesFilter.build(collection="lidc_idri"),
                spec.SegmentFilter.build(structure="Nodule"),
            ),
        ),
    ]
    if era == FULL_GRID_ERA:
        return out
    return [(name, query) for name, query in out if name in ERA_GRID]


GRID = [(era, name, query) for era in ERAS for name, query in queries(era)]


def _needs_algorithm_name(query: spec.Query) -> bool:
    flags = [query.structure.get("f", {}), query.structure.get("g", {})]
    return any(flag.get("algorithm_name") for flag in flags)


@pytest.mark.parametrize(
    ("era", "name", "query"), GRID, ids=[f"{era}-{name}" for era, name, _ in GRID]
)
def test_engines_return_identical_frames(
    era: str, name: str, query: spec.Query, engines: dict[str, Any]
) -> None:
    duck, bq = engines[era]
    if ERAS[era].version < 13 and _needs_algorithm_name(query):
        with pytest.raises(spec.UsageError, match="no column segmentations.SegmentAlgorithmName"):
            bq.run(query)
        return
    expected = duck.run(query).to_pandas()
    got = bq.run(query).to_pandas()
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)


def test_the_grid_is_not_vacuous(engines: dict[str, Any]) -> None:
    """Most queries of the grid return rows, so agreement means something."""
    duck, _ = engines[FULL_GRID_ERA]
    sizes = {name: len(duck.run(q).to_pandas()) for name, q in queries()}
    assert sum(1 for n in sizes.values() if n) >= 0.7 * len(sizes)
    assert sizes["series6"] == 2  # Kidney: the TotalSegmentator SEG and the label map
    assert sizes["find1.0"] == 1  # SCT Nodule finds the SRT-coded row
    assert sizes["series3"] == 1  # the label map
    assert sizes["measurements0"] == 12  # 8 quantitative + 4 qualitative rows of 4 SRs
    assert sizes["measurements3"] == 5  # the SCT code finds the SRT-coded volumes too
    assert (sizes["measurements4"], sizes["measurements5"], sizes["measurements6"]) == (4, 4, 3)
    assert sizes["measurements9"] == 6 and sizes["measurements10"] == 1
    assert sizes["measurements11"] == 6 and sizes["measurements13"] == 1
    frame = duck.run(dict(queries())["measurements0"]).to_pandas()
    assert set(frame.link.dropna()) == {"segment", "tracking_uid"} and frame.link.isna().sum() == 2
    assert sizes["series12"] == 1  # curated ABDOMEN: the label map of the RCC CT
    assert sizes["find0.2"] == 1  # its Kidney segment (Background is no structure)
    assert sizes["series13"] == 0  # no SEG of your own in this world


def test_every_era_runs_every_template() -> None:
    every = {
        "series.sql", "summary.sql", "find.sql", "facets.sql", "sync.sql", "info.sql",
        "viewer_urls.sql", "series_facets.sql", "measurements.sql", "sync_measurements.sql",
    }  # fmt: skip
    for era in ERAS:
        names = [name for name, _ in queries(era)]
        assert {q.template for _, q in queries(era)} >= every, era
        assert len(names) == len(set(names))
        if era != FULL_GRID_ERA:
            assert names == [n for n in names if n in ERA_GRID] and len(names) == len(ERA_GRID)
