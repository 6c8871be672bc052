"""Ingestion: store the segments of local SEG files and the measurements of TID 1500 SRs.

``ingest(paths)`` finds files (folders recursively) and reads each by its SOP class: a SEG's
header (:func:`idcseg.dicom.segheader.read_header`) gives rows of the store's ``segmentations``
and ``segment_labels`` tables, and series facts for ``local_series`` when IDC's index does not
know the series; a TID 1500 SR (:func:`idcseg.dicom.sr.read_report`) gives rows of
``measurement_groups``, ``quantitative_measurements`` and ``qualitative_measurements``. Every
stored file is recorded in ``instances``.

How it stays safe and fast:

- Files are parsed outside any transaction, in batches (default 200 files). Each batch is then
  written in one short transaction on a connection opened for that batch and closed after it, so
  other idcseg processes can query the store between batches. A busy store is retried for
  ``busy_timeout`` seconds before :class:`~idcseg.errors.StoreBusyError`.
- A file's rows are replaced, not duplicated: rows of the batch's SOPInstanceUIDs, and of the
  instances previously stored from the same paths, are deleted before the insert.
- A bad file is reported in :attr:`IngestReport.failures` with a short reason and never affects
  other files. If a batch cannot be stored (a value the database refuses), its files are retried
  one by one and only the offending ones fail.
- Files whose path, size and mtime match what the store recorded are skipped unless
  ``force=True``: a rerun after an interruption continues where the last one stopped.
- Ctrl-C: SIGINT is held back while a batch is written, so a batch is committed whole or (if the
  interrupt still arrives inside the transaction) rolled back whole. :class:`IngestInterrupted`
  (a ``KeyboardInterrupt``) is raised with the report of what was stored.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from ..dicom import segheader, sr
from ..errors import IdcsegError, StoreBusyError
from ..present.progress import ProgressLine
from .store import Store, statement

BATCH_SIZE = 200
# failure kinds that are not errors: files that are neither SEGs nor TID 1500 SRs
SKIPPED = ("NotDicom", "NotSegmentation", "NotMeasurementReport")


@dataclass
class IngestReport:
    """What an ingest run did.

    ``failures`` lists ``(path, reason)`` of files that were not stored (not DICOM, neither a SEG
    nor a TID 1500 SR, truncated, malformed, unreadable); ``failure_kinds`` counts them by kind:
    ``NotDicom``, ``NotSegmentation``, ``NotMeasurementReport`` (an SR of another template),
    ``Truncated``, ``Malformed``, ``Unreadable`` or ``StoreError``. ``measurements_written``
    counts quantitative and qualitative rows of the SRs stored.
    ``local_series`` holds the SEG series written to ``local_series`` (IDC's index lacks them).
    ``duplicates`` lists ``(path, kept_path)`` when two files of one run hold the same
    SOPInstanceUID: the later one's rows replace the earlier's.
    """

    files_seen: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    segments_written: int = 0
    measurements_written: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    failure_kinds: Counter[str] = field(default_factory=Counter)
    _kinds: list[str] = field(default_factory=list, repr=False)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    local_series: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        """True when every file seen was stored or unchanged and the run completed."""
        return not self.failures and not self.interrupted

    @property
    def series_local(self) -> int:
        """SEG series written to ``local_series`` (not in IDC's index)."""
        return len(self.local_series)

    @property
    def files_done(self) -> int:
        """Files stored, failed or skipped as unchanged so far."""
        return self.files_ingested + self.files_unchanged + len(self.failures)

    def fail(self, path: str, kind: str, reason: str) -> None:
        self.failures.append((path, reason))
        self.failure_kinds[kind] += 1
        self._kinds.append(kind)

    @property
    def errors(self) -> list[tuple[str, str]]:
        """Failures that are errors: files that are neither SEGs nor TID 1500 SRs (a CT slice, a
        text file beside them) are skipped, not errors; truncated, malformed or unreadable ones
        are."""
        return [f for f, k in zip(self.failures, self._kinds, strict=True) if k not in SKIPPED]

    def skipped(self, kind: str) -> list[tuple[str, str]]:
        """Files skipped as *kind* (e.g. ``NotMeasurementReport``), with the reason."""
        return [f for f, k in zip(self.failures, self._kinds, strict=True) if k == kind]

    def summary(self) -> str:
        """One line for a terminal."""
        parts = [f"{self.files_ingested} of {self.files_seen} files ingested"]
        parts.append(f"{self.segments_written} segments")
        if self.measurements_written:
            parts.append(f"{self.measurements_written} measurements")
        if self.files_unchanged:
            parts.append(f"{self.files_unchanged} unchanged")
        skipped = sum(n for k, n in self.failure_kinds.items() if k in SKIPPED)
        if skipped:
            parts.append(f"{skipped} skipped (not DICOM SEG or TID 1500 SR)")
        if self.errors:
            kinds = ", ".join(
                f"{n} {k}" for k, n in self.failure_kinds.most_common() if k not in SKIPPED
            )
            parts.append(f"{len(self.errors)} failed ({kinds})")
        rate = self.files_ingested / self.seconds if self.seconds > 0 else 0.0
        line = ", ".join(parts) + f" in {self.seconds:.1f} s ({rate:.0f} files/s)"
        if self.interrupted:
            line = "interrupted: " + line + "; run again to continue"
        return line


class StoreWriteError(IdcsegError):
    """The store file itself could not be written (a full disk, a quota, an I/O error): the
    run stops at once, keeping what earlier batches stored. ``stored`` is how many files were
    stored before it, when the caller knows (:func:`ingest` does)."""

    def __init__(self, path: object, reason: str, stored: int | None = None) -> None:
        kept = "what was stored before it is kept"
        if stored is not None:
            kept = f"the {stored} files stored before it are kept" if stored else "none stored"
        super().__init__(
            f"cannot write to the store {path}: {reason}; {kept}; free some space and run the "
            "same command again to continue"
        )
        self.path, self.reason, self.stored = path, reason, stored


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`ingest`; ``report`` says what was stored before it."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__(report.summary())
        self.report = report


# --- finding files ----------------------------------------------------------------------------


@dataclass
class _File:
    path: str
    size: int
    mtime: float


def find_files(paths: Iterable[str | os.PathLike[str]], report: IngestReport) -> list[_File]:
    """Files under *paths* (folders walked recursively), de-duplicated by real path, in order.

    Paths that do not exist, folders that cannot be listed and file names that are not valid
    UTF-8 (the store keeps each file's path as text) are recorded as failures in *report*.
    """
    seen: set[str] = set()
    found: list[_File] = []

    def add(path: str) -> None:
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        if not _utf8(real):
            report.fail(real, "Unreadable", "the path is not valid UTF-8; rename it")
            return
        try:
            st = os.stat(real)
        except OSError as exc:
            report.fail(real, "Unreadable", f"cannot read: {exc.strerror or exc}")
            return
        found.append(_File(real, st.st_size, st.st_mtime))

    def unreadable_folder(exc: OSError) -> None:  # os.walk would skip it silently
        folder = os.path.realpath(exc.filename) if exc.filename else "?"
        if folder not in seen:
            seen.add(folder)
            report.fail(folder, "Unreadable", f"cannot read folder: {exc.strerror or exc}")

    for given in paths:
        path = os.path.expanduser(os.fspath(given))
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path, onerror=unreadable_folder):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(folder, name)
                    if os.path.isfile(full):
                        add(full)
        elif os.path.isfile(path):
            add(path)
        else:
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                report.fail(real, "Unreadable", "no such file or directory")
    report.files_seen = len(seen)
    return found


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode carried undecodable bytes as surrogates
        return False
    return True


# --- parsing ----------------------------------------------------------------------------------


@dataclass
class _Parsed:
    path: str  # the instance's location: a file path, or an object URL for origin 'bucket'
    size: int
    mtime: float | None
    sop: str
    series: str
    rows: list[dict[str, Any]]  # segments of a SEG (none for an SR)
    facts: dict[str, Any] | None  # local_series facts of a SEG (None for an SR)
    origin: str = "file"
    measurements: sr.Report | None = None  # the rows of a TID 1500 SR


#: One parsed SEG or SR instance, ready for :func:`store_parsed`.
ParsedInstance = _Parsed


def parse_dataset(
    ds: Any, location: str, size: int, mtime: float | None = None, origin: str = "file"
) -> ParsedInstance:
    """The rows and series facts of a SEG header read from *location* (*size* bytes).

    Raises :class:`~idcseg.dicom.segheader.Malformed` as
    :func:`~idcseg.dicom.segheader.segment_rows` does.
    """
    rows = segheader.segment_rows(ds)
    facts = segheader.series_facts(ds, size=size)
    return _Parsed(
        path=location,
        size=size,
        mtime=mtime,
        sop=rows[0]["SOPInstanceUID"],
        series=rows[0]["SeriesInstanceUID"],
        rows=rows,
        facts=facts,
        origin=origin,
    )


def parse_report(
    report: sr.Report, location: str, size: int, mtime: float | None = None, origin: str = "file"
) -> ParsedInstance:
    """A TID 1500 SR's rows (:func:`idcseg.dicom.sr.read_report`), ready to store."""
    return _Parsed(
        path=location,
        size=size,
        mtime=mtime,
        sop=report.sop,
        series=report.series,
        rows=[],
        facts=None,
        origin=origin,
        measurements=report,
    )


def _parse_file(path: str) -> _Parsed:
    with open(path, "rb") as fp:
        st = os.fstat(fp.fileno())
        if sr.is_sr_class(sr.peek_sop_class(fp)):
            return parse_report(sr.read_report(fp), path, st.st_size, st.st_mtime)
        ds = segheader.read_header(fp)
    return parse_dataset(ds, path, st.st_size, st.st_mtime)


def _parse_batch(files: list[_File], report: IngestReport, display: _Progress) -> list[_Parsed]:
    parsed: list[_Parsed] = []
    with segheader.quiet():
        for f in files:
            display.update(report, pending=len(parsed))
            try:
                parsed.append(_parse_file(f.path))
            except segheader.SegReadError as exc:
                report.fail(f.path, type(exc).__name__, exc.reason)
            except OSError as exc:
                report.fail(f.path, "Unreadable", f"cannot read: {exc.strerror or exc}")
            except Exception as exc:  # a reader bug must not stop the run
                report.fail(f.path, "Malformed", f"unexpected {type(exc).__name__}: {exc}")
    return parsed


# --- IDC's index ------------------------------------------------------------------------------


class _IdcIndex:
    """Which SeriesInstanceUIDs IDC's series index holds, asked batch-wise with DuckDB."""

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}
        self._con = None
        try:
            from .store import index_dir

            self._parquet: str | None = str(index_dir() / "idc_index.parquet")
        except IdcsegError:
            self._parquet = None  # no index: every series is local

    def in_idc(self, series: Iterable[str]) -> dict[str, bool]:
        wanted = sorted({s for s in series if s not in self._known})
        if wanted and self._parquet is not None:
            import duckdb

            if self._con is None:  # in memory, one thread: ~30 MB for a scan of the index
                self._con = duckdb.connect(config={"threads": 1})
            found = self._con.execute(
                statement("known_series"), {"parquet": self._parquet, "uids": wanted}
            ).fetchall()
            hits = {row[0] for row in found}
            self._known.update((s, s in hits) for s in wanted)
        else:
            self._known.update((s, False) for s in wanted)
        return self._known

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


