"""The BigQuery emulator harness, and what bqemulator 1.4.0 does with the SQL idcseg writes.

Every test drives the real ``google-cloud-bigquery`` client against a local emulator holding
IDC-shaped ``bigquery-public-data.idc_*`` tables, one dataset per schema era (see
``tests/bqemulator.py``).

Tests state what *BigQuery* returns.  Where the emulator differs, the test is marked
``xfail(strict=True)`` with the reason: the gap is documented, and a future emulator that
fixes it turns the xfail into a failure, so the list below stays true.  A ``*_workaround``
test next to each gap shows the form that gives the same answer on both.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

from tests.bqemulator import (
    IDC_ERAS,
    PUBLIC_PROJECT,
    SEG_STORAGE,
    SEGMENTATIONS_V13_COLUMNS,
    BQEmulator,
    create_idc_dataset,
    dicom_all_rows,
    dicom_all_schema,
    ensure_emulator_python,
    fixture_series,
    loopback_only,
    segmentations_schema,
)

V25 = f"`{PUBLIC_PROJECT}.idc_v25`"
SEG = f"{V25}.segmentations"
ALL = f"{V25}.dicom_all"

# Facts of the fixture world (tests/bqemulator.py: fixture_series).
SEG_NLST, SEG_LIDC, SEG_LIDC_NOSRC, SEG_SM = "2.25.1.1.2", "2.25.2.1.2", "2.25.2.1.3", "2.25.4.1.2"
STUDIES_WITH_SEG_ROWS = ("2.25.1.1", "2.25.2.1", "2.25.4.1")
ALGORITHM_NAMES = ["HoVer-Net", "Reader 1", "TotalSegmentator"]  # distinct, non-NULL, sorted


@pytest.fixture(autouse=True)
def _loopback(bq_idc: Any) -> Iterator[None]:
    """Every test here has the emulator loaded, and may not touch anything off loopback."""
    with loopback_only():
        yield


def params_for(values: dict[str, Any]) -> list[Any]:
    """BigQuery query parameters from Python values: str, int, list[str], list[int]."""
    out: list[Any] = []
    for name, value in values.items():
        if isinstance(value, list):
            kind = "INT64" if value and isinstance(value[0], int) else "STRING"
            out.append(bigquery.ArrayQueryParameter(name, kind, value))
        elif isinstance(value, int):
            out.append(bigquery.ScalarQueryParameter(name, "INT64", value))
        else:
            out.append(bigquery.ScalarQueryParameter(name, "STRING", value))
    return out


def run(
    client: bigquery.Client, sql: str, **params: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run *sql* with named parameters; return (column names, rows as tuples)."""
    config = bigquery.QueryJobConfig(query_parameters=params_for(params))
    result = client.query(sql, job_config=config).result()
    return [f.name for f in result.schema], [tuple(row.values()) for row in result]


# --------------------------------------------------------------------------------------------
# Lifecycle, offline behaviour, measurements
# --------------------------------------------------------------------------------------------


def test_lifecycle_startup_and_rss(tmp_path: Any, record_property: Any) -> None:
    """A fresh emulator starts on a kernel-chosen loopback port, answers, and stops cleanly."""
    emulator = BQEmulator(ensure_emulator_python(), tmp_path / "emu")
    with emulator:
        assert emulator.endpoint.startswith("http://127.0.0.1:")
        assert emulator.version == "1.4.0"
        rss, peak = emulator.rss_kib()
        client = emulator.make_client("lifecycle")
        assert run(client, "SELECT 1 AS one") == (["one"], [(1,)])
        client.close()  # type: ignore[no-untyped-call]
        port, process = emulator.rest_port, emulator.process
        stopping = time.perf_counter()
    stop_seconds = time.perf_counter() - stopping
    assert process is not None and process.returncode == 0  # SIGTERM -> clean shutdown
    assert emulator.process is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert (emulator.data_dir / "bqemulator.duckdb").exists()
    assert emulator.startup_seconds is not None and emulator.startup_seconds < 30
    figures = {
        "startup_s": round(emulator.startup_seconds, 2),
        "server_start_s": emulator.server_start_seconds,
        "rss_mib": rss and round(rss / 1024),
        "peak_rss_mib": peak and round(peak / 1024),
        "stop_s": round(stop_seconds, 2),
    }
    for key, value in figures.items():
        record_property(key, value)
    print(f"bqemulator start-up: {figures}")


