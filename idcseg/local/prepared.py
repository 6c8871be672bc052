"""DuckDB-native copies of IDC's parquet indexes, made once and reused by every query.

IDC ships its indexes as parquet: ``idc_index.parquet`` in the idc-index-data wheel (~1 M series
in one row group, so DuckDB reads it with one thread and cannot skip any of it) and
``seg_index.parquet`` (one row per SEG series, with arrays of ~6 M CodeMeanings in all). Queries
over the same files as native DuckDB tables run several times faster: parallel scans, min/max
block skipping, no page decompression. So the embedded engine makes such a copy of each file the
first time it needs it (``sql/duckdb/prepare_*.sql``: every row and column unchanged) and
attaches the copy read-only from then on.

Copies live in a cache shared by every store of the user (``$IDCSEG_CACHE``, else the platform's
user cache folder, ``~/.cache/idcseg`` on Linux), named after what they copy (see
:func:`copy_path`); a new copy replaces the older one of the same files. A copy is written under
a temporary name and renamed into place, so a half-made copy is never attached; one process
makes it while others wait (a file lock). DuckDB may use 300 MB of memory for it and spills the
rest to disk; a progress line shows on a terminal while it runs.

A copy is verified before each use: its size must be the one recorded beside it when it was
made (``<copy>.ok``), and a copy DuckDB cannot open is found when the catalog attaches it. A
damaged copy is deleted and made again; if it cannot be deleted, the error names the file.
Temporary files of a build that was killed (``kill -9``, a power cut) are removed by the next
build: at once when their process is gone, else after an hour.

When no copy can be made (an unwritable cache folder, a full disk, too little memory) the
engine reads the parquet files in place instead: slower, same answers; the failure is
remembered for a day, so commands do not pay for the attempt again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import IdcsegError

CACHE_ENV = "IDCSEG_CACHE"
FORMAT = "2"  # bump when a copy's layout changes (2: a size record beside each copy)
_STALE_SECONDS = 3600.0
_TMP_NAME = re.compile(r"\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp")  # see _make


def cache_root() -> Path:
    """Where copies are kept: ``$IDCSEG_CACHE`` or the user cache folder, then ``prepared/``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        base = Path(explicit).expanduser()
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("idcseg", appauthor=False))
    return base / "prepared"


_STATEMENTS = {
    "idc_index": ("prepare_series_index", "build_settings"),
    "seg_index": ("prepare_seg_index", "seg_index_rows", "build_settings"),
}
RETRY_SECONDS = 24 * 3600.0  # a copy that could not be made is not tried again before this


def copy_path(kind: str, *parquets: Path) -> Path:
    """The file the copy made from *parquets* has (or will have); *kind* names what it holds.

    ``<kind>-<source>-<version>.duckdb``: *source* hashes the files' paths (one copy per
    installation), *version* their sizes and modification times, the DuckDB version (another
    DuckDB may not open a copy) and the text of the SQL that makes it. A new release, a new
    download, a new DuckDB or new SQL gets a new copy, which replaces the old one.
    """
    return cache_root() / f"{kind}-{_source_key(parquets)}-{_version_key(kind, parquets)}.duckdb"


def _digest(parts: list[object]) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _source_key(parquets: tuple[Path, ...]) -> str:
    return _digest([p.resolve() for p in parquets])


def _version_key(kind: str, parquets: tuple[Path, ...]) -> str:
    import duckdb

    from ..query.render import template_dir

    parts: list[object] = [FORMAT, duckdb.__version__]
    for name in _STATEMENTS[kind]:
        parts.append((template_dir() / "duckdb" / f"{name}.sql").read_text())
    for parquet in parquets:
        stat = parquet.stat()
        parts += [stat.st_size, stat.st_mtime_ns]
    return _digest(parts)


def series_index(parquet: Path, *, quiet: bool = False) -> Path:
    """The native copy of IDC's series index *parquet*, made now if there is none yet.

    Making it reads the whole file once (~4–5 s of one CPU and ~0.35 GB of memory for the ~1 M
    series of idc-index-data 25); a progress line on stderr says so unless *quiet*. Raises
    :class:`IdcsegError` when the copy cannot be made (and, for a day, without trying again).
    """
    target = copy_path("idc_index", parquet)
    if not _verified(target, quiet):
        label = "IDC's series index (once per idc-index-data release)"
        _build(target, "prepare_series_index", None if quiet else label, parquet_path=parquet)
    return target


def seg_index(parquet: Path, series: Path, *, quiet: bool = False) -> Path:
    """The native copy of IDC's seg_index *parquet*, made now if there is none yet (~1 s).

    Each row also gets the modality and body part of its segmented series, from the series
    index *series* (``idc_index.parquet``).
    """
    target = copy_path("seg_index", parquet, series)
    if not _verified(target, quiet):
        label = None if quiet else "IDC's seg_index"
        _build(target, "prepare_seg_index", label, seg_index_path=parquet, series_path=series)
    return target


def _size_record(target: Path) -> Path:
    return target.with_name(target.name + ".ok")


def _verified(target: Path, quiet: bool) -> bool:
    """True when *target* is there with the size recorded when it was made.

    A copy without its record (from an older idcseg, or a build killed between the rename and
    the record) or of another size (truncated, overwritten) is deleted, to be made again.
    """
    try:
        size = target.stat().st_size
    except OSError:
        return False
    try:
        recorded = int(_size_record(target).read_text().strip())
    except (OSError, ValueError):
        recorded = -1
    if recorded == size:
        return True
    if not quiet:
        why = f"expected {recorded:,}" if recorded >= 0 else "no record of its size"
        print(
            f"idcseg: the DuckDB copy {target} is not the file that was made "
            f"({size:,} bytes, {why}); making it again",
            file=sys.stderr,
        )
    discard(target)
    return False


