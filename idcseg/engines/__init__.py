"""Query engines. Each runs a :class:`~idcseg.spec.Query` and returns a :class:`Result`.

- ``duckdb`` (default): embedded, offline, over IDC's index from idc-index-data and the local store.
- ``bigquery``: Google BigQuery on ``bigquery-public-data.idc_current`` / ``idc_vNN``.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import UsageError

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


def normalise_frame(frame: Any) -> Any:
    """Give a result frame stable nullable dtypes (string, Int64, Float64, boolean)."""
    return frame.convert_dtypes(dtype_backend="numpy_nullable")


def get_engine(name: str = "duckdb", **options: Any) -> Any:
    """Create the engine called *name* (``duckdb`` or ``bigquery``)."""
    if name == "duckdb":
        from .duckdb import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "bigquery":
        from .bigquery import BigQueryEngine

        return BigQueryEngine(**options)
    raise UsageError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")
