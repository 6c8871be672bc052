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
makes it while others wait (a file lock); an interrupted build leaves only temporary files that
a later build removes. DuckDB may use 300 MB of memory for it and spills the rest to disk.

When no copy can be made (an unwritable cache folder, a full disk, too little memory) the
engine reads the parquet files in place instead: slower, same answers; the failure is
remembered for a day, so commands do not pay for the attempt again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import IdcsegError

CACHE_ENV = "IDCSEG_CACHE"
FORMAT = "1"  # bump when a prepare_*.sql changes what a copy holds
_STALE_SECONDS = 3600.0


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

    Making it reads the whole file once (~6 s and ~0.4 GB of memory for the ~1 M series of
    idc-index-data 25); a line on stderr says so unless *quiet*. Raises :class:`IdcsegError`
    when the copy cannot be made (and, for a day, without trying again).
    """
    target = copy_path("idc_index", parquet)
    if not target.is_file():
        label = "IDC's series index (once per idc-index-data release)"
        _build(target, "prepare_series_index", None if quiet else label, parquet_path=parquet)
    return target


def seg_index(parquet: Path, series: Path, *, quiet: bool = False) -> Path:
    """The native copy of IDC's seg_index *parquet*, made now if there is none yet (~1 s).

    Each row also gets the modality and body part of its segmented series, from the series
    index *series* (``idc_index.parquet``).
    """
    target = copy_path("seg_index", parquet, series)
    if not target.is_file():
        label = None if quiet else "IDC's seg_index"
        _build(target, "prepare_seg_index", label, seg_index_path=parquet, series_path=series)
    return target


def problem(target: Path) -> str | None:
    """Why the copy *target* is not there and will not be made by the next query, if so."""
    if target.is_file():
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
        with _exclusive(folder / f".{target.name.rsplit('-', 1)[0]}.lock"):
            if target.is_file():  # another process made it while this one waited
                return
            _remove_stale(folder)
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
    if label:
        print(f"idcseg: making a DuckDB copy of {label} in {target.parent} ...", file=sys.stderr)
    try:
        con = duckdb.connect(str(tmp))
        try:
            paths = {k: str(v) for k, v in files.items()}
            con.execute(duckdb_statement(statement, spill_dir=f"{tmp}.spill", **paths))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
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


def _remove_older(target: Path) -> None:
    """Delete the copies *target* replaces: same kind and source files, another version."""
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for old in target.parent.glob(f"{prefix}*.duckdb*"):
        if old.name != target.name and not old.name.startswith(target.name):
            with suppress(OSError):
                old.unlink()


def _remove_stale(folder: Path) -> None:
    """Delete what builds that were interrupted left behind (older than an hour)."""
    cutoff = time.time() - _STALE_SECONDS
    for leftover in folder.glob(".*.tmp*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink()
        except OSError:
            pass
