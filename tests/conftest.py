"""Shared fixtures: an isolated store per test, the real IDC index, a CLI runner, and SEG files
made with highdicom."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import segfactory

REPO = Path(__file__).resolve().parents[1]
SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")


@pytest.fixture(scope="session", autouse=True)
def _session_store(tmp_path_factory: pytest.TempPathFactory):
    """A fallback store for the whole session, should a test undo its own setting."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDCSEG_HOME", str(tmp_path_factory.mktemp("idcseg-session-home")))
        yield


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own IDCSEG_HOME, so nothing touches a user's store."""
    home = tmp_path_factory.mktemp("idcseg-home")
    monkeypatch.setenv("IDCSEG_HOME", str(home))
    monkeypatch.delenv("IDCSEG_ENGINE", raising=False)
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


@dataclass
class Corpus:
    folder: Path
    segs: dict[str, Path]  # case name -> SEG file
    ct: list[Path]  # the source CT slices


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """One SEG per :data:`segfactory.CASES` entry, plus the CT series they segment."""
    folder = tmp_path_factory.mktemp("corpus")
    segs = segfactory.make_all(folder)
    return Corpus(folder, segs, sorted((folder / "ct").glob("*.dcm")))
