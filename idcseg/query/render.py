"""Render ``sql/`` templates into BigQuery Standard SQL.

Jinja decides structure only: which clauses exist, which dataset is read, and the one dialect
difference (``seg_series()`` in ``macros.sql``). Values stay ``@parameters``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from functools import cache
from pathlib import Path

from ..errors import UsageError
from .spec import Query, validate_dataset

TARGETS = ("bigquery", "duckdb")


@cache
def template_dir() -> Path:
    """The ``sql/`` folder: inside the installed package, or beside it in a source checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "sql", package.parent / "sql"):
        if (candidate / "macros" / "idc.sql").is_file():
            return candidate
    raise FileNotFoundError("idcseg's sql/ templates are missing from this installation")


def template_names() -> list[str]:
    """User-facing templates (macros excluded), without the ``.sql`` suffix."""
    return sorted(p.stem for p in template_dir().glob("*.sql") if p.name != "macros.sql")


@cache
def fingerprint() -> str:
    """A hash of every template file: caches of rendered SQL are keyed by it."""
    digest = hashlib.sha256()
    for path in sorted(template_dir().rglob("*.sql")):
        digest.update(path.relative_to(template_dir()).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(query: Query, *, dataset: str, target: str) -> str:
    """Identify the SQL text of *query* without rendering it (values are not part of it)."""
    blob = json.dumps(
        [fingerprint(), query.template, query.structure, dataset, target], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@cache
def _environment():  # noqa: ANN202 - jinja2 is imported only when a template is rendered
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        autoescape=False,
        keep_trailing_newline=True,
    )


def render(
    query: Query,
    *,
    dataset: str = "idc_current",
    target: str = "bigquery",
    columns: Mapping[str, Collection[str]] | None = None,
) -> str:
    """Render *query*'s template as BigQuery SQL for ``bigquery-public-data.<dataset>``.

    ``target="duckdb"`` renders the form the embedded engine transpiles (see ``seg_series`` in
    ``macros/idc.sql``). *columns* maps an IDC table to the column paths it has in this release
    (``"SegmentedPropertyType.CodeValue"``; a REPEATED field also as ``"path[]"``); templates
    adapt with ``has(table, column)`` and ``repeated(table, column, unknown)``, and a query that
    cannot do without a column fails through ``need(table, column)``. An empty set means the
    release has no such table. ``None`` means every column exists, each of the type the
    newest release gives it (``repeated`` answers ``unknown``).
    """
    dataset = validate_dataset(dataset)
    if target not in TARGETS:
        raise ValueError(f"unknown render target {target!r}")
    import jinja2

    name = query.template if query.template.endswith(".sql") else f"{query.template}.sql"
    try:
        template = _environment().get_template(name)
    except jinja2.TemplateNotFound:
        raise UsageError(
            f"no template {query.template!r} (choose from {', '.join(template_names())})"
        ) from None

    def has(table: str, column: str) -> bool:
        return columns is None or table not in columns or column in columns[table]

    def repeated(table: str, column: str, unknown: bool = False) -> bool:
        if columns is None or not columns.get(table):
            return unknown  # what the newest release has, as the template says
        return f"{column}[]" in columns[table]

    def need(table: str, column: str) -> str:
        if not has(table, column):
            raise UsageError(
                f"IDC release {dataset} has no column {table}.{column}, which this query needs; "
                "choose a newer release with --idc-version"
            )
        return ""

    sql = template.render(
        dataset=dataset,
        target=target,
        has=has,
        repeated=repeated,
        need=need,
        **query.structure,
    )
    return _tidy(sql)


def literal(value: object) -> str:
    """A DuckDB string literal, for file paths in ``sql/duckdb/`` statements (never user values)."""
    return "'" + str(value).replace("'", "''") + "'"


def duckdb_statement(name: str, **context: object) -> str:
    """Render ``sql/duckdb/<name>.sql`` (the embedded engine's own DuckDB SQL) with *context*.

    Paths in *context* enter the SQL only through the ``literal`` filter.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["literal"] = literal
    return env.get_template(f"duckdb/{name}.sql").render(**context)


def _tidy(sql: str) -> str:
    lines = [line.rstrip() for line in sql.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"
