"""Segment rows straight from IDC's public buckets: read only each SEG's header, store its rows.

:func:`fetch_segments` takes SEG series (from the embedded index with a
:class:`~idcseg.query.spec.SeriesFilter`, or given as :class:`Target`\\ s), lists each series'
objects under ``s3://<aws_bucket>/<crdc_series_uuid>/`` (anonymous ListObjectsV2), reads the first
bytes of each object with HTTP Range requests — a first window (64 KiB), then as much again each
time until the parse reaches tag (5200,0000) — parses them with :mod:`idcseg.dicom.segheader` and
writes the rows with :func:`idcseg.local.ingest.store_parsed`, exactly as ``ingest`` would, with
``instances.origin = 'bucket'`` and ``location = s3://bucket/key``. Afterwards ``idcseg find``
answers offline.

- Concurrency: a pool of worker threads (default 8) lists and reads; each keeps its own
  keep-alive connection (:class:`~idcseg.remote.bucket.AnonymousS3`). Parsed rows are written in
  batches (one transaction each, by one writer thread, beside the reads), so an interrupted run
  keeps what it wrote.
- Resumable: objects already stored from the bucket (same location and size) are not read again
  unless ``force=True``.
- Failures (transport errors after retries, not DICOM, truncated, malformed) are reported per
  object in :attr:`FetchReport.failures`; nothing is stored for them. Series whose objects are
  not segmentations (IDC has a few "SEG" series of CT images) are reported in
  :attr:`FetchReport.not_segmentation` and not stored; after the first such object, the rest of
  that series is not read.

:func:`fetch_missing` fetches the SEG series matching a filter that the store does not hold yet
(for ``idcseg find --fetch-missing``).

With ``with_measurements=True`` the SR series of the same studies and analysis results
(``sql/measurement_targets.sql``, from the embedded index) are fetched next: whole objects
(SRs are small), read by :func:`idcseg.dicom.sr.read_report` and stored like ``ingest`` stores
TID 1500 SRs; SR series of other templates are reported and not stored. Their counts are in
:attr:`FetchReport.measurements`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..dicom import segheader, sr
from ..errors import IdcsegError, UsageError
from ..local.store import Store, statement
from ..present.progress import ProgressLine
from ..query.spec import Query, SeriesFilter
from .bucket import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT,
    AnonymousS3,
    ObjectInfo,
    S3Error,
    object_url,
    parse_s3_url,
)

DEFAULT_WINDOW = 64 * 1024
DEFAULT_CONCURRENCY = 8
DEFAULT_BATCH = 200
FLUSH_SECONDS = 5.0
ORIGIN = "bucket"


# --- what to fetch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One series in a bucket: its objects are ``s3://<bucket>/<crdc_series_uuid>/*``.

    ``series_uid`` (the SEG's SeriesInstanceUID) is for reports; ``None`` when unknown.
    """

    series_uid: str | None
    bucket: str
    crdc_series_uuid: str

    @property
    def prefix(self) -> str:
        """The key prefix of the series' objects."""
        return f"{self.crdc_series_uuid.strip('/')}/"

    @property
    def url(self) -> str:
        """``s3://bucket/uuid/``."""
        return object_url(self.bucket, self.prefix)

    @property
    def name(self) -> str:
        """The SeriesInstanceUID if known, else the series' URL."""
        return self.series_uid or self.url

    @classmethod
    def coerce(cls, value: Target | Sequence[str | None] | dict[str, Any]) -> Target:
        """A Target from itself, a ``(SeriesInstanceUID, bucket, crdc_series_uuid)`` tuple, or a
        mapping with those keys (or ``series_aws_url`` instead of bucket and uuid)."""
        if isinstance(value, Target):
            return value
        if isinstance(value, dict):
            uid = value.get("SeriesInstanceUID")
            bucket, uuid = value.get("aws_bucket"), value.get("crdc_series_uuid")
            if not (bucket and uuid) and value.get("series_aws_url"):
                bucket, prefix = parse_s3_url(str(value["series_aws_url"]))
                uuid = prefix.strip("/")
        else:
            uid, bucket, uuid = value
        if not bucket or not uuid:
            raise UsageError(f"a fetch target needs a bucket and a series prefix: {value!r}")
        return cls(str(uid) if uid else None, str(bucket), str(uuid))


def _only_series(f: SeriesFilter) -> bool:
    """True when the filter names series and nothing else: they are looked up as given."""
    others = [on for name, on in f.flags().items() if name != "series"]
    return bool(f.series) and not any(others) and f.sop_class == "any"