# --- writing ----------------------------------------------------------------------------------


def _arrow_schemas():  # noqa: ANN202 - pyarrow imported lazily
    import pyarrow as pa

    code = pa.struct(
        [
            ("CodeValue", pa.string()),
            ("CodingSchemeDesignator", pa.string()),
            ("CodeMeaning", pa.string()),
        ]
    )
    seg_type = pa.struct(
        [
            *[(f.name, f.type) for f in code],
            ("AnatomicRegionModifierSequence", pa.list_(code)),
            ("SegmentedPropertyTypeModifierCodeSequence", pa.list_(code)),
        ]
    )
    types: dict[str, Any] = dict.fromkeys(segheader.SEGMENTATION_COLUMNS, pa.string())
    types.update(
        AnatomicRegion=code,
        AnatomicRegionModifier=code,
        SegmentedPropertyCategory=code,
        SegmentedPropertyType=seg_type,
        SegmentNumber=pa.int64(),
    )
    segmentations = pa.schema(list(types.items()))
    labels = pa.schema(
        [
            ("SOPInstanceUID", pa.string()),
            ("SegmentNumber", pa.int64()),
            ("SegmentLabel", pa.string()),
            ("SegmentDescription", pa.string()),
        ]
    )
    instances = pa.schema(
        [
            ("SOPInstanceUID", pa.string()),
            ("SeriesInstanceUID", pa.string()),
            ("origin", pa.string()),
            ("location", pa.string()),
            ("size_bytes", pa.int64()),
            ("mtime", pa.float64()),
        ]
    )
    series_types: dict[str, Any] = dict.fromkeys(segheader.LOCAL_SERIES_COLUMNS, pa.string())
    series_types.update(instanceCount=pa.int64(), series_size_MB=pa.float64())
    series = pa.schema(list(series_types.items()))
    return segmentations, labels, instances, series


