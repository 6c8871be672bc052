"""The UCUM units ``--unit`` converts between (``sql/macros/units.sql`` holds the same table).

SRs state each value's unit (``Units.CodeValue``, a UCUM code): LIDC-IDRI's volumes are in
``mm3``, QIN-HEADNECK's in ``ml``. ``--min``/``--max`` compare values as stored; with
``--unit U`` values in a unit of U's kind (length, area, volume) are converted to U first and
others are left out. A unit idcseg does not know is refused with the list below.
"""

from __future__ import annotations

from ..errors import UsageError

#: UCUM code → (kind, size in the kind's base unit: mm, mm2, mm3).
UNITS: dict[str, tuple[str, float]] = {
    "um": ("length", 0.001),
    "mm": ("length", 1.0),
    "cm": ("length", 10.0),
    "m": ("length", 1000.0),
    "mm2": ("area", 1.0),
    "cm2": ("area", 100.0),
    "m2": ("area", 1_000_000.0),
    "uL": ("volume", 1.0),
    "ul": ("volume", 1.0),
    "mm3": ("volume", 1.0),
    "mL": ("volume", 1000.0),
    "ml": ("volume", 1000.0),
    "cm3": ("volume", 1000.0),
    "L": ("volume", 1_000_000.0),
    "l": ("volume", 1_000_000.0),
    "m3": ("volume", 1_000_000_000.0),
}


def validate_unit(unit: str | None) -> str | None:
    """*unit* if idcseg can convert to it (UCUM codes are case-sensitive), else a UsageError."""
    if unit is None:
        return None
    text = str(unit).strip()
    if text in UNITS:
        return text
    known = ", ".join(UNITS)
    raise UsageError(
        f"unknown --unit {unit!r}: idcseg converts lengths, areas and volumes ({known}); "
        "leave --unit out to compare values in the units each SR states"
    )
