"""Read back the ``segments.json`` that ``idcseg masks`` writes beside its mask files.

Masks written by ``idcseg masks`` (or :meth:`idcseg.Masks.to_nifti`) carry a sidecar describing
every segment: label, codes (category, structure, anatomic region and their modifiers),
algorithm, tracking identifiers and colour, and which file (and, for a merged label map, which
voxel value) holds it. ``make-seg`` given those files, and nothing else describing them, uses
it: the segments go back into a SEG as they came out, without ``--labels`` or ``--meta``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .segmentspec import ALGORITHM_TYPES, SegmentSpec
from .structures import Code

SIDECAR = "segments.json"


def describe(paths: list[Path]) -> list[list[SegmentSpec]] | None:
    """Per mask file (in *paths*' order), its segments as the sidecar of their folder describes
    them; None when the files are not all in one folder whose ``segments.json`` lists each.

    Raises UsageError when that ``segments.json`` is there but unreadable or malformed: it names
    the file, so the user can repair or delete it, or describe the segments another way.
    """
    folders = {p.resolve().parent for p in paths}
    if len(folders) != 1:
        return None
    path = folders.pop() / SIDECAR
    if not path.is_file():
        return None
    entries = _entries(path)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_file.setdefault(str(entry.get("file")), []).append(entry)
    if any(p.name not in by_file for p in paths):
        return None  # masks from elsewhere, renamed or added: the sidecar does not describe them
    return [
        [_segment(entry, index, path) for entry in by_file[p.name]] for index, p in enumerate(paths)
    ]


def _entries(path: Path) -> list[dict[str, Any]]:
    def broken(why: str) -> UsageError:
        return UsageError(
            f"{path} {why}: repair or delete it, or describe the segments with --labels or --meta"
        )

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise broken(f"cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise broken("is not the JSON `idcseg masks` writes") from None
    segments = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        raise broken("has no list of segments")
    return segments


def _segment(entry: dict[str, Any], file_index: int, path: Path) -> SegmentSpec:
    where = f"{path}: segment {entry.get('SegmentNumber')!r}"
    category = _code(entry.get("category"), where)
    kind = _code(entry.get("structure"), where)
    if category is None or kind is None:
        raise UsageError(f"{where} has no category or structure code; describe it with --meta")
    structure_modifier = entry.get("structure_modifier")
    if "structure_modifier" not in entry and entry.get("modifiers"):
        structure_modifier = entry["modifiers"][0]  # sidecars before the split: laterality
    algorithm_type = str(entry.get("SegmentAlgorithmType") or "MANUAL").upper()
    if algorithm_type not in ALGORITHM_TYPES:
        raise UsageError(f"{where}: SegmentAlgorithmType {algorithm_type!r} is not valid")
    label_value = entry.get("label_value", 1)
    if isinstance(label_value, bool) or not isinstance(label_value, int) or label_value < 1:
        raise UsageError(f"{where}: label_value {label_value!r} is not a positive whole number")
    rgb = entry.get("recommended_display_rgb")
    return SegmentSpec(
        file_index=file_index,
        label_value=label_value,
        label=str(entry.get("SegmentLabel") or kind.meaning),
        category=category,
        type=kind,
        type_modifier=_code(structure_modifier, where),
        region=_code(entry.get("anatomy"), where),
        region_modifier=_code(entry.get("anatomy_modifier"), where),
        algorithm_type=algorithm_type,
        algorithm_name=entry.get("SegmentAlgorithmName") or None,
        description=entry.get("SegmentDescription") or None,
        rgb=tuple(int(v) for v in rgb) if isinstance(rgb, list) and len(rgb) == 3 else None,  # type: ignore[arg-type]
        tracking_id=entry.get("TrackingID") or None,
        tracking_uid=entry.get("TrackingUID") or None,
    )


def _code(value: Any, where: str) -> Code | None:
    """``{"code": "SCHEME:VALUE", "meaning": ...}`` → Code; None for none."""
    if value is None:
        return None
    text = value.get("code") if isinstance(value, dict) else None
    if not isinstance(text, str) or ":" not in text:
        raise UsageError(f"{where}: {value!r} is not a code (SCHEME:VALUE and its meaning)")
    scheme, code_value = text.split(":", 1)
    return Code(scheme, code_value, str(value.get("meaning") or code_value))
