"""``idcseg download``: the files of a planned selection, fetched in parallel, checked, resumable.

:func:`download` takes a :class:`~idcseg.remote.plan.Plan` and fetches its series into the
output folder:

- each series is listed (ListObjectsV2; listings read while planning are reused), and each
  object is compared with what the folder holds (:mod:`idcseg.remote.resume`): files already
  there and complete are skipped;
- the rest are streamed by ``concurrency`` worker threads with obstore
  (:mod:`idcseg.remote.transfer`: retries with backoff, short bodies continued, a changed object
  read again), each into a temporary file beside its final place, renamed once every byte
  arrived; the file is named ``<SOPInstanceUID>.dcm`` (read from its first bytes) or, if that
  cannot be read, after its object;
- each finished file is added to the folder's ledger at once, so Ctrl-C (or a kill) loses at
  most the files in flight, and a rerun continues;
- a full disk, an unwritable folder or a bucket that cannot be reached stop the run with one
  message; other failures are counted per file and reported by reason;
- at the end ``LICENSES.csv`` and ``CITATIONS.txt`` describe everything the folder holds.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import queue
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IdcsegError
from ..present.progress import TransferProgress, duration, human_bytes
from .bucket import ObjectInfo
from .layout import safe_part
from .plan import Plan, SeriesPlan
from .resume import PART_SUFFIX, Entry, FolderLock, Ledger, remove_parts, stat_matches
from .transfer import Cancelled, ObjectClient, TransferError, etag_md5, file_md5

DEFAULT_CONCURRENCY = 16
UNREACHABLE_AFTER = 3  # listings failing without any answer before one succeeds: give up
DRAIN_SECONDS = 5.0  # after Ctrl-C, how long to wait for workers to clean up


@dataclass(frozen=True)
class Failure:
    """A file (or a series listing) that was not downloaded, and why."""

    location: str
    kind: str
    reason: str
    series: str | None = None


@dataclass
class SeriesOutcome:
    """What happened to one series."""

    plan: SeriesPlan
    listed: int | None = None  # objects (None: not listed)
    downloaded: int = 0
    present: int = 0
    failed: int = 0
    bytes_downloaded: int = 0
    bytes_present: int = 0
    error: str | None = None

    @property
    def status(self) -> str:
        """``complete``, ``incomplete`` (some files missing) or ``failed`` (none there)."""
        if self.listed is None:
            return "failed" if self.error else "not started"
        if self.failed == 0 and self.downloaded + self.present == self.wanted:
            return "complete"
        return "incomplete" if self.downloaded + self.present else "failed"

    @property
    def wanted(self) -> int:
        """Objects to have: all listed, or those an instance-level manifest names."""
        if self.plan.only is None:
            return self.listed or 0
        return len(self.plan.only)


@dataclass
class DownloadReport:
    """What :func:`download` did; ``to_frame()`` gives one row per series."""

    plan: Plan
    outcomes: list[SeriesOutcome] = field(default_factory=list)
    files_downloaded: int = 0
    files_present: int = 0
    bytes_downloaded: int = 0
    bytes_present: int = 0
    files_verified: int = 0  # present files whose MD5 was read to check them
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    stopped: str | None = None  # why the whole run stopped (disk full, …)
    licences: bool = False  # LICENSES.csv and CITATIONS.txt written

    @property
    def ok(self) -> bool:
        """True when every file is there."""
        return not self.failures and not self.interrupted and not self.stopped

    @property
    def failure_kinds(self) -> Counter[str]:
        """Failures counted by kind."""
        return Counter(f.kind for f in self.failures)

    def summary(self) -> str:
        """A few lines for the terminal."""
        series_done = sum(1 for o in self.outcomes if o.status == "complete")
        rate = self.bytes_downloaded / self.seconds if self.seconds > 0 else 0.0
        files = "file" if self.files_downloaded == 1 else "files"
        lines = [
            f"downloaded {self.files_downloaded:,} {files} ({human_bytes(self.bytes_downloaded)}) "
            f"in {duration(self.seconds)} ({human_bytes(rate)}/s); already present "
            f"{self.files_present:,} ({human_bytes(self.bytes_present)}); "
            f"{series_done:,} of {len(self.outcomes):,} series complete in {self.plan.output}"
        ]
        if self.failures:
            kinds = ", ".join(f"{n} {k}" for k, n in self.failure_kinds.most_common())
            lines.append(f"failed: {len(self.failures):,} ({kinds}); run again to retry them")
            for failure in self.failures[:10]:
                lines.append(f"  {failure.location}: {failure.kind}: {failure.reason}")
            if len(self.failures) > 10:
                lines.append(f"  … and {len(self.failures) - 10} more")
        if self.plan.unresolved:
            lines.append(
                f"{len(self.plan.unresolved):,} SEG series without a resolvable source "
                "(their own files are downloaded):"
            )
            for uid, why in self.plan.unresolved[:10]:
                lines.append(f"  {uid}: {why}")
        if self.interrupted:
            lines.append("interrupted: run the same command again to continue")
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)

    def to_frame(self) -> Any:
        """One row per series: what it is, where it went, what happened."""
        import pandas as pd

        from ..query.engines import normalise_frame

        unresolved = dict(self.plan.unresolved)
        sources: dict[str, str] = {}
        for o in self.outcomes:
            for seg in o.plan.source_of:
                sources.setdefault(seg, o.plan.uid)
        rows = []
        for o in self.outcomes:
            p = o.plan
            rows.append(
                {
                    "SeriesInstanceUID": p.uid,
                    "role": p.role,
                    "source_of": ",".join(p.source_of) or None,
                    "source_series": sources.get(p.uid),
                    "source_note": unresolved.get(p.uid),
                    "collection_id": p.facts.get("collection_id"),
                    "PatientID": p.facts.get("PatientID"),
                    "StudyInstanceUID": p.facts.get("StudyInstanceUID"),
                    "Modality": p.facts.get("Modality"),
                    "folder": str(self.plan.output / p.folder),
                    "status": o.status,
                    "files": o.listed,
                    "downloaded": o.downloaded,
                    "present": o.present,
                    "failed": o.failed,
                    "bytes": o.bytes_downloaded + o.bytes_present,
                    "error": o.error,
                    "series_aws_url": p.url,
                }
            )
        frame = normalise_frame(pd.DataFrame(rows, columns=_FRAME_COLUMNS))
        frame.attrs["summary"] = self.summary()
        return frame


_FRAME_COLUMNS = [
    "SeriesInstanceUID",
    "role",
    "source_of",
    "source_series",
    "source_note",
    "collection_id",
    "PatientID",
    "StudyInstanceUID",
    "Modality",
    "folder",
    "status",
    "files",
    "downloaded",
    "present",
    "failed",
    "bytes",
    "error",
    "series_aws_url",
]


class DownloadInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`download`; ``report`` says what was done (and kept) before it."""

    def __init__(self, report: DownloadReport) -> None:
        super().__init__(report.summary())
        self.report = report


