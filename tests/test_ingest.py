"""Ingest into the local store: rows, replacement, skipping, failures, locking, interruption."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from idcseg.dicom import segheader
from idcseg.errors import StoreBusyError
from idcseg.local import ingest as ingest_mod
from idcseg.local.ingest import IngestInterrupted, ingest
from idcseg.local.store import Store, index_dir
from tests import segfactory
from tests.dicomref import expected_rows


def query(sql: str, params=None) -> list[dict]:
    """Rows of *sql* on the test store, as dicts (the connection is closed again)."""
    con = duckdb.connect(str(Store().path), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def count(table: str) -> int:
    return query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def assert_consistent() -> None:
    """Every stored instance has its segments and labels, and series counts add up."""
    seg_sops = {r["s"] for r in query("SELECT DISTINCT SOPInstanceUID AS s FROM segmentations")}
    inst_sops = {r["s"] for r in query("SELECT SOPInstanceUID AS s FROM instances")}
    label_sops = {r["s"] for r in query("SELECT DISTINCT SOPInstanceUID AS s FROM segment_labels")}
    assert seg_sops == inst_sops == label_sops
    assert count("segment_labels") == count("segmentations")
    bad = query(
        "SELECT l.SeriesInstanceUID FROM local_series l LEFT JOIN "
        "(SELECT SeriesInstanceUID, count(*) AS n FROM instances GROUP BY 1) i "
        "USING (SeriesInstanceUID) WHERE i.n IS DISTINCT FROM l.instanceCount"
    )
    assert bad == []


@pytest.fixture
def seg_dir(corpus, tmp_path) -> Path:
    """A private copy of the corpus SEGs (tests may change files)."""
    folder = tmp_path / "segs"
    shutil.copytree(corpus.folder / "seg", folder)
    return folder


@pytest.fixture
def many(corpus, tmp_path) -> Path:
    """Nine SEG files in three series: enough for several small batches."""
    folder = tmp_path / "many"
    for i in range(9):
        src = corpus.segs[segfactory.CASES[i % len(segfactory.CASES)].name]
        segfactory.clone_seg(src, folder / f"seg_{i}.dcm", series_instance_uid=f"2.25.77{i % 3}")
    return folder


def test_ingest_stores_every_column(seg_dir):
    files = sorted(seg_dir.glob("*.dcm"))
    expected = sorted(
        (row for path in files for row in expected_rows(path)),
        key=lambda r: (r["SOPInstanceUID"], r["SegmentNumber"]),
    )
    report = ingest([seg_dir], progress=False)
    assert report.ok, report.failures
    assert (report.files_seen, report.files_ingested, report.files_unchanged) == (5, 5, 0)
    assert report.segments_written == len(expected)

    stored = query("SELECT * FROM segmentations ORDER BY SOPInstanceUID, SegmentNumber")
    assert [list(r) for r in stored] == [list(segheader.SEGMENTATION_COLUMNS)] * len(stored)
    want = [{k: r[k] for k in segheader.SEGMENTATION_COLUMNS} for r in expected]
    assert stored == want

    labels = query("SELECT * FROM segment_labels ORDER BY SOPInstanceUID, SegmentNumber")
    assert labels == [
        {k: r[k] for k in ("SOPInstanceUID", "SegmentNumber", "SegmentLabel", "SegmentDescription")}
        for r in expected
    ]

    instances = {r["location"]: r for r in query("SELECT * FROM instances")}
    assert set(instances) == {str(p.resolve()) for p in files}
    for path in files:
        row = instances[str(path.resolve())]
        st = path.stat()
        first = expected_rows(path)[0]
        assert row["origin"] == "file"
        assert row["SOPInstanceUID"] == first["SOPInstanceUID"]
        assert row["SeriesInstanceUID"] == first["SeriesInstanceUID"]
        assert (row["size_bytes"], row["mtime"]) == (st.st_size, st.st_mtime)

    series = {r["SeriesInstanceUID"]: r for r in query("SELECT * FROM local_series")}
    assert report.series_local == len(series) == 5  # test series are not in IDC's index
    for path in files:
        facts = segheader.series_facts(segheader.read_header(path), path)
        assert series[facts["SeriesInstanceUID"]] == facts
    assert_consistent()


def test_single_file_argument(corpus):
    report = ingest(corpus.segs["fractional"], progress=False)
    assert report.files_ingested == 1 and count("segmentations") == 1


def test_unchanged_files_are_skipped(seg_dir):
    ingest([seg_dir], progress=False)
    before = count("segmentations")
    again = ingest([seg_dir, seg_dir / "labelmap.dcm"], progress=False)  # a file twice: read once
    assert (again.files_seen, again.files_unchanged, again.files_ingested) == (5, 5, 0)
    assert again.ok and count("segmentations") == before


def test_reingest_with_force_replaces_rows(seg_dir):
    first = ingest([seg_dir], progress=False)
    tables = ("segmentations", "segment_labels", "instances", "local_series")
    counts = [count(t) for t in tables]
    again = ingest([seg_dir], progress=False, force=True)
    assert again.files_ingested == 5 and again.segments_written == first.segments_written
    assert [count(t) for t in tables] == counts
    assert_consistent()


def test_changed_file_is_read_again(seg_dir):
    ingest([seg_dir], progress=False)
    path = seg_dir / "binary_multi.dcm"
    old = segheader.read_header(path)

    def relabel(ds):
        ds.SegmentSequence[0].SegmentLabel = "Liver (edited)"

    segfactory.clone_seg(
        path,
        path,
        sop_instance_uid=old.SOPInstanceUID,
        series_instance_uid=old.SeriesInstanceUID,
        edit=relabel,
    )
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    report = ingest([seg_dir], progress=False)
    assert (report.files_ingested, report.files_unchanged) == (1, 4)
    labels = query(
        "SELECT SegmentLabel FROM segment_labels WHERE SOPInstanceUID = ? ORDER BY SegmentNumber",
        [old.SOPInstanceUID],
    )
    assert [r["SegmentLabel"] for r in labels] == ["Liver (edited)", "Kidney L", "Kidney R"]
    assert count("segmentations") == sum(len(expected_rows(p)) for p in seg_dir.glob("*.dcm"))
    assert_consistent()


def test_new_instance_at_the_same_path_replaces_the_old_one(seg_dir):
    ingest([seg_dir], progress=False)
    path = seg_dir / "fractional.dcm"
    old_sop = segheader.read_header(path).SOPInstanceUID
    segfactory.clone_seg(path, path)  # new SOPInstanceUID and series, same path
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    ingest([seg_dir], progress=False)
    assert query("SELECT * FROM segmentations WHERE SOPInstanceUID = ?", [old_sop]) == []
    assert query("SELECT * FROM instances WHERE SOPInstanceUID = ?", [old_sop]) == []
    assert count("instances") == 5 and count("local_series") == 5
    assert_consistent()


def test_two_files_with_one_sop_instance_are_stored_once(corpus, tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    shutil.copy(corpus.segs["binary_multi"], folder / "a.dcm")
    shutil.copy(corpus.segs["binary_multi"], folder / "b.dcm")
    report = ingest([folder], progress=False)
    assert report.files_ingested == 2
    assert report.duplicates == [
        (str((folder / "a.dcm").resolve()), str((folder / "b.dcm").resolve()))
    ]
    assert count("instances") == 1 and count("segmentations") == 3
    assert_consistent()


def test_series_of_one_instance_each_add_up(many):
    report = ingest([many], progress=False)
    assert report.ok and report.series_local == 3
    rows = query("SELECT SeriesInstanceUID, instanceCount, series_size_MB FROM local_series")
    sizes: dict[str, int] = {}
    for path in many.glob("*.dcm"):
        uid = segheader.read_header(path).SeriesInstanceUID
        sizes[uid] = sizes.get(uid, 0) + path.stat().st_size
    assert {r["SeriesInstanceUID"]: r["instanceCount"] for r in rows} == dict.fromkeys(sizes, 3)
    for r in rows:
        assert r["series_size_MB"] == pytest.approx(sizes[r["SeriesInstanceUID"]] / 1e6)


def test_series_known_to_idc_get_no_local_series_row(corpus, tmp_path):
    parquet = str(index_dir() / "idc_index.parquet")
    con = duckdb.connect()
    idc_series = con.execute(
        "SELECT SeriesInstanceUID FROM read_parquet(?) WHERE Modality = 'SEG' LIMIT 1", [parquet]
    ).fetchone()[0]
    con.close()
    path = segfactory.clone_seg(
        corpus.segs["binary_multi"], tmp_path / "idc.dcm", series_instance_uid=idc_series
    )
    other = segfactory.clone_seg(corpus.segs["fractional"], tmp_path / "local.dcm")
    report = ingest([path, other], progress=False)
    assert report.ok and report.series_local == 1
    assert [r["SeriesInstanceUID"] for r in query("SELECT * FROM local_series")] == [
        segheader.read_header(other).SeriesInstanceUID
    ]
    assert count("segmentations") == 4


def test_mixed_folder_reports_failures_and_stores_the_rest(corpus, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(corpus.folder / "seg", folder)
    (folder / "notes.txt").write_text("not DICOM at all\n" * 20)
    shutil.copy(corpus.ct[0], folder / "ct.dcm")
    data = corpus.segs["binary_multi"].read_bytes()
    (folder / "sub").mkdir()
    cut = segfactory.clone_seg(corpus.segs["binary_multi"], folder / "sub" / "cut.dcm")
    cut.write_bytes(cut.read_bytes()[: len(data) - 500])
    missing = tmp_path / "does-not-exist"
    report = ingest([folder, missing], progress=False)
    assert not report.ok
    assert report.files_seen == 5 + 3 + 1
    assert report.files_ingested == 5
    reasons = {Path(p).name: reason for p, reason in report.failures}
    assert set(reasons) == {"notes.txt", "ct.dcm", "cut.dcm", "does-not-exist"}
    assert "DICM" in reasons["notes.txt"]
    assert "CT Image Storage" in reasons["ct.dcm"]
    assert "pixel data" in reasons["cut.dcm"]
    assert "no such file" in reasons["does-not-exist"]
    assert dict(report.failure_kinds) == {
        "NotDicom": 1,
        "NotSegmentation": 1,
        "Truncated": 1,
        "Unreadable": 1,
    }
    assert count("instances") == 5
    assert_consistent()


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS held (x INT)")
print("ready", flush=True)
if sys.argv[2] == "stdin":
    sys.stdin.read()
else:
    time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_store(until: str) -> subprocess.Popen:
    Store().ensure()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(Store().path), until],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_store_held_by_another_process(seg_dir):
    proc = _hold_store("stdin")
    try:
        for force in (False, True):
            with pytest.raises(StoreBusyError, match="being written by another process"):
                ingest([seg_dir], progress=False, force=force, busy_timeout=0.3)
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
    report = ingest([seg_dir], progress=False)
    assert report.files_ingested == 5


def test_busy_store_is_waited_for(seg_dir):
    proc = _hold_store("1.0")
    try:
        report = ingest([seg_dir], progress=False, busy_timeout=30)
    finally:
        proc.wait(timeout=20)
    assert report.ok and report.files_ingested == 5


def test_interrupt_while_parsing_keeps_whole_batches(many, monkeypatch):
    real = ingest_mod._parse_file
    calls = []

    def interrupted_at_six(path):
        calls.append(path)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(ingest_mod, "_parse_file", interrupted_at_six)
    with pytest.raises(IngestInterrupted) as info:
        ingest([many], progress=False, batch_size=2)
    assert isinstance(info.value, KeyboardInterrupt)
    report = info.value.report
    assert report.interrupted and not report.ok
    assert report.files_ingested == 4  # two whole batches; the third was in flight
    assert "interrupted" in report.summary()
    assert count("instances") == 4
    assert_consistent()

    monkeypatch.setattr(ingest_mod, "_parse_file", real)
    rerun = ingest([many], progress=False, batch_size=2)
    assert (rerun.files_unchanged, rerun.files_ingested) == (4, 5)
    assert count("instances") == 9
    assert_consistent()


class _ConnectionProxy:
    """A store connection whose execute can misbehave on the n-th COMMIT / write."""

    def __init__(self, con, hook):
        self._con = con
        self._hook = hook

    def execute(self, sql, *args):
        self._hook(sql)
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _patch_connect(monkeypatch, hook):
    """Route the store's connections through a proxy; return the real ``Store.connect``."""
    real = Store.connect

    def connect(self, **kw):
        return _ConnectionProxy(real(self, **kw), hook)

    monkeypatch.setattr(Store, "connect", connect)
    return real


