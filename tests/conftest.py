"""Shared pytest fixtures.

``isolated_home``  autouse: every test gets its own IDCSEG_HOME, so nothing touches a user's store.
``index_parquet`` / ``index_db``  the real idc_index.parquet and an independent DuckDB view of it.
``cli``            run ``python -m idcseg ...`` in a fresh process.

BigQuery-path tests run against a real local BigQuery emulator (see ``tests/bqemulator.py``):

``bq_emulator``   session: a running :class:`~tests.bqemulator.BQEmulator` (own virtualenv,
                  127.0.0.1, temp data dir). Fails when the emulator cannot be installed, unless
                  ``IDCSEG_ALLOW_NO_BQEMULATOR=1`` (then those tests skip).
``bq_client``     session: ``google.cloud.bigquery.Client`` (anonymous credentials) on it.
``bq_idc``        session: one ``bigquery-public-data`` dataset per schema era of IDC's tables
                  (``idc_v25``, ``idc_v24``, ``idc_v20``, ``idc_v12``, and ``idc_current``
                  whose view holds label maps; tests/bqemulator.py ``IDC_ERAS``) loaded with
                  the IDC-shaped fixture world; returns ``{"idc_v25": {"segmentations": Table,
                  "dicom_all": Table, "dicom_metadata_curated": Table}, ...}``. Treat these
                  datasets as read-only.
``google_offline_env``  session, autouse: no GCE metadata probes, no proxies for loopback.

Every test that uses ``bq_emulator`` (directly or through another fixture) is marked
``bqemulator``: ``pytest -m "not bqemulator"`` leaves them out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from tests.bqemulator import (
    BQEmulator,
    EmulatorUnavailable,
    apply_offline_google_env,
    ensure_emulator_python,
    load_idc_fixture,
    restore_env,
)

if TYPE_CHECKING:
    from google.cloud import bigquery

ALLOW_NO_EMULATOR = "IDCSEG_ALLOW_NO_BQEMULATOR"

REPO = Path(__file__).resolve().parents[1]
SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own IDCSEG_HOME, so nothing touches a user's store."""
    home = tmp_path_factory.mktemp("idcseg-home")
    monkeypatch.setenv("IDCSEG_HOME", str(home))
    monkeypatch.delenv("IDCSEG_ENGINE", raising=False)
    # an accidental download must fail at once on this machine, never reach the network
    monkeypatch.setenv("IDCSEG_INDEX_URLS", "http://127.0.0.1:9/{version}/seg_index.parquet")
    return home


@pytest.fixture(scope="session")
def index_parquet() -> str:
    """The real idc_index.parquet of the installed idc-index-data wheel."""
    import idc_index_data

    return str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)


