"""State that heals itself, or says exactly what to do (issue 11 §2).

Each test first puts a real component in the damaged state a user met (a store made on a full
disk, an edited cache file, a truncated download, a real full filesystem, a deflated SEG made with
highdicom, a bucket that repeats its continuation token) and then checks what idcseg does.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from idcseg.local.store import Store, store_tables
from tests import smallfs
from tests.conftest import run_cli

needs_mount = pytest.mark.skipif(
    not smallfs.can_mount(), reason="mounting a tmpfs needs CAP_SYS_ADMIN (root)"
)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("idcseg: error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


def _tables(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()


# --- the store: absent or complete ------------------------------------------------------------


@needs_mount
def test_store_made_on_a_full_disk_is_absent_then_made_once_there_is_space(
    tmp_path: Path,
) -> None:
    with smallfs.small_filesystem(tmp_path / "disk", size_kb=600) as disk:
        env = {"IDCSEG_HOME": str(disk / "home")}
        first = run_cli("series", "--limit", "1", "-f", "csv", env=env)
        assert first.code == 1, first.err
        line = _one_error_line(first.err)
        assert "cannot create the store" in line and "No space left" in line, line
        assert "free some space" in line
        home = disk / "home"
        assert not (home / "store.duckdb").exists()
        assert not list(home.glob(".store.*")), list(home.iterdir())  # no leftovers

        smallfs.resize(disk, size_kb=20_000)
        second = run_cli("series", "--limit", "1", "-f", "csv", env=env)
        assert second.code == 0, second.err
        assert len(second.out.splitlines()) == 2
        assert set(store_tables()) <= _tables(home / "store.duckdb")


def test_store_without_tables_is_repaired_and_answers(isolated_home: Path) -> None:
    # what an earlier version left after a failed checkpoint: a valid DuckDB file, no tables
    duckdb.connect(str(isolated_home / "store.duckdb")).close()
    assert _tables(isolated_home / "store.duckdb") == set()
    run = run_cli("series", "--limit", "2", "-f", "csv")
    assert run.code == 0, run.err
    assert len(run.out.splitlines()) == 3
    assert "lacked tables" in run.err and "created them" in run.err
    assert set(store_tables()) <= _tables(isolated_home / "store.duckdb")
    again = run_cli("series", "--limit", "2", "-f", "csv")
    assert again.code == 0 and "lacked" not in again.err


def test_partial_store_keeps_its_rows_when_repaired(isolated_home: Path) -> None:
    from idcseg.query.engines.duckdb import DuckDBEngine
    from idcseg.query.spec import SegmentFilter, SeriesFilter, find_query

    store = Store()
    store.ensure()
    con = duckdb.connect(str(store.path))
    con.execute("INSERT INTO instances VALUES ('1.2.3', '1.2.4', 'file', '/x.dcm', 10, 1.0, now())")
    con.execute("DROP TABLE segmentations")
    con.close()

    engine = DuckDBEngine(store=Store())
    try:
        rows = engine.run(find_query(SeriesFilter.build(), SegmentFilter.build())).rows()
    finally:
        engine.close()
    assert rows == []
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("SELECT SOPInstanceUID FROM instances").fetchall() == [("1.2.3",)]
    con.close()
    assert set(store_tables()) <= _tables(store.path)


def test_writer_repairs_a_store_without_tables(isolated_home: Path, corpus) -> None:
    duckdb.connect(str(isolated_home / "store.duckdb")).close()
    run = run_cli("ingest", str(next(iter(corpus.segs.values()))))
    assert run.code == 0, run.err
    assert "lacked tables" in run.err
    con = duckdb.connect(str(isolated_home / "store.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM instances").fetchone() == (1,)
    con.close()


def test_empty_store_file_is_replaced(isolated_home: Path) -> None:
    (isolated_home / "store.duckdb").write_bytes(b"")  # holds nothing: as good as absent
    run = run_cli("series", "--limit", "1", "-f", "csv")
    assert run.code == 0, run.err
    assert set(store_tables()) <= _tables(isolated_home / "store.duckdb")


@pytest.mark.parametrize("content", [b"\0" * 4096, b"not a database\n" * 100])
def test_damaged_store_says_what_to_do(isolated_home: Path, content: bytes) -> None:
    (isolated_home / "store.duckdb").write_bytes(content)
    for args in (("series", "--limit", "1"), ("find",), ("ingest", str(isolated_home))):
        run = run_cli(*args)
        assert run.code == 1, (args, run.err)
        line = _one_error_line(run.err)
        assert "is damaged" in line and "mv " in line and "store.duckdb.damaged" in line, line
    assert (isolated_home / "store.duckdb").read_bytes() == content  # never replaced silently


def test_tmp_store_name_is_not_left_behind_by_a_second_creator(isolated_home: Path) -> None:
    Store().ensure()
    Store().ensure()
    assert sorted(p.name for p in isolated_home.iterdir() if p.name.startswith(".store")) == []
    assert os.path.getsize(isolated_home / "store.duckdb") > 0


# --- cached SQL is verified before it runs ----------------------------------------------------


def _cached_sql(home: Path) -> list[Path]:
    return sorted((home / "cache" / "sql").glob("*.sql"))


@pytest.mark.parametrize("tamper", ["replace", "keep_checksum_line", "empty", "truncate"])
def test_edited_cached_sql_is_rebuilt_not_run(
    isolated_home: Path, tmp_path: Path, tamper: str
) -> None:
    first = run_cli("series", "--collection", "lidc_idri", "--limit", "3", "-f", "csv")
    assert first.code == 0, first.err
    files = _cached_sql(isolated_home)
    assert files, "the run cached its SQL"
    originals = {f: f.read_text() for f in files}
    marker = tmp_path / "written-by-cached-sql.csv"
    evil = f"COPY (SELECT 42 AS x) TO '{marker}' (HEADER);\nSELECT 1 AS x;\n"
    for f, text in originals.items():
        if tamper == "replace":
            f.write_text(evil)
        elif tamper == "keep_checksum_line":
            f.write_text(text.splitlines()[0] + "\n" + evil)
        elif tamper == "empty":
            f.write_text("")
        else:
            f.write_text(text[: len(text) // 2])
    second = run_cli("series", "--collection", "lidc_idri", "--limit", "3", "-f", "csv")
    assert second.code == 0, second.err
    assert second.out == first.out
    assert not marker.exists()
    assert {f: f.read_text() for f in _cached_sql(isolated_home)} == originals  # rebuilt


def test_cached_sql_is_reused_when_intact(isolated_home: Path) -> None:
    from idcseg.query.sqlcache import SqlCache

    cache = SqlCache(isolated_home / "sql")
    made: list[str] = []

    def produce() -> str:
        made.append("x")
        return "SELECT 1\n"

    assert cache.get_or_create("k", produce) == "SELECT 1\n"
    assert cache.get_or_create("k", produce) == "SELECT 1\n"
    assert made == ["x"]
    assert cache.get_or_create("other", produce) == "SELECT 1\n"  # the key is in the checksum
    (isolated_home / "sql" / "other.sql").write_text((isolated_home / "sql" / "k.sql").read_text())
    cache.get_or_create("other", produce)
    assert made == ["x", "x", "x"]


# --- IDC's seg_index: damaged is not absent -------------------------------------------------

SEG = "1.3.6.1.4.1.14519.5.2.1.7695.4164.136727379647021331369008708862"  # BodyPart BREAST
CT = "1.3.6.1.4.1.14519.5.2.1.7009.2401.111559760634258768203811074092"  # BodyPart ABDOMEN


@pytest.fixture
def seg_index_server(monkeypatch: pytest.MonkeyPatch):
    """A one-row seg_index (a real SEG series said to segment a real abdominal CT) served from
    127.0.0.1 and fetched into the store with ``idcseg index fetch``."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from idcseg.local.store import index_version
    from tests.conftest import seg_index_schema
    from tests.httpserver import LocalServer

    row = {
        "SeriesInstanceUID": SEG,
        "SegmentationType": "BINARY",
        "total_segments": 3,
        "AlgorithmType": "AUTOMATIC",
        "AlgorithmName": "TestNet",
        "segmented_SeriesInstanceUID": CT,
        "SegmentedPropertyCategory_CodeMeanings": ["Anatomical Structure"],
        "SegmentedPropertyType_CodeMeanings": ["Kidney"],
        "AnatomicRegion_CodeMeanings": ["Abdomen"],
    }
    schema = seg_index_schema()
    sink = io.BytesIO()
    pq.write_table(
        pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema}], schema=schema), sink
    )
    server = LocalServer()
    path = f"/{index_version()}/seg_index.parquet"
    server.route(path, sink.getvalue())
    monkeypatch.setenv("IDCSEG_INDEX_URLS", server.url("/{version}/seg_index.parquet"))
    fetched = run_cli("index", "fetch", "--quiet")
    assert fetched.code == 0, fetched.err
    yield server, Path(fetched.out.strip())
    server.close()


