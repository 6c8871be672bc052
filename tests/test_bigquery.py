"""The BigQuery engine as a user meets it: CLI, cost guard, cache, drift, bad input.

Everything runs against bqemulator on 127.0.0.1 through the real google-cloud-bigquery client.
What the emulator cannot show — real bytes processed, a maximum_bytes_billed refusal — is
tested by giving the cost step real client job objects and API errors to interpret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from idcseg.local.store import Store
from idcseg.query import cost, spec
from idcseg.query.engines.bigquery import BigQueryEngine
from tests.conftest import run_cli

SEG2 = "2.25.2.1.2"  # the legacy SRT-coded LIDC SEG of the fixture world


@pytest.fixture
def bq_env(bq_emulator: Any, bq_idc: Any) -> dict[str, str]:
    """Environment pointing the CLI at the emulator."""
    return {"IDCSEG_BIGQUERY_ENDPOINT": bq_emulator.endpoint, "GOOGLE_CLOUD_PROJECT": "idcseg-test"}


def engine(client: Any, tmp_path: Path, dataset: str = "idc_v25", **options: Any) -> BigQueryEngine:
    return BigQueryEngine(dataset, client=client, store=Store(tmp_path), **options)


def test_cli_series_and_find_on_bigquery(bq_env: dict[str, str]) -> None:
    run = run_cli(
        "series",
        "--engine",
        "bigquery",
        "--idc-version",
        "25",
        "-c",
        "lidc_idri",
        "-f",
        "json",
        env=bq_env,
    )
    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert {r["SeriesInstanceUID"] for r in rows} == {"2.25.2.1.2", "2.25.2.1.3"}
    found = run_cli(
        "find",
        "--engine",
        "bigquery",
        "--idc-version",
        "25",
        "--structure",
        "SCT:27925004",
        "-f",
        "json",
        env=bq_env,
    )
    assert found.code == 0, found.err
    (row,) = json.loads(found.out)
    assert row["SeriesInstanceUID"] == SEG2 and row["structure_code"] == "SRT:M-03010"
    assert row["SegmentLabel"] == "Nodule 1"
    # the SEG over its source series in OHIF v3, as IDC's own segmentations.viewer_url since v24
    viewer = "https://viewer.imaging.datacommons.cancer.gov"
    assert row["viewer_url"] == (
        f"{viewer}/v3/viewer/?StudyInstanceUIDs=2.25.2.1&initialSeriesInstanceUID={SEG2}"
    )
    v2 = run_cli(
        "find", "--engine", "bigquery", "--idc-version", "25", "--structure", "SCT:27925004",
        "--viewer", "ohif_v2", "-f", "json", env=bq_env,
    )  # fmt: skip
    assert json.loads(v2.out)[0]["viewer_url"] == (
        f"{viewer}/viewer/2.25.2.1?seriesInstanceUID={SEG2},2.25.2.1.1"
    )


def test_cli_dry_run_prints_the_estimate_and_runs_nothing(
    bq_env: dict[str, str], tmp_path: Path
) -> None:
    run = run_cli(
        "summary",
        "--engine",
        "bigquery",
        "--idc-version",
        "25",
        "--dry-run",
        env={**bq_env, "IDCSEG_HOME": str(tmp_path)},
    )
    assert run.code == 0, run.err
    assert run.out == "" and run.err.startswith("dry run: this query would scan ")
    assert "$" in run.err and "TiB" in run.err
    assert not list((tmp_path / "cache").glob("bigquery/results/*.parquet"))


def test_results_are_cached_and_refreshed(bq_client: Any, bq_idc: Any, tmp_path: Path) -> None:
    query = spec.series_query(spec.SeriesFilter.build(collection="nlst"))
    first = engine(bq_client, tmp_path).run(query)
    assert not first.cached and first.estimate is not None
    again = engine(bq_client, tmp_path).run(query)
    assert again.cached and again.to_pandas().equals(first.to_pandas())
    assert not engine(bq_client, tmp_path, refresh=True).run(query).cached
    assert not engine(bq_client, tmp_path, cache=False).run(query).cached


def test_current_entries_expire_pinned_ones_do_not(
    bq_client: Any, bq_idc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idcseg.query.resultcache import ResultCache

    query = spec.summary_query(spec.SeriesFilter.build())
    engine(bq_client, tmp_path).run(query)
    cache = ResultCache(tmp_path / "cache" / "bigquery" / "results")
    (entry,) = cache.folder.glob("*.parquet")
    old = entry.stat().st_mtime - 10 * 86400
    os.utime(entry, (old, old))
    assert cache.get(entry.stem, "idc_v25") is not None
    assert cache.get(entry.stem, "idc_current") is None


def test_over_the_cap_is_refused_before_running() -> None:
    with pytest.raises(cost.CostLimitError) as refused:
        cost.check(cost.Estimate(3 * 10**12), max_bytes=25 * 10**9)
    message = str(refused.value)
    assert "would scan 3.0 TB" in message and "--max-bytes" in message and "$" in message


def test_a_real_dry_run_job_is_read_for_bytes() -> None:
    """A QueryJob as the API returns it for a dry run of a large scan."""
    client = bigquery.Client(project="p", credentials=_anonymous())
    job = bigquery.QueryJob.from_api_repr(
        {
            "jobReference": {"projectId": "p", "jobId": "j"},
            "configuration": {"query": {"query": "SELECT 1"}, "dryRun": True},
            "statistics": {"query": {"totalBytesProcessed": str(7 * 2**40)}},
            "status": {"state": "DONE"},
        },
        client,
    )
    estimate = cost.estimate_from_job(job)
    assert estimate.bytes == 7 * 2**40 and round(estimate.usd, 2) == 43.75


def test_a_maximum_bytes_billed_refusal_is_reported_with_the_flag() -> None:
    refusal = api_exceptions.BadRequest(
        "Query exceeded limit for bytes billed: 25000000000. 60000000000 or higher required.",
        errors=[{"reason": "bytesBilledLimitExceeded", "message": "Query exceeded limit"}],
    )
    error = cost.interpret_job_error(refusal, cost.Estimate(60 * 10**9), 25 * 10**9)
    assert isinstance(error, cost.CostLimitError)
    assert "60.0 GB" in str(error) and "--max-bytes" in str(error)
    other = cost.interpret_job_error(api_exceptions.BadRequest("Unrecognized name: foo"), None, 1)
    assert not isinstance(other, cost.CostLimitError) and "Unrecognized name: foo" in str(other)


@pytest.mark.parametrize("text", ["25GB", "1.5TiB", "500 MB", 1000])
def test_sizes_parse(text: Any) -> None:
    assert cost.parse_bytes(text) > 0


@pytest.mark.parametrize("text", ["lots", "-1GB", "0", "5 parsecs"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(spec.UsageError):
        cost.parse_bytes(text)


def test_an_older_release_adapts_and_names_what_it_lacks(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    old = engine(bq_client, tmp_path, dataset="idc_v12")
    assert "SeriesInstanceUID" not in old.columns()["segmentations"]
    rows = old.run(
        spec.find_query(spec.SeriesFilter.build(), spec.SegmentFilter.build(structure="Liver"))
    ).to_pandas()
    assert list(rows.SeriesInstanceUID) == ["2.25.1.1.2"]  # found through dicom_all by SOP UID
    with pytest.raises(
        spec.UsageError, match="idc_v12 has no column segmentations.SegmentAlgorithmName"
    ):
        old.run(
            spec.find_query(spec.SeriesFilter.build(), spec.SegmentFilter.build(algorithm_name="x"))
        )


@pytest.mark.parametrize(
    "hostile",
    [
        "x'; DROP TABLE t; --",
        "`bigquery-public-data`",
        "--",
        ";",
        "\u00c5ngstr\u00f6m \u2713",
        "a" * 10_000,
        "\\'",
    ],
)
def test_hostile_values_travel_as_parameters_and_match_nothing(
    bq_client: Any, bq_idc: Any, tmp_path: Path, hostile: str
) -> None:
    e = engine(bq_client, tmp_path, cache=False)
    f = spec.SeriesFilter.build(collection=hostile, description=hostile, patient=hostile)
    assert e.run(spec.series_query(f)).to_pandas().empty
    g = spec.SegmentFilter.build(structure=hostile, algorithm_name=hostile)
    assert e.run(spec.find_query(spec.SeriesFilter.build(), g)).to_pandas().empty
    assert len(e.run(spec.series_query(spec.SeriesFilter.build())).to_pandas()) == 5  # still there


@pytest.mark.parametrize(
    "dataset", ["idc_v25; DROP", "bigquery-public-data.idc_v25", "v", "idc_vx"]
)
def test_bad_datasets_are_refused_before_any_call(dataset: str) -> None:
    with pytest.raises(spec.UsageError):
        BigQueryEngine(dataset, client=object())
    run = run_cli("series", "--engine", "bigquery", "--idc-version", dataset)
    assert run.code == 2 and "not an IDC release" in run.err and "Traceback" not in run.err


def test_missing_credentials_or_project_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        "GOOGLE_CLOUD_PROJECT": "",
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json"),
        "CLOUDSDK_CONFIG": str(tmp_path),
        "IDCSEG_BIGQUERY_ENDPOINT": "",
    }
    run = run_cli("series", "--engine", "bigquery", "--limit", "1", env=env)
    assert run.code == 2, run.err
    (line,) = run.err.strip().splitlines()
    assert line.startswith("idcseg: error: ") and ("credentials" in line or "project" in line)


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def test_sync_copies_rows_and_find_answers_offline_the_same(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    from idcseg.local.sync import sync
    from idcseg.query.engines.duckdb import DuckDBEngine

    store = Store(tmp_path / "store")
    source = engine(bq_client, tmp_path / "bq", cache=False)
    f = spec.SeriesFilter.build()
    report = sync(f, spec.SegmentFilter.build(), source, store=store, progress=False)
    assert (report.instances, report.series) == (5, 5)  # four 66.4 SEGs and the label map
    assert report.segments == 8  # the label map's Background row included, as in the file
    local = DuckDBEngine(store=store, dataset="idc_v25", fetch_seg_index=False)
    for g in [
        spec.SegmentFilter.build(),
        spec.SegmentFilter.build(structure="Kidney", modifier="Right"),
        spec.SegmentFilter.build(algorithm_type="SEMIAUTOMATIC"),
    ]:
        for per in ("segment", "series"):
            query = spec.find_query(f, g, per=per)
            online = source.run(query).to_pandas()
            offline = local.run(query).to_pandas()
            import pandas as pd

            pd.testing.assert_frame_equal(offline, online)
    facets = spec.facets_query(f, spec.SegmentFilter.build(), "structure")
    assert local.run(facets).to_pandas().equals(source.run(facets).to_pandas())
    again = sync(f, spec.SegmentFilter.build(), source, store=store, progress=False)
    assert (
        again.segments == 8
        and len(local.run(spec.find_query(f, spec.SegmentFilter.build())).to_pandas()) == 7
    )


def test_sync_cli_dry_run_and_filtered_run(bq_env: dict[str, str], tmp_path: Path) -> None:
    env = {**bq_env, "IDCSEG_HOME": str(tmp_path)}
    dry = run_cli("sync", "--idc-version", "25", "--collection", "lidc_idri", "--dry-run", env=env)
    assert dry.code == 0 and "dry run: sync would scan" in dry.err, dry.err
    done = run_cli("sync", "--idc-version", "25", "--collection", "lidc_idri", env=env)
    assert done.code == 0, done.err
    assert "synced 2 segments of 2 SEG instances in 2 series" in done.err
    found = run_cli("find", "--structure", "SCT:27925004", "-f", "json", env=env)
    (row,) = json.loads(found.out)
    assert row["SeriesInstanceUID"] == SEG2 and row["collection_id"] == "lidc_idri"


def test_releases_13_to_23_answer_every_command(
    bq_env: dict[str, str], bq_client: Any, tmp_path: Path
) -> None:
    """IDC v13–v23 hold SegmentAlgorithmName as ARRAY<STRING>: its first element is the name."""
    e = engine(bq_client, tmp_path, dataset="idc_v20", cache=False)
    assert "SegmentAlgorithmName[]" in e.columns()["segmentations"]  # REPEATED in this release
    everything, reader = (
        spec.SeriesFilter.build(),
        spec.SegmentFilter.build(algorithm_name="reader"),
    )
    (row,) = e.run(spec.find_query(everything, reader)).to_pandas().itertuples()
    assert (row.SeriesInstanceUID, row.SegmentAlgorithmName) == (SEG2, "Reader 1")
    names = e.run(spec.facets_query(everything, spec.SegmentFilter.build(), "algorithm_name"))
    assert set(names.to_pandas().value.dropna()) == {
        "TotalSegmentator",
        "Reader 1",
        "nnU-Net",
        "HoVer-Net",
    }
    series = e.run(spec.series_query(spec.SeriesFilter.build(algorithm_name="total"))).to_pandas()
    assert list(series.SeriesInstanceUID) == ["2.25.1.1.2"] and list(series.AlgorithmName) == [
        "TotalSegmentator"
    ]
    info = e.run(spec.Query("info.sql")).to_pandas().iloc[0]
    assert (info.segment_rows, info.segmented_series) == (8, 5)
    from idcseg.local.sync import sync

    report = sync(everything, reader, e, store=Store(tmp_path / "store"), progress=False)
    assert (report.segments, report.series) == (1, 1)
    run = run_cli(
        "facets", "--engine", "bigquery", "--idc-version", "20", "--by", "algorithm_name",
        "--structure", "Kidney", "-f", "json", env=bq_env,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert {r["value"] for r in json.loads(run.out)} == {None, "nnU-Net"}


def test_body_part_is_idcs_curated_value(bq_client: Any, bq_idc: Any, tmp_path: Path) -> None:
    """dicom_all says ABD (as the files do); IDC's index, and so --body-part, says ABDOMEN."""
    e = engine(bq_client, tmp_path, cache=False)
    labelmap = "2.25.3.1.2"

    def series(**filters: Any) -> list[str]:
        frame = e.run(spec.series_query(spec.SeriesFilter.build(**filters))).to_pandas()
        return list(frame.SeriesInstanceUID)

    assert series(body_part="abdomen") == [labelmap]
    assert series(body_part="ABD") == []
    body_parts = e.run(spec.series_query(spec.SeriesFilter.build(collection="rcc_aid"))).to_pandas()
    assert list(body_parts.BodyPartExamined) == ["ABDOMEN"]
    found = e.run(
        spec.find_query(spec.SeriesFilter.build(body_part="Abdomen"), spec.SegmentFilter.build())
    ).to_pandas()
    assert list(found.structure) == ["Kidney"]  # the label map's Background is no structure
    facts = e.run(
        spec.sync_query(spec.SeriesFilter.build(collection="rcc_aid"), spec.SegmentFilter.build())
    )
    assert set(facts.to_pandas().BodyPartExamined) == {"ABDOMEN"}