def _tables(records: list[_Parsed], local: set[str]):  # noqa: ANN202
    import pyarrow as pa

    seg_schema, label_schema, inst_schema, series_schema = _arrow_schemas()
    seg_rows, label_rows, inst_rows = [], [], []
    series_rows: dict[str, dict[str, Any]] = {}
    for rec in records:
        numbers: set[int] = set()
        for row in rec.rows:
            seg_rows.append({k: row[k] for k in segheader.SEGMENTATION_COLUMNS})
            if row["SegmentNumber"] not in numbers:  # a malformed SEG may repeat a number
                numbers.add(row["SegmentNumber"])
                label_rows.append(
                    {
                        "SOPInstanceUID": rec.sop,
                        "SegmentNumber": row["SegmentNumber"],
                        "SegmentLabel": row["SegmentLabel"],
                        "SegmentDescription": row["SegmentDescription"],
                    }
                )
        inst_rows.append(
            {
                "SOPInstanceUID": rec.sop,
                "SeriesInstanceUID": rec.series,
                "origin": rec.origin,
                "location": rec.path,
                "size_bytes": rec.size,
                "mtime": rec.mtime,
            }
        )
        if rec.series in local and rec.facts is not None:
            series_rows[rec.series] = rec.facts
    return (
        pa.Table.from_pylist(seg_rows, schema=seg_schema),
        pa.Table.from_pylist(label_rows, schema=label_schema),
        pa.Table.from_pylist(inst_rows, schema=inst_schema),
        pa.Table.from_pylist(list(series_rows.values()), schema=series_schema),
    )


