"""Series-level commands: series, random, summary, url, sql, info."""

from __future__ import annotations

import sys
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
    series_filters,
)


@app.command()
@engine_options
@series_filters
@display_options
def series(
    engine: Any,
    filters: Any,
    display: Any,
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """List DICOM Segmentation series, one row each, with a viewer link.

    \b
    Examples:
      idcseg series --analysis-result dicom_lidc_idri_nodules --limit 5
      idcseg series --collection nlst --body-part CHEST --format csv -o nlst.csv
      idcseg series --sop-class labelmap --format json
    """
    from ..query.spec import series_query

    count = emit(series_query(filters, limit), engine, fmt, output, display)
    if count and engine.engine == "duckdb" and not engine.dry_run:
        _note_missing_seg_index()


SEG_INDEX_COLUMNS = (
    "SegmentationType",
    "total_segments",
    "AlgorithmType",
    "AlgorithmName",
    "segmented_SeriesInstanceUID",
    "segmented_Modality",
)
_NOTED = ".seg_index_columns_noted"  # in the store folder, once the note below was shown


def _note_missing_seg_index() -> None:
    """Say once per store why the segment columns of IDC's series are empty, and how to fill
    them (``idcseg index fetch``), while IDC's seg_index is not stored."""
    from ..local.store import home
    from ..remote import segindex

    folder = home()
    marker = folder / _NOTED
    if marker.exists() or segindex.path(folder=folder) is not None:
        return
    print(
        f"idcseg: {', '.join(SEG_INDEX_COLUMNS[:-1])} and {SEG_INDEX_COLUMNS[-1]} come from "
        "IDC's seg_index, which is not stored yet, so they are empty for IDC's series: "
        "`idcseg index fetch` stores it once (~6 MB); a segment filter (--structure ...) "
        "fetches it too. (Said once.)",
        file=sys.stderr,
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
    except OSError:
        pass


@app.command()
@engine_options
@series_filters
@display_options
def random(
    engine: Any,
    filters: Any,
    display: Any,
    n: Annotated[int, typer.Option("-n", help="Number of distinct studies.")] = 1,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Same seed, same studies, on any machine.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="url (default), table, csv, json or jsonl.")
    ] = "url",
    output: OutputOpt = None,
) -> None:
    """Open random studies that contain a segmentation: prints viewer links.

    \b
    Examples:
      idcseg random --collection lidc_idri
      idcseg random -n 3 --seed 42 --analysis-result totalsegmentator_ct_segmentations
    """
    import secrets

    from ..query.spec import explain_empty, random_query

    chosen = secrets.randbelow(1_000_000) if seed is None else seed
    query = random_query(filters, n=n, seed=chosen)
    if seed is None:
        print(f"seed {chosen} (use --seed {chosen} to get the same studies again)", file=sys.stderr)
    fmt = fmt.lower()
    if fmt == "url" and not engine.dry_run:
        created = engine.create()
        _print_urls(created.run(query), output, explain=lambda: explain_empty(created, query))
    else:
        emit(query, engine, fmt, output, display)


def _print_urls(
    result: Any, output: Path | None, column: str = "viewer_url", explain: Any = None
) -> None:
    from ..errors import IdcsegError
    from ..present.output import write_text

    index = result.columns.index(column)
    urls = [row[index] for row in result.rows() if row[index]]
    if not urls:
        if explain is not None:
            explain()
        raise IdcsegError("nothing matched: no viewer link to print")
    write_text("".join(f"{u}\n" for u in urls), output)


@app.command()
@engine_options
@series_filters
@display_options
def summary(
    engine: Any,
    filters: Any,
    display: Any,
    by: Annotated[str, typer.Option("--by", help="collection or analysis_result.")] = "collection",
    limit: LimitOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
) -> None:
    """Count SEG series, studies and patients per collection or analysis result.

    \b
    Examples:
      idcseg summary
      idcseg summary --by analysis_result --sop-class labelmap
    """
    from ..query.spec import summary_query

    emit(
        summary_query(filters, by=by.replace("-", "_"), limit=limit),
        engine,
        fmt,
        output,
        display,
    )


VIEWERS = {
    "auto": "viewer_url",
    "ohif_v3": "ohif_v3_url",
    "ohif_v2": "ohif_v2_url",
    "slim": "slim_url",
    "seg": "seg_viewer_url",
    "seg_v2": "seg_ohif_v2_url",
}