def test_extension_downloads_are_disabled(bq_client: bigquery.Client, bq_emulator: Any) -> None:
    """The spatial load is replaced by a lock-down: no extension can be fetched at run time."""
    _, rows = run(
        bq_client,
        "SELECT current_setting('autoinstall_known_extensions') AS auto,"
        " current_setting('custom_extension_repository') AS repo",
    )
    [(auto, repo)] = rows
    assert auto is False
    assert repo.endswith("no-extension-repository")
    # GEOGRAPHY is the price: ST_* fails at once, locally, instead of downloading `spatial`.
    began = time.perf_counter()
    with pytest.raises(BadRequest, match="spatial"):
        run(bq_client, "SELECT ST_GEOGPOINT(1, 2) AS g")
    assert time.perf_counter() - began < 5
    assert "spatial_unavailable" not in bq_emulator.log_tail(200)


# --------------------------------------------------------------------------------------------
# Datasets, tables, loading
# --------------------------------------------------------------------------------------------


def test_idc_datasets_and_schemas(bq_client: bigquery.Client) -> None:
    datasets = {d.dataset_id for d in bq_client.list_datasets(project=PUBLIC_PROJECT)}
    assert {"idc_v25", "idc_v12"} <= datasets
    for version in (25, 12):
        seg = bq_client.get_table(f"{PUBLIC_PROJECT}.idc_v{version}.segmentations")
        assert [f.to_api_repr() for f in seg.schema] == [
            f.to_api_repr() for f in segmentations_schema(version)
        ]
        assert seg.num_rows == 6
        dicom_all = bq_client.get_table(f"{PUBLIC_PROJECT}.idc_v{version}.dicom_all")
        assert [f.to_api_repr() for f in dicom_all.schema] == [
            f.to_api_repr() for f in dicom_all_schema()
        ]
        assert dicom_all.num_rows == 15


def test_every_schema_era_is_loaded(bq_client: bigquery.Client) -> None:
    """One dataset per era of IDC's `segmentations` (tests/bqemulator.py: IDC_ERAS)."""
    for era in IDC_ERAS:
        seg = bq_client.get_table(f"{PUBLIC_PROJECT}.{era.dataset}.segmentations")
        assert [f.to_api_repr() for f in seg.schema] == [
            f.to_api_repr() for f in segmentations_schema(era.version)
        ]
        modes = {f.name: f.mode for f in seg.schema}
        if 13 <= era.version < 24:  # ARRAY<STRING>, as the view unnested dicom_metadata's field
            assert modes["SegmentAlgorithmName"] == "REPEATED"
        assert seg.num_rows == (8 if era.labelmaps_in_view else 6)
        curated = bq_client.get_table(f"{PUBLIC_PROJECT}.{era.dataset}.dicom_metadata_curated")
        assert curated.num_rows == 15
    _, rows = run(
        bq_client,
        f"SELECT d.BodyPartExamined AS raw, c.BodyPartExamined AS curated FROM {ALL} AS d"
        f" JOIN {V25}.dicom_metadata_curated AS c USING (SOPInstanceUID)"
        " WHERE d.BodyPartExamined IS DISTINCT FROM c.BodyPartExamined ORDER BY 1",
    )
    assert sorted(set(rows)) == [("ABD", "ABDOMEN"), ("Chest", "CHEST")]