_MEASUREMENT_TABLES = (
    ("_b_groups", "measurement_groups", "groups"),
    ("_b_quant", "quantitative_measurements", "quantitative"),
    ("_b_qual", "qualitative_measurements", "qualitative"),
)


def _measurement_tables(con: Any, records: list[_Parsed]) -> dict[str, Any]:
    """Arrow tables of the SR rows of *records*, typed like the store's tables.

    A group's content tree (``contentSequence``) travels as JSON text, which the insert casts
    to the column's nested type: pyarrow converts deeply nested dicts ~6 times slower.
    """
    import json

    import pyarrow as pa

    tables = {}
    for name, table, attr in _MEASUREMENT_TABLES:
        schema = con.table(table).limit(0).to_arrow_table().schema
        rows = [row for r in records if r.measurements for row in getattr(r.measurements, attr)]
        if "contentSequence" in schema.names:
            at = schema.get_field_index("contentSequence")
            schema = schema.set(at, pa.field("contentSequence", pa.string()))
            rows = [
                {**row, "contentSequence": json.dumps(row["contentSequence"])}
                if row.get("contentSequence") is not None
                else row
                for row in rows
            ]
        tables[name] = pa.Table.from_pylist(rows, schema=schema)
    return tables


def _write(con: Any, records: list[_Parsed], local: set[str]) -> int:
    """Replace the rows of *records* in one transaction; return the segment rows written."""
    seg, labels, inst, series = _tables(records, local)
    for name, table in (
        ("_b_seg", seg),
        ("_b_labels", labels),
        ("_b_inst", inst),
        ("_b_series", series),
        *_measurement_tables(con, records).items(),
    ):
        con.register(name, table)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(statement("write_batch"))
            con.execute("COMMIT")
        except BaseException:
            with suppress(Exception):
                con.execute("ROLLBACK")
            raise
    finally:
        for name in (
            "_b_seg",
            "_b_labels",
            "_b_inst",
            "_b_series",
            "_b_groups",
            "_b_quant",
            "_b_qual",
        ):
            with suppress(Exception):
                con.unregister(name)
    return seg.num_rows


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back while a batch is written; deliver it right after."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the caller chose to ignore it
    ):
        yield
        return
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except ValueError:  # not allowed here (embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def _connect(store: Store, busy_timeout: float, report: IngestReport) -> Any:
    deadline = time.monotonic() + busy_timeout
    delay = 0.05
    while True:
        try:
            return store.connect()
        except StoreBusyError as exc:
            if time.monotonic() >= deadline:
                done = report.files_ingested
                hint = f"; {done} files were stored before, run again to continue" if done else ""
                raise StoreBusyError(f"{exc}{hint}") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _unchanged(
    store: Store, files: list[_File], busy_timeout: float, report: IngestReport
) -> set[str]:
    """Paths stored before with the same size and mtime."""
    if not files:
        return set()
    import pyarrow as pa

    table = pa.table(
        {
            "location": [f.path for f in files],
            "size_bytes": pa.array([f.size for f in files], pa.int64()),
            "mtime": pa.array([f.mtime for f in files], pa.float64()),
        }
    )
    con = _connect(store, busy_timeout, report)
    try:
        con.register("_candidates", table)
        rows = con.execute(statement("unchanged_files")).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


