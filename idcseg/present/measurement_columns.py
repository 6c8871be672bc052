"""Measurements as columns of segment rows (``idcseg find --with-measurements``).

Each segment row gains one column per quantity, named with its derivation and units
(``Volume [mm3]``, ``SUVbw (Mean) [{SUVbw}g/ml]``), holding the value, and one per qualitative
concept (``Malignancy``) holding the value's meaning; ``measurement_groups`` counts the SR
measurement groups linked to the segment. When several groups measure one segment (two readers'
reports of the same SEG), a column holds the first group's value, in the order of
``sql/measurements.sql`` (SR instance, then group number); ``idcseg measurements`` lists them
all. Plain Python: no pandas on the command line.
"""

from __future__ import annotations

from typing import Any

COUNT_COLUMN = "measurement_groups"


def column_name(row: dict[str, Any]) -> str:
    """The wide column a measurement row goes to."""
    name = row.get("quantity") or row.get("quantity_code") or "(unnamed)"
    if row["kind"] == "qualitative":
        return str(name)
    if row.get("derivation"):
        name = f"{name} ({row['derivation']})"
    return f"{name} [{row['units']}]" if row.get("units") else str(name)


def widen(
    columns: list[str],
    rows: list[tuple[Any, ...]],
    measurement_columns: list[str],
    measurement_rows: list[tuple[Any, ...]],
) -> tuple[list[str], list[tuple[Any, ...]], dict[str, str]]:
    """*rows* (with ``SOPInstanceUID`` and ``SegmentNumber``) with the measurements' columns.

    Returns the columns, the rows, and the kind of each added column (``float``, ``string`` or
    ``int``): quantitative columns first, then qualitative ones, each in alphabetical order.
    """
    values: dict[tuple[str, int], dict[str, Any]] = {}
    groups: dict[tuple[str, int], set[tuple[str, int]]] = {}
    numeric: dict[str, None] = {}
    coded: dict[str, None] = {}
    for raw in measurement_rows:
        row = dict(zip(measurement_columns, raw, strict=True))
        if row["SOPInstanceUID"] is None:
            continue
        key = (row["SOPInstanceUID"], row["SegmentNumber"])
        name = column_name(row)
        if row["kind"] == "qualitative":
            coded.setdefault(name)
            value = row["value_meaning"]
        else:
            numeric.setdefault(name)
            value = row["value"]
        values.setdefault(key, {}).setdefault(name, value)
        group = (row["sr_SOPInstanceUID"], row["measurementGroup_number"])
        groups.setdefault(key, set()).add(group)
    taken = set(columns)
    added: list[tuple[str, str, str]] = []  # (source name, column name, kind)
    ordered = [
        *((n, "float") for n in sorted(numeric, key=str.lower)),
        *((n, "string") for n in sorted(coded, key=str.lower)),
    ]
    for name, kind in ordered:
        shown = name if name not in taken else f"{name} (measurement)"
        taken.add(shown)
        added.append((name, shown, kind))
    sop, number = columns.index("SOPInstanceUID"), columns.index("SegmentNumber")
    out = []
    for row in rows:
        key = (row[sop], row[number])
        found = values.get(key, {})
        extra = [found.get(name) for name, _, _ in added]
        out.append((*row, *extra, len(groups.get(key, ()))))
    kinds = {shown: kind for _, shown, kind in added}
    kinds[COUNT_COLUMN] = "int"
    return [*columns, *(shown for _, shown, _ in added), COUNT_COLUMN], out, kinds
