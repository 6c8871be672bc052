"""`idcseg index fetch/status`: IDC's seg_index.parquet fetched from a local server and verified.

Every server here is tests/httpserver.py on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from idcseg.errors import IdcsegError
from idcseg.local.store import index_version
from idcseg.remote import segindex
from tests.conftest import seg_index_schema
from tests.httpserver import LocalServer

VERSION = index_version()
ROWS = [
    {
        "SeriesInstanceUID": "1.2.3.1",
        "SegmentationType": "BINARY",
        "total_segments": 2,
        "AlgorithmType": "AUTOMATIC",
        "AlgorithmName": "TotalSegmentator",
        "segmented_SeriesInstanceUID": "1.2.3.100",
        "SegmentedPropertyCategory_CodeMeanings": ["Anatomical Structure"],
        "SegmentedPropertyType_CodeMeanings": ["Kidney", "Liver"],
        "AnatomicRegion_CodeMeanings": [],
    },
    {
        "SeriesInstanceUID": "1.2.3.2",
        "SegmentationType": "LABELMAP",
        "total_segments": 3,
        "AlgorithmType": "MANUAL,SEMIAUTOMATIC",
        "AlgorithmName": None,
        "segmented_SeriesInstanceUID": None,
        "SegmentedPropertyCategory_CodeMeanings": ["Morphologically Altered Structure"],
        "SegmentedPropertyType_CodeMeanings": ["Neoplasm"],
        "AnatomicRegion_CodeMeanings": ["Kidney"],
    },
    {
        "SeriesInstanceUID": "1.2.3.3",
        "SegmentationType": "FRACTIONAL",
        "total_segments": 1,
        "AlgorithmType": None,
        "AlgorithmName": None,
        "segmented_SeriesInstanceUID": "1.2.3.300",
        "SegmentedPropertyCategory_CodeMeanings": [],
        "SegmentedPropertyType_CodeMeanings": [],
        "AnatomicRegion_CodeMeanings": [],
    },
]


def parquet_bytes(
    rows: list[dict] = ROWS, schema: pa.Schema | None = None, metadata: dict | None = None
) -> bytes:
    schema = schema or seg_index_schema()
    if metadata:
        schema = schema.with_metadata(metadata)
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD = parquet_bytes()
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
GITHUB = "/gh/{version}/seg_index.parquet"
GCS = "/gcs/{version}/release_artifacts/seg_index.parquet"


def at(template: str) -> str:
    return template.replace("{version}", VERSION)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def store_dir(home: Path) -> Path:
    return home / "seg_index"


def leftovers(home: Path) -> list[str]:
    """Temporary files the fetch left behind (there must be none)."""
    base = store_dir(home)
    return (
        sorted(p.name for p in base.rglob("*") if p.name.startswith(".")) if base.exists() else []
    )


def test_fetch_verifies_sidecar_and_records_meta(server: LocalServer, isolated_home: Path) -> None:
    assert segindex.path() is None and segindex.status()["present"] is False
    server.route(at(GCS), GOOD)
    server.route(at(GCS) + ".sha256", f"{GOOD_SHA}  seg_index.parquet\n".encode())
    got = segindex.fetch(urls=[server.base + GCS], progress=False)

    assert got == store_dir(isolated_home) / VERSION / "seg_index.parquet"
    assert got.read_bytes() == GOOD
    assert pq.read_table(got).to_pylist() == ROWS
    meta = json.loads((got.parent / "meta.json").read_text())
    assert meta["source"] == server.url(at(GCS))
    assert meta["sha256"] == GOOD_SHA and meta["sha256_verified"] is True
    assert meta["bytes"] == len(GOOD) and meta["rows"] == 3 and meta["version"] == VERSION
    assert meta["fetched_at"].endswith("+00:00")
    assert segindex.path() == got
    info = segindex.status()
    assert info["present"] is True and info["path"] == str(got)
    assert (info["rows"], info["bytes"], info["sha256"]) == (3, len(GOOD), GOOD_SHA)
    assert info["source"] == meta["source"] and 0 <= info["age_seconds"] < 60
    assert leftovers(isolated_home) == []


def test_bare_digest_sidecar_and_no_sidecar(server: LocalServer) -> None:
    server.route(at(GCS), GOOD)
    server.route(at(GCS) + ".sha256", GOOD_SHA.upper().encode())  # no file name, no newline
    segindex.fetch(urls=[server.base + GCS], progress=False)
    assert segindex.status()["sha256_verified"] is True

    server.route(at(GITHUB), GOOD)  # GitHub publishes no sidecar: its 404 means "none"
    segindex.fetch(urls=[server.base + GITHUB], progress=False, force=True)
    info = segindex.status()
    assert info["sha256_verified"] is False and info["sha256"] == GOOD_SHA
    assert server.hits[at(GITHUB) + ".sha256"] == 1


def test_file_url_mirror_with_and_without_sidecar(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / VERSION
    mirror.mkdir(parents=True)
    (mirror / "seg_index.parquet").write_bytes(GOOD)
    template = f"{(tmp_path / 'mirror').as_uri()}/{{version}}/seg_index.parquet"
    segindex.fetch(urls=[template], progress=False)
    assert segindex.status()["sha256_verified"] is False
    (mirror / "seg_index.parquet.sha256").write_text(GOOD_SHA + "\n")
    segindex.fetch(urls=[template], progress=False, force=True)
    assert segindex.status()["sha256_verified"] is True


def test_falls_back_from_a_404_source_to_the_next(server: LocalServer) -> None:
    server.route(at(GCS), GOOD)
    server.route(at(GCS) + ".sha256", GOOD_SHA.encode())
    got = segindex.fetch(urls=[server.base + GITHUB, server.base + GCS], progress=False)
    assert server.hits[at(GITHUB)] == 1
    assert segindex.status()["source"] == server.url(at(GCS))
    assert got.read_bytes() == GOOD


def test_checksum_mismatch_names_both_digests_and_keeps_the_good_copy(
    server: LocalServer, isolated_home: Path
) -> None:
    server.route(at(GCS), GOOD)
    good = segindex.fetch(urls=[server.base + GCS], progress=False)
    meta_before = (good.parent / "meta.json").read_text()

    other = parquet_bytes(ROWS[:1])
    wrong = "0" * 64
    server.route("/bad/seg_index.parquet", other)
    server.route("/bad/seg_index.parquet.sha256", f"{wrong} seg_index.parquet\n".encode())
    with pytest.raises(IdcsegError) as caught:
        segindex.fetch(urls=[server.url("/bad/seg_index.parquet")], progress=False, force=True)
    message = str(caught.value)
    assert "checksum mismatch" in message and server.url("/bad/seg_index.parquet") in message
    assert wrong in message and hashlib.sha256(other).hexdigest() in message
    assert good.read_bytes() == GOOD and (good.parent / "meta.json").read_text() == meta_before
    assert segindex.path() == good
    assert leftovers(isolated_home) == []


def test_truncated_body_is_an_error(server: LocalServer, isolated_home: Path) -> None:
    server.route(at(GITHUB), GOOD[:1000], content_length=len(GOOD))
    with pytest.raises(IdcsegError, match=r"truncated download: 1000 of \d+ bytes") as caught:
        segindex.fetch(urls=[server.base + GITHUB], progress=False)
    assert server.url(at(GITHUB)) in str(caught.value)
    assert segindex.path() is None and leftovers(isolated_home) == []


def test_wrong_schema_names_the_columns(server: LocalServer, isolated_home: Path) -> None:
    schema = seg_index_schema().remove(
        seg_index_schema().get_field_index("AnatomicRegion_CodeMeanings")
    )
    schema = schema.set(
        schema.get_field_index("total_segments"), pa.field("total_segments", pa.string())
    )
    schema = schema.append(pa.field("extra", pa.int32()))
    rows = [
        {
            **{k: v for k, v in r.items() if k != "AnatomicRegion_CodeMeanings"},
            "total_segments": "2",
        }
        for r in ROWS
    ]
    server.route(at(GITHUB), parquet_bytes(rows, schema))
    with pytest.raises(IdcsegError, match="schema differs") as caught:
        segindex.fetch(urls=[server.base + GITHUB], progress=False)
    message = str(caught.value)
    assert "missing column AnatomicRegion_CodeMeanings" in message
    assert "column total_segments is string, expected INTEGER" in message
    assert "unexpected column extra" in message
    assert "SeriesInstanceUID" not in message.split("seg_index:", 1)[1]
    assert segindex.path() is None and leftovers(isolated_home) == []


def test_real_idc_files_use_large_string_and_are_accepted(server: LocalServer) -> None:
    # IDC's parquet files come from pandas: large_string columns, maybe a stored index
    table = pa.Table.from_pylist(ROWS, schema=seg_index_schema(pa.large_string()))
    table = table.append_column("__index_level_0__", pa.array([7, 8, 9]))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    server.route(at(GITHUB), sink.getvalue())
    got = segindex.fetch(urls=[server.base + GITHUB], progress=False)
    assert pq.read_table(got).num_rows == 3


def test_a_failed_install_keeps_the_old_copy(
    server: LocalServer, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route(at(GITHUB), GOOD)
    good = segindex.fetch(urls=[server.base + GITHUB], progress=False)
    real_replace = segindex.os.replace

    def refuse_the_parquet(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "seg_index.parquet":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(segindex.os, "replace", refuse_the_parquet)
    server.route(at(GITHUB), parquet_bytes(ROWS[:2]))
    with pytest.raises(IdcsegError, match="cannot install .*No space left on device"):
        segindex.fetch(urls=[server.base + GITHUB], progress=False, force=True)
    assert segindex.path() == good and good.read_bytes() == GOOD
    assert segindex.status()["rows"] == 3 and leftovers(isolated_home) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>rate limited</html>", "not a readable parquet file"),
        (parquet_bytes([]), "the file has no rows"),
        (
            parquet_bytes(metadata={"idc_index_data_version": "24.1.0-0-gabc"}),
            "stamped idc_index_data_version 24.1.0",
        ),
    ],
    ids=["html", "empty", "other-release"],
)
def test_bad_content_is_an_error(server: LocalServer, body: bytes, reason: str) -> None:
    server.route(at(GITHUB), body)
    with pytest.raises(IdcsegError, match=reason):
        segindex.fetch(urls=[server.base + GITHUB], progress=False)
    assert segindex.path() is None


def test_matching_release_stamp_is_accepted(server: LocalServer) -> None:
    stamped = parquet_bytes(metadata={"idc_index_data_version": f"{VERSION}-0-gf08b112"})
    server.route(at(GITHUB), stamped)
    assert segindex.fetch(urls=[server.base + GITHUB], progress=False).read_bytes() == stamped


@pytest.mark.parametrize("stall_after", [-1, 500], ids=["before-headers", "mid-body"])
def test_slow_server_times_out(server: LocalServer, isolated_home: Path, stall_after: int) -> None:
    server.route(at(GITHUB), GOOD, stall_after=stall_after, stall=10.0)
    with pytest.raises(IdcsegError, match=r"timed out after 0\.3 s") as caught:
        segindex.fetch(urls=[server.base + GITHUB], progress=False, timeout=0.3)
    assert server.url(at(GITHUB)) in str(caught.value)
    assert ("after 500 bytes" in str(caught.value)) == (stall_after == 500)
    assert segindex.path() is None and leftovers(isolated_home) == []


def test_sidecar_failure_other_than_404_is_an_error(server: LocalServer) -> None:
    server.route(at(GCS), GOOD)
    server.route(at(GCS) + ".sha256", b"oops", status=500)
    with pytest.raises(IdcsegError, match=r"\.sha256: checksum sidecar: HTTP 500"):
        segindex.fetch(urls=[server.base + GCS], progress=False)
    server.route(at(GCS) + ".sha256", b"<html>not a checksum</html>")
    with pytest.raises(IdcsegError, match="not a SHA-256 checksum file"):
        segindex.fetch(urls=[server.base + GCS], progress=False)
    assert segindex.path() is None


def test_all_sources_failing_lists_each_reason_on_one_line(server: LocalServer) -> None:
    server.route(at(GCS), GOOD[:10], content_length=len(GOOD))
    with pytest.raises(segindex.FetchError) as caught:
        segindex.fetch(urls=[server.base + GITHUB, server.base + GCS], progress=False)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{server.url(at(GITHUB))}: HTTP 404" in message
    assert f"{server.url(at(GCS))}: truncated download" in message
    assert [f.url for f in caught.value.failures] == [server.url(at(GITHUB)), server.url(at(GCS))]


def test_present_copy_is_used_without_network_unless_forced(server: LocalServer) -> None:
    server.route(at(GITHUB), GOOD)
    first = segindex.fetch(urls=[server.base + GITHUB], progress=False)
    assert segindex.fetch(urls=[server.base + GITHUB], progress=False) == first
    assert server.hits[at(GITHUB)] == 1
    segindex.fetch(urls=[server.base + GITHUB], progress=False, force=True)
    assert server.hits[at(GITHUB)] == 2


def test_urls_from_the_environment(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.route(at(GCS), GOOD)
    monkeypatch.setenv(segindex.URLS_ENV, f"{server.base + GITHUB}, {server.base + GCS}")
    assert segindex.source_urls() == [server.url(at(GITHUB)), server.url(at(GCS))]
    segindex.fetch(progress=False)
    assert segindex.status()["source"] == server.url(at(GCS))
    monkeypatch.delenv(segindex.URLS_ENV)
    assert segindex.source_urls()[0].startswith("https://github.com/ImagingDataCommons/")
    assert f"/{VERSION}/" in segindex.source_urls()[1]


def test_bad_urls_and_timeouts_are_usage_errors() -> None:
    with pytest.raises(IdcsegError, match="not an http"):
        segindex.fetch(urls=["ftp://example.org/x"], progress=False)
    with pytest.raises(IdcsegError, match="positive"):
        segindex.fetch(urls=["http://127.0.0.1:9/x"], progress=False, timeout=0)
    with pytest.raises(IdcsegError, match="not a valid"):
        segindex.path("../etc")


def test_path_needs_meta_and_matching_size(server: LocalServer) -> None:
    server.route(at(GITHUB), GOOD)
    got = segindex.fetch(urls=[server.base + GITHUB], progress=False)
    got.write_bytes(GOOD[:-1])
    assert segindex.path() is None
    got.write_bytes(GOOD)
    assert segindex.path() == got
    (got.parent / "meta.json").unlink()
    assert segindex.path() is None and segindex.status()["present"] is False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [Terminal, io.StringIO], ids=["terminal", "pipe"])
def test_progress_on_stderr(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, stream: type[io.StringIO]
) -> None:
    rows = [
        {**ROWS[0], "SeriesInstanceUID": f"2.25.{i}{hashlib.sha256(bytes(i)).hexdigest()}"}
        for i in range(3000)
    ]
    big = parquet_bytes(rows)  # ~0.3 MB of distinct UIDs: several 64 KiB chunks
    assert len(big) > 200_000
    server.route(at(GITHUB), big)
    err = stream()
    monkeypatch.setattr("sys.stderr", err)
    segindex.fetch(urls=[server.base + GITHUB], progress=True)
    text = err.getvalue()
    assert f"idcseg: downloading {server.url(at(GITHUB))}" in text
    assert f"/ {len(big) / 1e6:.1f} MB (100%)" in text
    assert text.endswith("\n")
    if stream is io.StringIO:
        assert "\r" not in text and len(text.splitlines()) == 2


def test_progress_reports_fallback(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.route(at(GCS), GOOD)
    segindex.fetch(urls=[server.base + GITHUB, server.base + GCS], progress=True)
    err = capsys.readouterr().err
    assert f"{server.url(at(GITHUB))}: HTTP 404 Not Found; trying the next source" in err


def test_cli_fetch_and_status(cli, server: LocalServer, isolated_home: Path) -> None:  # noqa: ANN001
    run = cli("index", "status", "-f", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["present"] is False

    server.route(at(GCS), GOOD)
    server.route(at(GCS) + ".sha256", f"{GOOD_SHA}  seg_index.parquet\n".encode())
    run = cli("index", "fetch", "--url", server.base + GITHUB, "--url", server.base + GCS)
    assert run.code == 0, run.err
    target = store_dir(isolated_home) / VERSION / "seg_index.parquet"
    assert run.out.strip() == str(target)
    assert "HTTP 404" in run.err and "3 rows" in run.err and "sha256 verified" in run.err

    info = json.loads(cli("index", "status", "-f", "json").out)
    assert info["present"] is True and info["rows"] == 3 and info["path"] == str(target)
    assert info["sha256"] == GOOD_SHA and info["source"] == server.url(at(GCS))
    text = cli("index", "status").out
    assert "present" in text and GOOD_SHA in text

    run = cli("index", "fetch", "--url", server.base + GCS)  # present: no download
    assert run.code == 0 and run.out.strip() == str(target) and "already present" in run.err


def test_cli_fetch_failure_is_one_line(cli, server: LocalServer, isolated_home: Path) -> None:  # noqa: ANN001
    run = cli("index", "fetch", "-q", "--url", server.base + GITHUB, "--timeout", "2")
    assert run.code == 1
    assert run.out == ""
    assert run.err.count("\n") == 1 and run.err.startswith("idcseg: error: cannot fetch")
    assert "HTTP 404" in run.err
    assert json.loads(cli("index", "status", "-f", "json").out)["present"] is False