def index_targets(
    series_filter: SeriesFilter,
    *,
    store: Store | None = None,
    limit: int | None = None,
    engine: Any = None,
) -> tuple[list[Target], list[tuple[str, str]]]:
    """The bucket location of each SEG series matching *series_filter* in the embedded index.

    Series are chosen by ``sql/series.sql`` (SEG SOP classes only) on the DuckDB engine; a filter
    holding only ``series`` UIDs looks them up whatever their SOP class (so the few "SEG" series
    of CT images are read and reported, not silently dropped). Returns the targets, in the
    template's order, and ``(SeriesInstanceUID, why)`` for series that cannot be fetched
    (unknown to the index, or stored locally with no bucket).

    *engine* is a :class:`~idcseg.query.engines.duckdb.DuckDBEngine`; one is opened (and closed) on
    *store* when not given. It must be closed before rows are written to the same store.
    """
    from ..query.engines.duckdb import DuckDBEngine
    from ..query.spec import series_query

    own = engine is None
    engine = engine or DuckDBEngine(store=store)
    try:
        if _only_series(series_filter):
            uids = list(dict.fromkeys(series_filter.series))
            if limit is not None:
                uids = uids[:limit]
        else:
            result = engine.run(series_query(series_filter, limit))
            column = result.columns.index("SeriesInstanceUID")
            uids = [row[column] for row in result.rows()]
        return _locate(engine, uids)
    finally:
        if own:
            engine.close()


def _locate(engine: Any, uids: list[str]) -> tuple[list[Target], list[tuple[str, str]]]:
    """Targets for *uids* from the engine's ``dicom_all`` (bucket, crdc_series_uuid)."""
    if not uids:
        return [], []
    rows = engine.run(Query("fetch_targets.sql", {}, {"series": list(uids)})).rows()
    found: dict[str, Target | None] = {}
    for uid, bucket, uuid, url in rows:
        try:
            found[uid] = Target.coerce(
                {
                    "SeriesInstanceUID": uid,
                    "aws_bucket": bucket,
                    "crdc_series_uuid": uuid,
                    "series_aws_url": url,
                }
            )
        except (UsageError, ValueError):
            found.setdefault(uid, None)
    targets: list[Target] = []
    missing: list[tuple[str, str]] = []
    for uid in uids:
        if uid not in found:
            missing.append((uid, "not in IDC's index"))
        elif found[uid] is None:
            missing.append((uid, "no bucket location (a locally ingested series?)"))
        else:
            target = found[uid]
            assert target is not None
            targets.append(target)
    return targets, missing


# --- the report -------------------------------------------------------------------------------


UNREACHABLE_AFTER = 3  # listings failing at the network level before any answered: give up


@dataclass(frozen=True)
class Failure:
    """An object (or a series listing) that was not stored, and why."""

    location: str
    kind: str
    reason: str
    series: str | None = None


@dataclass(frozen=True)
class PlannedRead:
    """An object a dry run would read."""

    location: str
    size: int
    series: str | None


@dataclass(frozen=True)
class ObjectRead:
    """What reading one object's header cost (kept with ``keep_reads=True``)."""

    location: str
    size: int
    bytes_read: int
    requests: int