def _body_part_rows() -> tuple[int, list[str]]:
    """Rows of the SEG with body part ABDOMEN (its segmented CT's), and stderr's "damaged" lines."""
    run = run_cli("series", "--series", SEG, "--body-part", "ABDOMEN", "-f", "jsonl")
    assert run.code == 0, run.err
    return len(run.out.splitlines()), [line for line in run.err.splitlines() if "damaged" in line]


@pytest.mark.parametrize("damage", ["truncate", "same_size_edit", "garble_meta", "no_meta"])
def test_damaged_seg_index_is_said_and_fetched_again(seg_index_server, damage: str) -> None:
    server, file = seg_index_server
    assert _body_part_rows() == (1, [])  # the segmented CT's body part, from the seg_index
    good = file.read_bytes()
    meta = file.with_name("meta.json")
    if damage == "truncate":
        file.write_bytes(good[: len(good) // 2])
    elif damage == "same_size_edit":
        middle = len(good) // 2
        file.write_bytes(good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :])
    elif damage == "garble_meta":
        meta.write_text('{"version": "25.0')
    else:
        meta.unlink()
    hits = server.hits[f"/{file.parent.name}/seg_index.parquet"]
    rows, notes = _body_part_rows()
    assert rows == 1  # the same answer: not silently "no seg_index"
    assert len(notes) == 1 and "fetching it again" in notes[0], notes
    assert server.hits[f"/{file.parent.name}/seg_index.parquet"] == hits + 1
    assert file.read_bytes() == good
    assert _body_part_rows() == (1, [])


def test_damaged_seg_index_without_network_fails_and_says_what_to_do(
    seg_index_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, file = seg_index_server
    server.close()
    file.write_bytes(file.read_bytes()[:100])
    for args in (
        ("series", "--series", SEG, "--body-part", "ABDOMEN"),
        ("series", "--structure", "Kidney"),
    ):
        run = run_cli(*args)
        assert run.code == 1, run.err
        line = _one_error_line(run.err)
        assert "damaged" in line and "index fetch --force" in line, line
    status = run_cli("index", "status", "-f", "json")
    import json

    info = json.loads(status.out)
    assert info["present"] is False and "bytes" in info["problem"]


def test_installed_files_have_normal_permissions(seg_index_server, isolated_home: Path) -> None:
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    normal = 0o666 & ~mask
    _, file = seg_index_server
    run_cli("series", "--limit", "1")
    installed = [file, file.with_name("meta.json"), isolated_home / "store.duckdb"]
    installed += _cached_sql(isolated_home)
    for path in installed:
        assert stat.S_IMODE(path.stat().st_mode) == normal, path  # mkstemp's would be 0600


# --- a full disk during ingest: stop at once, say how to continue --------------------------------


@pytest.fixture(scope="module")
def many_segs(tmp_path_factory: pytest.TempPathFactory, corpus) -> Path:
    """60 SEG files (clones of the corpus with new UIDs)."""
    from tests import segfactory

    folder = tmp_path_factory.mktemp("many")
    sources = sorted(corpus.segs.values())
    for i in range(60):
        src = sources[i % len(sources)]
        segfactory.clone_seg(src, folder / f"{i:03d}.dcm", series_instance_uid=f"2.25.9{i}")
    return folder


def _stored(home: Path) -> int:
    con = duckdb.connect(str(home / "store.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM instances").fetchone()[0]
    finally:
        con.close()


@needs_mount
def test_full_disk_during_ingest_stops_at_once_and_resumes(
    tmp_path: Path, many_segs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idcseg.errors import IdcsegError
    from idcseg.local.ingest import ingest

    with smallfs.small_filesystem(tmp_path / "disk", size_kb=1500) as disk:
        home = disk / "home"
        monkeypatch.setenv("IDCSEG_HOME", str(home))
        Store().ensure()
        smallfs.fill(disk)
        run = run_cli("ingest", str(many_segs), env={"IDCSEG_HOME": str(home)})
        assert run.code == 1
        assert len(run.err.splitlines()) == 1, run.err  # not one line per remaining file
        line = _one_error_line(run.err)
        assert "No space left on device" in line and "run the same command again" in line

        smallfs.resize(disk, size_kb=1800)  # room for a few batches, not for all
        with pytest.raises(IdcsegError, match="No space left") as stopped:
            ingest(many_segs, batch_size=5, progress=False)
        stored = _stored(home)
        assert 0 < stored < 60
        assert f"the {stored} files stored before it are kept" in str(stopped.value)

        smallfs.resize(disk, size_kb=20_000)
        report = ingest(many_segs, batch_size=5, progress=False)
        assert report.ok and report.files_unchanged == stored
        assert report.files_ingested == 60 - stored
        assert _stored(home) == 60


# --- an idle reader does not block a writer; a busy store says who holds it ---------------------


def test_idle_explorer_does_not_block_ingest_in_another_process(corpus) -> None:
    import time

    from idcseg.api import Explorer

    explorer = Explorer()
    assert len(explorer.find()) == 0
    assert len(explorer.series(limit=3)) == 3
    started = time.monotonic()
    run = run_cli("ingest", str(corpus.segs["binary_multi"]))
    assert run.code == 0, run.err
    assert time.monotonic() - started < 8  # not the 10 s a busy store is waited for
    assert len(explorer.find()) > 0  # the explorer sees what was written meanwhile


def test_store_held_for_reading_says_reading_and_who(isolated_home: Path, corpus) -> None:
    import subprocess
    import sys

    from idcseg.errors import StoreBusyError
    from idcseg.local.ingest import ingest

    Store().ensure()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(); "
            f"c.execute(\"ATTACH '{isolated_home / 'store.duckdb'}' AS s (READ_ONLY)\"); "
            "print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError) as busy:
            ingest(corpus.segs["binary_multi"], busy_timeout=0.3, progress=False)
        message = str(busy.value)
        assert "open for reading" in message and f"PID {holder.pid}" in message, message
        assert "being written" not in message
    finally:
        holder.communicate("")


# --- deflated SEGs: only the header is inflated, and only so far ---------------------------------


_MEASURED = """
import atexit, sys

def _hwm():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(sys.argv[1], "w") as out:
        out.write(peak)

atexit.register(_hwm)
from idcseg.cli import main
main(sys.argv[2:])
"""


def _peak_rss_mb(*args: str) -> tuple[int, str, str, float]:
    """Run the CLI with ARGS in a fresh process; return code, stdout, stderr and its peak RSS
    in MB (VmHWM of the process's own memory, read at exit: a forked child's RSS before exec
    would count the test process)."""
    import subprocess
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile("r") as peak:
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURED, peak.name, *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc.returncode, proc.stdout, proc.stderr, int(peak.read() or 0) / 1024


@pytest.fixture(scope="module")
def deflated_segs(tmp_path_factory: pytest.TempPathFactory, corpus) -> dict[str, Path]:
    from tests.deflated import write_deflated

    folder = tmp_path_factory.mktemp("deflated")
    src = corpus.segs["binary_multi"]
    return {
        "plain": write_deflated(src, folder / "plain.dcm"),
        "pixel_bomb": write_deflated(src, folder / "pixel_bomb.dcm", pixel_zeros=2**29),
        "header_bomb": write_deflated(src, folder / "header_bomb.dcm", private_zeros=2**27),
    }


def test_deflated_seg_reads_like_the_original(deflated_segs, corpus) -> None:
    from idcseg.dicom import segheader

    original = segheader.describe(corpus.segs["binary_multi"])
    assert segheader.describe(deflated_segs["plain"]) == original
    assert segheader.describe(deflated_segs["pixel_bomb"]) == original
    data = deflated_segs["plain"].read_bytes()
    with pytest.raises(segheader.IncompleteHeader):
        segheader.read_header_prefix(data[:400])
    with pytest.raises(segheader.Truncated):
        segheader.read_header_prefix(data[:400], complete=True)
    assert segheader.segment_rows(segheader.read_header_prefix(data)) == segheader.segment_rows(
        segheader.read_header(corpus.segs["binary_multi"])
    )


def test_deflate_bomb_in_pixel_data_is_not_inflated(deflated_segs) -> None:
    bomb = deflated_segs["pixel_bomb"]
    assert bomb.stat().st_size < 2**22  # 512 MB of pixel data in under 4 MB
    code, out, err, peak = _peak_rss_mb("describe", str(bomb), "-f", "csv")
    assert code == 0, err
    assert len(out.splitlines()) == 4  # three segments
    assert peak < 250, f"describe peaked at {peak:.0f} MB"
    code, out, err, peak = _peak_rss_mb("ingest", str(bomb))
    assert code == 0, err
    assert "1 of 1 files ingested" in err
    assert peak < 350, f"ingest peaked at {peak:.0f} MB"


def test_deflate_bomb_in_the_header_is_refused(deflated_segs) -> None:
    from idcseg.dicom import segheader

    with pytest.raises(segheader.Malformed, match="inflates to more than 64 MB"):
        segheader.read_header(deflated_segs["header_bomb"])
    code, _, err, peak = _peak_rss_mb("ingest", str(deflated_segs["header_bomb"]))
    assert code == 1
    assert "inflates to more than 64 MB" in err
    assert peak < 400, f"ingest peaked at {peak:.0f} MB"


# --- a bucket listing that never ends --------------------------------------------------------


class _Listings:
    """A server on 127.0.0.1 answering every ListObjectsV2 with a truncated page of one key
    and a continuation token: always the same one (*repeat*) or a new one each time."""

    def __init__(self, repeat: bool) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.pages = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                if query.get("list-type") != ["2"]:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.pages += 1
                token = "same" if repeat else f"t{owner.pages}"
                prefix = query.get("prefix", [""])[0]
                body = (
                    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                    'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    f"<Contents><Key>{prefix}{owner.pages}.dcm</Key><Size>10</Size></Contents>"
                    "<IsTruncated>true</IsTruncated>"
                    f"<NextContinuationToken>{token}</NextContinuationToken></ListBucketResult>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_listing_that_repeats_its_token_stops() -> None:
    from idcseg.remote.bucket import AnonymousS3, S3Error

    server = _Listings(repeat=True)
    try:
        with (
            AnonymousS3(server.endpoint, timeout=5) as client,
            pytest.raises(S3Error, match="repeats a continuation token after 2 pages"),
        ):
            client.list_objects("idc-open-data", "abc/")
        assert server.pages == 2
    finally:
        server.close()


def test_listing_without_end_stops_at_the_page_bound() -> None:
    from idcseg.remote.bucket import AnonymousS3, S3Error

    server = _Listings(repeat=False)
    try:
        with (
            AnonymousS3(server.endpoint, timeout=5) as client,
            pytest.raises(S3Error, match="goes on past 50 pages"),
        ):
            client.list_objects("idc-open-data", "abc/", max_pages=50)
        assert server.pages == 50
    finally:
        server.close()


def test_fetch_segments_does_not_hang_on_a_looping_listing() -> None:
    server = _Listings(repeat=True)
    try:
        seg = "1.3.6.1.4.1.14519.5.2.1.7695.4164.136727379647021331369008708862"
        run = run_cli("fetch-segments", "--series", seg, "--endpoint", server.endpoint)
        assert run.code == 1, run.err
        assert "repeats a continuation token" in run.err
    finally:
        server.close()


# --- documented exit codes only; messages with escaped paths -------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ("series", "--limit", "3", "-f", "csv"),
        ("series", "--limit", "3"),
        ("index", "status"),
        ("series", "--limit", "3", "-f", "csv", "-o", "/dev/full"),
    ],
)
def test_a_full_output_device_is_exit_1(args: tuple[str, ...]) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "idcseg", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1, proc.stderr
    line = _one_error_line(proc.stderr)
    assert "No space left on device" in line
    assert "internal error" not in proc.stderr and "Exception ignored" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("random", "-n", "99999999999999999999"),
        ("sql", "random", "-n", "99999999999999999999"),
        ("series", "--min-segments", "99999999999999999999"),
        ("fetch-segments", "--series", "1.2.3", "--limit", "-1", "--dry-run"),
        ("series", "--series", "1.2.03.4"),
        ("url", "1.2.840.0113654"),
        ("series", "--collection", "lidc\udcff"),  # a non-UTF-8 byte, as Python receives it
    ],
)
def test_bad_input_is_exit_2(args: tuple[str, ...]) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [os.fsencode(a) for a in (sys.executable, "-m", "idcseg", *args)],
        capture_output=True,
        timeout=120,
    )
    err = proc.stderr.decode("utf-8", "backslashreplace")
    assert proc.returncode == 2, err
    line = _one_error_line(err)
    assert "internal error" not in err
    if "\udcff" in args[-1]:
        assert "not valid UTF-8" in line and "lidc\\xff" in line
    if args[-1].startswith(("1.2.0", "1.2.840.0")):
        assert "leading zeros" in line