def test_nested_records_round_trip(bq_client: bigquery.Client) -> None:
    _, rows = run(
        bq_client,
        f"SELECT SegmentedPropertyType, AnatomicRegion, SegmentedPropertyCategory FROM {SEG}"
        " WHERE SeriesInstanceUID = @s AND SegmentNumber = 1",
        s=SEG_NLST,
    )
    assert rows == [
        (
            {
                "CodeValue": "39607008",
                "CodingSchemeDesignator": "SCT",
                "CodeMeaning": "Lung",
                "AnatomicRegionModifierSequence": [],
                "SegmentedPropertyTypeModifierCodeSequence": [
                    {"CodeValue": "7771000", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Left"}
                ],
            },
            None,
            {
                "CodeValue": "123037004",
                "CodingSchemeDesignator": "SCT",
                "CodeMeaning": "Anatomical Structure",
            },
        )
    ]


def test_insert_rows_json_is_fast(bq_client: bigquery.Client, record_property: Any) -> None:
    """``insert_rows_json`` (as create_idc_dataset uses it) loads 2,000 nested rows quickly."""
    from tests.bqemulator import CT_STORAGE, Series

    bulk = [
        Series("bulk", f"P{i}", f"2.25.9.{i}", f"2.25.9.{i}.1", "CT", CT_STORAGE, instances=20)
        for i in range(100)
    ]
    rows = dicom_all_rows(bulk) + dicom_all_rows(fixture_series())
    began = time.perf_counter()
    create_idc_dataset(
        bq_client, "bulk", version=25, segmentations=[], dicom_all=rows, project="idcseg-test"
    )
    seconds = time.perf_counter() - began
    record_property("insert_2015_rows_s", round(seconds, 3))
    assert run(bq_client, "SELECT COUNT(*) AS n FROM `idcseg-test.bulk.dicom_all`")[1] == [
        (len(rows),)
    ]
    assert seconds < 10


@pytest.mark.xfail(
    strict=True,
    raises=BadRequest,
    reason="bqemulator 1.4.0 rejects the client's multipart upload "
    "(\"second part has unsupported Content-Type '*/*'\"); use insert_rows_json",
)
def test_load_table_from_json(bq_client: bigquery.Client) -> None:
    schema = [bigquery.SchemaField("x", "STRING")]
    bq_client.create_dataset("idcseg-test.loadjson", exists_ok=True)
    job = bq_client.load_table_from_json(
        [{"x": "a"}],
        "idcseg-test.loadjson.t",
        job_config=bigquery.LoadJobConfig(schema=schema),
    )
    job.result()


def test_ddl_and_insert_workaround(bq_client: bigquery.Client) -> None:
    """DDL + INSERT with STRUCT/ARRAY values also works, and REST sees DDL-made tables."""
    table = "`idcseg-test.ddl.codes`"
    bq_client.create_dataset("idcseg-test.ddl", exists_ok=True)
    code = "STRUCT<CodeValue STRING, CodingSchemeDesignator STRING, CodeMeaning STRING>"
    run(bq_client, f"CREATE TABLE {table} (uid STRING, region {code}, mods ARRAY<{code}>)")
    run(
        bq_client,
        f"INSERT INTO {table} (uid, region, mods) VALUES ('1',"
        " STRUCT('10200004' AS CodeValue, 'SCT' AS CodingSchemeDesignator, 'Liver' AS CodeMeaning),"
        " [STRUCT('7771000' AS CodeValue, 'SCT' AS CodingSchemeDesignator,"
        " 'Left' AS CodeMeaning)])",
    )
    _, rows = run(
        bq_client,
        f"SELECT region.CodeMeaning AS r, m.CodeMeaning AS m FROM {table}, UNNEST(mods) AS m",
    )
    assert rows == [("Liver", "Left")]
    fields = bq_client.get_table("idcseg-test.ddl.codes").schema
    assert [(f.name, f.field_type, f.mode) for f in fields] == [
        ("uid", "STRING", "NULLABLE"),
        ("region", "RECORD", "NULLABLE"),
        ("mods", "RECORD", "REPEATED"),
    ]


# --------------------------------------------------------------------------------------------
# Query parameters
# --------------------------------------------------------------------------------------------

HOSTILE = [
    "'",
    '"',
    "`",
    "--",
    ";",
    "/*",
    "\\",
    "' OR '1'='1",
    "x'); DROP TABLE dicom_all; --",
    "`bigquery-public-data.idc_v25.segmentations`",
    "@seed",
    "$1",
    "?",
    "%s",
    "日本語 ✓ Ångström",
    "a" * 10_240,
]


def test_hostile_parameters_match_nothing_and_do_not_error(bq_client: bigquery.Client) -> None:
    scalars = {f"p{i}": value for i, value in enumerate(HOSTILE)}
    where = " OR ".join(
        f"PatientID = @p{i} OR STRPOS(LOWER(SeriesDescription), LOWER(@p{i})) > 0"
        f" OR SeriesInstanceUID IN UNNEST(@arr)"
        for i, value in enumerate(HOSTILE)
        if value not in ("'", "--", ";", "\\")  # these occur in a fixture description
    )
    sql = f"SELECT SeriesInstanceUID FROM {ALL} WHERE {where}"
    _, rows = run(bq_client, sql, arr=HOSTILE, **scalars)
    assert rows == []
    # ...and every value arrives intact.
    echo = ", ".join(f"@p{i} AS p{i}" for i in range(len(HOSTILE)))
    _, rows = run(bq_client, f"SELECT {echo}, ARRAY_LENGTH(@arr) AS n", arr=HOSTILE, **scalars)
    assert rows == [(*HOSTILE, len(HOSTILE))]


def test_parameter_with_quote_semicolon_dashes_matches_its_row(bq_client: bigquery.Client) -> None:
    _, rows = run(
        bq_client,
        f"SELECT DISTINCT SeriesInstanceUID FROM {ALL}"
        " WHERE STRPOS(LOWER(SeriesDescription), LOWER(@d)) > 0",
        d="RADIOLOGIST'S NODULE; roi --",
    )
    assert rows == [(SEG_LIDC,)]


# --------------------------------------------------------------------------------------------
# Schema drift between IDC releases
# --------------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    raises=BadRequest,
    reason="bqemulator 1.4.0 has no INFORMATION_SCHEMA.COLUMN_FIELD_PATHS "
    "(INFORMATION_SCHEMA.COLUMNS and tables.get work)",
)
def test_information_schema_column_field_paths(bq_client: bigquery.Client) -> None:
    _, rows = run(
        bq_client,
        f"SELECT field_path FROM `{PUBLIC_PROJECT}.idc_v25.INFORMATION_SCHEMA.COLUMN_FIELD_PATHS`"
        " WHERE table_name = 'segmentations'",
    )
    assert ("SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence.CodeValue",) in rows


