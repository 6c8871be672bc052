"""Coded concepts: turn what a user types into the codes and meanings a segment may carry.

A code filter (``--structure``, ``--category``, ``--anatomy``, ``--modifier``) accepts

- ``SCHEME:VALUE``, e.g. ``SCT:27925004``;
- a keyword of pydicom's DICOM concept dictionary, e.g. ``MorphologicallyAbnormalStructure``;
- a meaning, case-insensitive, e.g. ``nodule`` (also matching every code that dictionary
  gives that meaning).

Codes are matched by (CodingSchemeDesignator, CodeValue), since meanings vary across IDC
("Neoplasm"/"Tumor" for SCT 108369006). Legacy SNOMED-RT codes match their SNOMED-CT
equivalents both ways (Nodule ``SRT:M-03010`` = ``SCT:27925004``), from the table pydicom ships.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

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


@cache
def _concepts() -> dict[str, dict[str, tuple[str, str]]]:
    """keyword → (scheme, value) and lower-case meaning → [(scheme, value)] from pydicom."""
    from pydicom.sr._concepts_dict import concepts

    by_keyword: dict[str, tuple[str, str]] = {}
    by_meaning: dict[str, set[tuple[str, str]]] = {}
    for scheme in ("SCT", "DCM"):
        for keyword, entries in concepts[scheme].items():
            for value, (meaning, _cids) in entries.items():
                by_keyword.setdefault(keyword.lower(), (scheme, value))
                by_meaning.setdefault(meaning.lower(), set()).add((scheme, value))
    return {"keyword": by_keyword, "meaning": by_meaning}  # type: ignore[return-value]


@cache
def _snomed() -> tuple[dict[str, str], dict[str, str]]:
    """pydicom's SNOMED-RT ↔ SNOMED-CT table, loaded alone (~10 ms): importing it through
    ``pydicom.sr`` loads pydicom's whole concept dictionary first (~0.5 s)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pydicom")
    path = Path(spec.origin).parent / "sr" / "_snomed_dict.py"  # type: ignore[union-attr,arg-type]
    loader = importlib.util.spec_from_file_location("_idcseg_pydicom_snomed", path)
    if loader is None or loader.loader is None:  # pragma: no cover - pydicom's layout changed
        from pydicom.sr._snomed_dict import mapping
    else:
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        mapping = module.mapping
    return mapping["SRT"], mapping["SCT"]  # SRT → SCT, SCT → SRT


def equivalents(scheme: str, value: str) -> set[tuple[str, str]]:
    """The code itself plus its SNOMED-RT / SNOMED-CT twin, if any."""
    out = {(scheme, value)}
    srt_to_sct, sct_to_srt = _snomed()
    if scheme in ("SRT", "SNM3") and value in srt_to_sct:
        out.add(("SCT", srt_to_sct[value]))
    if scheme == "SCT" and value in sct_to_srt:
        out.add(("SRT", sct_to_srt[value]))
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
        concepts = _concepts()
        keyword = concepts["keyword"].get(text.lower())
        if keyword and " " not in text:
            codes.add(keyword)
        codes |= concepts["meaning"].get(text.lower(), set())
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
    concepts = _concepts()["meaning"]
    meanings = sorted(
        meaning
        for meaning, codes in concepts.items()
        if {f"{s}:{v}" for s, v in codes} & set(match.codes)
    )
    if not meanings:
        raise UsageError(
            f"{term!r}: no meaning known for this code; series-level filters match meanings "
            "(e.g. --structure Liver)"
        )
    return meanings
