"""Coded concepts: turn what a user types into the codes and meanings a segment may carry.

A code filter (``--structure``, ``--category``, ``--anatomy``, ``--modifier``) accepts

- ``SCHEME:VALUE``, e.g. ``SCT:27925004``;
- a keyword of pydicom's DICOM concept dictionary, e.g. ``MorphologicallyAbnormalStructure``;
- a meaning, case-insensitive, e.g. ``nodule`` (also matching every code that dictionary
  gives that meaning).

Codes are matched by (CodingSchemeDesignator, CodeValue), since meanings vary across IDC
("Neoplasm"/"Tumor" for SCT 108369006). Legacy SNOMED-RT codes match their SNOMED-CT
equivalents both ways (Nodule ``SRT:M-03010`` = ``SCT:27925004``), from the table pydicom ships
(copied into ``concepts.tsv`` by ``tools/make_concepts.py``, which loads ~100 times faster).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import UsageError

_CODE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9_.\-]*):(?P<value>[A-Za-z0-9_.\-]+)")
BACKGROUND = ("DCM", "125040")  # label maps' segment 0


@dataclass(frozen=True)
class CodeMatch:
    """What one filter term matches: codes as ``SCHEME:VALUE`` strings, and lower-case meanings."""

    term: str
    codes: tuple[str, ...]
    meanings: tuple[str, ...]
    terms: tuple[str, ...] = ()


CONCEPTS = Path(__file__).with_name("concepts.tsv")  # made by tools/make_concepts.py


class _Table:
    """pydicom's SCT and DCM concepts and SNOMED-RT/CT pairs, as ``concepts.tsv`` holds them.

    Importing pydicom's own tables costs ~0.35 s on every command with a code filter; this file
    is read as one lower-cased text and searched with ``str.find``, a few milliseconds in all.
    Concept lines are ``scheme<TAB>value<TAB>keyword<TAB>meaning`` (pydicom's order), pair
    lines ``=<TAB>srt value<TAB>sct value``, after all concept lines.
    """

    def __init__(self) -> None:
        raw = CONCEPTS.read_text(encoding="utf-8")
        pairs = raw.find("\n=\t")
        self.raw = raw
        self.concepts = raw if pairs < 0 else raw[: pairs + 1]
        self.lower = self.concepts.lower()
        self.pairs = "" if pairs < 0 else raw[pairs:]

    def _lines(self, needle: str) -> list[str]:
        """The concept lines (original case) holding *needle*, searched in lower case."""
        found, start = [], 0
        while (at := self.lower.find(needle, start)) >= 0:
            at += needle.startswith("\n")  # a needle may begin with the line's leading newline
            begin = self.lower.rfind("\n", 0, at) + 1
            end = self.lower.find("\n", at)
            found.append(self.concepts[begin:end])
            start = end
        return found

    def keyword(self, word: str) -> tuple[str, str] | None:
        """The first concept whose keyword is *word* (any case)."""
        for line in self._lines(f"\t{word.lower()}\t"):
            scheme, value, keyword, _ = line.split("\t")
            if keyword.lower() == word.lower():
                return scheme, value
        return None

    def meaning(self, text: str) -> set[tuple[str, str]]:
        """Every concept whose meaning is *text* (any case)."""
        return {
            (parts[0], parts[1])
            for parts in (line.split("\t") for line in self._lines(f"\t{text.lower()}\n"))
            if parts[3].lower() == text.lower()
        }

    def meanings_of(self, scheme: str, value: str) -> set[str]:
        """The lower-case meanings the table gives the code ``scheme:value``."""
        return {
            line.split("\t")[3].lower()
            for line in self._lines(f"\n{scheme.lower()}\t{value.lower()}\t")
            if line.split("\t")[:2] == [scheme, value]
        }

    def twin(self, scheme: str, value: str) -> str | None:
        """The SNOMED-CT value of SNOMED-RT *value* (scheme ``SRT``), or the reverse."""
        if scheme == "SRT":
            at = self.pairs.find(f"\n=\t{value}\t")
            return None if at < 0 else self.pairs[at:].split("\n", 2)[1].split("\t")[2]
        at = self.pairs.find(f"\t{value}\n")
        while at >= 0:
            line = self.pairs[self.pairs.rfind("\n", 0, at) + 1 : at + len(value) + 1]
            parts = line.split("\t")
            if len(parts) == 3 and parts[2] == value:
                return parts[1]
            at = self.pairs.find(f"\t{value}\n", at + 1)
        return None


@cache
def _table() -> _Table:
    return _Table()


def equivalents(scheme: str, value: str) -> set[tuple[str, str]]:
    """The code itself plus its SNOMED-RT / SNOMED-CT twin, if any."""
    out = {(scheme, value)}
    if scheme in ("SRT", "SNM3"):
        twin = _table().twin("SRT", value)
        if twin is not None:
            out.add(("SCT", twin))
    if scheme == "SCT":
        twin = _table().twin("SCT", value)
        if twin is not None:
            out.add(("SRT", twin))
    return out


def resolve(term: str) -> CodeMatch:
    """Resolve one user term (see the module docstring)."""
    text = term.strip()
    if not text:
        raise UsageError("an empty code filter matches nothing; give a meaning or SCHEME:VALUE")
    codes: set[tuple[str, str]] = set()
    meanings: tuple[str, ...] = ()
    found = _CODE.fullmatch(text)
    if found:
        codes.add((found["scheme"].upper(), found["value"]))
    else:
        keyword = _table().keyword(text) if " " not in text else None
        if keyword:
            codes.add(keyword)
        codes |= _table().meaning(text)
        meanings = (text.lower(),)
    expanded: set[tuple[str, str]] = set()
    for scheme, value in codes:
        expanded |= equivalents(scheme, value)
    return CodeMatch(text, tuple(sorted(f"{s}:{v}" for s, v in expanded)), meanings, (text,))


_SR_CODE = re.compile(r"(?P<scheme>[A-Za-z0-9][A-Za-z0-9_.\-]*):(?P<value>[A-Za-z0-9_.\-]+)")


def resolve_code_or_meaning(term: str) -> CodeMatch:
    """A term matched by code (``SCHEME:VALUE``, with its SNOMED twin) or else by meaning only.

    For SR concepts (``--quantity``, ``--evaluation``): meanings are compared as written in the
    documents, without pydicom's concept dictionary (whose import costs half a second). Codes
    come upper-cased, to be compared with upper-cased codes: SRs spell private and newer
    schemes in any case (``RadLex``, ``NCIt``, ``99LIDCQIICR``).
    """
    text = term.strip()
    if not text:
        raise UsageError("an empty code filter matches nothing; give a meaning or SCHEME:VALUE")
    found = _SR_CODE.fullmatch(text)
    if not found:
        return CodeMatch(text, (), (text.lower(),), (text,))
    codes = equivalents(found["scheme"].upper(), found["value"])
    return CodeMatch(text, tuple(sorted(f"{s}:{v}".upper() for s, v in codes)), (), (text,))


def merge(matches: list[CodeMatch]) -> CodeMatch | None:
    """Several matches for one filter: any of them matches. None for none."""
    if not matches:
        return None
    return CodeMatch(
        ", ".join(m.term for m in matches),
        tuple(sorted({c for m in matches for c in m.codes})),
        tuple(sorted({x for m in matches for x in m.meanings})),
        tuple(t for m in matches for t in m.terms),
    )


def resolve_all(terms: list[str] | tuple[str, ...]) -> CodeMatch | None:
    """Several terms for one filter: any of them matches. None when no term is given."""
    if not terms:
        return None
    matches = [resolve(t) for t in terms]
    return CodeMatch(
        ", ".join(m.term for m in matches),
        tuple(sorted({c for m in matches for c in m.codes})),
        tuple(sorted({x for m in matches for x in m.meanings})),
        tuple(m.term for m in matches),
    )


def meanings_of(term: str) -> list[str]:
    """Lower-case meanings of a ``SCHEME:VALUE`` code and its SNOMED twin (for seg_index).

    IDC's seg_index lists meanings, not codes; a code the dictionary does not know is refused.
    """
    match = resolve(term)
    meanings = sorted(
        {m for code in match.codes for m in _table().meanings_of(*code.split(":", 1))}
    )
    if not meanings:
        raise UsageError(
            f"{term!r}: no meaning known for this code; series-level filters match meanings "
            "(e.g. --structure Liver)"
        )
    return meanings
