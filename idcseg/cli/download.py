"""``idcseg download``, ``idcseg manifest`` and ``idcseg cite``: a cohort's files, list, sources."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from ..remote.layout import DEFAULT_LAYOUT
from .app import app, series_filters

_WHICH = "Which series (besides the filters)"
_WHERE = "Where"
_HOW = "Transfer"

FromOpt = Annotated[
    Path | None,
    typer.Option(
        "--from",
        help="A CSV, TSV or parquet file with a SeriesInstanceUID column (e.g. the output of "
        "`idcseg series`), or a text file of UIDs; its series are taken as they are.",
        rich_help_panel=_WHICH,
    ),
]
WithSourceOpt = Annotated[
    bool,
    typer.Option(
        "--with-source",
        help="Also the image series each SEG segments (from IDC's seg_index, else the SEG's "
        "header, else its first referenced instance).",
        rich_help_panel=_WHICH,
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", help="At most N series of the filters.", rich_help_panel=_WHICH),
]
LayoutOpt = Annotated[
    str,
    typer.Option(
        "--layout",
        help="Folders under --output, from index columns: {collection_id}, {PatientID}, "
        "{StudyInstanceUID}, {SeriesInstanceUID}, {Modality}, {SeriesDescription}, "
        "{SeriesNumber}, {analysis_result_id}, … ('' puts every file in --output).",
        rich_help_panel=_WHERE,
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        envvar="IDCSEG_S3_ENDPOINT",
        help="S3-compatible server, http(s)://host[:port] (path-style). Default: AWS.",
        rich_help_panel=_HOW,
    ),
]


def _selection(
    filters: Any, from_file: Path | None, manifest: Path | None, limit: int | None
) -> Any:
    """The series the options name."""
    from ..errors import UsageError
    from ..query.spec import validate_limit
    from ..remote.cohort import Selection
    from ..remote.manifest import read_manifest
    from ..remote.plan import read_uid_file

    validate_limit(limit)
    if manifest is not None:
        if from_file is not None or any(filters.flags().values()) or filters.sop_class != "any":
            raise UsageError("--manifest names the series itself: leave out filters and --from")
        return Selection(manifest=read_manifest(manifest), limit=limit)
    uids: list[str] | None = None
    if from_file is not None:
        uids = read_uid_file(from_file)
        filters = replace(filters, series=tuple(dict.fromkeys((*filters.series, *uids))))
    elif filters.series:
        uids = list(filters.series)
    return Selection(series_filter=filters, uids=uids, limit=limit)


@app.command("download")
@series_filters
def download_command(
    filters: Any,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The folder to download into.", rich_help_panel=_WHERE),
    ] = None,
    from_file: FromOpt = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="An s5cmd manifest (IDC portal, idc-index or `idcseg manifest`) instead of "
            "filters; files go where --layout says.",
            rich_help_panel=_WHICH,
        ),
    ] = None,
    with_source: WithSourceOpt = False,
    limit: LimitOpt = None,
    layout: LayoutOpt = DEFAULT_LAYOUT,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", help="Files in flight at once.", rich_help_panel=_HOW),
    ] = 16,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (series, files, size, free space) and the series; fetch "
            "nothing (--with-source still reads SEG headers).",
            rich_help_panel=_HOW,
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Start even if the disk looks too small.", rich_help_panel=_HOW
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check the MD5 of every file already there (else: its size and the time it "
            "was written, as recorded).",
            rich_help_panel=_HOW,
        ),
    ] = False,
    endpoint: EndpointOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a read may stall.", rich_help_panel=_HOW)
    ] = 20.0,
    attempts: Annotated[
        int,
        typer.Option(
            "--attempts",
            help="Tries per request on 5xx, timeouts, resets and short bodies.",
            rich_help_panel=_HOW,
        ),
    ] = 5,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr (default: when stderr is a terminal).",
            rich_help_panel=_HOW,
        ),
    ] = None,
) -> None:
    """Download SEG series (and with --with-source the image series they segment) from IDC's
    public buckets into a folder.

    Before starting it prints the plan: series, files and size from IDC's index, what the folder
    already holds, and the free disk space; it refuses (exit 1) when the download would not fit,
    unless --force. Each file is written under a temporary name, renamed when every byte of the
    object arrived, and named <SOPInstanceUID>.dcm. Ctrl-C stops cleanly; run the same command
    again to continue: complete files are skipped (files from elsewhere when their size and,
    for single-part objects, the MD5 their ETag names match; --verify: every file). At the end
    the folder gets LICENSES.csv and CITATIONS.txt. Exit code 1 when some files failed.

    \b
    Examples:
      idcseg download --analysis-result dicom_lidc_idri_nodules --limit 10 -o lidc
      idcseg download --series 1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548 \\
          --with-source -o one
      idcseg series --structure Liver --algorithm-type AUTOMATIC --limit 50 -f csv -o liver.csv
      idcseg download --from liver.csv --with-source -o liver --dry-run
      idcseg download --manifest cohort_aws.s5cmd -o cohort
    """
    from ..errors import UsageError
    from ..remote.cohort import run_cohort
    from ..remote.download import DownloadInterrupted, DownloadStopped

    if output is None:
        raise UsageError("say where to download: --output DIR")
    selection = _selection(filters, from_file, manifest, limit)

    def to_stdout(line: str) -> None:
        print(line)

    try:
        plan, report = run_cohort(
            selection,
            output,
            layout=layout,
            with_source=with_source,
            concurrency=concurrency,
            dry_run=dry_run,
            force=force,
            verify=verify,
            progress=progress,
            endpoint=endpoint,
            timeout=timeout,
            attempts=attempts,
            say=to_stdout if dry_run else None,
        )
    except DownloadInterrupted as exc:
        _say(exc.report.summary())
        raise typer.Exit(130) from None
    except DownloadStopped as exc:
        _say(exc.report.summary())
        raise
    if report is None:  # dry run: the series, one per line
        print("role\tSeriesInstanceUID\tfiles\tsize_MB\tfolder")
        for item in plan.series:
            size = f"{item.size / 1e6:.3f}" if item.size is not None else ""
            files = len(item.only) if item.only is not None else item.files
            count = "" if files is None else files
            print(f"{item.role}\t{item.uid}\t{count}\t{size}\t{item.folder}")
        return
    _say(report.summary())
    if not report.ok:
        raise typer.Exit(1)


def _say(text: str) -> None:
    """Lines on stderr, each with control characters escaped (paths can hold anything)."""
    from ..errors import printable

    for line in text.splitlines():
        print(printable(line), file=sys.stderr)


@app.command("manifest")
@series_filters
def manifest_command(
    filters: Any,
    from_file: FromOpt = None,
    with_source: WithSourceOpt = False,
    limit: LimitOpt = None,
    layout: LayoutOpt = DEFAULT_LAYOUT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to FILE instead of stdout.", rich_help_panel=_WHERE
        ),
    ] = None,
    endpoint: EndpointOpt = None,
) -> None:
    """Write an s5cmd manifest of the selection (`cp s3://BUCKET/SERIES/* "FOLDER/"` lines),
    like the ones IDC's portal hands out.

    Run it with `idcseg download --manifest FILE -o DIR` (resumable, checked) or with
    `s5cmd --no-sign-request --endpoint-url https://s3.amazonaws.com run FILE` from the folder
    to download into. --with-source adds the image series the SEGs segment (reading SEG
    headers where IDC's seg_index does not say).

    \b
    Examples:
      idcseg manifest --analysis-result dicom_lidc_idri_nodules --limit 100 -o lidc.s5cmd
      idcseg manifest --collection qin_prostate_repeatability --with-source \\
          --layout '{PatientID}/{Modality}_{SeriesInstanceUID}'
    """
    from ..present.output import check_target
    from ..remote.cite import write_atomically
    from ..remote.cohort import plan_cohort
    from ..remote.manifest import write_manifest
    from ..remote.transfer import ObjectClient

    check_target("csv", output)
    selection = _selection(filters, from_file, None, limit)
    client = ObjectClient(endpoint) if with_source else None
    plan = plan_cohort(selection, Path("."), layout=layout, with_source=with_source, client=client)
    header = [line for line in plan.lines() if not line.lstrip().startswith("in ")]
    text = write_manifest(
        plan.series,
        header=[f"idcseg {h.strip()}" for h in header[:1]],
        name=output.name if output is not None else "THIS_FILE",
    )
    for uid, why in plan.unresolved:
        print(f"idcseg: no source series for SEG {uid}: {why}", file=sys.stderr)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)
        print(f"idcseg: wrote {len(plan.series)} series to {output}", file=sys.stderr)


@app.command("cite")
@series_filters
def cite_command(
    filters: Any,
    from_file: FromOpt = None,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="The series of an s5cmd manifest.", rich_help_panel=_WHICH),
    ] = None,
    with_source: Annotated[
        bool,
        typer.Option(
            "--with-source",
            help="Also the sources of the image series the SEGs segment, where IDC's seg_index "
            "(or the local store) says which (offline).",
            rich_help_panel=_WHICH,
        ),
    ] = False,
    limit: LimitOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text (default: DOI, licence and IDC's citation of each source, offline), "
            "table, csv, json, jsonl; bibtex or apa: formatted by the DOI resolver (online).",
            rich_help_panel="Output",
        ),
    ] = "text",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to FILE instead of stdout.", rich_help_panel="Output"
        ),
    ] = None,
) -> None:
    """The sources of a selection: DOI, licence and how to cite each, from IDC's index.

    Offline by default. --format bibtex or apa asks the DOI resolver (https://doi.org, or
    $IDCSEG_DOI_RESOLVER) for formatted references; without the network that is an error,
    and the default text still works.

    \b
    Examples:
      idcseg cite --analysis-result dicom_lidc_idri_nodules
      idcseg cite --from liver.csv --with-source --format bibtex -o refs.bib
    """
    from ..errors import UsageError
    from ..present.output import FORMATS, Rows, check_target, write_result
    from ..query.engines.duckdb import DuckDBEngine
    from ..remote import cite
    from ..remote.cite import write_atomically
    from ..remote.cohort import plan_cohort

    fmt = fmt.lower()
    online = fmt in cite.ACCEPT
    if fmt != "text" and not online and fmt not in FORMATS:
        raise UsageError(
            f"unknown --format {fmt!r} (choose from text, {', '.join(FORMATS)}, bibtex, apa)"
        )
    check_target("csv" if fmt in ("text", "bibtex", "apa") else fmt, output)
    selection = _selection(filters, from_file, manifest, limit)
    engine = DuckDBEngine()
    try:
        plan = plan_cohort(selection, Path("."), with_source=False, engine=engine)
        uids = [p.uid for p in plan.series]
        if with_source:
            from ..remote.plan import known_sources

            segs = [p.uid for p in plan.series if p.is_seg]
            known = known_sources(engine, segs) if segs else {}
            sources = [s for s in known.values() if s]
            unknown = [u for u in segs if not known.get(u)]
            if unknown:
                print(
                    f"idcseg: {len(unknown)} SEG series have no source series known offline "
                    "(their image series' sources are left out; `idcseg index fetch` gets IDC's "
                    "seg_index, `idcseg download --with-source` reads SEG headers)",
                    file=sys.stderr,
                )
            uids = list(dict.fromkeys([*uids, *sources]))
        rows = cite.sources_of(engine, uids)
    finally:
        engine.close()
    if online:
        text = "\n\n".join(cite.formatted([*cite.dois(rows), cite.IDC_DOI], fmt)) + "\n"
    elif fmt == "text":
        text = cite.citations_text(rows)
    else:
        table = [
            tuple(r.reference if c == "citation" else getattr(r, c) for c in cite.COLUMNS)
            for r in rows
        ]
        write_result(Rows(cite.COLUMNS, table), fmt, output)
        return
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)
