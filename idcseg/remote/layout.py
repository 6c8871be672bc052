"""Where downloaded files go: folder layouts made from index columns, and safe path parts.

A layout is a template such as
``{collection_id}/{PatientID}/{StudyInstanceUID}/{Modality}_{SeriesInstanceUID}``
(:data:`DEFAULT_LAYOUT`, the same idea as idc-index's ``dirTemplate``): ``/`` separates folders,
``{name}`` is replaced by the series' value of an index column (:data:`FIELDS`), anything else is
literal text. :func:`parse_layout` refuses unknown fields, braces that are not a field, absolute
layouts and ``..`` before anything is downloaded.

Values never choose where a file goes beyond their own folder level: :func:`safe_part` replaces
path separators, control characters and characters Windows forbids with ``_``, turns ``.`` and
``..`` into ``_``, and an empty or missing value into ``unknown``; overlong parts are cut (with a
short hash, so different values stay different).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..errors import UsageError

DEFAULT_LAYOUT = "{collection_id}/{PatientID}/{StudyInstanceUID}/{Modality}_{SeriesInstanceUID}"

#: The columns a layout may use (sql/download_series.sql returns them for every series).
FIELDS = (
    "collection_id",
    "analysis_result_id",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SOPClassUID",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesDate",
    "StudyDate",
    "StudyDescription",
    "BodyPartExamined",
    "Manufacturer",
    "crdc_series_uuid",
)
MISSING = "unknown"
MAX_PART_BYTES = 120
_FIELD = re.compile(r"\{([^{}]*)\}")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_part(value: Any) -> str:
    """One folder or file name made from *value*: never a separator, ``.``/``..`` or empty."""
    text = "" if value is None else str(value).strip()
    if not text:
        return MISSING
    text = _UNSAFE.sub("_", text)
    if text in (".", ".."):
        return "_" * len(text)
    raw = text.encode()
    if len(raw) > MAX_PART_BYTES:
        digest = hashlib.sha1(raw).hexdigest()[:8]
        cut = raw[: MAX_PART_BYTES - 9].decode(errors="ignore").rstrip()
        text = f"{cut}_{digest}"
    return text


@dataclass(frozen=True)
class Layout:
    """A parsed folder layout: one list of pieces per folder level.

    Each piece is ``(literal, field)``: the literal text, then the field's value (or ``None``).
    """

    template: str
    levels: tuple[tuple[tuple[str, str | None], ...], ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the layout uses, in order."""
        return tuple(f for level in self.levels for _, f in level if f)

    def folder(self, row: dict[str, Any]) -> PurePosixPath:
        """The relative folder of a series whose index columns are *row*."""
        parts = []
        for level in self.levels:
            # each value is made safe alone (a value's "/" never makes a folder), then joined
            # with the literal text around it
            pieces = []
            for lit, f in level:
                pieces.append(_UNSAFE.sub("_", lit))
                if f:
                    pieces.append(safe_part(row.get(f)))
            parts.append(safe_part("".join(pieces)))
        return PurePosixPath(*parts) if parts else PurePosixPath(".")


def parse_layout(template: str) -> Layout:
    """Check and parse a ``--layout`` template (see the module docstring)."""
    if not isinstance(template, str):
        raise UsageError(f"--layout must be text, not {template!r}")
    text = template.strip()
    if text in ("", "."):
        return Layout(text, ())
    if text.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", text):
        raise UsageError(f"--layout must be a relative path, not {template!r}")
    levels = []
    for level in text.split("/"):
        if level in ("", "."):
            continue
        if level == "..":
            raise UsageError(f"--layout may not climb out of the output folder (..): {template!r}")
        pieces: list[tuple[str, str | None]] = []
        position = 0
        for match in _FIELD.finditer(level):
            literal = level[position : match.start()]
            _no_braces(literal, template)
            name = match.group(1)
            if name not in FIELDS:
                raise UsageError(
                    f"--layout has an unknown field {{{name}}} (choose from "
                    + ", ".join(FIELDS)
                    + ")"
                )
            pieces.append((literal, name))
            position = match.end()
        tail = level[position:]
        _no_braces(tail, template)
        if tail:
            pieces.append((tail, None))
        levels.append(tuple(pieces))
    return Layout(text, tuple(levels))


def _no_braces(literal: str, template: str) -> None:
    if "{" in literal or "}" in literal:
        raise UsageError(
            f"--layout has a brace that is not a {{field}}: {template!r} "
            "(fields look like {PatientID})"
        )
