"""Segment-level commands: find, facets, ingest, describe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
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


@app.command()
@engine_options
@segment_filters
@segment_series_filters
@display_options
def find(
    engine: Any,
    filters: Any,
    segment_filter: Any,
    display: Any,
    per: Annotated[
        str, typer.Option("--per", help="segment (one row each) or series (segments aggregated).")
    ] = "segment",
    viewer: Annotated[
        str,
        typer.Option(
            "--viewer",
            help="viewer_url opens each SEG over the series it segments in ohif_v3 (IDC's own "
            "link since v24; default) or ohif_v2 (IDC's link before v24).",
            rich_help_panel="Output",
        ),
    ] = "ohif_v3",
    fetch_missing: Annotated[
        bool,
        typer.Option(
            "--fetch-missing",
            help="First read the headers of matching IDC SEG series the store lacks from IDC's "
            "public buckets (counts them first; above 50 series asks, or needs --yes).",
        ),
    ] = False,
    with_measurements: Annotated[
        bool,
        typer.Option(
            "--with-measurements",
            help="Add the segments' measurements from TID 1500 SRs: one column per quantity "
            "(named with its units, e.g. 'Volume [mm3]') and per rated concept (e.g. "
            "'Malignancy'); see `idcseg measurements`.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="With --fetch-missing: fetch however many, no question."),
    ] = False,
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
      idcseg find --structure Kidney --body-part ABDOMEN --sop-class labelmap
      idcseg find --collection qin_lung_ct --structure Nodule --fetch-missing
      idcseg find --structure Nodule --with-measurements --format csv
    """
    from ..query.spec import find_query

    if yes and not fetch_missing:
        raise UsageError("--yes answers --fetch-missing's question: add --fetch-missing")
    if with_measurements and per != "segment":
        raise UsageError("--with-measurements adds columns to segment rows: use --per segment")
    query = find_query(filters, segment_filter, per=per, limit=limit, viewer=viewer)
    if fetch_missing:
        _fetch_missing(filters, engine, yes)
    if with_measurements:
        from .measurements import find_with_measurements

        find_with_measurements(query, filters, segment_filter, engine, fmt, output, display)
        return
    emit(query, engine, fmt, output, display, on_empty=_say_the_store_is_empty)


def _say_the_store_is_empty(engine: Any) -> None:
    """After an empty answer: if the local store holds no segments at all, say how to add some."""
    import sys

    if engine.name != "duckdb" or engine.stored_segments():
        return
    print(
        f"idcseg: the local store ({engine.store.path}) holds no segments yet, so there is "
        "nothing to search. Add some: `idcseg ingest FOLDER` (your SEG files), `idcseg "
        "fetch-segments --collection ID` (IDC's SEGs, read from its public buckets) or "
        "`idcseg sync --collection ID` (from BigQuery); `--fetch-missing` fetches what a "
        "`find` needs. `idcseg series` answers for all of IDC without them.",
        file=sys.stderr,
    )


def _fetch_missing(filters: Any, engine: Any, yes: bool = False) -> None:
    """Fetch what `find --fetch-missing` needs (before any engine opens the store here)."""
    import sys

    from ..errors import UsageError
    from ..remote.fetch import fetch_missing
    from .fetch import confirm_on_terminal

    if engine.engine != "duckdb":
        raise UsageError("--fetch-missing fills the embedded engine's store (--engine duckdb)")
    report = fetch_missing(filters, confirm=confirm_on_terminal, yes=yes)
    if report.series_total or report.missing:
        print(report.summary(), file=sys.stderr)


@app.command()
@engine_options
@segment_filters
@segment_series_filters
@display_options
def facets(
    engine: Any,
    filters: Any,
    segment_filter: Any,
    display: Any,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="structure, category, anatomy, modifier, algorithm_type or algorithm_name.",
        ),
    ] = "structure",
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="segment: count stored segments (and their series). series: count SEG series "
            "of all of IDC in IDC's seg_index (meanings only; fetched on first use).",
        ),
    ] = "segment",
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Also draw the counts as a bar chart into FILE (.png or .svg; the 30 "
            "largest unless --limit; needs idcseg[plot]).",
            rich_help_panel="Output",
        ),
    ] = None,
) -> None:
    """Count segments and SEG series per structure, anatomy, algorithm... (largest first).

    \b
    Examples:
      idcseg facets --by structure --limit 10
      idcseg facets --by algorithm_name --structure Liver
      idcseg facets --level series --by structure --collection nlst --limit 20
      idcseg facets --by anatomy --plot anatomy.png
    """
    from ..query.spec import facets_query

    facet = by.replace("-", "_")
    if level == "series":
        query = _series_facets(filters, segment_filter, by, limit)
    elif level == "segment":
        query = facets_query(filters, segment_filter, by=facet, limit=limit)
    else:
        raise UsageError(f"unknown --level {level!r} (choose from segment, series)")
    if plot is None:
        on_empty = _say_the_store_is_empty if level == "segment" else None
        emit(query, engine, fmt, output, display, on_empty=on_empty)
        return
    _facets_with_plot(query, engine, fmt, output, plot, facet, level, limit, display)


PLOT_TOP = 30  # bars drawn by --plot without --limit (the table still lists every row)


