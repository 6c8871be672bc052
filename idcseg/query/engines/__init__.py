"""Query engines. Each runs a :class:`~idcseg.query.spec.Query` and returns a :class:`Result`.

- ``duckdb`` (default): embedded, offline, over IDC's index from idc-index-data and the local store.
- ``bigquery``: Google BigQuery on ``bigquery-public-data.idc_current`` / ``idc_vNN``.
"""

from __future__ import annotations

from typing import Any, Protocol

from ...errors import UsageError

ENGINES = ("duckdb", "bigquery")


class Result(Protocol):
    """Rows of one query. Fetch once, in the form you need."""

    columns: list[str]

    def rows(self) -> list[tuple[Any, ...]]:
        """All rows as tuples of Python values (no pandas needed)."""

    def to_pandas(self) -> Any:
        """All rows as a pandas DataFrame with nullable dtypes."""

    def to_arrow(self) -> Any:
        """All rows as a pyarrow Table."""


_DTYPES = {"string": "string", "int": "Int64", "float": "Float64", "bool": "boolean"}


def sql_kind(type_name: str) -> str:
    """``string``, ``int``, ``float``, ``bool`` or ``other`` for a DuckDB or BigQuery type name."""
    name = str(type_name).upper()
    if name.endswith("]") or name.startswith(("STRUCT", "RECORD", "MAP", "LIST", "ARRAY")):
        return "other"
    if name in ("VARCHAR", "STRING", "TEXT"):
        return "string"
    if name in (
        "BIGINT",
        "INTEGER",
        "INT64",
        "INT",
        "HUGEINT",
        "SMALLINT",
        "TINYINT",
        "UBIGINT",
        "UINTEGER",
    ):
        return "int"
    if name in ("DOUBLE", "FLOAT", "FLOAT64", "REAL", "NUMERIC", "BIGNUMERIC") or name.startswith(
        "DECIMAL"
    ):
        return "float"
    if name in ("BOOLEAN", "BOOL"):
        return "bool"
    return "other"


def normalise_frame(frame: Any, kinds: dict[str, str] | None = None) -> Any:
    """Give a result frame stable nullable dtypes (string, Int64, Float64, boolean).

    *kinds* (column → :func:`sql_kind`) comes from the result's SQL types, so a column that
    happens to hold only NULLs still gets its type; without it, dtypes are inferred.
    """
    frame = frame.convert_dtypes(dtype_backend="numpy_nullable")
    for column in frame.columns:
        kind = (kinds or {}).get(str(column))
        if kind in _DTYPES:
            frame[column] = frame[column].astype(_DTYPES[kind])
        elif kind is None and frame[column].dtype == object and frame[column].isna().all():
            frame[column] = frame[column].astype("string")
    return frame


def get_engine(name: str = "duckdb", **options: Any) -> Any:
    """Create the engine called *name* (``duckdb`` or ``bigquery``)."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "bigquery":
        from .bigquery import BigQueryEngine

        return BigQueryEngine(**options)
    raise UsageError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
