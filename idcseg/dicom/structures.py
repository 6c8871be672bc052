"""Structure names → the codes a new SEG segment carries, from a table shipped in the package.

``data/structures.csv`` (built by ``tools/build_structures.py``) holds 218 structures:
TotalSegmentator's classes (v1.5.6 exactly as IDC's own SEGs code them, and those v2 added),
nnU-Net BPR's, common organs and tissues, and lesions. Each row has a name, a label, the
segmented property category and type (SNOMED CT), optional type modifier (laterality), anatomic
region and region modifier, and a recommended display colour.

:func:`lookup` accepts a name as a user writes it — ``kidney_left``, ``Left Kidney``,
``left kidney``, ``liver tumour`` — case, spaces, hyphens and underscores not mattering. A name
the table does not hold is an error listing the closest names: a segment never gets a free-text
code. The table is read on first use.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import UsageError

_SEPARATORS = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class Code:
    """A coded concept: coding scheme, code value, meaning."""

    scheme: str
    value: str
    meaning: str

    @classmethod
    def parse(cls, text: str) -> Code | None:
        """``SCHEME:VALUE:Meaning`` → Code; empty text → None."""
        if not text:
            return None
        scheme, value, meaning = text.split(":", 2)
        return cls(scheme, value, meaning)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value} ({self.meaning})"


@dataclass(frozen=True)
class Structure:
    """One row of the shipped table: what a segment of this structure is coded as."""

    name: str
    label: str
    category: Code
    type: Code
    type_modifier: Code | None
    region: Code | None
    region_modifier: Code | None
    rgb: tuple[int, int, int]
    aliases: tuple[str, ...]
    source: str


def normalise(term: str) -> str:
    """The form names are compared in: lower case, words separated by one space."""
    return _SEPARATORS.sub(" ", term.strip().lower()).strip()


@cache
def table() -> tuple[Structure, ...]:
    """Every structure of the shipped table, in table order."""
    text = resources.files(__package__).joinpath("data/structures.csv").read_text("utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        red, green, blue = (int(v) for v in row["rgb"].split())
        rows.append(
            Structure(
                name=row["name"],
                label=row["label"],
                category=Code.parse(row["category"]),  # type: ignore[arg-type]
                type=Code.parse(row["type"]),  # type: ignore[arg-type]
                type_modifier=Code.parse(row["type_modifier"]),
                region=Code.parse(row["region"]),
                region_modifier=Code.parse(row["region_modifier"]),
                rgb=(red, green, blue),
                aliases=tuple(a.strip() for a in row["aliases"].split(",") if a.strip()),
                source=row["source"],
            )
        )
    return tuple(rows)


@cache
def _index() -> dict[str, Structure]:
    """Normalised name → structure. Names and labels first, then aliases, then the meaning of a
    plain type (no modifier, no region) where no name or label already claims it."""
    index: dict[str, Structure] = {}
    rows = table()
    for keys in (
        lambda s: (s.name,),
        lambda s: (s.label, *s.aliases),
        lambda s: (s.type.meaning,) if not (s.type_modifier or s.region) else (),
    ):
        for structure in rows:
            for key in keys(structure):
                index.setdefault(normalise(key), structure)
    return index


def lookup(term: str) -> Structure:
    """The structure *term* names; a UsageError listing close names when there is none."""
    key = normalise(term)
    found = _index().get(key)
    if found is not None:
        return found
    raise UsageError(f"unknown structure {term!r}: {suggest(term)}")


def suggest(term: str) -> str:
    """'did you mean …?' for *term*, and where the full list is."""
    key = normalise(term)
    index = _index()
    names: list[str] = []
    for near in difflib.get_close_matches(key, index, n=8, cutoff=0.6):
        if index[near].name not in names:
            names.append(index[near].name)
    words = set(key.split())
    if len(names) < 5 and words:
        for structure in table():
            if words <= set(normalise(structure.name).split()) and structure.name not in names:
                names.append(structure.name)
    hint = f"did you mean {', '.join(names[:5])}? " if names else ""
    return (
        f"{hint}(`idcseg structures` lists the {len(table())} known names; "
        "--meta FILE.json gives any other structure its codes)"
    )


def search(term: str | None = None) -> list[Structure]:
    """Structures whose name, label, alias or codes contain *term* (all without one)."""
    if not term:
        return list(table())
    key = normalise(term)
    found = []
    for structure in table():
        haystack = [structure.name, structure.label, *structure.aliases]
        codes = [structure.type, structure.region, structure.type_modifier]
        haystack += [f"{c.scheme}:{c.value} {c.meaning}" for c in codes if c]
        if any(key in normalise(text) for text in haystack):
            found.append(structure)
    return found


@cache
def presets() -> dict[str, dict[int, str]]:
    """Label maps models write: preset name → {label value: structure name}.

    ``totalsegmentator`` (v2's ``total`` task, 117 classes), ``totalsegmentator-v1`` (104, the
    numbering of IDC's TotalSegmentator SEGs) and ``nnunet-bpr``.
    """
    text = resources.files(__package__).joinpath("data/label_presets.csv").read_text("utf-8")
    found: dict[str, dict[int, str]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        found.setdefault(row["preset"], {})[int(row["value"])] = row["name"]
    return found