def test_uid_components_without_leading_zeros_are_accepted() -> None:
    from idcseg.query.spec import validate_uid

    for uid in ("0", "1.2.0.4", "2.25.0", "1.2.840.10008.5.1.4.1.1.66.4"):
        assert validate_uid(uid) == uid
    for uid in ("01", "1.02", "1.2.00", "1..2", "1.2.", "1." + "1" * 63):
        with pytest.raises(Exception, match="not a DICOM UID"):
            validate_uid(uid)


def test_paths_in_messages_are_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "new\nline\x1b[31m.dcm"
    bad.write_bytes(b"not dicom")
    run = run_cli("describe", str(bad))
    assert run.code == 1
    line = _one_error_line(run.err)
    assert "new\\nline\\x1b[31m.dcm" in line and "\x1b" not in run.err


# --- --output: an exclusive temporary file, the replaced file's permissions ---------------------


def test_output_keeps_permissions_and_ignores_a_planted_symlink(tmp_path: Path) -> None:
    import stat

    from idcseg.present.output import Rows, write_result

    rows = Rows(["a"], [(1,), (2,)])
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    # the name the temporary file used to have: a symlink there was written through
    (tmp_path / f".out.csv.{os.getpid()}.tmp").symlink_to(victim)
    assert write_result(rows, "csv", target) == 2
    assert target.read_text() == "a\n1\n2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert victim.read_text() == "precious\n"
    assert not target.is_symlink()
    leftovers = {p.name for p in tmp_path.iterdir()} - {"out.csv", "victim.txt"}
    assert leftovers == {f".out.csv.{os.getpid()}.tmp"}  # only the planted link

    new = tmp_path / "new.csv"
    write_result(rows, "csv", new)
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600