def test_interrupt_inside_the_transaction_rolls_the_batch_back(many, monkeypatch):
    commits = []

    def hook(sql):
        if sql == "COMMIT":
            commits.append(sql)
            if len(commits) == 2:
                raise KeyboardInterrupt

    real = _patch_connect(monkeypatch, hook)
    with pytest.raises(IngestInterrupted) as info:
        ingest([many], progress=False, batch_size=3)
    assert info.value.report.files_ingested == 3
    assert count("instances") == 3  # the second batch left nothing behind
    assert_consistent()
    monkeypatch.setattr(Store, "connect", real)  # (not undo(): that would drop IDCSEG_HOME too)
    rerun = ingest([many], progress=False, batch_size=3)
    assert (rerun.files_unchanged, rerun.files_ingested) == (3, 6)
    assert_consistent()


def test_ctrl_c_during_a_write_lets_the_batch_commit(many, monkeypatch):
    sent = []
    # as in a terminal, even when the test run itself was started with Ctrl-C ignored (`cmd &`)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def hook(sql):
        if "INSERT INTO segmentations" in sql and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # held back until the batch is stored

    _patch_connect(monkeypatch, hook)
    with pytest.raises(IngestInterrupted) as info:
        ingest([many], progress=False, batch_size=4)
    assert info.value.report.files_ingested == 4
    assert count("instances") == 4
    assert_consistent()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    signal.signal(signal.SIGINT, previous)


