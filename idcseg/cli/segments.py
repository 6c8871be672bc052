"""Segment-level commands: find, facets (and, with the store, ingest and describe)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .app import (
    FormatOpt,
    LimitOpt,
    OutputOpt,
    app,
    emit,
    engine_options,
    segment_filters,
    segment_series_filters,
)


@app.command()
@engine_options
@segment_filters
@segment_series_filters
def find(
    engine: Any,
    filters: Any,
    segment_filter: Any,
    per: Annotated[
        str, typer.Option("--per", help="segment (one row each) or series (segments aggregated).")
    ] = "segment",
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Find segments by what they segment, where, and how — with viewer links.

    Searches the `segmentations` table: on the embedded engine, the segments you ingested,
    synced or fetched; on BigQuery, all of IDC.

    \b
    Examples:
      idcseg find --structure Nodule --algorithm-type AUTOMATIC
      idcseg find --structure SCT:10200004 --per series
      idcseg find --anatomy Kidney --modifier Left --format csv -o left_kidneys.csv
    """
    from ..spec import find_query

    emit(find_query(filters, segment_filter, per=per, limit=limit), engine, fmt, output)


@app.command()
@engine_options
@segment_filters
@segment_series_filters
def facets(
    engine: Any,
    filters: Any,
    segment_filter: Any,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="structure, category, anatomy, modifier, algorithm_type or algorithm_name.",
        ),
    ] = "structure",
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Count segments and SEG series per structure, anatomy, algorithm... (largest first).

    \b
    Examples:
      idcseg facets --by structure --limit 10
      idcseg facets --by algorithm_name --structure Liver
    """
    from ..spec import facets_query

    emit(
        facets_query(filters, segment_filter, by=by.replace("-", "_"), limit=limit),
        engine,
        fmt,
        output,
    )
