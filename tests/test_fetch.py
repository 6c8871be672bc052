"""``fetch-segments``: SEG headers from an S3 bucket (moto on 127.0.0.1) into the store.

The world (see ``fetchworld.py``): multi-MB highdicom SEGs under IDC's key layout in bucket
``idc-open-data``, a fault-injecting proxy in front of the server, and a stand-in IDC index
(collection ``fetch_test``) pointing at them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest

from idcseg.errors import UsageError
from idcseg.local.ingest import ingest
from idcseg.local.store import Store
from idcseg.query.spec import SeriesFilter
from idcseg.remote.bucket import AnonymousS3, S3Error
from idcseg.remote.fetch import Target, fetch_missing, fetch_segments, index_targets
from tests import fetchworld

SEG_NAMES = ("multi", "labelmap", "legacy", "frac")


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Servers and data, built once per session."""
    built = fetchworld.build(tmp_path_factory.mktemp("fetch-world"))
    yield built
    built.stop()


@pytest.fixture
def proxy(world):
    """The fault proxy, clean before and after each test."""
    world.proxy.reset()
    yield world.proxy
    world.proxy.reset()


@pytest.fixture
def fake_index(world, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make this process's embedded engine (and ingest) read the stand-in index."""
    import idcseg.local.store as store_module
    import idcseg.query.engines.duckdb as engine_module

    monkeypatch.setattr(store_module, "index_dir", lambda: world.index_dir)
    monkeypatch.setattr(engine_module, "index_dir", lambda: world.index_dir)
    return world.index_dir


def quick_client(endpoint: str, **options) -> AnonymousS3:
    """A client with a short timeout and tiny backoff, so fault tests run fast."""
    settings = {"timeout": 0.5, "attempts": 4, "backoff": 0.01}
    settings.update(options)
    return AnonymousS3(endpoint, **settings)


def tables(folder: Path) -> dict[str, list[tuple]]:
    """The store's tables, sorted, without what says where a row came from."""
    con = duckdb.connect(str(folder / "store.duckdb"), read_only=True)
    try:
        return {
            "segmentations": con.execute(
                "SELECT * FROM segmentations ORDER BY SOPInstanceUID, SegmentNumber"
            ).fetchall(),
            "segment_labels": con.execute(
                "SELECT * FROM segment_labels ORDER BY SOPInstanceUID, SegmentNumber"
            ).fetchall(),
            "local_series": con.execute(
                "SELECT * FROM local_series ORDER BY SeriesInstanceUID"
            ).fetchall(),
            "instances": con.execute(
                "SELECT SOPInstanceUID, SeriesInstanceUID, size_bytes FROM instances ORDER BY 1"
            ).fetchall(),
        }
    finally:
        con.close()


def instances(folder: Path) -> list[tuple]:
    """(SeriesInstanceUID, origin, location) of every stored instance."""
    con = duckdb.connect(str(folder / "store.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT SeriesInstanceUID, origin, location FROM instances ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def object_reads(log, key: str) -> list[str | None]:
    """Range headers of the GETs of object *key*."""
    return [entry.range for entry in log if entry.path.endswith(key)]


# --- rows and bytes ---------------------------------------------------------------------------


def test_rows_equal_ingest_of_the_same_files(world, proxy, tmp_path: Path) -> None:
    names = (*SEG_NAMES, "faulty")
    fetched = Store(tmp_path / "fetched")
    report = fetch_segments(targets=world.targets(*names), store=fetched, endpoint=world.endpoint)
    assert report.ok, report.failures
    files = [p for n in names for p in world.series[n].files]
    assert report.files_stored == len(files) == report.files_listed
    ingested = Store(tmp_path / "ingested")
    assert ingest(files, store=ingested).ok
    assert tables(fetched.folder) == tables(ingested.folder)
    assert report.rows_written == len(tables(fetched.folder)["segmentations"])
    expected = {
        (s.uid, "bucket", f"s3://idc-open-data/{key}")
        for n in names
        for s in [world.series[n]]
        for key in s.keys
    }
    assert set(instances(fetched.folder)) == expected


def test_only_the_header_is_read(world, proxy, tmp_path: Path) -> None:
    report = fetch_segments(
        targets=world.targets(*SEG_NAMES),
        store=Store(tmp_path),
        endpoint=world.endpoint,
        keep_reads=True,
    )
    assert report.ok
    assert len(report.reads) == 5
    for read in report.reads:
        assert read.size > 1_000_000
        assert (read.requests, read.bytes_read) == (1, 65536)  # one window was enough
        if read.size > 3_500_000:  # the 4 and 10 MB SEGs (the 1.3 MB one: 4.9 %)
            assert read.bytes_read / read.size < 0.02, read
    assert report.bytes_read == sum(r.bytes_read for r in report.reads)
    assert report.header_fraction is not None and report.header_fraction < 0.02
    ranges = [e.range for e in proxy.log if e.path.endswith(".dcm")]
    assert ranges and all(r == "bytes=0-65535" for r in ranges)
    assert proxy.bytes_sent < 0.02 * sum(r.size for r in report.reads) + 50_000


def test_small_window_grows_by_doubling(world, proxy, tmp_path: Path) -> None:
    one = world.series["multi"]
    report = fetch_segments(
        targets=[one.target],
        store=Store(tmp_path),
        endpoint=world.endpoint,
        window=1024,
        keep_reads=True,
    )
    assert report.ok and report.files_stored == 2
    ranges = object_reads(proxy.log, one.keys[0])
    assert ranges[:3] == ["bytes=0-1023", "bytes=1024-2047", "bytes=2048-4095"]
    # each request asks for as much again as was read: the prefix doubles
    read = next(r for r in report.reads if r.location.endswith(one.keys[0]))
    assert read.bytes_read == 1024 * 2 ** (read.requests - 1)
    assert tables(tmp_path)["segmentations"] == _fetch_clean(world, "multi", tmp_path / "b")


def _fetch_clean(world, name: str, folder: Path) -> list[tuple]:
    assert fetch_segments(
        targets=world.targets(name), store=Store(folder), endpoint=world.endpoint
    ).ok
    return tables(folder)["segmentations"]


# --- manners ----------------------------------------------------------------------------------


def test_rerun_skips_what_is_stored(world, proxy, tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = fetch_segments(targets=world.targets(*SEG_NAMES), store=store, endpoint=world.endpoint)
    assert first.files_stored == 5
    proxy.reset()
    again = fetch_segments(targets=world.targets(*SEG_NAMES), store=store, endpoint=world.endpoint)
    assert again.ok
    assert (again.files_skipped, again.files_stored, again.bytes_read) == (5, 0, 0)
    assert again.series_done == 4
    assert all(e.range is None for e in proxy.log)  # listings only
    assert again.requests == 4
    forced = fetch_segments(
        targets=world.targets("legacy"), store=store, endpoint=world.endpoint, force=True
    )
    assert forced.files_stored == 1
    assert len(tables(tmp_path)["instances"]) == 5  # replaced, not duplicated


def test_connections_are_kept_alive(world, proxy, tmp_path: Path) -> None:
    report = fetch_segments(
        targets=world.targets(*SEG_NAMES),
        store=Store(tmp_path),
        endpoint=world.endpoint,
        concurrency=1,
    )
    assert report.ok and report.requests == 4 + 5
    assert len({e.client_port for e in proxy.log}) == 1


def test_dry_run_lists_and_stores_nothing(world, proxy, tmp_path: Path) -> None:
    store = Store(tmp_path)
    report = fetch_segments(
        targets=world.targets(*SEG_NAMES), store=store, endpoint=world.endpoint, dry_run=True
    )
    assert report.dry_run and report.ok
    assert len(report.planned) == 5
    assert {p.location for p in report.planned} == {
        f"s3://idc-open-data/{k}" for n in SEG_NAMES for k in world.series[n].keys
    }
    assert all(e.range is None for e in proxy.log)
    assert "would read 5 objects" in report.summary()
    assert not store.exists() or tables(tmp_path)["instances"] == []


def test_not_segmentation_series_is_reported_not_stored(world, proxy, tmp_path: Path) -> None:
    ct = world.series["ct"]
    report = fetch_segments(
        targets=world.targets("ct", "legacy"), store=Store(tmp_path), endpoint=world.endpoint
    )
    assert report.ok
    assert report.not_segmentation == {ct.uid: "CT Image Storage"}
    assert report.files_not_seg == 3
    assert report.series_done == 2
    # the first object told: the rest of the series was not read
    reads = [e for e in proxy.log if ct.uuid in e.path and e.range]
    assert len(reads) == 1
    assert {row[0] for row in instances(tmp_path)} == {world.series["legacy"].uid}
    assert "not segmentations" in report.summary()


def test_bad_objects_fail_alone(world, proxy, tmp_path: Path) -> None:
    bad = world.series["bad"]
    report = fetch_segments(targets=[bad.target], store=Store(tmp_path), endpoint=world.endpoint)
    assert not report.ok
    kinds = {f.location.rsplit("/", 1)[1]: f.kind for f in report.failures}
    assert kinds == {bad.keys[1].split("/")[1]: "NotDicom", bad.keys[2].split("/")[1]: "Truncated"}
    assert report.files_stored == 1
    assert instances(tmp_path) == [(bad.uid, "bucket", f"s3://idc-open-data/{bad.keys[0]}")]
    assert "NotDicom" in report.summary() and "Truncated" in report.summary()


FAULTS = ("503", "reset", "truncate", "short206", "slow")


def test_transient_faults_are_retried(world, proxy, tmp_path: Path) -> None:
    faulty = world.series["faulty"]
    proxy.add(f"prefix={faulty.uuid}", "503", times=2)  # the listing too
    for key, kind in zip(faulty.keys, FAULTS, strict=True):
        proxy.add(key, kind, times=2 if kind != "slow" else 1, delay=1.0)
    report = fetch_segments(
        targets=[faulty.target],
        store=Store(tmp_path),
        client=quick_client(world.endpoint),
    )
    assert report.ok, report.failures
    assert report.files_stored == 5
    assert report.retries == 2 + 2 * 4 + 1
    assert {e.fault for e in proxy.log} == {None, *FAULTS}
    assert tables(tmp_path)["segmentations"] == _fetch_clean(world, "faulty", tmp_path / "b")


def test_persistent_faults_fail_per_file_and_a_rerun_completes(world, proxy, tmp_path) -> None:
    faulty, legacy = world.series["faulty"], world.series["legacy"]
    for key, kind in zip(faulty.keys, FAULTS, strict=True):
        proxy.add(key, kind, times=None, delay=1.0)
    proxy.add(f"prefix={legacy.uuid}", "500", times=None)
    store = Store(tmp_path)
    targets = world.targets("faulty", "legacy", "multi")
    report = fetch_segments(
        targets=targets, store=store, client=quick_client(world.endpoint), concurrency=8
    )
    assert not report.ok
    by_key = {f.location.split("/", 3)[3]: f.kind for f in report.failures}
    assert by_key == {
        faulty.keys[0]: "HTTP 503",
        faulty.keys[1]: "connection reset",
        faulty.keys[2]: "truncated response",
        faulty.keys[3]: "truncated response",
        faulty.keys[4]: "timeout",
        f"{legacy.uuid}/": "HTTP 500",
    }
    assert report.failure_kinds["truncated response"] == 2
    assert "failed: 6" in report.summary()
    # nothing wrong was stored: only the healthy series
    assert {row[0] for row in instances(tmp_path)} == {world.series["multi"].uid}
    proxy.reset()
    rerun = fetch_segments(targets=targets, store=store, endpoint=world.endpoint)
    assert rerun.ok
    assert (rerun.files_stored, rerun.files_skipped) == (6, 2)
    assert len(instances(tmp_path)) == 8
    clean = _fetch_all(world, ("faulty", "legacy", "multi"), tmp_path / "clean")
    assert tables(tmp_path)["segmentations"] == clean


def _fetch_all(world, names, folder: Path) -> list[tuple]:
    assert fetch_segments(
        targets=world.targets(*names), store=Store(folder), endpoint=world.endpoint
    ).ok
    return tables(folder)["segmentations"]


def test_backoff_is_exponential_with_jitter(world, proxy) -> None:
    key = world.series["legacy"].keys[0]
    proxy.add(key, "503", times=None)
    waits: list[float] = []
    client = AnonymousS3(world.endpoint, attempts=5, backoff=0.1, sleep=waits.append)
    with pytest.raises(S3Error) as caught:
        client.get_range("idc-open-data", key, 0, 99)
    assert caught.value.kind == "HTTP 503" and caught.value.retryable
    assert client.stats.requests == 5 and client.stats.retries == 4
    assert len(waits) == 4
    for i, wait in enumerate(waits):
        assert 0.1 * 2**i / 2 <= wait <= 0.1 * 2**i


# --- the client -------------------------------------------------------------------------------


def test_client_errors_are_not_retried(world, proxy) -> None:
    client = AnonymousS3(world.endpoint)
    with pytest.raises(S3Error) as caught:
        client.get_range("idc-open-data", "no-such-series/x.dcm", 0, 99)
    assert caught.value.kind == "HTTP 404" and "NoSuchKey" in str(caught.value)
    assert client.stats.requests == 1


def test_listing_pages(world, proxy) -> None:
    one = world.series["faulty"]
    client = AnonymousS3(world.endpoint)
    objects = client.list_objects("idc-open-data", f"{one.uuid}/", max_keys=2)
    assert sorted(o.key for o in objects) == sorted(one.keys)
    sizes = {k: p.stat().st_size for k, p in zip(one.keys, one.files, strict=True)}
    assert {o.key: o.size for o in objects} == sizes
    assert client.stats.requests == 3


def test_ranges(world, proxy) -> None:
    one = world.series["legacy"]
    data = one.files[0].read_bytes()
    client = AnonymousS3(world.endpoint)
    got = client.get_range("idc-open-data", one.keys[0], 100, 199)
    assert (got.data, got.total) == (data[100:200], len(data))
    tail = client.get_range("idc-open-data", one.keys[0], len(data) - 10, len(data) + 1000)
    assert tail.data == data[-10:]
    assert client.get_range("idc-open-data", one.keys[0], len(data), len(data) + 9).data == b""
    # a server that ignores Range: only what is needed is used, the connection is dropped
    proxy.add(one.keys[0], "norange")
    got = client.get_range("idc-open-data", one.keys[0], 0, 65535)
    assert (got.data, got.total) == (data[:65536], len(data))
    assert client.get_range("idc-open-data", one.keys[0], 5, 9).data == data[5:10]


def test_addressing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IDCSEG_S3_ENDPOINT", raising=False)
    aws = AnonymousS3()
    assert aws.endpoint is None
    assert (
        aws.http_url("idc-open-data", "a/b.dcm") == "https://idc-open-data.s3.amazonaws.com/a/b.dcm"
    )
    monkeypatch.setenv("IDCSEG_S3_ENDPOINT", "http://127.0.0.1:9/")
    local = AnonymousS3()
    assert local.http_url("idc-open-data", "a/b.dcm") == "http://127.0.0.1:9/idc-open-data/a/b.dcm"
    assert AnonymousS3("https://s3.example.org").http_url("b", "k") == "https://s3.example.org/b/k"
    with pytest.raises(UsageError):
        AnonymousS3("ftp://127.0.0.1")
    with pytest.raises(UsageError):
        fetch_segments()
    with pytest.raises(UsageError):
        fetch_segments(targets=[], concurrency=0)


def test_target_forms() -> None:
    t = Target.coerce({"SeriesInstanceUID": "1.2", "series_aws_url": "s3://idc-open-data/abc/*"})
    assert (t.bucket, t.crdc_series_uuid, t.prefix) == ("idc-open-data", "abc", "abc/")
    assert Target.coerce(("1.2", "idc-open-data", "abc")) == t
    with pytest.raises(UsageError):
        Target.coerce(("1.2", None, "abc"))


# --- the index path ---------------------------------------------------------------------------


def test_targets_from_the_index(world, fake_index, proxy, tmp_path: Path) -> None:
    store = Store(tmp_path)
    targets, missing = index_targets(SeriesFilter.build(collection="fetch_test"), store=store)
    assert missing == []
    assert {t.series_uid for t in targets} == {world.series[n].uid for n in SEG_NAMES}
    assert all(t.bucket == "idc-open-data" for t in targets)
    report = fetch_segments(
        SeriesFilter.build(collection="FETCH_TEST"), store=store, endpoint=world.endpoint
    )
    assert report.ok and report.series_total == 4 and report.files_stored == 5
    # now the segments can be searched offline
    from idcseg.query.engines.duckdb import DuckDBEngine
    from idcseg.query.spec import SegmentFilter, find_query

    engine = DuckDBEngine(store=store)
    try:
        found = engine.run(
            find_query(
                SeriesFilter.build(collection="fetch_test"), SegmentFilter.build(structure="Kidney")
            )
        ).rows()
    finally:
        engine.close()
    assert len(found) == 2 * 2  # two kidneys in each of the two "multi" instances


def test_explicit_series_whatever_their_class(world, fake_index, proxy, tmp_path: Path) -> None:
    ct, legacy = world.series["ct"], world.series["legacy"]
    unknown = "1.2.3.4.5.6.7.8.9"
    report = fetch_segments(
        SeriesFilter.build(series=[ct.uid, legacy.uid, unknown]),
        store=Store(tmp_path),
        endpoint=world.endpoint,
    )
    assert report.ok
    assert report.not_segmentation == {ct.uid: "CT Image Storage"}
    assert report.missing == [(unknown, "not in IDC's index")]
    assert report.files_stored == 1


def test_fetch_missing(world, fake_index, proxy, tmp_path: Path) -> None:
    store = Store(tmp_path)
    f = SeriesFilter.build(collection="fetch_test")
    asked: list[int] = []

    def no(plan: Any) -> bool:
        asked.append(len(plan))
        assert plan.describe().startswith(f"{len(plan)} SEG series (")
        return False

    declined = fetch_missing(f, max_series=3, confirm=no, store=store, endpoint=world.endpoint)
    assert declined.declined and declined.series_total == 4 and asked == [4]
    assert not proxy.log
    partial = fetch_segments(targets=world.targets("legacy"), store=store, endpoint=world.endpoint)
    assert partial.files_stored == 1
    report = fetch_missing(f, max_series=3, confirm=no, store=store, endpoint=world.endpoint)
    assert report.ok and report.series_total == 3 and report.files_stored == 4
    assert asked == [4]  # three missing: no question
    again = fetch_missing(f, store=store, endpoint=world.endpoint)
    assert again.series_total == 0 and again.ok
    yes = fetch_missing(
        f,
        max_series=0,
        confirm=lambda plan: True,
        store=Store(tmp_path / "b"),
        endpoint=world.endpoint,
    )
    assert yes.files_stored == 5
    unasked = fetch_missing(f, max_series=0, yes=True, store=Store(tmp_path / "c"),
                            endpoint=world.endpoint)  # fmt: skip
    assert unasked.files_stored == 5


def test_with_measurements_fetches_the_reports_of_the_same_studies(
    world, fake_index, proxy, tmp_path: Path
) -> None:
    from tests.srref import expected_report

    store = Store(tmp_path)
    multi = world.series["multi"]
    report = fetch_segments(
        SeriesFilter.build(series=[multi.uid]),
        store=store,
        endpoint=world.endpoint,
        with_measurements=True,
    )
    assert report.ok and report.files_stored == 2
    m = report.measurements
    assert m is not None and m.kind == "SR"
    # the report and the other-template SR of the same study; not the other analysis result's
    assert m.series_total == 2 and m.series_done == 2
    assert m.files_stored == 1 and m.rows_written == 3 and m.files_not_seg == 1
    other = world.series["other_template_sr"].uid
    assert m.not_segmentation == {other: "Comprehensive 3D SR Storage"}
    whole = world.series["multi_sr"].files[0].stat().st_size
    assert m.bytes_read == m.bytes_total == whole  # SRs are read whole, once
    assert m.requests == 2 + 2  # two listings, one whole GET each
    summary = report.summary().splitlines()
    assert summary[0].startswith("1 of 1 series done, 2 of 2 files stored")
    assert summary[1].startswith(
        "2 of 2 SR series done, 1 of 2 files stored (0 already stored), 3 measurements"
    )
    assert summary[2] == (
        "not TID 1500 measurement reports, not stored: 1 series (1 Comprehensive 3D SR Storage)"
    )

    expected = expected_report(world.series["multi_sr"].files[0])
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        quantitative = con.execute(
            "SELECT Quantity.CodeMeaning, Value, Units.CodeValue, segmentationSegmentNumber "
            "FROM quantitative_measurements ORDER BY measurementGroup_number"
        ).fetchall()
        origin = con.execute(
            "SELECT origin, location FROM instances WHERE SOPInstanceUID = ?",
            [expected["groups"][0]["SOPInstanceUID"]],
        ).fetchall()
    finally:
        con.close()
    assert quantitative == [
        (
            q["Quantity"]["CodeMeaning"],
            q["Value"],
            q["Units"]["CodeValue"],
            q["segmentationSegmentNumber"],
        )
        for q in expected["quantitative"]
    ]
    assert origin[0][0] == "bucket" and origin[0][1].startswith("s3://idc-open-data/")

    from idcseg.query.engines.duckdb import DuckDBEngine
    from idcseg.query.spec import MeasurementFilter, SegmentFilter, measurements_query

    engine = DuckDBEngine(store=store)
    try:
        linked = engine.run(
            measurements_query(SeriesFilter.build(), SegmentFilter.build(), MeasurementFilter())
        ).to_pandas()
    finally:
        engine.close()
    assert set(linked.link) == {"segment"} and set(linked.collection_id) == {"fetch_test"}
    assert set(linked.SegmentLabel) == {"Liver", "Kidney L"}

    again = fetch_segments(
        SeriesFilter.build(series=[multi.uid]),
        store=store,
        endpoint=world.endpoint,
        with_measurements=True,
    )
    assert again.files_skipped == 2 and again.measurements.files_skipped == 1
    assert again.measurements.files_stored == 0


def test_with_measurements_dry_run(world, fake_index, proxy, tmp_path: Path) -> None:
    report = fetch_segments(
        SeriesFilter.build(series=[world.series["multi"].uid]),
        store=Store(tmp_path),
        endpoint=world.endpoint,
        with_measurements=True,
        dry_run=True,
    )
    assert len(report.planned) == 2 and len(report.measurements.planned) == 2
    assert not Store(tmp_path).exists() or not report.files_stored


# --- the command line -------------------------------------------------------------------------


def test_cli(world, proxy, cli, tmp_path: Path) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join([str(world.index_root), os.environ.get("PYTHONPATH", "")]),
        "IDCSEG_HOME": str(tmp_path / "home"),
    }
    dry = cli(
        "fetch-segments",
        "--collection",
        "fetch_test",
        "--dry-run",
        "--endpoint",
        world.endpoint,
        env=env,
    )
    assert dry.code == 0, dry.err
    assert len(dry.out.splitlines()) == 5 and "would read 5 objects" in dry.err
    run = cli(
        "fetch-segments",
        "-c",
        "fetch_test",
        "--format",
        "json",
        "-j",
        "4",
        env={**env, "IDCSEG_S3_ENDPOINT": world.endpoint},
    )
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["files_stored"], report["series_done"], report["ok"]) == (5, 4, True)
    found = cli("find", "--collection", "fetch_test", "--format", "jsonl", env=env)
    assert found.code == 0, found.err
    rows = [json.loads(line) for line in found.out.splitlines()]
    assert {r["SeriesInstanceUID"] for r in rows} == {world.series[n].uid for n in SEG_NAMES}
    ct = cli(
        "fetch-segments",
        "--series",
        world.series["ct"].uid,
        env={**env, "IDCSEG_S3_ENDPOINT": world.endpoint},
    )
    assert ct.code == 0 and "not segmentations" in ct.err and "CT Image Storage" in ct.err
    proxy.add(world.series["ct"].uuid, "503", times=None)
    failed = cli(
        "fetch-segments",
        "--series",
        world.series["ct"].uid,
        "--attempts",
        "1",
        "--endpoint",
        world.endpoint,
        env=env,
    )
    assert failed.code == 1 and "HTTP 503" in failed.err
    refused = cli("fetch-segments", env=env)
    assert refused.code == 2 and "--all" in refused.err
    measured = cli(
        "fetch-segments", "-c", "fetch_test", "--with-measurements", "--format", "json",
        env={**env, "IDCSEG_S3_ENDPOINT": world.endpoint},
    )  # fmt: skip
    assert measured.code == 0, measured.err
    assert json.loads(measured.out)["measurements"]["files_stored"] == 1
    volumes = cli("measurements", "--quantity", "volume", "--unit", "ml", "-f", "json", env=env)
    assert sorted(r["value"] for r in json.loads(volumes.out)) == [0.15, 1.5235]


def test_find_fetch_missing_counts_first_and_says_what_it_would_fetch(
    world, fake_index, proxy, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from idcseg.cli.fetch import confirm_on_terminal
    from idcseg.remote.fetch import plan_missing

    env = {
        "PYTHONPATH": os.pathsep.join([str(world.index_root), os.environ.get("PYTHONPATH", "")]),
        "IDCSEG_HOME": str(tmp_path / "home"),
        "IDCSEG_S3_ENDPOINT": world.endpoint,
    }
    assert cli("find", "--yes", env=env).code == 2  # --yes answers --fetch-missing only
    found = cli("find", "-c", "fetch_test", "--fetch-missing", "--yes", "-f", "jsonl", env=env)
    assert found.code == 0, found.err
    rows = [json.loads(line) for line in found.out.splitlines()]
    assert {r["SeriesInstanceUID"] for r in rows} == {world.series[n].uid for n in SEG_NAMES}
    # in a process that is not on a terminal, more than 50 series are declined with a reason
    plan = plan_missing(SeriesFilter.build(collection="fetch_test"), store=Store(tmp_path / "x"))
    assert len(plan) == 4 and plan.instances == 5
    assert confirm_on_terminal(plan) is False
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("idcseg: 4 SEG series (5 files, ") and "free of charge" in err[0]
    assert err[1] == (
        "idcseg: not fetching 4 series without confirmation: add --yes, or run "
        "`idcseg fetch-segments` with the same filters"
    )


def test_ctrl_c_keeps_what_was_read(world, proxy, tmp_path: Path) -> None:
    """SIGINT mid-run: exit 130, the files read so far are stored, a rerun does the rest."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    slow = [world.series[n].keys[0] for n in ("labelmap", "frac")]
    fast = [k for n in ("multi", "legacy") for k in world.series[n].keys]
    for key in slow:
        proxy.add(key, "slow", times=None, delay=30.0)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(world.index_root), os.environ.get("PYTHONPATH", "")]),
        "IDCSEG_HOME": str(tmp_path),
        "IDCSEG_S3_ENDPOINT": world.endpoint,
    }

    proc = subprocess.Popen(
        [sys.executable, "-m", "idcseg", "fetch-segments", "-c", "fetch_test", "--timeout", "60"],
        cwd=REPO,
        env=env,
        # Ctrl-C as in a terminal, even if this test run was started with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = {e.path.rsplit("/", 2)[-2] + "/" + e.path.rsplit("/", 1)[-1] for e in proxy.log}
            if all(k in seen for k in slow + fast):
                break
            time.sleep(0.05)
        time.sleep(1.0)  # the fast ones are parsed and waiting to be written
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - started < 10  # the slow requests were abandoned
    assert proc.returncode == 130, err
    assert "interrupted" in err
    stored = {row[2].split("/", 3)[3] for row in instances(tmp_path)}
    assert stored == set(fast)
    proxy.reset()
    rerun = fetch_segments(
        targets=world.targets(*SEG_NAMES), store=Store(tmp_path), endpoint=world.endpoint
    )
    assert rerun.ok and (rerun.files_stored, rerun.files_skipped) == (2, 3)


def test_full_disk_stops_the_fetch_at_the_first_failed_write(world, proxy, tmp_path: Path) -> None:
    from idcseg.errors import IdcsegError
    from tests import smallfs

    if not smallfs.can_mount():
        pytest.skip("mounting a tmpfs needs CAP_SYS_ADMIN (root)")
    with smallfs.small_filesystem(tmp_path / "disk", size_kb=1500) as disk:
        store = Store(disk / "home")
        store.ensure()
        smallfs.fill(disk)
        with pytest.raises(IdcsegError, match="No space left on device") as stopped:
            fetch_segments(targets=world.targets(*SEG_NAMES), store=store, endpoint=world.endpoint)
        assert "run the same command again to continue" in str(stopped.value)
        smallfs.resize(disk, size_kb=20_000)
        again = fetch_segments(
            targets=world.targets(*SEG_NAMES), store=store, endpoint=world.endpoint
        )
        assert again.ok and again.files_stored + again.files_skipped == 5
