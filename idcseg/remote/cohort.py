"""A cohort from selection to folder: plan, check, download, licences.

What ``idcseg download``, ``idcseg manifest``, ``idcseg cite`` and :func:`idcseg.download` share:
one embedded engine for the index, one obstore client for the bucket, the plan made once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError, printable
from ..query import spec
from .layout import DEFAULT_LAYOUT, parse_layout
from .plan import ManifestItem, Plan, fill_local_state, make_plan


@dataclass
class Selection:
    """Which series: filters, UIDs or manifest lines (at least one)."""

    series_filter: spec.SeriesFilter | None = None
    uids: Sequence[str] | None = None
    manifest: list[ManifestItem] | None = None
    limit: int | None = None

    def check(self) -> None:
        """Refuse an empty selection."""
        f = self.series_filter
        has_filter = f is not None and (any(f.flags().values()) or f.sop_class != "any")
        if not (has_filter or self.uids or self.manifest):
            raise UsageError(
                "say which series: a filter such as --collection or --analysis-result, "
                "--series UID, --from FILE or --manifest FILE"
            )


def check_writable(folder: Path) -> None:
    """Refuse a folder that cannot be made or written, before anything else happens."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        raise UsageError(f"cannot make the folder {folder}: {path} is not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        if path == Path(folder).absolute():
            raise UsageError(f"cannot write in {folder}: permission denied (or read-only)")
        raise UsageError(f"cannot make the folder {folder}: {path} is not writable")


def prepare_output(output: Path | str) -> Path:
    """The download folder, made if needed and checked writable (one clear error if not)."""
    folder = Path(output).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder}: not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make the folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write in {folder}: permission denied")
    return folder.absolute()


def plan_cohort(
    selection: Selection,
    output: Path,
    *,
    layout: str = DEFAULT_LAYOUT,
    with_source: bool = False,
    client: Any = None,
    engine: Any = None,
    concurrency: int = 8,
) -> Plan:
    """The plan of a download into *output* (which is not touched)."""
    from ..query.engines.duckdb import DuckDBEngine

    selection.check()
    parsed = parse_layout(layout)
    own = engine is None
    engine = engine or DuckDBEngine()
    try:
        plan = make_plan(
            engine,
            Path(output).absolute(),
            parsed,
            series_filter=selection.series_filter,
            uids=selection.uids,
            manifest=selection.manifest,
            with_source=with_source,
            client=client,
            limit=selection.limit,
            concurrency=concurrency,
        )
        plan.index_release = f"IDC {engine.release.replace('idc_', '')}"
    finally:
        if own:
            engine.close()
    return plan


def run_cohort(
    selection: Selection,
    output: Path | str,
    *,
    layout: str = DEFAULT_LAYOUT,
    with_source: bool = False,
    concurrency: int = 16,
    dry_run: bool = False,
    force: bool = False,
    verify: bool = False,
    progress: bool | None = None,
    endpoint: str | None = None,
    timeout: float = 20.0,
    attempts: int = 5,
    say: Any = None,
) -> tuple[Plan, Any]:
    """Plan, check the disk, download, write the licences; return ``(plan, report)`` (the
    report is ``None`` for a dry run). *say* prints the plan's lines (default: stderr)."""
    from ..local.store import index_version, statement
    from ..query.engines.duckdb import DuckDBEngine
    from .cite import sources_of, write_licences
    from .download import download
    from .resume import Ledger
    from .transfer import ObjectClient

    say = say or (lambda line: print(f"idcseg: {printable(line)}", file=sys.stderr))
    folder = Path(output).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output {folder}: not a folder")
    client = ObjectClient(endpoint, timeout=timeout, attempts=attempts)
    engine = DuckDBEngine()
    con = engine.connection()
    if engine.native_index:  # the parquet file read in place needs more than the cap
        con.execute(statement("download_settings"))
    rows = None
    try:
        plan = plan_cohort(
            selection,
            folder,
            layout=layout,
            with_source=with_source,
            client=client,
            engine=engine,
            concurrency=min(concurrency, 16),
        )
        ledger = Ledger(folder).load()
        fill_local_state(plan, ledger)
        for line in plan.lines():
            say(line)
        if dry_run:
            return plan, None
        check_writable(folder)
        plan.check_space(force)
        prepare_output(folder)  # only now: bad input or too little space leave no folder
        release = f"IDC {engine.release.replace('idc_', '')}, idc-index-data {index_version()}"
        # the sources of what the folder will hold, looked up while the files arrive; the
        # engine is closed then, so no store connection stays open during a long download
        expected = sorted(ledger.series() | {p.uid for p in plan.series})
        lookup = ThreadPoolExecutor(1, thread_name_prefix="idcseg-licences")
        rows = lookup.submit(_sources_then_close, engine, expected)
        lookup.shutdown(wait=False)

        def licences(series: list[str]) -> None:
            try:
                found = rows.result()  # also: the engine is free again
            except Exception:  # noqa: BLE001 - looked up again below, errors then shown
                found = None
            if found is None or set(series) != set(expected):
                # some series did not arrive, or the look-up failed: ask again
                found = sources_of(engine, series)
                engine.close()
            write_licences(folder, found, release)

        report = download(
            plan,
            client=client,
            concurrency=concurrency,
            verify=verify,
            progress=progress,
            licences=licences,
        )
        return plan, report
    finally:
        if rows is not None:
            with contextlib.suppress(Exception):
                rows.result()  # the engine is closed when the look-up is done
        engine.close()


def _sources_then_close(engine: Any, series: list[str]) -> Any:
    from .cite import sources_of

    try:
        return sources_of(engine, series)
    finally:
        engine.close()