# --- smaller: fetch without network, index fetch from a path, unreadable folders -------------------


def test_fetch_segments_without_network_is_exit_1() -> None:
    run = run_cli(
        "fetch-segments",
        "--collection",
        "lidc_idri",
        "--limit",
        "5",
        "--dry-run",
        "--attempts",
        "1",
        "--endpoint",
        "http://127.0.0.1:9",  # nothing listens there: connection refused
    )
    assert run.code == 1, run.err
    assert "cannot reach the bucket" in _one_error_line(run.err)


def test_index_fetch_takes_a_plain_path(seg_index_server, tmp_path: Path) -> None:
    server, file = seg_index_server
    copy = tmp_path / "seg_index.parquet"
    copy.write_bytes(file.read_bytes())
    server.close()
    run = run_cli("index", "fetch", "--force", "--url", str(copy))
    assert run.code == 0, run.err
    assert file.read_bytes() == copy.read_bytes()
    relative = run_cli("index", "fetch", "--force", "--url", "seg_index.parquet", cwd=tmp_path)
    assert relative.code == 0, relative.err
    missing = run_cli("index", "fetch", "--force", "--url", str(tmp_path / "nothere.parquet"))
    assert missing.code == 1 and "nothere.parquet" in missing.err


def test_ingest_reports_unreadable_folders_and_undecodable_names(
    tmp_path: Path, corpus, isolated_home: Path
) -> None:
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "segs"
    (folder / "locked").mkdir(parents=True)
    shutil.copy(corpus.segs["binary_multi"], folder / "ok.dcm")
    shutil.copy(corpus.segs["fractional"], folder / "locked" / "hidden.dcm")
    shutil.copy(corpus.segs["labelmap"], os.fsencode(folder) + b"/latin1-\xe9.dcm")
    (folder / "locked").chmod(0)
    command = [sys.executable, "-m", "idcseg", "ingest", str(folder)]
    if os.geteuid() == 0:  # root reads anything: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to read as root without CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        (folder / "locked").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert f"failed {folder / 'locked'}: cannot read folder: Permission denied" in proc.stderr
    assert "latin1-\\xe9.dcm: the path is not valid UTF-8" in proc.stderr
    assert "1 of 3 files ingested" in proc.stderr