@dataclass
class FetchReport:
    """What a :func:`fetch_segments` run did.

    Counts are of series and objects (files); ``rows_read`` are segments parsed,
    ``rows_written`` those stored. ``bytes_read`` counts object bytes received
    (headers only, ideally), ``bytes_total`` the full sizes of the objects read, and
    ``requests`` / ``retries`` every HTTP request (listings included). ``not_segmentation`` maps
    series (SeriesInstanceUID, or URL) whose objects are not SEGs to what they are.
    """

    series_total: int = 0
    series_listed: int = 0
    series_done: int = 0
    files_listed: int = 0
    files_skipped: int = 0
    files_read: int = 0
    files_stored: int = 0
    files_not_seg: int = 0
    rows_read: int = 0
    rows_written: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    requests: int = 0
    retries: int = 0
    not_segmentation: dict[str, str] = field(default_factory=dict)
    missing: list[tuple[str, str]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    failure_kinds: Counter[str] = field(default_factory=Counter)
    planned: list[PlannedRead] = field(default_factory=list)
    reads: list[ObjectRead] = field(default_factory=list, repr=False)
    dry_run: bool = False
    declined: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    kind: str = "SEG"  # what the series hold: "SEG", or "SR" (the measurements' report)
    measurements: FetchReport | None = None  # the SR series, with --with-measurements

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run completed."""
        done = self.measurements is None or self.measurements.ok
        return not self.failures and not self.interrupted and done

    @property
    def header_fraction(self) -> float | None:
        """Bytes read / total size of the objects read (``None`` before any read)."""
        return self.bytes_read / self.bytes_total if self.bytes_total else None

    def fail(self, location: str, kind: str, reason: str, series: str | None = None) -> None:
        """Record a failure."""
        self.failures.append(Failure(location, kind, reason, series))
        self.failure_kinds[kind] += 1

    def summary(self) -> str:
        """A few lines for a terminal: counts, bytes, rate, and failures by reason."""
        lines = [self._summary()]
        if self.measurements is not None:
            lines.append(self.measurements._summary())
        return "\n".join(lines)

    def _summary(self) -> str:
        rate = self.series_done / self.seconds if self.seconds > 0 else 0.0
        sr_run = self.kind == "SR"
        series = "SR series" if sr_run else "series"
        rows = "measurement" if sr_run else "segment"
        if self.declined:
            return f"not fetched: {self.series_total} series need fetching (declined)"
        if self.dry_run:
            nbytes = sum(p.size for p in self.planned)
            lines = [
                f"dry run: {_n(self.series_total, series)}, "
                f"{_n(self.files_listed, 'object')} listed, {self.files_skipped} already stored; "
                f"would read {_n(len(self.planned), 'object')} ({_mb(nbytes)} in all) with at "
                f"least {_n(len(self.planned), 'ranged GET request')} (after "
                f"{_n(self.requests, 'listing request')})"
            ]
        else:
            fraction = self.header_fraction
            share = f" ({fraction:.1%} of {_mb(self.bytes_total)})" if fraction is not None else ""
            lines = [
                f"{self.series_done} of {self.series_total} {series} done, "
                f"{self.files_stored} of {_n(self.files_listed, 'file')} stored "
                f"({self.files_skipped} already stored), {_n(self.rows_written, rows)}; "
                f"{_mb(self.bytes_read)} read{share}, {_n(self.requests, 'request')} "
                f"({_n(self.retries, 'retry', 'retries')}) in {self.seconds:.1f} s "
                f"({rate:.1f} series/s)"
            ]
        if self.not_segmentation:
            kinds = Counter(self.not_segmentation.values())
            what = ", ".join(f"{n} {k}" for k, n in kinds.most_common())
            which = "not TID 1500 measurement reports" if sr_run else "not segmentations"
            lines.append(f"{which}, not stored: {len(self.not_segmentation)} series ({what})")
        if self.missing:
            lines.append(f"not fetchable: {len(self.missing)} series (" + _why(self.missing) + ")")
        if self.failures:
            reasons = ", ".join(f"{n} {k}" for k, n in self.failure_kinds.most_common())
            lines.append(f"failed: {len(self.failures)} ({reasons}); run again to retry them")
        if self.interrupted:
            lines.append("interrupted: run again to continue")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "series_total": self.series_total,
            "series_done": self.series_done,
            "files_listed": self.files_listed,
            "files_skipped": self.files_skipped,
            "files_read": self.files_read,
            "files_stored": self.files_stored,
            "files_not_seg": self.files_not_seg,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "requests": self.requests,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "not_segmentation": self.not_segmentation,
            "missing": [{"series": s, "why": w} for s, w in self.missing],
            "failures": [f.__dict__ for f in self.failures],
            "failure_kinds": dict(self.failure_kinds),
            "planned": [p.__dict__ for p in self.planned],
            "dry_run": self.dry_run,
            "declined": self.declined,
            "interrupted": self.interrupted,
            "ok": self.ok,
            "kind": self.kind,
            "measurements": self.measurements.as_dict() if self.measurements else None,
        }


def _n(count: int, word: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``."""
    if plural is None:
        plural = word if word.endswith("s") else word + "s"
    return f"{count} {word if count == 1 else plural}"


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB" if nbytes >= 100_000 else f"{nbytes / 1e3:.1f} kB"


def _why(missing: list[tuple[str, str]]) -> str:
    return ", ".join(f"{n} {w}" for w, n in Counter(w for _, w in missing).most_common())


class BucketUnreachable(IdcsegError):
    """Not one listing of the run got an answer: no network, or a wrong endpoint (exit 1)."""


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fetch_segments`; ``report`` says what was stored before it."""

    def __init__(self, report: FetchReport) -> None:
        super().__init__(report.summary())
        self.report = report


# --- reading one object -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    target: Target
    info: ObjectInfo

    @property
    def location(self) -> str:
        return object_url(self.target.bucket, self.info.key)


def read_object_header(
    client: AnonymousS3, bucket: str, key: str, size: int | None, window: int = DEFAULT_WINDOW
) -> tuple[Any, int, int, int]:
    """The SEG header of one object, read with as few bytes as the header needs.

    Reads bytes ``0…window-1``; while the header is incomplete, reads as many bytes again
    (the prefix doubles) until the parse reaches (5200,0000) or the object ends. Returns
    ``(dataset, bytes_read, requests, object_size)``. Raises :class:`~idcseg.remote.bucket.S3Error`
    and the :class:`~idcseg.dicom.segheader.SegReadError` family.
    """
    data = bytearray()
    total = size
    want = window if total is None else min(window, total)
    requests = 0
    while True:
        complete = total is not None and len(data) >= total
        if not complete:
            chunk = client.get_range(bucket, key, len(data), len(data) + max(want, 1) - 1)
            requests += 1
            if chunk.total is not None:
                total = chunk.total
            data += chunk.data
            complete = (total is not None and len(data) >= total) or len(chunk.data) < want
        try:
            ds = segheader.read_header_prefix(data, complete=complete)
        except segheader.IncompleteHeader:
            want = len(data)
            if total is not None:
                want = min(want, total - len(data))
            continue
        return ds, len(data), requests, total if total is not None else len(data)


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _read_report(client: AnonymousS3, obj: _Object, window: int) -> tuple[Any, ObjectRead]:
    """Worker task: read one SR object whole and parse its TID 1500 measurement rows."""
    from ..local.ingest import parse_report

    size = obj.info.size
    if size <= 0:
        raise segheader.Truncated("the object is empty")
    chunk = client.get_range(obj.target.bucket, obj.info.key, 0, size - 1)
    data = bytes(chunk.data)
    if len(data) < size:
        raise segheader.Truncated(f"the object ended after {len(data)} of {size} bytes")
    parsed = parse_report(
        sr.read_report(data), obj.location, size, _epoch(obj.info.last_modified), ORIGIN
    )
    return parsed, ObjectRead(obj.location, size, len(data), 1)


def _read_and_parse(client: AnonymousS3, obj: _Object, window: int) -> tuple[Any, ObjectRead]:
    """Worker task: read and parse one object; the parsed instance and what it cost."""
    from ..local.ingest import parse_dataset

    ds, nbytes, requests, size = read_object_header(
        client, obj.target.bucket, obj.info.key, obj.info.size, window
    )
    parsed = parse_dataset(ds, obj.location, size, _epoch(obj.info.last_modified), ORIGIN)
    return parsed, ObjectRead(obj.location, size, nbytes, requests)


# --- progress ---------------------------------------------------------------------------------


class _Progress(ProgressLine):
    """series, files, rows, bytes read, rate, failures."""

    def update(self, r: FetchReport, force: bool = False) -> None:
        if not self.due(force):
            return
        rate = r.series_done / self.elapsed()
        failed = f"  {len(r.failures)} failed" if r.failures else ""
        files = r.files_read + r.files_skipped + r.files_not_seg + len(r.failures)
        self.show(
            f"fetch series {r.series_done}/{r.series_total}  files {files}/{r.files_listed}"
            f"  rows {r.rows_read}  {_mb(r.bytes_read)} read  {rate:.1f} series/s{failed}"
        )


# --- the run ----------------------------------------------------------------------------------


def _stored_locations(store: Store) -> dict[str, int | None]:
    """Object URL → size of every instance stored from a bucket."""
    if not store.exists():
        return {}
    con = store.connect()
    try:
        rows = con.execute(statement("stored_objects"), {"origin": ORIGIN}).fetchall()
    finally:
        con.close()
    return dict(rows)


def fetch_segments(
    series_filter: SeriesFilter | None = None,
    *,
    targets: Iterable[Target | Sequence[str | None] | dict[str, Any]] | None = None,
    store: Store | None = None,
    endpoint: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    window: int = DEFAULT_WINDOW,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    limit: int | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: bool | None = None,
    batch_size: int = DEFAULT_BATCH,
    busy_timeout: float = 10.0,
    keep_reads: bool = False,
    client: AnonymousS3 | None = None,
    with_measurements: bool = False,
) -> FetchReport:
    """Read the headers of SEG series' objects in IDC's buckets and store their segment rows.

    Args:
        series_filter: which SEG series, chosen in the embedded index (ignored with *targets*).
        targets: the series to fetch, instead of the index: :class:`Target`\\ s, tuples
            ``(SeriesInstanceUID, bucket, crdc_series_uuid)`` or mappings (see
            :meth:`Target.coerce`).
        store: the local store (default: ``$IDCSEG_HOME`` or the user data folder).
        endpoint: ``http(s)://host[:port]`` of an S3-compatible server (path-style); default
            ``$IDCSEG_S3_ENDPOINT``, else AWS.
        concurrency: worker threads (each with its own keep-alive connection).
        window: bytes of the first ranged read of each object (then doubled while needed).
        timeout: seconds a request may wait for the server.
        attempts: tries per request for transient failures (5xx, timeouts, resets, short bodies).
        limit: at most this many series (from the index).
        dry_run: list the objects that would be read (listing requests only); store nothing.
        force: read objects again even if already stored from the bucket.
        progress: a progress line on stderr; ``None`` shows it when stderr is a terminal.
        batch_size: instances per write transaction (writes also happen every few seconds).
        busy_timeout: seconds to keep retrying while another process holds the store.
        keep_reads: record per-object costs in :attr:`FetchReport.reads`.
        client: an :class:`~idcseg.remote.bucket.AnonymousS3` to use (then *endpoint*, *timeout* and
            *attempts* are its own).
        with_measurements: then fetch the SR series of the same studies and analysis results
            (whole objects) and store their TID 1500 measurements (see the module docstring).

    Raises:
        UsageError: no filter and no targets, or bad option values.
        StoreBusyError: the store stayed locked by another process.
        FetchInterrupted: Ctrl-C (a ``KeyboardInterrupt``); batches already written stay.
    """
    started = time.monotonic()
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"--concurrency must be a whole number ≥ 1, not {concurrency!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1024:
        raise UsageError(f"--window must be at least 1024 bytes, not {window!r}")
    if limit is not None:
        from ..query.spec import validate_limit

        validate_limit(limit)
    store = store or Store()
    report = FetchReport(dry_run=dry_run)
    if targets is None:
        if series_filter is None:
            raise UsageError("say which series to fetch: a series filter or targets")
        chosen, report.missing = index_targets(series_filter, store=store, limit=limit)
    else:
        chosen = [Target.coerce(t) for t in targets]
        if limit is not None:
            chosen = chosen[:limit]
    chosen = list(dict.fromkeys(chosen))
    report.series_total = len(chosen)
    if progress is None:
        progress = sys.stderr.isatty()
    own_client = client is None
    if client is None:
        client = AnonymousS3(endpoint, timeout=timeout, attempts=attempts)
    before = (client.stats.requests, client.stats.retries)
    stored = {} if force else _stored_locations(store)
    run = _Run(client, store, report, stored, window, batch_size, busy_timeout, keep_reads)
    display = _Progress(progress)
    current = report
    sr_before: tuple[int, int] | None = None
    try:
        with segheader.quiet():
            run.go(chosen, concurrency, display)
            if with_measurements:
                current = report.measurements = FetchReport(dry_run=dry_run, kind="SR")
                uids = [t.series_uid for t in chosen if t.series_uid]
                reports = measurement_targets(uids, store=store)
                current.series_total = len(reports)
                sr_before = (client.stats.requests, client.stats.retries)
                display.update(report, force=True)
                display.close()
                display = _Progress(progress)
                run = _Run(
                    client, store, current, stored, window, batch_size, busy_timeout,
                    keep_reads, reader=_read_report,
                )  # fmt: skip
                run.go(reports, concurrency, display)
    except KeyboardInterrupt:
        current.interrupted = report.interrupted = True
        raise FetchInterrupted(report) from None
    finally:
        report.requests = client.stats.requests - before[0]
        report.retries = client.stats.retries - before[1]
        if report.measurements is not None and sr_before is not None:
            report.measurements.requests = client.stats.requests - sr_before[0]
            report.measurements.retries = client.stats.retries - sr_before[1]
            report.requests -= report.measurements.requests
            report.retries -= report.measurements.retries
        report.seconds = time.monotonic() - started
        if report.measurements is not None:
            report.measurements.seconds = report.seconds
        display.update(current, force=True)
        display.close()
        if own_client:
            client.close()
    return report


class _Run:
    """The scheduler of one fetch: lists series, reads objects, writes batches."""

    def __init__(
        self,
        client: AnonymousS3,
        store: Store,
        report: FetchReport,
        stored: dict[str, int | None],
        window: int,
        batch_size: int,
        busy_timeout: float,
        keep_reads: bool,
        reader: Callable[..., tuple[Any, ObjectRead]] = _read_and_parse,
    ) -> None:
        self.reader = reader
        self.client = client
        self.store = store
        self.report = report
        self.stored = stored
        self.window = window
        self.batch_size = max(1, batch_size)
        self.busy_timeout = busy_timeout
        self.keep_reads = keep_reads
        self.batch: list[Any] = []
        self.batch_series: dict[str, Target] = {}
        self.remaining: dict[Target, int] = {}
        self.not_seg: set[Target] = set()
        self.held: dict[Target, list[_Object]] = {}
        self.writer: ThreadPoolExecutor | None = None
        self.writing: Future[Any] | None = None
        self.writing_what: tuple[list[Any], dict[str, Target], Any] = ([], {}, None)
        self.last_flush = time.monotonic()

    def go(self, targets: list[Target], concurrency: int, display: _Progress) -> None:
        pending: deque[Target] = deque(targets)
        ready: deque[_Object] = deque()
        inflight: dict[Future[Any], tuple[str, Any]] = {}
        depth = concurrency * 2
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="idcseg-fetch")
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="idcseg-store")
        self.unreachable = 0
        interrupted = False
        try:
            while pending or ready or inflight:
                while len(inflight) < depth and (ready or pending):
                    if ready:
                        obj = ready.popleft()
                        if obj.target in self.not_seg:
                            self.report.files_not_seg += 1
                            self._object_done(obj.target)
                            continue
                        read = pool.submit(self.reader, self.client, obj, self.window)
                        inflight[read] = ("read", obj)
                    else:
                        target = pending.popleft()
                        listing = pool.submit(
                            self.client.list_objects, target.bucket, target.prefix
                        )
                        inflight[listing] = ("list", target)
                done, _ = wait(list(inflight), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    kind, item = inflight.pop(future)
                    if kind == "list":
                        ready.extend(self._listed(item, future))
                    else:
                        ready.extend(self._read(item, future))
                if self.writing is not None and self.writing.done():
                    self._collect()
                due = len(self.batch) >= self.batch_size or (
                    self.batch and time.monotonic() - self.last_flush > FLUSH_SECONDS
                )
                # a write runs beside the reads; wait for it only when batches pile up
                if due and (self.writing is None or len(self.batch) >= 2 * self.batch_size):
                    self.flush()
                display.update(self.report)
            self.flush()
            self._collect()
        except KeyboardInterrupt:
            interrupted = True
            self.client.cancel()  # workers stop at their next request
            pool.shutdown(wait=False, cancel_futures=True)
            self.flush()  # what was read is kept
            self._collect()
            raise
        except (UsageError, BucketUnreachable):
            interrupted = True
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            if not interrupted:
                pool.shutdown(wait=True, cancel_futures=True)
            self.writer.shutdown(wait=True)

    def _object_done(self, target: Target) -> None:
        self.remaining[target] -= 1
        if self.remaining[target] == 0:
            self.report.series_done += 1

    def _listed(self, target: Target, future: Future[Any]) -> list[_Object]:
        report = self.report
        try:
            objects: list[ObjectInfo] = future.result()
        except S3Error as exc:
            report.fail(target.url, exc.kind, f"cannot list the series: {exc}", target.series_uid)
            if exc.status is None and report.series_listed == 0:
                self.unreachable += 1  # not one listing answered: stop rather than try them all
                if self.unreachable >= UNREACHABLE_AFTER:
                    self.client.cancel()
                    raise BucketUnreachable(
                        f"cannot reach the bucket ({exc}); check the network, or "
                        "IDCSEG_S3_ENDPOINT / --endpoint"
                    ) from None
            return []
        except Exception as exc:  # a bug must not stop the run
            report.fail(target.url, "error", f"{type(exc).__name__}: {exc}", target.series_uid)
            return []
        report.series_listed += 1
        report.files_listed += len(objects)
        if not objects:
            report.fail(target.url, "no objects", "nothing under this prefix", target.series_uid)
            return []
        todo = []
        for info in objects:
            obj = _Object(target, info)
            known = self.stored.get(obj.location, -1)
            if known == info.size:
                report.files_skipped += 1
            elif report.dry_run:
                report.planned.append(PlannedRead(obj.location, info.size, target.series_uid))
            else:
                todo.append(obj)
        if not todo:
            report.series_done += 1
            return []
        self.remaining[target] = len(todo)
        # the first object is read alone: if it is no SEG, the others are not read at all
        self.held[target] = todo[1:]
        return todo[:1]

    def _read(self, obj: _Object, future: Future[Any]) -> list[_Object]:
        """Account for one object's read; return the objects of its series to read next."""
        report, target = self.report, obj.target
        release = self.held.pop(target, [])
        try:
            parsed, cost = future.result()
        except (segheader.NotSegmentation, sr.NotMeasurementReport) as exc:
            report.files_not_seg += 1
            self.not_seg.add(target)
            report.not_segmentation.setdefault(target.name, _sop_name(exc))
            for _ in release:
                report.files_not_seg += 1
                self._object_done(target)
            release = []
        except segheader.SegReadError as exc:
            report.fail(obj.location, type(exc).__name__, exc.reason, target.series_uid)
        except S3Error as exc:
            report.fail(obj.location, exc.kind, str(exc), target.series_uid)
        except Exception as exc:  # a reader bug must not stop the run
            report.fail(obj.location, "error", f"{type(exc).__name__}: {exc}", target.series_uid)
        else:
            report.files_read += 1
            report.rows_read += len(parsed.rows) or (
                parsed.measurements.measurements if parsed.measurements else 0
            )
            report.bytes_read += cost.bytes_read
            report.bytes_total += cost.size
            if self.keep_reads:
                report.reads.append(cost)
            if target.series_uid and parsed.series != target.series_uid:
                report.fail(
                    obj.location,
                    "wrong series",
                    f"the object holds series {parsed.series}, not {target.series_uid}",
                    target.series_uid,
                )
            else:
                self.batch.append(parsed)
                self.batch_series[obj.location] = target
                return release  # counted done when written
        self._object_done(target)
        return release

    def flush(self) -> None:
        """Start writing the parsed instances of the batch (one transaction, in the writer
        thread, after the previous write has finished)."""
        self.last_flush = time.monotonic()
        if not self.batch:
            return
        from ..local.ingest import IngestReport, store_parsed

        self._collect()
        assert self.writer is not None, "flush() runs inside go()"
        batch, self.batch = self.batch, []
        where, self.batch_series = self.batch_series, {}
        written = IngestReport()
        self.writing = self.writer.submit(
            store_parsed, batch, self.store, report=written, busy_timeout=self.busy_timeout
        )
        self.writing_what = (batch, where, written)

    def _collect(self) -> None:
        """Wait for the write in progress, if any, and count what it stored or refused."""
        if self.writing is None:
            return
        future, (batch, where, written) = self.writing, self.writing_what
        self.writing = None
        try:
            future.result()
        finally:
            for path, reason in written.failures:
                self.report.fail(path, "StoreError", reason, where[path].series_uid)
            self.report.files_stored += written.files_ingested
            self.report.rows_written += written.segments_written + written.measurements_written
            for rec in batch:
                self._object_done(where[rec.path])


def _sop_name(exc: segheader.NotSegmentation | sr.NotMeasurementReport) -> str:
    if not exc.sop_class_uid:
        return "no SOP class"
    from pydicom.uid import UID

    return UID(exc.sop_class_uid).name


def measurement_targets(seg_series: list[str], *, store: Store | None = None) -> list[Target]:
    """The SR series of the studies and analysis results of *seg_series*, in the embedded index
    (``sql/measurement_targets.sql``), with their bucket locations."""
    from ..query.engines.duckdb import DuckDBEngine

    if not seg_series:
        return []
    engine = DuckDBEngine(store=store)
    try:
        params = {
            "series": list(dict.fromkeys(seg_series)),
            "sr_sop_class_uids": list(sr.SR_SOP_CLASSES),
        }
        rows = engine.run(Query("measurement_targets.sql", {}, params)).rows()
    finally:
        engine.close()
    targets = []
    for uid, bucket, uuid, url in rows:
        try:
            targets.append(
                Target.coerce(
                    {
                        "SeriesInstanceUID": uid,
                        "aws_bucket": bucket,
                        "crdc_series_uuid": uuid,
                        "series_aws_url": url,
                    }
                )
            )
        except (UsageError, ValueError):
            continue  # a series with no bucket location (stored locally)
    return targets


# --- fetch what a search needs ----------------------------------------------------------------


HEADER_BYTES = 64 * 1024  # what reading one SEG's header usually takes (one ranged GET)
SERIES_PER_SECOND = 60.0  # measured with the default concurrency (README, bench/fetch_bytes.py)


@dataclass(frozen=True)
class MissingPlan:
    """What ``find --fetch-missing`` would fetch: the IDC SEG series matching a filter whose
    instances are not all in the store, counted before anything is located or read."""

    series: tuple[str, ...]
    instances: int
    bytes_total: float  # the full size of those series in IDC's index

    def __len__(self) -> int:
        return len(self.series)

    def describe(self) -> str:
        """One line: how many series and files, and what reading their headers costs."""
        reads = self.instances * HEADER_BYTES
        minutes = len(self.series) / SERIES_PER_SECOND / 60
        took = f"~{minutes:.0f} min" if minutes >= 1.5 else f"~{minutes * 60:.0f} s"
        files = f"{self.instances:,} file{'s' if self.instances != 1 else ''}"
        return (
            f"{len(self.series):,} SEG series ({files}, {_mb(self.bytes_total)}) "
            f"{'is' if len(self.series) == 1 else 'are'} not in the local store; fetching "
            f"reads only each file's header from IDC's public buckets: about {_mb(reads)} in "
            f"{self.instances:,} requests, {took}, free of charge"
        )


def plan_missing(
    series_filter: SeriesFilter, *, store: Store | None = None, engine: Any = None
) -> MissingPlan:
    """Count the IDC SEG series matching *series_filter* whose instances are not all in the
    store (fewer stored, from any origin, than IDC's ``instanceCount``; none if never fetched)."""
    from ..query.engines.duckdb import DuckDBEngine
    from ..query.spec import series_query

    own = engine is None
    engine = engine or DuckDBEngine(store=store)
    try:
        result = engine.run(series_query(series_filter))
        uid_col = result.columns.index("SeriesInstanceUID")
        count_col = result.columns.index("instanceCount")
        size_col = result.columns.index("series_size_MB")
        wanted = {row[uid_col]: (row[count_col], row[size_col]) for row in result.rows()}
        if not wanted:
            return MissingPlan((), 0, 0.0)
        have = dict(
            engine.connection()
            .execute(statement("stored_instance_counts"), {"uids": list(wanted)})
            .fetchall()
        )
        todo = [uid for uid, (n, _) in wanted.items() if have.get(uid, 0) < (n or 1)]
        return MissingPlan(
            tuple(todo),
            sum(wanted[uid][0] or 1 for uid in todo),
            sum((wanted[uid][1] or 0.0) * 1e6 for uid in todo),
        )
    finally:
        if own:
            engine.close()


def missing_series(
    series_filter: SeriesFilter, *, store: Store | None = None, engine: Any = None
) -> tuple[list[Target], list[tuple[str, str]]]:
    """IDC SEG series matching *series_filter* whose instances are not all in the store, located
    in IDC's buckets (see :func:`plan_missing`); and those that cannot be located, with why."""
    from ..query.engines.duckdb import DuckDBEngine

    own = engine is None
    engine = engine or DuckDBEngine(store=store)
    try:
        return _locate(engine, list(plan_missing(series_filter, engine=engine).series))
    finally:
        if own:
            engine.close()


def fetch_missing(
    series_filter: SeriesFilter,
    max_series: int = 50,
    confirm: Callable[[MissingPlan], bool] | None = None,
    *,
    store: Store | None = None,
    yes: bool = False,
    **options: Any,
) -> FetchReport:
    """Fetch the IDC SEG series matching *series_filter* that the store lacks (for ``find``).

    The missing series are counted first (:func:`plan_missing`, well under a second). When there
    are more than *max_series*, they are fetched only with *yes* or when ``confirm(plan)``
    agrees; otherwise the report has ``declined=True`` and ``series_total`` = their number, and
    nothing was located or read. Other keyword *options* go to :func:`fetch_segments`
    (``endpoint``, ``concurrency``, ``progress``…).

    Call it before opening an engine on the same store in this process (DuckDB refuses to
    write a file that a connection of the same process has attached read-only).
    """
    from ..query.engines.duckdb import DuckDBEngine

    store = store or Store()
    engine = DuckDBEngine(store=store)
    try:
        plan = plan_missing(series_filter, engine=engine)
        if len(plan) > max_series and not yes and (confirm is None or not confirm(plan)):
            return FetchReport(series_total=len(plan), declined=True)
        targets, missing = _locate(engine, list(plan.series))
    finally:
        engine.close()
    if not targets:
        return FetchReport(missing=missing)
    report = fetch_segments(targets=targets, store=store, **options)
    report.missing = missing + report.missing
    return report