@pytest.fixture(scope="session")
def index_db(index_parquet: str) -> duckdb.DuckDBPyConnection:
    """An independent DuckDB connection on the parquet, for cross-checks (no idcseg code)."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW idx AS SELECT * FROM read_parquet('{index_parquet}')")
    return con


@dataclass
class Run:
    """A finished CLI run."""

    code: int
    out: str
    err: str


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run ``python -m idcseg ARGS`` in a fresh process, like a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "idcseg", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or REPO,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    """The CLI runner (a fresh process per call)."""
    return run_cli


def seg_index_schema(string: Any = None) -> Any:
    """The Arrow schema of IDC's seg_index, built here from the wheel's JSON (not by idcseg).

    *string* is the Arrow type of STRING columns (default ``pa.string()``).
    """
    import json

    import pyarrow as pa

    from idcseg.local.store import index_dir

    string = string or pa.string()
    columns = json.loads((index_dir() / "seg_index_schema.json").read_text())["columns"]
    kinds = {"STRING": string, "INTEGER": pa.int64()}
    return pa.schema(
        pa.field(
            c["name"], pa.list_(kinds[c["type"]]) if c["mode"] == "REPEATED" else kinds[c["type"]]
        )
        for c in columns
    )


def run_cli_on_a_terminal(*args: str) -> Run:
    """Run ``python -m idcseg ARGS`` with stdout on a pseudo-terminal, as typed in a shell.

    The terminal's ``\r\n`` line ends come back as ``\n``.
    """
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "idcseg", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        cwd=REPO,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = proc.wait(timeout=120)
    out = b"".join(chunks).decode().replace("\r\n", "\n")
    return Run(code, out, err)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bqemulator: runs against a local BigQuery emulator (bqemulator subprocess)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "bq_emulator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.bqemulator)


@pytest.fixture(scope="session", autouse=True)
def google_offline_env() -> Iterator[None]:
    """Keep google-auth off the GCE metadata server and proxies off loopback, for every test."""
    previous = apply_offline_google_env()
    yield
    restore_env(previous)


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BQEmulator]:
    """A bqemulator process for the whole session, stopped at the end."""
    try:
        python = ensure_emulator_python()
    except EmulatorUnavailable as exc:
        if os.environ.get(ALLOW_NO_EMULATOR) == "1":
            pytest.skip(f"bqemulator unavailable: {exc}")
        pytest.fail(f"bqemulator unavailable ({exc}); set {ALLOW_NO_EMULATOR}=1 to skip")
    emulator = BQEmulator(python, tmp_path_factory.mktemp("bqemulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def bq_client(bq_emulator: BQEmulator) -> Iterator[bigquery.Client]:
    """A real BigQuery client on the session emulator; jobs run in project ``idcseg-test``."""
    client = bq_emulator.make_client()
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def bq_idc(bq_client: bigquery.Client) -> dict[str, dict[str, bigquery.Table]]:
    """IDC-shaped ``bigquery-public-data.idc_*`` datasets, one per era (read-only by convention)."""
    return load_idc_fixture(bq_client)


# --- SEG files made at test time (tests/segfactory.py) -----------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fallback IDCSEG_HOME for the whole session, should a test undo its own setting, and one
    IDCSEG_CACHE for all tests: the DuckDB copy of IDC's series index (idcseg.local.prepared, ~6 s)
    is made once per session, never in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDCSEG_HOME", str(tmp_path_factory.mktemp("idcseg-session-home")))
        cache = str(tmp_path_factory.mktemp("idcseg-session-cache"))
        mp.setenv("IDCSEG_CACHE", cache)
        from idcseg.local import prepared

        # made now, quietly: no test's output depends on being the first to need it
        from idcseg.local.store import index_dir

        prepared.series_index(index_dir() / "idc_index.parquet", quiet=True)
        yield
        # a test that dropped it sent every later test's copies to the user's cache
        assert os.environ.get("IDCSEG_CACHE") == cache, "a test changed IDCSEG_CACHE for good"


@dataclass
class Corpus:
    """SEG files made with highdicom for the reader and ingest tests."""

    folder: Path
    segs: dict[str, Path]  # case name -> SEG file
    ct: list[Path]  # the source CT slices


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """One SEG per :data:`tests.segfactory.CASES` entry, plus the CT series they segment."""
    from tests import segfactory

    folder = tmp_path_factory.mktemp("corpus")
    segs = segfactory.make_all(folder)
    return Corpus(folder, segs, sorted((folder / "ct").glob("*.dcm")))


@pytest.fixture(scope="session")
def mask_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One :class:`tests.segfactory.MaskCase` per CT geometry (axial, oblique, tilted)."""
    from tests import segfactory

    root = tmp_path_factory.mktemp("mask-cases")
    return {g: segfactory.MaskCase(root / g, g) for g in segfactory.GEOMETRIES}


@pytest.fixture(scope="session")
def sr_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A two-nodule SEG and TID 1500 SRs on it, made with highdicom (tests/srfactory.py)."""
    from tests import srfactory

    return srfactory.make_world(tmp_path_factory.mktemp("sr-world"))
