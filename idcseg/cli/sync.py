"""`idcseg sync`: copy segment rows from BigQuery into the local store."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from .app import app, engine_options, segment_filters, segment_series_filters


@app.command()
@engine_options
@segment_filters
@segment_series_filters
def sync(filters: Any, segment_filter: Any, engine: Any) -> None:
    """Copy IDC's segment rows (all, or those matching the filters) from BigQuery into the
    local store, so `find` and `facets` answer offline.

    Always reads from BigQuery (`--engine` is ignored); shows the dry-run cost first and
    refuses scans over --max-bytes. `--dry-run` stops after the estimate.

    \b
    Examples:
      idcseg sync --collection lidc_idri --dry-run
      idcseg sync --structure Nodule --idc-version 25 --project my-project
    """
    from ..local.sync import sync as run_sync

    choice = dataclasses.replace(engine, engine="bigquery", dry_run=False)
    report = run_sync(filters, segment_filter, choice.create(), dry_run=engine.dry_run)
    print(report.summary(), file=sys.stderr)