def test_schema_drift_workaround_information_schema_columns(bq_client: bigquery.Client) -> None:
    """INFORMATION_SCHEMA.COLUMNS tells idc_v12 from idc_v25, nested types included."""
    found: dict[int, dict[str, str]] = {}
    for version in (25, 12):
        _, rows = run(
            bq_client,
            f"SELECT column_name, data_type FROM `{PUBLIC_PROJECT}.idc_v{version}"
            ".INFORMATION_SCHEMA.COLUMNS` WHERE table_name = @t ORDER BY ordinal_position",
            t="segmentations",
        )
        found[version] = dict(rows)
    assert list(found[25]) == [f.name for f in segmentations_schema(25)]
    assert list(found[12]) == [f.name for f in segmentations_schema(12)]
    added = [*SEGMENTATIONS_V13_COLUMNS, "SegmentationType"]
    assert all(c in found[25] for c in added)
    assert not any(c in found[12] for c in added)
    assert (
        "SegmentedPropertyTypeModifierCodeSequence ARRAY<STRUCT<CodeValue STRING"
        in (found[25]["SegmentedPropertyType"])
    )


def test_schema_drift_workaround_get_table(bq_client: bigquery.Client) -> None:
    """``client.get_table(...).schema`` (free on BigQuery: no query) shows nested fields too."""

    def paths(fields: Sequence[bigquery.SchemaField], prefix: str = "") -> list[str]:
        out = []
        for f in fields:
            out.append(prefix + f.name)
            out += paths(f.fields, prefix + f.name + ".")
        return out

    v25 = paths(bq_client.get_table(f"{PUBLIC_PROJECT}.idc_v25.segmentations").schema)
    v12 = paths(bq_client.get_table(f"{PUBLIC_PROJECT}.idc_v12.segmentations").schema)
    assert "SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence.CodeValue" in v25
    assert sorted(set(v25) - set(v12)) == sorted([*SEGMENTATIONS_V13_COLUMNS, "SegmentationType"])


# --------------------------------------------------------------------------------------------
# Dry run, cost cap, DataFrames
# --------------------------------------------------------------------------------------------


def test_dry_run(bq_client: bigquery.Client) -> None:
    """A dry run validates and returns the schema, but always reports 0 bytes processed."""
    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    job = bq_client.query(
        f"SELECT SeriesInstanceUID, SegmentedPropertyType.CodeMeaning AS meaning FROM {SEG}",
        job_config=config,
    )
    assert job.state == "DONE"
    assert job.dry_run is True
    assert job.total_bytes_processed == 0  # BigQuery: the real estimate; never 0 for IDC tables
    assert job.total_bytes_billed is None
    assert job.schema is not None
    assert [f.name for f in job.schema] == ["SeriesInstanceUID", "meaning"]
    with pytest.raises(BadRequest):
        bq_client.query(f"SELECT no_such_column FROM {SEG}", job_config=config)
    with pytest.raises(NotFound):
        bq_client.query(f"SELECT * FROM {V25}.no_such_table", job_config=config)


def test_maximum_bytes_billed_is_not_enforced(bq_client: bigquery.Client) -> None:
    """BigQuery would refuse this (bytesBilledLimitExceeded); the emulator runs it."""
    config = bigquery.QueryJobConfig(maximum_bytes_billed=1)
    job = bq_client.query(f"SELECT COUNT(*) AS n FROM {ALL}", job_config=config)
    assert [tuple(r.values()) for r in job.result()] == [(15,)]
    assert job.maximum_bytes_billed == 1
    assert job.total_bytes_billed in (None, 0)


@pytest.mark.filterwarnings("ignore:Retrieving DataFrames via google-cloud-bigquery")
@pytest.mark.parametrize("api", ["query", "query_and_wait"])
def test_to_dataframe_without_storage_api(bq_client: bigquery.Client, api: str) -> None:
    sql = (
        f"SELECT SeriesInstanceUID, SegmentNumber, SegmentAlgorithmName, SegmentedPropertyType"
        f" FROM {SEG} WHERE SeriesInstanceUID = @s ORDER BY SegmentNumber"
    )
    config = bigquery.QueryJobConfig(query_parameters=params_for({"s": SEG_NLST}))
    if api == "query":
        rows = bq_client.query(sql, job_config=config).result()
    else:
        rows = bq_client.query_and_wait(sql, job_config=config)
    # create_bqstorage_client=False: the Storage Read API is not served by the emulator, and
    # with google-cloud-bigquery-storage installed the client would try Google's endpoint.
    df = rows.to_dataframe(create_bqstorage_client=False)
    assert list(df.columns) == [
        "SeriesInstanceUID",
        "SegmentNumber",
        "SegmentAlgorithmName",
        "SegmentedPropertyType",
    ]
    assert df["SegmentNumber"].tolist() == [1, 2, 3]
    assert str(df["SegmentNumber"].dtype) == "Int64"
    assert df["SegmentAlgorithmName"].isna().tolist() == [False, False, True]
    first = df["SegmentedPropertyType"].iloc[0]
    assert first["CodeMeaning"] == "Lung"
    modifiers = first["SegmentedPropertyTypeModifierCodeSequence"]
    assert [m["CodeMeaning"] for m in modifiers] == ["Left"]


