"""Shared fixtures: a store under pytest's tmp_path, and SEG files made with highdicom."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import segfactory

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _session_store(tmp_path_factory: pytest.TempPathFactory):
    """A fallback store for the whole session, should a test undo its own setting."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IDCSEG_HOME", str(tmp_path_factory.mktemp("idcseg-session-home")))
        yield


@pytest.fixture(autouse=True)
def _private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own store: the real one is never touched."""
    home = tmp_path / "idcseg-home"
    monkeypatch.setenv("IDCSEG_HOME", str(home))
    return home


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
