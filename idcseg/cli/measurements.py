"""``idcseg measurements``: what each segment measures and how readers rated it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .app import (
    FormatOpt,
    LimitOpt,
    OutputOpt,
    app,
    display_options,
    emit,
    engine_options,
    segment_filters,
    segment_series_filters,
)

_MEASURE = "Measurement filters"
NARROW_MAX = 10_000  # SEG series named in the measurements query of find --with-measurements


@app.command()
@engine_options
@segment_filters
@segment_series_filters
@display_options
def measurements(
    engine: Any,
    filters: Any,
    segment_filter: Any,
    display: Any,
    quantity: Annotated[
        list[str] | None,
        typer.Option(
            "--quantity",
            "-q",
            help="What is measured or rated: a meaning (any case, e.g. Volume, Malignancy) or "
            "SCHEME:VALUE (SRT:G-D705; SNOMED-RT and SNOMED-CT codes match each other).",
            rich_help_panel=_MEASURE,
        ),
    ] = None,
    minimum: Annotated[
        str | None,
        typer.Option(
            "--min", help="Values ≥ this (needs one --quantity).", rich_help_panel=_MEASURE
        ),
    ] = None,
    maximum: Annotated[
        str | None,
        typer.Option(
            "--max", help="Values ≤ this (needs one --quantity).", rich_help_panel=_MEASURE
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            help="Convert values to this UCUM unit first (mm, cm, mm2, mm3, ml, …); values in "
            "other kinds of units are left out. Default: as each SR states them.",
            rich_help_panel=_MEASURE,
        ),
    ] = None,
    evaluation: Annotated[
        list[str] | None,
        typer.Option(
            "--evaluation",
            "-e",
            help="CONCEPT=VALUE: the measurement group has this rating (meanings, any case, or "
            "SCHEME:VALUE codes); CONCEPT~TEXT: the value's meaning contains TEXT. Repeat: "
            "values of one concept are alternatives, different concepts must all hold.",
            rich_help_panel=_MEASURE,
        ),
    ] = None,
    kind: Annotated[
        str,
        typer.Option("--kind", help="all, quantitative or qualitative.", rich_help_panel=_MEASURE),
    ] = "all",
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """List measurements of segments from TID 1500 SRs: volumes, diameters, readers' ratings.

    One row per measurement with its segment (SEG series and instance, segment number, label,
    structure), finding, finding site, quantity, value and UCUM units (quantitative) or the
    value's meaning (qualitative), and a viewer link. Searches IDC's measurement tables: on the
    embedded engine, the SRs you ingested, fetched (fetch-segments --with-measurements) or
    synced (sync --measurements); on BigQuery, all of IDC. Measurements whose segment is not
    stored have empty segment columns (and no segment or series filter can match them).

    \b
    Examples:
      idcseg measurements --quantity Volume --min 500 --unit mm3
      idcseg measurements --evaluation "Malignancy~suspicious" --quantity Volume
      idcseg measurements -e "Malignancy=99LIDCQIICR:905" -e "Calcification=Absent"
      idcseg measurements --collection lidc_idri --kind qualitative --format csv -o ratings.csv
    """
    from ..query.spec import MeasurementFilter, measurements_query

    m = MeasurementFilter.build(
        quantity=quantity, min=minimum, max=maximum, unit=unit, evaluation=evaluation, kind=kind
    )
    emit(
        measurements_query(filters, segment_filter, m, limit),
        engine,
        fmt,
        output,
        display,
        on_empty=lambda engine: _say_why_none(engine, m),
    )


def _say_why_none(engine: Any, m: Any) -> None:
    """After an empty answer: an empty store says how to fill it; an ``=`` evaluation whose
    value is a meaning says that it compares whole meanings, and how to match part of one."""
    import shlex
    import sys

    if engine.name == "duckdb" and not engine.stored_measurements():
        print(
            f"idcseg: the local store ({engine.store.path}) holds no measurements yet. Add "
            "some: `idcseg ingest FOLDER` (TID 1500 SR files, beside or with your SEGs), "
            "`idcseg fetch-segments --collection ID --with-measurements` (IDC's SRs, from its "
            "public buckets) or `idcseg sync --measurements` (from BigQuery).",
            file=sys.stderr,
        )
        return
    for evaluation in m.evaluations:
        if evaluation.values is None or not evaluation.values.meanings:
            continue
        concept, value = evaluation.concept.term, evaluation.values.terms[0]
        print(
            f"idcseg: --evaluation {concept}={value} matches a value's whole meaning (any "
            "case), e.g. '5 out of 5 (Highly Suspicious for Cancer)' as LIDC-IDRI's SRs spell "
            f"it; to match part of one: --evaluation {shlex.quote(f'{concept}~{value}')}; "
            f"`idcseg measurements --quantity {shlex.quote(concept)} --kind qualitative` lists "
            "the values stored.",
            file=sys.stderr,
        )
        return


def find_with_measurements(
    find_query: Any,
    filters: Any,
    segment_filter: Any,
    choice: Any,
    fmt: str,
    output: Path | None,
    display: Any = None,
) -> None:
    """`find --with-measurements`: segment rows, widened with their measurements' columns (a
    table on a narrow terminal shows them beside the readable segment columns)."""
    import sys

    from ..present.measurement_columns import widen
    from ..present.output import Display, Rows, check_target, write_result
    from ..query.spec import MeasurementFilter, measurements_query

    check_target(fmt, output)
    engine = choice.create()
    everything = MeasurementFilter()
    if choice.dry_run:
        sql = measurements_query(filters, segment_filter, everything, linked=True)
        print(f"dry run: the segments would scan {engine.estimate(find_query)}", file=sys.stderr)
        print(f"dry run: their measurements would scan {engine.estimate(sql)}", file=sys.stderr)
        return
    found = engine.run(find_query)
    columns, rows = found.columns, found.rows()
    series = sorted({r[columns.index("SeriesInstanceUID")] for r in rows})
    measured_columns: list[str] = []
    measured: list[tuple[Any, ...]] = []
    if series:
        # the measurements of the segments found (all of them when there are too many to list)
        narrowed = replace(filters, series=tuple(series)) if len(series) <= NARROW_MAX else filters
        result = engine.run(measurements_query(narrowed, segment_filter, everything, linked=True))
        measured_columns, measured = result.columns, result.rows()
    wide_columns, wide_rows, _ = widen(columns, rows, measured_columns, measured)
    preview = "limit" not in find_query.params
    display = replace(display or Display(), also=tuple(wide_columns[len(columns) :]))
    write_result(Rows(wide_columns, wide_rows), fmt, output, preview=preview, display=display)