# --------------------------------------------------------------------------------------------
# Column-name casing
# --------------------------------------------------------------------------------------------

CASE_KEPT: dict[str, tuple[str, list[str]]] = {
    "plain": (
        f"SELECT StudyInstanceUID, SeriesInstanceUID AS SeriesUID FROM {SEG}",
        ["StudyInstanceUID", "SeriesUID"],
    ),
    "aggregate": (
        f"SELECT StudyInstanceUID, COUNT(*) AS SegmentCount FROM {SEG} GROUP BY 1",
        ["StudyInstanceUID", "SegmentCount"],
    ),
    "safe_cast_division": (
        f"SELECT StudyInstanceUID, SUM(SAFE_CAST(instance_size AS FLOAT64)) / 1e6 AS SizeMB"
        f" FROM {ALL} GROUP BY 1",
        ["StudyInstanceUID", "SizeMB"],
    ),
    "param_equality": (
        f"SELECT StudyInstanceUID FROM {SEG} WHERE StudyInstanceUID = @seed",
        ["StudyInstanceUID"],
    ),
    "to_hex_md5": (
        f"SELECT StudyInstanceUID, TO_HEX(MD5(StudyInstanceUID)) AS Hash FROM {SEG}",
        ["StudyInstanceUID", "Hash"],
    ),
}
CASE_LOWERED: dict[str, tuple[str, list[str]]] = {
    "concat": (
        f"SELECT StudyInstanceUID, CONCAT('x', StudyInstanceUID) AS ViewerUrl FROM {SEG}",
        ["StudyInstanceUID", "ViewerUrl"],
    ),
    "pipes": (
        f"SELECT StudyInstanceUID, 'x' || StudyInstanceUID AS ViewerUrl FROM {SEG}",
        ["StudyInstanceUID", "ViewerUrl"],
    ),
    "to_hex_md5_concat_param": (
        f"SELECT StudyInstanceUID, TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID))) AS Hash FROM {SEG}",
        ["StudyInstanceUID", "Hash"],
    ),
    "countif": (
        f"SELECT StudyInstanceUID, COUNTIF(Modality = 'SEG') AS SegCount FROM {ALL} GROUP BY 1",
        ["StudyInstanceUID", "SegCount"],
    ),
    "backticked_names": (
        f"SELECT `StudyInstanceUID`, CONCAT('x', StudyInstanceUID) AS `ViewerUrl` FROM {SEG}",
        ["StudyInstanceUID", "ViewerUrl"],
    ),
}


def _names(client: bigquery.Client, sql: str) -> list[str]:
    params = params_for({"seed": "42"}) if "@seed" in sql else []
    config = bigquery.QueryJobConfig(query_parameters=params)
    return [f.name for f in client.query(sql, job_config=config).result().schema]


@pytest.mark.parametrize(("sql", "expected"), CASE_KEPT.values(), ids=CASE_KEPT.keys())
def test_column_case_kept(bq_client: bigquery.Client, sql: str, expected: list[str]) -> None:
    assert _names(bq_client, sql) == expected


@pytest.mark.xfail(
    strict=True,
    reason="bqemulator 1.4.0 lower-cases every identifier of a query one of its post-"
    "transpile rules rewrites (CONCAT/||, COUNTIF, ...): it re-qualifies the query with "
    "sqlglot's DuckDB normaliser; backtick quoting does not help",
)
@pytest.mark.parametrize(("sql", "expected"), CASE_LOWERED.values(), ids=CASE_LOWERED.keys())
def test_column_case_lowered(bq_client: bigquery.Client, sql: str, expected: list[str]) -> None:
    assert _names(bq_client, sql) == expected


@pytest.mark.parametrize(("sql", "expected"), CASE_LOWERED.values(), ids=CASE_LOWERED.keys())
def test_column_case_workaround_casefold(
    bq_client: bigquery.Client, sql: str, expected: list[str]
) -> None:
    """Map returned names to the expected spelling case-insensitively (a no-op on BigQuery)."""
    wanted = {name.casefold(): name for name in expected}
    assert [wanted[name.casefold()] for name in _names(bq_client, sql)] == expected