# --- progress ---------------------------------------------------------------------------------


class _Progress(ProgressLine):
    """done/total files and files per second."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        self.total = 0

    def start(self, total: int) -> None:
        self.total = total
        self.began = time.monotonic()
        self.enabled = self.enabled and total > 0

    def update(self, report: IngestReport, pending: int = 0, force: bool = False) -> None:
        """Show progress; *pending* files are parsed but not yet written."""
        if not self.due(force):
            return
        done = report.files_done + pending
        rate = (report.files_ingested + pending) / self.elapsed()
        failed = f"  {len(report.failures)} failed" if report.failures else ""
        self.show(f"ingest {done}/{self.total} files  {rate:.0f} files/s{failed}")

    def finish(self, report: IngestReport) -> None:
        self.update(report, force=True)
        self.close()


# --- the run ----------------------------------------------------------------------------------


def ingest(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    store: Store | None = None,
    progress: bool | None = None,
    *,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    busy_timeout: float = 10.0,
) -> IngestReport:
    """Read the SEG and TID 1500 SR files under *paths* and store their rows; return what was
    done.

    Args:
        paths: files and folders (walked recursively); duplicates are read once.
        store: the local store (default: ``$IDCSEG_HOME`` or the user data folder).
        progress: show a progress line on stderr; ``None`` shows it when stderr is a terminal.
        force: re-read files even when path, size and mtime match what was stored.
        batch_size: files per write transaction.
        busy_timeout: seconds to keep retrying while another process holds the store.

    Raises:
        StoreBusyError: the store stayed locked by another process for *busy_timeout* seconds.
        IngestInterrupted: Ctrl-C (a ``KeyboardInterrupt``); batches already written stay.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    store = store or Store()
    report = IngestReport()
    started = time.monotonic()
    if progress is None:
        progress = sys.stderr.isatty()
    display = _Progress(progress)
    index = _IdcIndex()
    sop_paths: dict[str, str] = {}
    try:
        files = find_files(paths, report)
        unchanged = set() if force else _unchanged(store, files, busy_timeout, report)
        report.files_unchanged = len(unchanged)
        todo = [f for f in files if f.path not in unchanged]
        display.start(report.files_seen)
        for start in range(0, len(todo), max(1, batch_size)):
            batch = _parse_batch(todo[start : start + batch_size], report, display)
            batch = _dedupe(batch, sop_paths, report)
            if batch:
                known = index.in_idc(r.series for r in batch if r.facts is not None)
                local = {r.series for r in batch if not known.get(r.series, False)}
                _store_batch(store, batch, local, busy_timeout, report)
            display.update(report)
    except KeyboardInterrupt:
        report.interrupted = True
        report.seconds = time.monotonic() - started
        display.finish(report)
        raise IngestInterrupted(report) from None
    except StoreWriteError as exc:
        display.close()
        raise StoreWriteError(exc.path, exc.reason, report.files_ingested) from None
    finally:
        index.close()
    report.seconds = time.monotonic() - started
    display.finish(report)
    return report


