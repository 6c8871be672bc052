"""DuckDB-native copies of IDC's parquet indexes, made once and reused by every query.

IDC ships its indexes as parquet: ``idc_index.parquet`` in the idc-index-data wheel (~1 M series
in one row group, so DuckDB reads it with one thread and cannot skip any of it) and
``seg_index.parquet`` (one row per SEG series, with arrays of ~6 M CodeMeanings in all). Queries
over the same files as native DuckDB tables run several times faster: parallel scans, min/max
block skipping, no page decompression. So the embedded engine makes such a copy of each file the
first time it needs it (``sql/duckdb/prepare_*.sql``: every row and column unchanged) and
attaches the copy read-only from then on.

Copies live in a cache shared by every store of the user (``$IDCSEG_CACHE``, else the platform's
user cache folder, ``~/.cache/idcseg`` on Linux), named after what they copy: the parquet file's
path, size and modification time, and the DuckDB version (a new wheel, a new download or a new
DuckDB gets a new copy). A copy is written under a temporary name and renamed into place, so a
half-made copy is never attached; an interrupted build leaves only a temporary file that a
later build removes.

When no copy can be made (an unwritable cache folder, a full disk) the engine reads the parquet
files in place instead: slower, same answers.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

from .errors import IdcsegError

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


def copy_path(kind: str, *parquets: Path) -> Path:
    """The file the copy made from *parquets* has (or will have); *kind* names what it holds.

    Named after each file's path, size and modification time, and the DuckDB version: a file
    replaced by a new release or a new download gets a new copy.
    """
    import duckdb

    parts: list[object] = [FORMAT, duckdb.__version__]  # another DuckDB may not open a copy
    for parquet in parquets:
        stat = parquet.stat()
        parts += [parquet.resolve(), stat.st_size, stat.st_mtime_ns]
    identity = "|".join(map(str, parts))
    return cache_root() / f"{kind}-{hashlib.sha256(identity.encode()).hexdigest()[:20]}.duckdb"


def series_index(parquet: Path, *, quiet: bool = False) -> Path:
    """The native copy of IDC's series index *parquet*, made now if there is none yet.

    Making it reads the whole file once (~3 s and ~1 GB of memory for the ~1 M series of
    idc-index-data 25); a line on stderr says so unless *quiet*. Raises :class:`IdcsegError`
    when the copy cannot be written.
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


def _build(target: Path, statement: str, label: str | None, **files: Path) -> None:
    import duckdb

    from .render import duckdb_statement

    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IdcsegError(f"cannot create {folder}: {exc.strerror or exc}") from None
    _remove_stale(folder)
    tmp = folder / f".{target.stem}.{os.getpid()}.tmp"
    started = time.monotonic()
    if label:
        print(f"idcseg: making a DuckDB copy of {label} in {folder} ...", file=sys.stderr)
    try:
        con = duckdb.connect(str(tmp))
        try:
            con.execute(duckdb_statement(statement, **{k: str(v) for k, v in files.items()}))
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, target)
    except (OSError, duckdb.Error) as exc:
        message = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        sources = " and ".join(str(p) for p in files.values())
        raise IdcsegError(
            f"cannot make a DuckDB copy of {sources} in {folder}: {message}"
        ) from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    if label:
        seconds = time.monotonic() - started
        size = target.stat().st_size / 1e6
        print(f"idcseg: done in {seconds:.1f} s ({size:.0f} MB)", file=sys.stderr)


def _remove_stale(folder: Path) -> None:
    """Delete temporary files of builds that were interrupted (older than an hour)."""
    cutoff = time.time() - _STALE_SECONDS
    for leftover in folder.glob(".*.tmp*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            pass
