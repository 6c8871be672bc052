"""The two engines agree: every template, a grid of filters, the same IDC-shaped rows.

The BigQuery side is the real google-cloud-bigquery client against bqemulator on 127.0.0.1,
with IDC's nested schemas in ``bigquery-public-data.idc_v25`` (instance-level ``dicom_all``,
label maps only in ``dicom_all``). The DuckDB side gets the same world the way idcseg holds it
locally: a series-level ``idc_index.parquet`` built from those instances (as idc-index-data builds
it) and the segment rows in the store.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd
import pytest

from idcseg.local.store import Store
from idcseg.query import spec
from idcseg.query.engines.bigquery import BigQueryEngine
from idcseg.query.engines.duckdb import DuckDBEngine
from tests.bqemulator import (
    dicom_all_rows,
    fixture_reports,
    fixture_series,
    measurement_rows,
    segmentations_rows,
)

pytestmark = pytest.mark.bqemulator


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    """The fixture world on the embedded engine."""
    series = fixture_series()
    instances = pd.DataFrame(dicom_all_rows(series, 25)).drop(
        columns=["SegmentSequence", "ReferencedSeriesSequence"]
    )
    folder = tmp_path_factory.mktemp("index")
    con = duckdb.connect()
    con.register("instances", instances)
    con.execute(f"""
        COPY (
          SELECT SeriesInstanceUID, ANY_VALUE(collection_id) AS collection_id,
            ANY_VALUE(analysis_result_id) AS analysis_result_id, ANY_VALUE(PatientID) AS PatientID,
            ANY_VALUE(StudyInstanceUID) AS StudyInstanceUID, ANY_VALUE(Source_DOI) AS source_DOI,
            ANY_VALUE(BodyPartExamined) AS BodyPartExamined, ANY_VALUE(Modality) AS Modality,
            ANY_VALUE(SOPClassUID) AS SOPClassUID, ANY_VALUE(Manufacturer) AS Manufacturer,
            ANY_VALUE(SeriesDescription) AS SeriesDescription,
            COUNT(SOPInstanceUID) AS instanceCount, ANY_VALUE(license_short_name) AS license_short_name,
            ANY_VALUE(aws_bucket) AS aws_bucket, ANY_VALUE(crdc_series_uuid) AS crdc_series_uuid,
            ANY_VALUE(series_aws_url) AS series_aws_url,
            SUM(CAST(instance_size AS DOUBLE)) / 1000000. AS series_size_MB
          FROM instances GROUP BY SeriesInstanceUID
        ) TO '{folder / "idc_index.parquet"}' (FORMAT parquet)""")
    store = Store(tmp_path_factory.mktemp("store"))
    with store.connect() as db:
        for row in segmentations_rows(series, labelmaps=True):
            db.execute(
                f"INSERT INTO segmentations ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        for row in dicom_all_rows(series, 25):
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
        store_measurements(db, measurement_rows(fixture_reports()))
    return DuckDBEngine(store=store, dataset="idc_v25", index_folder=folder, fetch_seg_index=False)


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
def bq(bq_client: Any, bq_idc: Any, tmp_path_factory: pytest.TempPathFactory) -> BigQueryEngine:
    """The fixture world on BigQuery (the emulator), results cache off."""
    return BigQueryEngine(
        "idc_v25", client=bq_client, cache=False, store=Store(tmp_path_factory.mktemp("bqstore"))
    )


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


def queries() -> list[tuple[str, spec.Query]]:
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
        for j, f in enumerate(
            [spec.SeriesFilter.build(), spec.SeriesFilter.build(collection="nlst")]
        ):
            out += [
                (f"find{i}.{j}", spec.find_query(f, g)),
                (f"find-series{i}.{j}", spec.find_query(f, g, per="series")),
            ]
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
    out += [
        ("url-study", spec.viewer_urls_query("2.25.4.1")),
        ("url-series", spec.viewer_urls_query("2.25.3.1", ["2.25.3.1.2", "2.25.3.1.1", "9.9"])),
        ("info", spec.Query("info.sql")),
        (
            "fetch-targets",
            spec.Query("fetch_targets.sql", {}, {"series": ["2.25.3.1.2", "2.25.1.1.2", "9.9"]}),
        ),
        ("sync", spec.sync_query(spec.SeriesFilter.build(), spec.SegmentFilter.build())),
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
    return out


@pytest.mark.parametrize(("name", "query"), queries(), ids=[n for n, _ in queries()])
def test_engines_return_identical_frames(
    name: str, query: spec.Query, duck: DuckDBEngine, bq: BigQueryEngine
) -> None:
    expected = duck.run(query).to_pandas()
    got = bq.run(query).to_pandas()
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)


def test_the_grid_is_not_vacuous(duck: DuckDBEngine) -> None:
    """Most queries of the grid return rows, so agreement means something."""
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
