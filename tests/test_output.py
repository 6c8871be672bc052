"""Writing results: JSON values from a real DuckDB result, whatever their SQL type."""

from __future__ import annotations

import io
import json

import duckdb

from idcseg.present.output import Rows, write_result
from idcseg.present.output import _write_text as write_text
from idcseg.query.engines.duckdb import DuckDBResult


def _duckdb_result(sql: str) -> DuckDBResult:
    return DuckDBResult(duckdb.connect().execute(sql))


SQL = """
SELECT * FROM (VALUES
  ('1.2.3', 7, 2.5, 'nan'::DOUBLE, 1.25::DECIMAL(9, 2), DATE '2024-05-06', ['a', 'ß'], TRUE),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) AS t(uid, n, x, missing, price, day, names, flag)
"""
WANT = [
    {
        "uid": "1.2.3",
        "n": 7,
        "x": 2.5,
        "missing": None,
        "price": 1.25,
        "day": "2024-05-06",
        "names": ["a", "ß"],
        "flag": True,
    },
    dict.fromkeys(("uid", "n", "x", "missing", "price", "day", "names", "flag")),
]


def test_json_and_jsonl_values_by_type() -> None:
    for fmt in ("json", "jsonl"):
        out = io.StringIO()
        assert write_text(_duckdb_result(SQL).columns, _duckdb_result(SQL), fmt, out) == 2
        text = out.getvalue()
        got = json.loads(text) if fmt == "json" else [json.loads(x) for x in text.splitlines()]
        assert got == WANT
        assert "NaN" not in text and "ß" in text  # valid JSON, UTF-8 as it is


def test_rows_without_sql_types_are_converted_alike() -> None:
    result = _duckdb_result(SQL)
    rows = Rows(result.columns, result.rows())
    out = io.StringIO()
    write_text(rows.columns, rows, "jsonl", out)
    assert [json.loads(x) for x in out.getvalue().splitlines()] == WANT


def test_an_empty_json_result_is_an_empty_list(tmp_path) -> None:  # noqa: ANN001
    target = tmp_path / "empty.json"
    write_result(_duckdb_result("SELECT 1 AS a WHERE FALSE"), "json", target)
    assert json.loads(target.read_text()) == []