# --------------------------------------------------------------------------------------------
# BigQuery SQL constructs: correct, broken, and the workarounds
# --------------------------------------------------------------------------------------------

SEED = "42"
MD5_ORDER = sorted(
    (hashlib.md5((SEED + s).encode()).hexdigest(), s)  # noqa: S324 - the SQL under test
    for s in STUDIES_WITH_SEG_ROWS
)


@dataclass(frozen=True)
class Case:
    """A query over the fixture world and the rows BigQuery returns for it."""

    sql: str
    rows: list[tuple[Any, ...]]
    params: dict[str, Any] = field(default_factory=dict)
    names: list[str] | None = None  # expected column names, where the test is about them
    raises: type[Exception] | None = None  # BigQuery rejects the query with this
    gap: str | None = None  # why bqemulator 1.4.0 gets it wrong, if it does
    gap_error: type[Exception] = AssertionError  # what the emulator's gap shows up as


CASES: dict[str, Case] = {
    # --- aggregates -------------------------------------------------------------------------
    "array_agg_distinct_ignore_nulls_order_by": Case(
        f"SELECT ARRAY_AGG(DISTINCT SegmentAlgorithmName IGNORE NULLS"
        f" ORDER BY SegmentAlgorithmName) AS a FROM {SEG}",
        [(ALGORITHM_NAMES,)],
        gap="rewritten to `FILTER(WHERE NOT DISTINCT x IS NULL)`: syntax error (400)",
        gap_error=BadRequest,
    ),
    "array_agg_distinct_ignore_nulls": Case(
        f"SELECT ARRAY_LENGTH(ARRAY_AGG(DISTINCT SegmentAlgorithmName IGNORE NULLS)) AS n"
        f" FROM {SEG}",
        [(3,)],
        gap="any DISTINCT + IGNORE NULLS: same syntax error (400)",
        gap_error=BadRequest,
    ),
    "array_agg_ignore_nulls_order_by": Case(
        f"SELECT ARRAY_AGG(SegmentAlgorithmName IGNORE NULLS ORDER BY SegmentAlgorithmName) AS a"
        f" FROM {SEG}",
        [(["HoVer-Net", "Reader 1", "TotalSegmentator", "TotalSegmentator"],)],
    ),
    "array_agg_null_element_is_an_error": Case(
        f"SELECT ARRAY_AGG(DISTINCT SegmentAlgorithmName ORDER BY SegmentAlgorithmName) AS a"
        f" FROM {SEG}",
        [],
        raises=BadRequest,
        gap="BigQuery refuses a NULL array element in a result; the emulator returns it",
    ),
    "array_agg_ignore_nulls": Case(
        f"SELECT ARRAY_LENGTH(ARRAY_AGG(SegmentAlgorithmName IGNORE NULLS)) AS n FROM {SEG}",
        [(4,)],
    ),
    "workaround_array_agg_distinct_where_not_null": Case(
        f"SELECT ARRAY_AGG(DISTINCT SegmentAlgorithmName ORDER BY SegmentAlgorithmName) AS a"
        f" FROM {SEG} WHERE SegmentAlgorithmName IS NOT NULL",
        [(ALGORITHM_NAMES,)],
    ),
    "workaround_array_of_distinct_unnest": Case(
        f"SELECT ARRAY(SELECT DISTINCT n FROM UNNEST(ARRAY_AGG(SegmentAlgorithmName)) AS n"
        f" WHERE n IS NOT NULL ORDER BY n) AS a FROM {SEG}",
        [(ALGORITHM_NAMES,)],
    ),
    "string_agg_distinct_order_by": Case(
        f"SELECT STRING_AGG(DISTINCT SegmentAlgorithmName, ',' ORDER BY SegmentAlgorithmName)"
        f" AS s FROM {SEG}",
        [(",".join(ALGORITHM_NAMES),)],
    ),
    "string_agg_order_by": Case(
        f"SELECT STRING_AGG(SeriesInstanceUID, ',' ORDER BY SeriesInstanceUID) AS s"
        f" FROM {SEG} WHERE SegmentNumber = 1",
        [(",".join([SEG_NLST, SEG_LIDC, SEG_LIDC_NOSRC, SEG_SM]),)],
    ),
    "array_agg_order_by_limit": Case(
        f"SELECT ARRAY_AGG(SeriesInstanceUID ORDER BY SeriesInstanceUID LIMIT 2) AS a FROM {SEG}",
        [([SEG_NLST, SEG_NLST],)],
    ),
    "logical_or": Case(
        f"SELECT StudyInstanceUID, LOGICAL_OR(Modality = 'SM') AS has_sm FROM {ALL}"
        " GROUP BY StudyInstanceUID ORDER BY StudyInstanceUID",
        [
            ("2.25.1.1", False),
            ("2.25.2.1", False),
            ("2.25.3.1", False),
            ("2.25.4.1", True),
            ("2.25.5.1", False),
        ],
    ),
    "any_value": Case(
        f"SELECT SeriesInstanceUID, ANY_VALUE(collection_id) AS c FROM {ALL}"
        " WHERE PatientID = 'LIDC-IDRI-0001' GROUP BY SeriesInstanceUID ORDER BY 1",
        [("2.25.2.1.1", "lidc_idri"), (SEG_LIDC, "lidc_idri"), (SEG_LIDC_NOSRC, "lidc_idri")],
    ),
    "count_distinct": Case(
        f"SELECT COUNT(DISTINCT StudyInstanceUID) AS studies,"
        f" COUNT(DISTINCT PatientID) AS patients,"
        f" COUNT(*) AS n FROM {ALL}",
        [(5, 5, 15)],
    ),
    "safe_cast": Case(
        f"SELECT SUM(SAFE_CAST(instance_size AS FLOAT64)) / 1000000. AS mb,"
        f" SAFE_CAST('x' AS INT64) AS bad, SAFE_CAST('12' AS INT64) AS good FROM {ALL}",
        [(7.506, None, 12)],
    ),
    # --- hashing, strings, parameters -------------------------------------------------------
    "to_hex_md5_concat_param": Case(
        f"SELECT StudyInstanceUID, TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID))) AS h FROM {SEG}"
        " GROUP BY StudyInstanceUID ORDER BY h, StudyInstanceUID",
        [(study, digest) for digest, study in MD5_ORDER],
        params={"seed": SEED},
    ),
    "order_by_md5_limit_param": Case(
        f"WITH studies AS (SELECT StudyInstanceUID, COUNT(*) AS n FROM {SEG} GROUP BY 1)"
        " SELECT StudyInstanceUID FROM studies"
        " ORDER BY TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID))), StudyInstanceUID LIMIT @n",
        [(study,) for _, study in MD5_ORDER[:2]],
        params={"seed": SEED, "n": 2},
    ),
    "in_unnest_param": Case(
        f"SELECT COUNT(*) AS n FROM {ALL} WHERE LOWER(collection_id) IN UNNEST(@c)",
        [(9,)],
        params={"c": ["nlst", "lidc_idri"]},
    ),
    "in_unnest_empty_param": Case(
        f"SELECT COUNT(*) AS n FROM {ALL} WHERE LOWER(collection_id) IN UNNEST(@c)",
        [(0,)],
        params={"c": []},
    ),
    "strpos_lower_unicode": Case(
        f"SELECT DISTINCT SeriesInstanceUID FROM {ALL}"
        f" WHERE STRPOS(LOWER(SeriesDescription), LOWER(@d)) > 0",
        [(SEG_LIDC_NOSRC,)],
        params={"d": "ÅNGSTRÖM µ"},
    ),
    "same_param_twice": Case(
        f"SELECT COUNT(*) AS n FROM {SEG} WHERE StudyInstanceUID = @s OR SeriesInstanceUID = @s",
        [(3,)],
        params={"s": "2.25.1.1"},
    ),
    "like_backslash_escape": Case(
        r"SELECT 'a_b' LIKE r'a\_b' AS esc, 'axb' LIKE r'a\_b' AS wild",
        [(True, False)],
        gap="LIKE has no default escape character: `\\_` is not a literal underscore",
    ),
    "param_named_in_comment": Case(
        f"-- returns rows for @s\nSELECT COUNT(*) AS n FROM {SEG} WHERE StudyInstanceUID = @s",
        [(3,)],
        params={"s": "2.25.1.1"},
        gap="`@name` inside comments (and string literals) is replaced by a placeholder too: "
        "400 'Parameter argument/count mismatch'",
        gap_error=BadRequest,
    ),
    "workaround_param_comment_stripped": Case(
        f"SELECT COUNT(*) AS n FROM {SEG} WHERE StudyInstanceUID = @s",
        [(3,)],
        params={"s": "2.25.1.1"},
    ),
    # --- joins, CTEs, nested records --------------------------------------------------------
    "cte_in_select": Case(
        f"WITH seg AS (SELECT DISTINCT SeriesInstanceUID FROM {ALL}"
        f" WHERE SOPClassUID IN UNNEST(@sop))"
        f" SELECT COUNT(*) AS n FROM {SEG}"
        f" WHERE SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM seg)",
        [(6,)],
        params={"sop": [SEG_STORAGE]},
    ),
    "left_join_using": Case(
        f"WITH a AS (SELECT SeriesInstanceUID, COUNT(*) AS instances FROM {ALL}"
        f" WHERE PatientID = '100002' GROUP BY 1),"
        f" b AS (SELECT SeriesInstanceUID, COUNT(*) AS segments FROM {SEG} GROUP BY 1)"
        " SELECT SeriesInstanceUID, instances, segments"
        " FROM a LEFT JOIN b USING (SeriesInstanceUID)"
        " ORDER BY SeriesInstanceUID",
        [("2.25.1.1.1", 3, None), (SEG_NLST, 1, 3)],
    ),
    "struct_field_access": Case(
        f"SELECT SegmentedPropertyType.CodeMeaning AS t, AnatomicRegion.CodeValue AS r,"
        f" AnatomicRegionModifier.CodeMeaning AS rm FROM {SEG}"
        " WHERE SeriesInstanceUID IN UNNEST(@s) ORDER BY SeriesInstanceUID, SegmentNumber",
        [("Nodule", "T-28000", None), ("Neoplasm", "39607008", "Right")],
        params={"s": [SEG_LIDC, SEG_LIDC_NOSRC]},
    ),
    "cross_join_unnest_repeated_record": Case(
        f"SELECT s.SeriesInstanceUID, s.SegmentNumber, m.CodeMeaning FROM {SEG} AS s"
        " CROSS JOIN UNNEST(s.SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence) AS m"
        " ORDER BY 1, 2",
        [(SEG_NLST, 1, "Left"), (SEG_NLST, 3, "Right")],
    ),
    "cross_join_unnest_two_levels": Case(
        f"SELECT d.SeriesInstanceUID, seg.SegmentLabel, t.CodeValue, seg.SegmentAlgorithmName"
        f" FROM {ALL} AS d CROSS JOIN UNNEST(d.SegmentSequence) AS seg"
        " CROSS JOIN UNNEST(seg.SegmentedPropertyTypeCodeSequence) AS t"
        " WHERE d.collection_id = 'rcc_aid' ORDER BY seg.SegmentNumber",
        [
            ("2.25.3.1.2", "Background", "125040", ["nnU-Net"]),
            ("2.25.3.1.2", "Kidney", "64033007", ["nnU-Net"]),
        ],
    ),
    "exists_unnest_code": Case(
        f"SELECT SeriesInstanceUID, SegmentNumber FROM {SEG} WHERE EXISTS("
        "SELECT 1 FROM UNNEST(SegmentedPropertyType.SegmentedPropertyTypeModifierCodeSequence) a"
        " WHERE a.CodeValue = @v AND a.CodingSchemeDesignator = 'SCT')",
        [(SEG_NLST, 3)],
        params={"v": "24028007"},
    ),
    "exists_unnest_nested_in_repeated": Case(
        f"SELECT DISTINCT SeriesInstanceUID FROM {ALL} AS d WHERE EXISTS("
        "SELECT 1 FROM UNNEST(d.SegmentSequence) s, UNNEST(s.AnatomicRegionSequence) a"
        " WHERE a.CodeValue = @v)",
        [(SEG_LIDC,)],
        params={"v": "T-28000"},
    ),
    "safe_offset_subscript": Case(
        f"SELECT SegmentSequence[SAFE_OFFSET(0)].SegmentLabel AS first,"
        f" SegmentSequence[SAFE_OFFSET(9)].SegmentLabel AS none"
        f" FROM {ALL} WHERE SeriesInstanceUID = @s",
        [("Nodule 1", None)],
        params={"s": SEG_LIDC},
    ),
    "with_offset_unaliased_column_name": Case(
        "SELECT x, o FROM UNNEST(['a', 'b']) AS x WITH OFFSET AS o ORDER BY o",
        [("a", 0), ("b", 1)],
        names=["x", "o"],
        gap="values are right but the offset column comes back named '(o - 1)'",
    ),
    "workaround_with_offset_aliased": Case(
        "SELECT x AS x, o AS pos FROM UNNEST(['a', 'b']) AS x WITH OFFSET AS o ORDER BY o",
        [("a", 0), ("b", 1)],
        names=["x", "pos"],
    ),
}


def _case_params() -> Iterator[Any]:
    for name, case in CASES.items():
        marks = []
        if case.gap:
            marks.append(pytest.mark.xfail(strict=True, reason=case.gap, raises=case.gap_error))
        yield pytest.param(case, id=name, marks=marks)


@pytest.mark.parametrize("case", list(_case_params()))
def test_sql_construct(bq_client: bigquery.Client, case: Case) -> None:
    if case.raises is not None:
        try:
            run(bq_client, case.sql, **case.params)
        except case.raises:
            return
        raise AssertionError(f"BigQuery raises {case.raises.__name__}; the query ran")
    names, rows = run(bq_client, case.sql, **case.params)
    assert rows == case.rows
    if case.names is not None:
        assert names == case.names