def discard(copy: Path) -> None:
    """Delete a damaged *copy* (and its size record), so the next query makes it again.

    Raises :class:`IdcsegError` naming the file when it cannot be deleted.
    """
    for path in (copy, _size_record(copy), copy.with_name(copy.name + ".wal")):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise IdcsegError(
                f"the DuckDB copy {copy} is damaged and cannot be deleted ({exc.strerror}): "
                "delete it and run the command again"
            ) from None


def unreadable(copy: Path) -> str | None:
    """Why DuckDB cannot open *copy* read-only and list its tables, or None if it can."""
    import duckdb

    try:
        con = duckdb.connect(str(copy), read_only=True)
        try:
            con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def problem(target: Path) -> str | None:
    """Why the copy *target* is not there and will not be made by the next query, if so."""
    if target.is_file() and _size_record(target).is_file():
        return None
    marker = _failure_marker(target)
    try:
        if time.time() - marker.stat().st_mtime < RETRY_SECONDS:
            return marker.read_text().strip() or "an earlier attempt failed"
    except OSError:
        pass
    folder = target.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
        return f"{existing} is not a writable folder"
    return None


def _failure_marker(target: Path) -> Path:
    return target.with_name(target.name + ".failed")


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold *lock* (an advisory file lock): one process makes a copy, the others wait for it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: builds may overlap; renames stay atomic
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(target: Path, statement: str, label: str | None, **files: Path) -> None:
    folder = target.parent
    sources = " and ".join(str(p) for p in files.values())
    known = problem(target)
    if known is not None:
        raise IdcsegError(f"cannot make a DuckDB copy of {sources} in {folder}: {known}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        prefix = target.name.rsplit("-", 1)[0]
        with _exclusive(folder / f".{prefix}.lock"):
            if _verified(target, quiet=True):  # another process made it while this one waited
                return
            _remove_leftovers(folder, prefix)
            _make(target, statement, label, files)
    except (OSError, _BuildError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        with suppress(OSError):
            _failure_marker(target).write_text(message + "\n")
        raise IdcsegError(
            f"cannot make a DuckDB copy of {sources} in {folder}: {message}"
        ) from None
    _remove_older(target)


class _BuildError(Exception):
    """DuckDB could not make the copy."""


def _make(target: Path, statement: str, label: str | None, files: dict[str, Path]) -> None:
    """Write the copy under a temporary name (unique per process and thread), then rename it."""
    import duckdb

    from ..query.render import duckdb_statement

    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    started = time.monotonic()
    try:
        con = duckdb.connect(str(tmp))
        try:
            paths = {k: str(v) for k, v in files.items()}
            sql = duckdb_statement(statement, spill_dir=f"{tmp}.spill", **paths)
            with _progress(con, label, target.parent):
                con.execute(sql)
                con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
        _size_record(target).write_text(f"{target.stat().st_size}\n")
    except duckdb.Error as exc:
        raise _BuildError(str(exc).strip().splitlines()[0]) from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        shutil.rmtree(f"{tmp}.spill", ignore_errors=True)
    _failure_marker(target).unlink(missing_ok=True)
    if label:
        seconds = time.monotonic() - started
        size = target.stat().st_size / 1e6
        print(f"idcseg: done in {seconds:.1f} s ({size:.0f} MB)", file=sys.stderr)


@contextmanager
def _progress(con: Any, label: str | None, folder: Path) -> Iterator[None]:
    """While the build runs: one line on stderr (*label*), redrawn with DuckDB's percentage
    on a terminal. Nothing at all without *label*."""
    if not label:
        yield
        return
    from ..present.progress import ProgressLine

    text = f"idcseg: making a DuckDB copy of {label} in {folder}"
    line = ProgressLine(sys.stderr.isatty(), interval=0.5)
    if not line.enabled:
        print(f"{text} ...", file=sys.stderr)
        yield
        return
    done = threading.Event()

    def redraw() -> None:
        while not done.wait(line.interval):
            percent = con.query_progress()
            shown = f"{percent:.0f}%" if percent >= 0 else "starting"
            line.show(f"{text}: {shown}, {line.elapsed():.0f} s")

    line.show(f"{text} ...")
    watcher = threading.Thread(target=redraw, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
        line.close()


def _remove_older(target: Path) -> None:
    """Delete the copies *target* replaces: same kind and source files, another version."""
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for old in target.parent.glob(f"{prefix}*.duckdb*"):
        if old.name != target.name and not old.name.startswith(target.name):
            with suppress(OSError):
                old.unlink()


def _remove_leftovers(folder: Path, prefix: str) -> None:
    """Delete what interrupted builds left behind (a killed build cannot clean up after itself).

    Called with the lock of *prefix* held, so no build of that copy is running: its leftovers
    go whatever their age. Other copies' leftovers go when the process that made them is gone
    (the pid is in the name) or they are older than an hour.
    """
    cutoff = time.time() - _STALE_SECONDS
    for leftover in folder.glob(".*.tmp*"):
        try:
            mine = leftover.name.startswith(f".{prefix}-")
            if mine or not _alive(leftover.name) or leftover.stat().st_mtime < cutoff:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink()
        except OSError:
            pass


def _alive(name: str) -> bool:
    """Whether the process whose pid is in the temporary file name *name* still runs."""
    found = _TMP_NAME.search(name)
    if found is None:
        return True  # not a name this module makes: leave it to the age rule
    pid = int(found["pid"])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or not allowed to ask: keep its files
        return True
    return True
