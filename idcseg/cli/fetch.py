"""``idcseg fetch-segments``: segment rows straight from IDC's public buckets."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from .app import app, series_filters

_FETCH = "Fetching"


@app.command("fetch-segments")
@series_filters
def fetch_segments_command(
    filters: Any,
    all_series: Annotated[
        bool,
        typer.Option("--all", help="Every SEG series of the index (no filter needed; large!)."),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most N series.", rich_help_panel=_FETCH)
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", help="Parallel requests (threads).", rich_help_panel=_FETCH
        ),
    ] = 8,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            envvar="IDCSEG_S3_ENDPOINT",
            help="S3-compatible server, http(s)://host[:port] (path-style). Default: AWS.",
            rich_help_panel=_FETCH,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds per request.", rich_help_panel=_FETCH),
    ] = 20.0,
    attempts: Annotated[
        int,
        typer.Option(
            "--attempts",
            help="Tries per request on 5xx, timeouts and resets.",
            rich_help_panel=_FETCH,
        ),
    ] = 5,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            help="Bytes of the first read of each file (doubled while the header needs more).",
            rich_help_panel=_FETCH,
        ),
    ] = 65536,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List what would be read (listing requests only); store nothing.",
            rich_help_panel=_FETCH,
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Read files again even if already stored.", rich_help_panel=_FETCH
        ),
    ] = False,
    with_measurements: Annotated[
        bool,
        typer.Option(
            "--with-measurements",
            help="Also fetch the SR series of the same studies and analysis results (whole "
            "objects; SRs are small) and store their TID 1500 measurements.",
            rich_help_panel=_FETCH,
        ),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress line on stderr (default: when stderr is a terminal).",
            rich_help_panel=_FETCH,
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="text: summary on stderr (and the dry run's files on stdout); json: the "
            "report on stdout.",
            rich_help_panel="Output",
        ),
    ] = "text",
) -> None:
    """Fetch segment metadata of SEG series from IDC's public buckets into the local store.

    Reads only the header of each SEG file (HTTP Range requests, anonymous) and stores its
    segments as `ingest` would; then `idcseg find` answers offline. Files already fetched are
    skipped, so a rerun continues an interrupted or partly failed run. Exit code 1 when some
    files failed.

    \b
    Examples:
      idcseg fetch-segments --analysis-result dicom_lidc_idri_nodules --limit 100
      idcseg fetch-segments --series 1.2.276.0.7230010.3.1.3.0.89314.1553284067.990548
      idcseg fetch-segments --collection qin_prostate_repeatability --dry-run
      idcseg fetch-segments --analysis-result dicom_lidc_idri_nodules --with-measurements
      IDCSEG_S3_ENDPOINT=http://127.0.0.1:9000 idcseg fetch-segments --collection my_test
    """
    from ..errors import UsageError
    from ..remote.fetch import FetchInterrupted, fetch_segments

    if fmt not in ("text", "json"):
        raise UsageError(f"unknown --format {fmt!r} (choose from text, json)")
    has_filter = any(filters.flags().values()) or filters.sop_class != "any"
    if not has_filter and not all_series:
        raise UsageError(
            "say which series to fetch: a filter such as --collection or --series, "
            "or --all for every SEG series in IDC"
        )
    try:
        report = fetch_segments(
            filters,
            endpoint=endpoint,
            concurrency=concurrency,
            window=window,
            timeout=timeout,
            attempts=attempts,
            limit=limit,
            dry_run=dry_run,
            force=force,
            progress=progress,
            with_measurements=with_measurements,
        )
    except FetchInterrupted as exc:
        print(exc.report.summary(), file=sys.stderr)
        raise typer.Exit(130) from None
    parts = [report] + ([report.measurements] if report.measurements else [])
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        if dry_run:
            for part in parts:
                for item in part.planned:
                    sys.stdout.write(f"{item.location}\t{item.size}\t{item.series or ''}\n")
        print(report.summary(), file=sys.stderr)
        for part in parts:
            for failure in part.failures[:20]:
                print(f"  {failure.location}: {failure.kind}: {failure.reason}", file=sys.stderr)
            if len(part.failures) > 20:
                print(f"  … and {len(part.failures) - 20} more", file=sys.stderr)
            for uid, why in part.missing[:20]:
                print(f"  {uid}: {why}", file=sys.stderr)
            for name, what in list(part.not_segmentation.items())[:20]:
                print(f"  {name}: {what}", file=sys.stderr)
    if any(part.failures for part in parts):
        raise typer.Exit(1)


def confirm_on_terminal(plan: Any) -> bool:
    """Say what would be fetched and ask on the terminal; ``False`` when not interactive.

    For ``fetch_missing(..., confirm=confirm_on_terminal)`` in ``idcseg find --fetch-missing``
    (*plan* is a :class:`~idcseg.remote.fetch.MissingPlan`).
    """
    print(f"idcseg: {plan.describe()}", file=sys.stderr)
    if not sys.stdin.isatty():
        print(
            f"idcseg: not fetching {len(plan):,} series without confirmation: add --yes, or "
            "run `idcseg fetch-segments` with the same filters",
            file=sys.stderr,
        )
        return False
    return typer.confirm("Fetch them now?", default=False, err=True)