def _dedupe(batch: list[_Parsed], sop_paths: dict[str, str], report: IngestReport) -> list[_Parsed]:
    """Keep the last file of each SOPInstanceUID; note the others as duplicates."""
    last: dict[str, _Parsed] = {}
    for rec in batch:
        earlier = last.get(rec.sop)
        if earlier is not None:
            report.duplicates.append((earlier.path, rec.path))
            report.files_ingested += 1  # read fine; its rows are replaced by the later file's
        last[rec.sop] = rec
    for rec in last.values():
        previous = sop_paths.get(rec.sop)
        if previous is not None and previous != rec.path:
            report.duplicates.append((previous, rec.path))
        sop_paths[rec.sop] = rec.path
    return list(last.values())


def _store_batch(
    store: Store,
    batch: list[_Parsed],
    local: set[str],
    busy_timeout: float,
    report: IngestReport,
) -> None:
    """Write *batch*; if the database refuses it, retry file by file and fail only the culprits.

    Ctrl-C is held back until the batch is committed and counted.
    """
    con = _connect(store, busy_timeout, report)
    try:
        with _sigint_held():
            if not _try_write(con, store, batch, local, report, alone=False):
                for rec in batch:
                    _try_write(con, store, [rec], local, report, alone=True)
    finally:
        con.close()


def _try_write(
    con: Any,
    store: Store,
    records: list[_Parsed],
    local: set[str],
    report: IngestReport,
    *,
    alone: bool,
) -> bool:
    import duckdb

    try:
        written = _write(con, records, local)
    except duckdb.Error as exc:
        if _is_disk_error(exc):  # the next file would fail the same way: stop at once
            raise StoreWriteError(store.path, _disk_reason(exc)) from None
        if alone:
            message = str(exc).strip().splitlines()[0]
            report.fail(records[0].path, "StoreError", f"cannot store: {message}")
        return False
    _count(report, records, local, written)
    return True


_DISK_ERRORS = (
    "No space left",
    "Disk quota exceeded",
    "Read-only file system",
    "Could not write file",
    "Input/output error",
)


def _is_disk_error(exc: BaseException) -> bool:
    """True when DuckDB failed to write the store file itself (full disk, quota, I/O error):
    not the fault of one file's values."""
    import duckdb

    text = str(exc)
    return isinstance(exc, duckdb.IOException | duckdb.FatalException) or any(
        marker in text for marker in _DISK_ERRORS
    )


def _disk_reason(exc: BaseException) -> str:
    """``No space left on device`` from DuckDB's ``... Could not write file "...": No space left
    on device``; the first line of the message otherwise."""
    from .store import duckdb_reason

    text = duckdb_reason(exc)
    for marker in _DISK_ERRORS[:3]:
        if marker in text:
            return text[text.index(marker) :]
    return text


def _count(report: IngestReport, batch: list[_Parsed], local: set[str], written: int) -> None:
    report.files_ingested += len(batch)
    report.segments_written += written
    report.measurements_written += sum(r.measurements.measurements for r in batch if r.measurements)
    report.local_series.update(r.series for r in batch if r.series in local and r.facts is not None)


def store_parsed(
    records: list[ParsedInstance],
    store: Store | None = None,
    *,
    report: IngestReport | None = None,
    busy_timeout: float = 10.0,
) -> IngestReport:
    """Write SEG or SR instances parsed elsewhere (read from IDC's buckets, copied from
    BigQuery) as :func:`ingest` does.

    One transaction for *records* (rows replaced, never duplicated; SEG series IDC's index lacks
    go to ``local_series``); if the database refuses it, records are retried one by one and only
    the culprits fail (``report.failures`` names them by location). Each record's ``origin`` and
    location go to the ``instances`` table. Returns *report* (a new one if none was given).
    """
    store = store or Store()
    report = report if report is not None else IngestReport()
    report.files_seen += len(records)
    batch = _dedupe(records, {}, report)
    if not batch:
        return report
    index = _IdcIndex()
    try:
        known = index.in_idc(r.series for r in batch if r.facts is not None)  # SEGs only
    finally:
        index.close()
    local = {r.series for r in batch if not known.get(r.series, False)}
    _store_batch(store, batch, local, busy_timeout, report)
    return report