def test_a_release_without_the_curated_view_reads_dicom_all(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    """IDC releases before v7 have no dicom_metadata_curated: BodyPartExamined is the raw one."""
    from tests.bqemulator import (
        create_idc_dataset,
        dicom_all_rows,
        fixture_series,
        segmentations_rows,
    )

    world = fixture_series()
    create_idc_dataset(
        bq_client, "idc_v6", version=6,
        segmentations=segmentations_rows(world, 6), dicom_all=dicom_all_rows(world, 6),
    )  # fmt: skip
    e = engine(bq_client, tmp_path, dataset="idc_v6", cache=False)
    assert e.columns()["dicom_metadata_curated"] == set()
    frame = e.run(spec.series_query(spec.SeriesFilter.build(body_part="abd"))).to_pandas()
    assert list(frame.SeriesInstanceUID) == ["2.25.3.1.2"] and list(frame.BodyPartExamined) == [
        "ABD"
    ]


def test_label_maps_count_once_whether_or_not_the_view_has_them(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    """idc_current's view unnests label maps itself; idc_v25's leaves them to dicom_all."""
    counts = {}
    for dataset in ("idc_v25", "idc_current"):
        e = engine(bq_client, tmp_path / dataset, dataset=dataset, cache=False)
        rows = bq_client.query(
            f"SELECT COUNT(*) AS n FROM `bigquery-public-data.{dataset}.segmentations`"
        ).result()
        in_view = next(iter(rows))["n"]
        everything = spec.SeriesFilter.build()
        found = e.run(spec.find_query(everything, spec.SegmentFilter.build())).to_pandas()
        synced = e.run(spec.sync_query(everything, spec.SegmentFilter.build())).to_pandas()
        info = e.run(spec.Query("info.sql")).to_pandas().iloc[0]
        kidneys = e.run(spec.series_query(spec.SeriesFilter.build(structure="kidney"))).to_pandas()
        counts[dataset] = (
            in_view,
            len(found),
            synced[["SOPInstanceUID", "SegmentNumber"]].duplicated().sum(),
            len(synced),
            info.segment_rows,
            list(kidneys.total_segments),
        )
    assert counts["idc_v25"][0] == 6 and counts["idc_current"][0] == 8  # 2 label-map rows
    assert counts["idc_v25"][1:] == counts["idc_current"][1:] == (7, 0, 8, 8, [3, 2])


# --- measurements -------------------------------------------------------------------------------

MEASURED = ["quantity", "quantity_code", "derivation", "value", "units", "value_meaning", "link"]


def test_measurements_adapt_to_an_older_release(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    """Older measurement tables hold segmentationSegmentNumber as an ARRAY and lack the SR's
    series: the same measurements come back, linked the same way."""
    old = engine(bq_client, tmp_path / "old", dataset="idc_v12", cache=False)
    new = engine(bq_client, tmp_path / "new", cache=False)
    assert "segmentationSegmentNumber[]" in old.columns()["quantitative_measurements"]
    assert "segmentationSegmentNumber[]" not in new.columns()["quantitative_measurements"]
    assert "SeriesInstanceUID" not in old.columns()["qualitative_measurements"]
    query = spec.measurements_query(
        spec.SeriesFilter.build(), spec.SegmentFilter.build(), spec.MeasurementFilter.build()
    )
    then, now = old.run(query).to_pandas(), new.run(query).to_pandas()
    assert len(now) == 12 and then.sr_SeriesInstanceUID.isna().all()
    assert now.sr_SeriesInstanceUID.notna().all()
    key = ["sr_SOPInstanceUID", "measurementGroup_number", "SegmentNumber", *MEASURED]
    import pandas as pd

    pd.testing.assert_frame_equal(then[key], now[key])


def test_sync_measurements_then_the_same_answers_offline(
    bq_client: Any, bq_idc: Any, tmp_path: Path
) -> None:
    import pandas as pd

    from idcseg.local.sync import sync, sync_measurements
    from idcseg.query.engines.duckdb import DuckDBEngine

    store = Store(tmp_path / "store")
    source = engine(bq_client, tmp_path / "bq", cache=False)
    f, g = spec.SeriesFilter.build(), spec.SegmentFilter.build()
    sync(f, g, source, store=store, progress=False)
    report = sync_measurements(f, g, source, store=store, progress=False)
    # the SRs measuring stored segments (by reference or tracking UID), not the unlinked one
    assert (report.instances, report.measurements) == (3, 10)
    assert "synced 10 measurements of 3 SR instances" in report.summary()
    local = DuckDBEngine(store=store, dataset="idc_v25", fetch_seg_index=False)
    for g2, m in [
        (g, spec.MeasurementFilter.build()),
        (spec.SegmentFilter.build(structure="Nodule"), spec.MeasurementFilter.build()),
        (g, spec.MeasurementFilter.build(quantity="Volume", min=600, unit="mm3")),
        (g, spec.MeasurementFilter.build(evaluation="Malignancy~suspicious")),
    ]:
        query = spec.measurements_query(f, g2, m, linked=True)
        pd.testing.assert_frame_equal(local.run(query).to_pandas(), source.run(query).to_pandas())
    con = store.connect(read_only=True)
    try:
        groups = con.execute("SELECT count(*), count(contentSequence) FROM measurement_groups")
        assert groups.fetchall() == [(4, 0)]
        origins = con.execute("SELECT DISTINCT origin FROM instances").fetchall()
        assert origins == [("bigquery",)]
    finally:
        con.close()
    again = sync_measurements(f, g, source, store=store, progress=False)
    assert again.measurements == 10
    assert len(local.run(spec.measurements_query(f, g, spec.MeasurementFilter())).to_pandas()) == 10


def test_measurements_on_the_cli_with_bigquery(bq_env: dict[str, str], tmp_path: Path) -> None:
    env = {**bq_env, "IDCSEG_HOME": str(tmp_path)}
    dry = run_cli(
        "measurements", "--engine", "bigquery", "--idc-version", "25", "--dry-run",
        "--quantity", "Volume", "--min", "500", env=env,
    )  # fmt: skip
    assert dry.code == 0 and "dry run: this query would scan" in dry.err, dry.err
    run = run_cli(
        "measurements", "--engine", "bigquery", "--idc-version", "25", "-f", "json",
        "--quantity", "Volume", "--min", "600", "--unit", "mm3", env=env,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert sorted(r["value"] for r in json.loads(run.out)) == [610.0, 1200.0, 1612000.0, 2500000.0]
    wide = run_cli(
        "find", "--engine", "bigquery", "--idc-version", "25", "--with-measurements",
        "--structure", "Nodule", "-f", "json", env=env,
    )  # fmt: skip
    assert wide.code == 0, wide.err
    (row,) = json.loads(wide.out)
    assert row["Volume [mm3]"] == 523.6 and row["measurement_groups"] == 2
    assert row["Malignancy"] == "4 out of 5 (Moderately Suspicious for Cancer)"
    dry = run_cli(
        "find", "--engine", "bigquery", "--idc-version", "25", "--with-measurements", "--dry-run",
        env=env,
    )  # fmt: skip
    assert dry.code == 0 and "their measurements would scan" in dry.err


def test_sync_cli_with_measurements(bq_env: dict[str, str], tmp_path: Path) -> None:
    env = {**bq_env, "IDCSEG_HOME": str(tmp_path)}
    dry = run_cli("sync", "--idc-version", "25", "--measurements", "--dry-run", env=env)
    assert dry.code == 0 and "dry run: sync of measurements would scan" in dry.err, dry.err
    done = run_cli(
        "sync", "--idc-version", "25", "--collection", "lidc_idri", "--measurements", env=env
    )
    assert done.code == 0, done.err
    assert "synced 6 measurements of 2 SR instances in 2 series" in done.err
    found = run_cli("measurements", "--quantity", "Malignancy", "-f", "json", env=env)
    assert sorted(r["value_code"] for r in json.loads(found.out)) == [
        "99LIDCQIICR:904",
        "99LIDCQIICR:905",
    ]