@app.command()
@engine_options
@display_options
def url(
    engine: Any,
    display: Any,
    study: Annotated[str, typer.Argument(help="StudyInstanceUID.")],
    series_uids: Annotated[
        list[str] | None, typer.Argument(metavar="[SERIES_UID]...", help="SeriesInstanceUIDs.")
    ] = None,
    viewer: Annotated[
        str,
        typer.Option(
            "--viewer",
            help="auto (Slim for slide microscopy, else OHIF v3), ohif_v3, ohif_v2, slim, "
            "seg (a SEG opened over the series it segments, OHIF v3 as IDC links it since "
            "v24) or seg_v2 (the same in OHIF v2, IDC's link before v24).",
        ),
    ] = "auto",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="url (default): links only; or table, csv, json.")
    ] = "url",
    output: OutputOpt = None,
) -> None:
    """Print IDC viewer links for a study, or for some of its series.

    \b
    Examples:
      idcseg url 1.3.6.1.4.1.14519.5.2.1.6279.6001.298806137288633453246975630178
      idcseg url STUDY_UID SERIES_UID --viewer ohif_v2
      idcseg url STUDY_UID SERIES_UID --format table
    """
    from ..errors import IdcsegError, UsageError
    from ..query.spec import viewer_urls_problem, viewer_urls_query

    viewer = viewer.lower()
    if viewer not in VIEWERS:
        raise UsageError(f"unknown --viewer {viewer!r} (choose from {', '.join(VIEWERS)})")
    wanted = list(series_uids or [])
    query = viewer_urls_query(study, wanted)
    if engine.dry_run:
        emit(query, engine, "table", None)
        return
    result = engine.create().run(query)
    rows = result.rows()
    problem = viewer_urls_problem(study, result.columns, rows)
    if problem is not None:
        raise IdcsegError(problem)
    column = VIEWERS[viewer]
    index = result.columns.index(column)
    fmt = fmt.lower()
    if fmt == "url":
        empty = [row for row in rows if not row[index]]
        if empty:
            why = {
                "slim": "the study holds no slide microscopy",
                "seg": "it is not a DICOM Segmentation",
                "seg_v2": "it is not a SEG whose segmented series is known "
                "(ingest or sync it first)",
            }[viewer]
            raise IdcsegError(f"no {viewer} link for {empty[0][1] or study}: {why}")
        from ..present.output import write_text

        write_text("".join(f"{row[index]}\n" for row in rows), output)
        return
    from ..present.output import Rows, write_result

    write_result(Rows(result.columns, rows), fmt, output, display=display)


@app.command()
@engine_options
@series_filters
def sql(
    engine: Any,
    filters: Any,
    template: Annotated[
        str,
        typer.Argument(
            help="series, summary, random, viewer_urls, find, facets, sync, fetch_targets, info, "
            "series_facets, known_names, measurements, sync_measurements or measurement_targets "
            "(the segment filters --structure/--category/--anatomy/--algorithm-* apply to "
            "segments in find/facets/sync/measurements/sync_measurements)."
        ),
    ],
    limit: LimitOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="summary: collection|analysis_result; facets: a facet.")
    ] = "",
    n: Annotated[int, typer.Option("-n", help="random: number of studies.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="random: seed.")] = 0,
    fmt: Annotated[str, typer.Option("--format", "-f", help="sql (default) or json.")] = "sql",
) -> None:
    """Print a template's BigQuery SQL and its parameters, ready for BigQuery.

    With --idc-version, the SQL fits that release's tables (columns IDC added later are NULL).

    The SQL uses named parameters (@name); pass them with `bq query --parameter=NAME:TYPE:VALUE`
    or the client libraries' query parameters. No value is ever written into the SQL text.

    \b
    Examples:
      idcseg sql series --collection lidc_idri --limit 10
      idcseg sql summary --by analysis_result --format json
    """
    import json

    from ..query.render import render
    from ..query.spec import parameter_type, template_query, validate_dataset

    query = template_query(template, filters, limit=limit, by=by, n=n, seed=seed)
    from ..query.eras import known_columns

    dataset = validate_dataset(engine.idc_version)
    text = render(query, dataset=dataset, target="bigquery", columns=known_columns(dataset))
    params = [{"name": k, "type": parameter_type(v), "value": v} for k, v in query.params.items()]
    if fmt == "json":
        print(json.dumps({"sql": text, "parameters": params}, indent=1))
        return
    sys.stdout.write(text)
    if params:
        print("-- Query parameters:")
        for p in params:
            print(f"--   @{p['name']} {p['type']} = {json.dumps(p['value'])}")


@app.command()
@engine_options
def info(
    engine: Any,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text (default) or json.")] = "text",
) -> None:
    """Show the engine, IDC release, where the index and the store are, and row counts."""
    import json

    from ..query.spec import Query

    eng = engine.create()
    facts: dict[str, Any] = {"engine": eng.name, "dataset": eng.dataset}
    facts.update(eng.describe())
    if eng.name == "duckdb":
        result = eng.run(Query("info.sql"))
        facts.update(zip(result.columns, result.rows()[0], strict=True))
    if fmt == "json":
        print(json.dumps(facts, indent=1, default=str))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key.ljust(width)}  {value}")
        if facts.get("measurements_without_segment"):
            print(
                "(measurements_without_segment: SR measurements whose SEG segment is not in the "
                "store; `idcseg measurements` lists them with empty segment columns. Ingest or "
                "fetch their SEGs to link them.)"
            )