class DownloadStopped(IdcsegError):
    """The run could not go on (a full disk, an unwritable folder, an unreachable bucket);
    ``report`` says what was done before. Files finished before it are kept."""

    def __init__(self, message: str, report: DownloadReport) -> None:
        super().__init__(message)
        self.report = report


# --- the worker pool --------------------------------------------------------------------------


class _Pool:
    """Daemon worker threads: a blocked request never keeps the process from exiting."""

    def __init__(self, size: int) -> None:
        self.jobs: queue.Queue[tuple[Any, Callable[[], Any]] | None] = queue.Queue()
        self.results: queue.Queue[tuple[Any, Any, BaseException | None]] = queue.Queue()
        self.threads = [
            threading.Thread(target=self._work, name=f"idcseg-download-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            tag, call = job
            try:
                self.results.put((tag, call(), None))
            except BaseException as exc:  # noqa: BLE001 - handed to the scheduler
                self.results.put((tag, None, exc))

    def submit(self, tag: Any, call: Callable[[], Any]) -> None:
        self.jobs.put((tag, call))

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)

    def drop_queued(self) -> int:
        """Forget jobs not started yet; how many."""
        dropped = 0
        with contextlib.suppress(queue.Empty):
            while True:
                self.jobs.get_nowait()
                dropped += 1
        return dropped


# --- one file ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    kind: str  # "list", "fetch", "verify"
    series: SeriesPlan
    info: ObjectInfo | None = None
    path: Path | None = None  # verify: the file to check


@dataclass(frozen=True)
class _Written:
    path: Path
    size: int
    etag: str | None
    mtime_ns: int


class _Stop(Exception):
    """A failure that ends the whole run (the folder cannot be written)."""


def _object_name(key: str) -> str:
    return safe_part(key.rsplit("/", 1)[-1])


class _Run:
    """The scheduler: lists series, checks what is there, hands files to the workers."""

    def __init__(
        self,
        plan: Plan,
        client: ObjectClient,
        ledger: Ledger,
        report: DownloadReport,
        concurrency: int,
        verify: bool,
        display: TransferProgress,
    ) -> None:
        self.plan = plan
        self.root = plan.output
        self.client = client
        self.ledger = ledger
        self.report = report
        self.concurrency = concurrency
        self.verify = verify
        self.display = display
        self.outcomes = {(o.plan.bucket, o.plan.uuid): o for o in report.outcomes}
        self.remaining: dict[tuple[str, str], int] = {}
        self.series_done = 0
        self.files_total = plan.files
        self.bytes_total = plan.size
        self.bytes_live = 0  # bytes received by workers (progress)
        self._lock = threading.Lock()
        self.owners = {e.path: e.url for e in ledger.entries.values()}
        self.cleaned: set[Path] = set()
        self.made: set[Path] = set()  # folders known to exist
        self._serial = itertools.count()  # temporary names (unique with the pid)
        self.unreachable = 0
        self.listed_any = False

    # --- progress -----------------------------------------------------------------------------

    def _on_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_live += n

    def _show(self, force: bool = False) -> None:
        if not self.display.due(force):
            return
        r = self.report
        with self._lock:
            live = self.bytes_live
        files = r.files_downloaded + r.files_present + len(r.failures)
        self.display.show(
            self.display.render(
                live + r.bytes_present,
                max(self.bytes_total, live + r.bytes_present),
                files,
                max(self.files_total, files),
                self.series_done,
                len(self.plan.series),
                len(r.failures),
                moved=live,
            )
        )

    # --- the loop -----------------------------------------------------------------------------

    def go(self) -> None:
        pool = _Pool(self.concurrency)
        pending: deque[SeriesPlan] = deque(self.plan.series)
        ready: deque[_Job] = deque()
        inflight = listing = 0
        depth = self.concurrency * 2
        try:
            while pending or ready or inflight:
                while inflight < depth and (ready or pending):
                    # list ahead while few files wait, so workers never wait for a listing
                    if pending and (not ready or (len(ready) < depth and listing < 2)):
                        series = pending.popleft()
                        cached = self.plan.listings.get((series.bucket, series.prefix))
                        if cached is not None:
                            ready.extend(self._listed(series, cached))
                            continue
                        job = _Job("list", series)
                        listing += 1
                    else:
                        job = ready.popleft()
                    pool.submit(job, self._task(job))
                    inflight += 1
                try:
                    job, value, error = pool.results.get(timeout=0.2)
                except queue.Empty:
                    self._show()
                    continue
                inflight -= 1
                listing -= job.kind == "list"
                ready.extend(self._done(job, value, error))
                self._show()
        except (KeyboardInterrupt, _Stop):
            self.client.cancel()
            inflight -= pool.drop_queued()  # never started: no result will come
            self._drain(pool, inflight)
            raise
        finally:
            pool.close()
            self._show(force=True)

    def _drain(self, pool: _Pool, inflight: int) -> None:
        """After a stop: let running workers finish or give up (they clean their files)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while inflight > 0 and time.monotonic() < deadline:
            try:
                job, value, error = pool.results.get(timeout=0.1)
            except queue.Empty:
                continue
            inflight -= 1
            if error is None and job.kind == "fetch":
                with contextlib.suppress(Exception):
                    self._done(job, value, None)

    def _task(self, job: _Job) -> Callable[[], Any]:
        if job.kind == "list":
            return lambda: self.client.list_objects(job.series.bucket, job.series.prefix)
        if job.kind == "verify":
            assert job.path is not None
            return lambda: file_md5(job.path)  # type: ignore[arg-type]
        return lambda: self._fetch(job)

    # --- results ------------------------------------------------------------------------------

    def _done(self, job: _Job, value: Any, error: BaseException | None) -> list[_Job]:
        if job.kind == "list":
            if error is not None:
                return self._list_failed(job.series, error)
            self.listed_any = True
            return self._listed(job.series, value)
        if job.kind == "verify":
            return self._verified(job, value, error)
        return self._fetched(job, value, error)

    def _list_failed(self, series: SeriesPlan, error: BaseException) -> list[_Job]:
        if isinstance(error, KeyboardInterrupt):
            raise error
        kind = error.kind if isinstance(error, TransferError) else "error"
        status = error.status if isinstance(error, TransferError) else None
        outcome = self.outcomes[(series.bucket, series.uuid)]
        outcome.error = f"cannot list the series: {error}"
        self._fail(series.url, kind, outcome.error, series)
        self.series_done += 1
        if status is None and not self.listed_any and not isinstance(error, Cancelled):
            self.unreachable += 1
            if self.unreachable >= UNREACHABLE_AFTER:
                self.report.stopped = (
                    f"cannot reach the bucket ({kind}); check the network, or IDCSEG_S3_ENDPOINT"
                )
                raise _Stop(self.report.stopped)
        return []

    def _listed(self, series: SeriesPlan, objects: list[ObjectInfo]) -> list[_Job]:
        """Decide per object: present, check its MD5, or fetch."""
        outcome = self.outcomes[(series.bucket, series.uuid)]
        if series.only is not None:
            names = {o.key for o in objects}
            for key in sorted(series.only - names):
                self._fail(f"s3://{series.bucket}/{key}", "HTTP 404", "not in the bucket", series)
            objects = [o for o in objects if o.key in series.only]
        outcome.listed = len(objects) if series.only is None else len(series.only)
        if not objects:
            if not outcome.failed:
                outcome.error = "no objects under this prefix"
                self._fail(series.url, "no objects", "nothing under this prefix", series)
            self.series_done += 1
            return []
        # the index's counts were estimates: the listing is the truth
        self.files_total += len(objects) - (
            series.files if series.only is None and series.files else len(objects)
        )
        self.bytes_total += sum(o.size for o in objects) - (series.size or 0)
        folder = self.root / series.folder
        if folder not in self.cleaned:
            self.cleaned.add(folder)
            remove_parts(folder)
        jobs = []
        for info in objects:
            job = self._check_present(series, info, folder)
            if job is not None:
                jobs.append(job)
        self.remaining[(series.bucket, series.uuid)] = len(jobs)
        if not jobs:
            self.series_done += 1
        return jobs

    def _check_present(self, series: SeriesPlan, info: ObjectInfo, folder: Path) -> _Job | None:
        """``None`` when the object's file is already complete; else the job to run."""
        url = f"s3://{series.bucket}/{info.key}"
        entry = self.ledger.get(url)
        if (
            entry is not None
            and entry.etag == info.etag
            and entry.size == info.size
            and (self.root / entry.path).parent == folder  # not where another layout put it
        ):
            if not self.verify and stat_matches(self.root, entry):
                self._present(series, info)
                return None
            candidate = self.root / entry.path
        else:
            candidate = folder / _object_name(info.key)
        try:
            size = os.stat(candidate).st_size
        except OSError:
            return _Job("fetch", series, info)
        if size != info.size:
            return _Job("fetch", series, info)
        if etag_md5(info.etag) is None:  # multipart: the size is all there is to check
            self._record(series, info, candidate)
            self._present(series, info)
            return None
        return _Job("verify", series, info, candidate)

    def _verified(self, job: _Job, digest: Any, error: BaseException | None) -> list[_Job]:
        assert job.info is not None and job.path is not None
        if isinstance(error, KeyboardInterrupt):
            raise error
        self.report.files_verified += 1
        if error is None and digest == etag_md5(job.info.etag):
            self._record(job.series, job.info, job.path)
            self._present(job.series, job.info)
            self._one_less(job.series)
            return []
        return [_Job("fetch", job.series, job.info)]

    def _present(self, series: SeriesPlan, info: ObjectInfo) -> None:
        outcome = self.outcomes[(series.bucket, series.uuid)]
        outcome.present += 1
        outcome.bytes_present += info.size
        self.report.files_present += 1
        self.report.bytes_present += info.size

    def _record(self, series: SeriesPlan, info: ObjectInfo, path: Path) -> None:
        st = os.stat(path)
        relative = path.relative_to(self.root).as_posix()
        entry = Entry(
            f"s3://{series.bucket}/{info.key}",
            info.etag,
            st.st_size,
            relative,
            st.st_mtime_ns,
            series.uid,
        )
        try:
            self.ledger.record(entry)
        except OSError as exc:
            raise self._stop_for(exc, self.ledger.path) from None
        with self._lock:  # workers read it when they name files
            self.owners[relative] = entry.url

    def _one_less(self, series: SeriesPlan) -> None:
        key = (series.bucket, series.uuid)
        self.remaining[key] -= 1
        if self.remaining[key] == 0:
            self.series_done += 1

    def _fail(self, location: str, kind: str, reason: str, series: SeriesPlan) -> None:
        self.report.failures.append(Failure(location, kind, reason, series.uid))
        outcome = self.outcomes[(series.bucket, series.uuid)]
        outcome.failed += 1
        outcome.error = outcome.error or f"{kind}: {reason}"

    def _fetched(self, job: _Job, written: Any, error: BaseException | None) -> list[_Job]:
        assert job.info is not None
        series, info = job.series, job.info
        url = f"s3://{series.bucket}/{info.key}"
        if error is not None:
            if isinstance(error, KeyboardInterrupt):
                raise error
            if isinstance(error, _Stop):
                raise error
            if isinstance(error, Cancelled):
                return []
            if isinstance(error, TransferError):
                self._fail(url, error.kind, str(error), series)
            else:
                self._fail(url, "error", f"{type(error).__name__}: {error}", series)
            self._one_less(series)
            return []
        assert isinstance(written, _Written)
        relative = written.path.relative_to(self.root).as_posix()
        entry = Entry(url, written.etag, written.size, relative, written.mtime_ns, series.uid)
        try:
            self.ledger.record(entry)
        except OSError as exc:
            raise self._stop_for(exc, self.ledger.path) from None
        outcome = self.outcomes[(series.bucket, series.uuid)]
        outcome.downloaded += 1
        outcome.bytes_downloaded += written.size
        self.report.files_downloaded += 1
        self.report.bytes_downloaded += written.size
        self._one_less(series)
        return []

    # --- the worker's side --------------------------------------------------------------------

    def _stop_for(self, exc: OSError, where: Path) -> _Stop:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            why = f"the disk holding {self.root} is full"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = f"cannot write in {where.parent}: {exc.strerror}"
        else:
            why = f"cannot write {where}: {exc.strerror or exc}"
        self.report.stopped = why
        return _Stop(why)

    def _fetch(self, job: _Job) -> _Written:
        """Worker: stream one object into a temporary file, then give it its name."""
        assert job.info is not None
        series, info = job.series, job.info
        folder = self.root / series.folder
        name = _object_name(info.key)
        tmp = folder / f".{name}.{os.getpid()}-{next(self._serial)}{PART_SUFFIX}"
        try:
            if folder not in self.made:
                folder.mkdir(parents=True, exist_ok=True)
                self.made.add(folder)
            # O_EXCL: never through a link planted under that name
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            fp = open(fd, "wb")  # noqa: SIM115 - closed below, before the rename
        except OSError as exc:
            raise self._stop_for(exc, tmp) from None
        try:
            try:
                fetched = self.client.download(
                    series.bucket,
                    info.key,
                    fp,
                    size=info.size,
                    etag=info.etag,
                    on_bytes=self._on_bytes,
                )
                fp.close()
            except OSError as exc:
                raise self._stop_for(exc, tmp) from None
            except TransferError:
                with self._lock:
                    self.bytes_live -= fp.tell()
                raise
            final = self._final_path(folder, name, fetched.head, f"s3://{series.bucket}/{info.key}")
            try:
                os.replace(tmp, final)
                st = os.stat(final)
            except OSError as exc:
                raise self._stop_for(exc, final) from None
            return _Written(final, st.st_size, fetched.etag, st.st_mtime_ns)
        finally:
            if not fp.closed:
                fp.close()
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _final_path(self, folder: Path, name: str, head: bytes, url: str) -> Path:
        """``<SOPInstanceUID>.dcm`` when the file's first bytes say it (and no other object of
        this folder took that name), else the object's own name."""
        from ..dicom.uids import sop_instance_uid

        uid = sop_instance_uid(head)
        if uid:
            candidate = folder / f"{uid}.dcm"
            relative = candidate.relative_to(self.root).as_posix()
            with self._lock:
                owner = self.owners.get(relative)
                if owner in (None, url):
                    self.owners[relative] = url
                    return candidate
        return folder / name


# --- the entry point --------------------------------------------------------------------------


def download(
    plan: Plan,
    *,
    client: ObjectClient | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    verify: bool = False,
    progress: bool | None = None,
    licences: Callable[[list[str]], None] | None = None,
) -> DownloadReport:
    """Fetch every file of *plan* into ``plan.output`` (see the module docstring).

    Args:
        plan: what to fetch (:func:`idcseg.remote.plan.make_plan`).
        client: the obstore client (default: one for ``$IDCSEG_S3_ENDPOINT`` or AWS).
        concurrency: files in flight at once (worker threads).
        verify: check the MD5 of files the ledger vouches for too (else size and mtime).
        progress: a progress bar on stderr; ``None`` shows it when stderr is a terminal.
        licences: called with the SeriesInstanceUIDs the folder holds, at the end, to write
            ``LICENSES.csv`` and ``CITATIONS.txt``.

    Raises:
        DownloadInterrupted: Ctrl-C; files finished before it are kept (and in the ledger).
        DownloadStopped: the folder cannot be written (full disk, permissions) or the bucket
            cannot be reached.
        FolderBusyError: another download is writing to the same folder.
    """
    from ..errors import UsageError

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"-j/--concurrency must be a whole number ≥ 1, not {concurrency!r}")
    started = time.monotonic()
    report = DownloadReport(plan, [SeriesOutcome(s) for s in plan.series])
    client = client or ObjectClient()
    before = (client.stats.requests, client.stats.retries)
    if progress is None:
        progress = sys.stderr.isatty()
    display = TransferProgress(progress)
    with FolderLock(plan.output):
        ledger = Ledger(plan.output).load()
        run = _Run(plan, client, ledger, report, concurrency, verify, display)
        failure: BaseException | None = None
        try:
            run.go()
        except KeyboardInterrupt:
            report.interrupted = True
            failure = DownloadInterrupted(report)
        except _Stop as exc:
            failure = DownloadStopped(str(exc), report)
        finally:
            display.close()
            report.requests = client.stats.requests - before[0]
            report.retries = client.stats.retries - before[1]
            ledger.close()
            with contextlib.suppress(OSError):
                ledger.compact()
        if licences is not None and ledger.series():
            try:
                licences(sorted(ledger.series()))
                report.licences = True
            except OSError as exc:
                if failure is None:
                    failure = DownloadStopped(
                        f"cannot write LICENSES.csv / CITATIONS.txt in {plan.output}: "
                        f"{exc.strerror}",
                        report,
                    )
        report.seconds = time.monotonic() - started
    if failure is not None:
        raise failure
    return report
