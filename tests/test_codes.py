"""The concept table idcseg reads instead of pydicom's (idcseg/dicom/concepts.tsv).

It must give the same answers as pydicom's own tables, and `find`/`facets` with a code filter
must not import those (~0.35 s on every run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pydicom
import pytest

from idcseg.dicom import codes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from make_concepts import lines  # noqa: E402


@cache
def _pydicom_tables() -> tuple[dict[str, tuple[str, str]], dict[str, set[tuple[str, str]]]]:
    from pydicom.sr._concepts_dict import concepts

    by_keyword: dict[str, tuple[str, str]] = {}
    by_meaning: dict[str, set[tuple[str, str]]] = {}
    for scheme in ("SCT", "DCM"):
        for keyword, entries in concepts[scheme].items():
            for value, (meaning, _cids) in entries.items():
                by_keyword.setdefault(keyword.lower(), (scheme, value))
                by_meaning.setdefault(meaning.lower(), set()).add((scheme, value))
    return by_keyword, by_meaning


def _pydicom_resolve(term: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """codes.resolve as it was written against pydicom's tables, as the reference."""
    from pydicom.sr._snomed_dict import mapping

    by_keyword, by_meaning = _pydicom_tables()
    found: set[tuple[str, str]] = set()
    meanings: tuple[str, ...] = ()
    if ":" in term and " " not in term:
        scheme, value = term.split(":", 1)
        found.add((scheme.upper(), value))
    else:
        if " " not in term and term.lower() in by_keyword:
            found.add(by_keyword[term.lower()])
        found |= by_meaning.get(term.lower(), set())
        meanings = (term.lower(),)
    expanded = set(found)
    for scheme, value in found:
        if scheme == "SRT" and value in mapping["SRT"]:
            expanded.add(("SCT", mapping["SRT"][value]))
        if scheme == "SCT" and value in mapping["SCT"]:
            expanded.add(("SRT", mapping["SCT"][value]))
    return tuple(sorted(f"{s}:{v}" for s, v in expanded)), meanings


def test_the_table_is_pydicoms() -> None:
    shipped = codes.CONCEPTS.read_text(encoding="utf-8").splitlines()
    made_from = shipped[0].removeprefix("# pydicom ")
    if made_from == pydicom.__version__:
        assert shipped == lines(), "concepts.tsv is stale: python tools/make_concepts.py"
    terms = [
        "Nodule", "nodule", "LIVER", "Kidney", "Lung", "Background", "Neoplasm", "Tumor",
        "SRT:M-03010", "SCT:27925004", "SCT:10200004", "SRT:T-62000", "DCM:125040",
        "MorphologicallyAbnormalStructure", "Liver", "Left", "Right", "Spleen",
        "Anatomical Structure", "Morphologically Altered Structure", "Vertebra", "no such thing",
    ]  # fmt: skip
    for term in terms:
        match = codes.resolve(term)
        assert (match.codes, match.meanings) == _pydicom_resolve(term), term


def test_every_snomed_pair_and_many_meanings_agree_with_pydicom() -> None:
    from pydicom.sr._concepts_dict import concepts
    from pydicom.sr._snomed_dict import mapping

    for srt, sct in list(mapping["SRT"].items())[::40]:
        assert codes.equivalents("SRT", srt) == {("SRT", srt), ("SCT", sct)}
        assert codes.equivalents("SCT", sct) == {("SCT", sct), ("SRT", srt)}
    meanings = [m for entries in concepts["SCT"].values() for m, _ in entries.values()][::97]
    for meaning in meanings:
        match = codes.resolve(meaning)
        assert (match.codes, match.meanings) == _pydicom_resolve(meaning), meaning


def test_find_with_a_code_filter_does_not_import_pydicoms_tables(cli: Any) -> None:
    code = (
        "import sys, runpy; sys.argv=['idcseg','find','--structure','Nodule',"
        "'--anatomy','SCT:39607008','-f','json'];"
        "\ntry: runpy.run_module('idcseg', run_name='__main__')"
        "\nexcept SystemExit: pass"
        "\nbad=[m for m in sys.modules if m.startswith(('pydicom.sr', 'pandas'))]"
        "\nprint('HEAVY', bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("term", ["SCT:27925004", "SRT:M-03010", "Nodule"])
def test_meanings_of_a_code(term: str) -> None:
    if ":" in term:
        assert codes.meanings_of(term) == ["nodule"]
    else:
        assert "nodule" in codes.resolve(term).meanings