def _facets_with_plot(
    query: Any,
    choice: Any,
    fmt: str,
    output: Path | None,
    target: Path,
    facet: str,
    level: str,
    limit: int | None,
    display: Any = None,
) -> None:
    """`emit`, then the rows as a bar chart in *target*; every check runs before the query."""
    import sys

    from ..present.output import Rows, check_target, write_result
    from ..present.plot import PLOT_SUFFIXES, require_matplotlib

    check_target(fmt, output)
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"cannot plot to {target}: the name must end in .png or .svg")
    check_target("csv", target)  # folder exists, writable, not a folder itself
    if output is not None and output.resolve() == target.resolve():
        raise UsageError("--plot and --output name the same file")
    require_matplotlib()
    engine = choice.create()
    if choice.dry_run:
        print(f"dry run: this query would scan {engine.estimate(query)}", file=sys.stderr)
        return
    result = engine.run(query)  # a result is fetched once: keep its rows for both uses
    if fmt == "parquet":
        table = result.to_arrow()
        fetched: Any = _ArrowRows(table)
    else:
        fetched = Rows(result.columns, result.rows())
    write_result(fetched, fmt, output, display=display)

    import matplotlib

    matplotlib.use("Agg")  # no display needed, whatever the environment says
    from ..present.plot import plot_rows, save_figure

    what = "SEG series" if level == "series" else "Segments"
    figure = plot_rows(
        fetched.columns,
        fetched.rows(),
        value="value",
        count="series_count" if level == "series" else "segment_count",
        title=f"{what} per {facet.replace('_', ' ')}",
        top=limit or PLOT_TOP,
    )
    save_figure(figure, target)
    print(f"plot written to {target}", file=sys.stderr)


class _ArrowRows:
    """A fetched pyarrow Table in the shape `write_result` expects (parquet keeps its types)."""

    def __init__(self, table: Any) -> None:
        self.table, self.columns = table, list(table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in self.table.to_pylist()]

    def to_arrow(self) -> Any:
        return self.table


def _series_facets(filters: Any, segment_filter: Any, by: str, limit: int | None) -> Any:
    """The series-level facets query: segment filter terms become seg_index filters."""
    from dataclasses import replace

    from ..errors import UsageError
    from ..query.spec import SeriesFilter, series_facets_query

    if segment_filter.modifier:
        raise UsageError("--modifier is not in IDC's seg_index; use --level segment")
    terms = {
        name: getattr(segment_filter, name).terms
        for name in ("structure", "category", "anatomy")
        if getattr(segment_filter, name)
    }
    indexed = SeriesFilter.build(
        **terms,
        algorithm_type=segment_filter.algorithm_type,
        algorithm_name=segment_filter.algorithm_name,
    )
    merged = replace(
        filters,
        structure=indexed.structure,
        category=indexed.category,
        anatomy=indexed.anatomy,
        algorithm_type=indexed.algorithm_type,
        algorithm_name=indexed.algorithm_name,
    )
    return series_facets_query(merged, by=by.replace("-", "_"), limit=limit)


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="SEG and SR files, or folders (searched recursively)."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Re-read files even if unchanged since last ingest.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress line.")] = False,
) -> None:
    """Store the segments of DICOM SEG files and the measurements of TID 1500 SRs, for `find`,
    `facets` and `measurements` to search offline.

    Reads only each SEG's header (before the per-frame data and pixels), and each SR's
    measurement groups (Comprehensive 3D, Comprehensive, Enhanced SR… with the TID 1500
    Measurement Report template). Re-ingesting a file replaces its rows; unchanged files are
    skipped, so a rerun after Ctrl-C continues. Files that are neither (the images beside them)
    are skipped and counted, SRs of other templates listed as skipped; truncated, malformed or
    unreadable files are listed with a reason and make the exit code 1.

    \b
    Examples:
      idcseg ingest ~/Downloads/idc_segs
      idcseg ingest seg1.dcm seg2.dcm --force
    """
    import sys

    from ..local.ingest import IngestInterrupted
    from ..local.ingest import ingest as run_ingest

    try:
        report = run_ingest([str(p) for p in paths], force=force, progress=False if quiet else None)
    except IngestInterrupted as stopped:
        print(stopped.report.summary(), file=sys.stderr)
        raise typer.Exit(130) from None
    from ..errors import printable

    for path, reason in report.skipped("NotMeasurementReport"):
        print(f"skipped {printable(path)}: {printable(reason)}", file=sys.stderr)
    for path, reason in report.errors:
        print(f"failed {printable(path)}: {printable(reason)}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    if report.errors:
        raise typer.Exit(1)


@app.command()
@display_options
def describe(
    display: Any,
    path: Annotated[Path, typer.Argument(help="A DICOM SEG file.")],
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Show the segment table of one SEG file, without storing anything.

    \b
    Example:
      idcseg describe seg.dcm --format json
    """
    from ..dicom.segheader import describe_table
    from ..errors import IdcsegError
    from ..present.output import Rows, write_result

    try:
        columns, rows = describe_table(path)
    except OSError as exc:
        raise IdcsegError(f"cannot read {path}: {exc.strerror or exc}") from None
    except IdcsegError as exc:
        raise IdcsegError(f"{path}: {exc}") from None
    write_result(Rows(columns, rows), fmt, output, display=display)