def test_an_ignored_ctrl_c_stays_ignored(many, monkeypatch):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sent = []

        def hook(sql):
            if "INSERT INTO segmentations" in sql and not sent:
                sent.append(1)
                os.kill(os.getpid(), signal.SIGINT)

        _patch_connect(monkeypatch, hook)
        report = ingest([many], progress=False, batch_size=4)
        assert report.ok and report.files_ingested == 9
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_file_the_database_refuses_fails_alone(many, monkeypatch):
    real = ingest_mod._write
    victim = str((many / "seg_4.dcm").resolve())

    def picky(con, records, local):
        if any(r.path == victim for r in records):
            raise duckdb.ConstraintException("Constraint Error: refused for the test")
        return real(con, records, local)

    monkeypatch.setattr(ingest_mod, "_write", picky)
    report = ingest([many], progress=False, batch_size=4)
    assert report.failures == [(victim, "cannot store: Constraint Error: refused for the test")]
    assert report.files_ingested == 8 and count("instances") == 8
    assert_consistent()


def test_progress_line(seg_dir, capsys):
    ingest([seg_dir], progress=True)
    err = capsys.readouterr().err
    assert "ingest 5/5 files" in err and "files/s" in err and err.endswith("\n")
    ingest([seg_dir], progress=False, force=True)
    assert capsys.readouterr().err == ""


