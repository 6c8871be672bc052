"""`idcseg sync`: copy segment rows from BigQuery into the local store."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Any

import typer

from .app import app, engine_options, segment_filters, segment_series_filters


@app.command()
@engine_options
@segment_filters
@segment_series_filters
def sync(
    filters: Any,
    segment_filter: Any,
    engine: Any,
    measurements: Annotated[
        bool,
        typer.Option(
            "--measurements",
            help="Also copy the TID 1500 SR measurements of those segments (IDC's "
            "measurement tables), for `idcseg measurements` offline.",
        ),
    ] = False,
) -> None:
    """Copy IDC's segment rows (all, or those matching the filters) from BigQuery into the
    local store, so `find` and `facets` answer offline.

    Always reads from BigQuery (`--engine` is ignored); shows the dry-run cost first and
    refuses scans over --max-bytes. `--dry-run` stops after the estimate.

    \b
    Examples:
      idcseg sync --collection lidc_idri --dry-run
      idcseg sync --structure Nodule --idc-version 25 --project my-project
      idcseg sync --analysis-result dicom_lidc_idri_nodules --measurements
    """
    from ..local.sync import sync as run_sync
    from ..local.sync import sync_measurements

    choice = dataclasses.replace(engine, engine="bigquery", dry_run=False)
    bigquery = choice.create()
    report = run_sync(filters, segment_filter, bigquery, dry_run=engine.dry_run)
    print(report.summary(), file=sys.stderr)
    if measurements:
        done = sync_measurements(filters, segment_filter, bigquery, dry_run=engine.dry_run)
        print(done.summary(), file=sys.stderr)