def test_engine_sees_ingested_rows(seg_dir):
    from idcseg.query.engines.duckdb import DuckDBEngine

    ingest([seg_dir], progress=False)
    sop = segheader.read_header(seg_dir / "labelmap.dcm")
    engine = DuckDBEngine()
    try:
        con = engine.connection()
        n = con.execute(
            'SELECT count(*) FROM "bigquery-public-data".idc_current.segmentations '
            "WHERE SOPInstanceUID = ?",
            [sop.SOPInstanceUID],
        ).fetchone()[0]
        series = con.execute(
            'SELECT Modality, instanceCount FROM "bigquery-public-data".idc_current.dicom_all '
            "WHERE SeriesInstanceUID = ?",
            [sop.SeriesInstanceUID],
        ).fetchall()
    finally:
        engine.close()
    assert n == 3
    assert series == [("SEG", 1)]


def test_symlinks_and_repeated_paths_are_read_once(corpus, tmp_path):
    folder = tmp_path / "links"
    folder.mkdir()
    target = shutil.copy(corpus.segs["legacy_srt"], folder / "real.dcm")
    (folder / "link.dcm").symlink_to(target)
    report = ingest([folder, target, folder / "link.dcm"], progress=False)
    assert (report.files_seen, report.files_ingested) == (1, 1)
    assert query("SELECT location FROM instances") == [{"location": str(Path(target).resolve())}]


def test_empty_folder_writes_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    report = ingest([tmp_path / "empty"], progress=False)
    assert report.ok and report.files_seen == 0 and not Store().exists()
