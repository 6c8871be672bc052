"""The local store: where idcseg keeps segment rows and series facts between runs.

It lives in ``$IDCSEG_HOME`` or, by default, the platform's user data folder
(``~/.local/share/idcseg`` on Linux). ``store.duckdb`` holds the tables of ``sql/duckdb/store.sql``;
``cache/`` holds transpiled SQL. IDC's series index is not copied here: it is read in place from
the installed ``idc-index-data`` wheel.
"""

from __future__ import annotations

import os
import re
import weakref
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import IdcsegError, StoreBusyError, StoreDamagedError

HOME_ENV = "IDCSEG_HOME"


def home() -> Path:
    """The store folder: ``$IDCSEG_HOME`` if set, else the platform's user data dir."""
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("idcseg", appauthor=False))


def index_dir() -> Path:
    """The folder of the installed idc-index-data wheel (found without importing it)."""
    spec = find_spec("idc_index_data")
    if spec is None or spec.origin is None:
        raise IdcsegError("idc-index-data is not installed: pip install 'idc-index-data>=25,<26'")
    folder = Path(spec.origin).resolve().parent
    if not (folder / "idc_index.parquet").is_file():
        raise IdcsegError(f"idc-index-data at {folder} has no idc_index.parquet")
    return folder


def index_version() -> str:
    """The installed idc-index-data version, e.g. ``25.0.5`` (major = IDC release)."""
    from importlib.metadata import version

    return version("idc-index-data")


def statement(name: str) -> str:
    """The DuckDB statement(s) of ``sql/duckdb/<name>.sql`` (the store's own SQL)."""
    from ..query.render import template_dir

    return (template_dir() / "duckdb" / f"{name}.sql").read_text()


_READERS: dict[str, weakref.WeakSet[Any]] = {}


def register_reader(path: Path, reader: Any) -> None:
    """Note an object with a ``close()`` that holds *path* open read-only in this process."""
    _READERS.setdefault(str(path), weakref.WeakSet()).add(reader)


def release_readers(path: Path) -> None:
    """Close this process's readers of *path*, so a writer can open it."""
    for reader in list(_READERS.get(str(path), ())):
        reader.close()


def is_lock_error(exc: BaseException) -> bool:
    """True when DuckDB refused a file because another process holds its lock."""
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting" in text or "Could not set lock" in text)


_LOCK_HOLDER = re.compile(r"lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def busy_error(exc: BaseException, path: Path) -> StoreBusyError:
    """The error for a store locked by another process: who holds it, reading or writing.

    DuckDB names the holder's program and PID, and adds that the file could be opened
    read-only when the holder only reads it (a shared lock).
    """
    text = str(exc)
    found = _LOCK_HOLDER.search(text)
    who = "another process"
    if found:
        who = f"another process (PID {found['pid']}, {Path(found['program']).name})"
    if "read-only mode" in text:
        return StoreBusyError(
            f"the store {path} is open for reading in {who}, e.g. a Python session holding an "
            "idcseg engine; writing needs it closed: end that query or session and try again"
        )
    return StoreBusyError(
        f"the store {path} is being written by {who}; wait for it to finish and try again"
    )


def duckdb_reason(exc: BaseException) -> str:
    """The first line of a DuckDB error without its category prefix (``IO Error: ``...)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in ("FATAL Error: ", "IO Error: ", "Catalog Error: ", "Error: "):
        text = text.removeprefix(prefix)
    return text.removeprefix("Failed to create checkpoint because of error: ")


def _no_space(text: str) -> bool:
    return "No space left" in text or "Disk quota exceeded" in text


@cache
def store_tables() -> tuple[str, ...]:
    """The tables ``sql/duckdb/store.sql`` creates (a complete store has all of them)."""
    return tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", statement("store")))


class Store:
    """The local DuckDB store file and its cache folder.

    A store is absent or complete: :meth:`ensure` builds it under a temporary name, checkpoints
    it (so the schema is in the file, not in a write-ahead log) and checks it before renaming it
    into place. A store that lacks tables all the same (made by an older version on a full disk)
    is repaired by :meth:`heal`; a store DuckDB cannot read is reported with what to do
    (:class:`StoreDamagedError`), never replaced silently: it may hold segments the user stored.
    """

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else home()
        self._complete = False  # checked (or made) complete by this object
        self._healed = False

    @property
    def path(self) -> Path:
        """The DuckDB file holding segment rows and local series facts."""
        return self.folder / "store.duckdb"

    @property
    def cache_dir(self) -> Path:
        """Where transpiled SQL (and, with BigQuery, query results) are cached."""
        return self.folder / "cache"

    def exists(self) -> bool:
        """True once the store file has been created."""
        return self.path.is_file()

    def ensure(self) -> Path:
        """Create the store file with its schema if it does not exist yet.

        The file is built under a temporary name, checkpointed, reopened and checked, and only
        then renamed into place: a failed checkpoint (a full disk) leaves no store behind. An
        empty (zero-byte) file holds nothing and is replaced.
        """
        try:
            if self.path.stat().st_size > 0:
                return self.path
        except OSError:
            pass
        import duckdb

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IdcsegError(
                f"cannot create the store folder {self.folder}: {exc.strerror}"
            ) from None
        import secrets

        tmp = self.path.with_name(f".store.{os.getpid()}.{secrets.token_hex(4)}.duckdb")
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.execute(statement("store"))
                con.execute("CHECKPOINT")  # raises when the schema cannot reach the file
            finally:
                con.close()
            check = duckdb.connect(str(tmp), read_only=True)
            try:
                missing = self._missing(check)
            finally:
                check.close()
            if missing:
                raise IdcsegError(f"the new store lacks tables {', '.join(missing)}")
            if not self._has_content():
                os.replace(tmp, self.path)
        except (OSError, duckdb.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else duckdb_reason(exc)
            advice = "; free some space and run again" if _no_space(str(reason)) else ""
            raise IdcsegError(f"cannot create the store {self.path}: {reason}{advice}") from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
        self._complete = True
        return self.path

    def _has_content(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    @staticmethod
    def _missing(con: Any) -> list[str]:
        """Tables of :func:`store_tables` that the database of *con* lacks."""
        found = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        return [t for t in store_tables() if t not in found]

    def _repair(self, con: Any, missing: list[str]) -> None:
        """Create *missing* tables on the writable connection *con*; say so on stderr."""
        import sys

        con.execute(statement("store"))
        con.execute("CHECKPOINT")
        print(
            f"idcseg: the store {self.path} lacked tables {', '.join(missing)} (it was made by "
            "an older idcseg, or its creation was cut short, e.g. by a full disk); created them",
            file=sys.stderr,
        )

    def heal(self) -> bool:
        """Repair a store that lacks tables; True if something was repaired.

        Called when a query cannot find a store table. Rows in the tables it has are kept. The
        tables are counted read-only first: a store that lacks none is left alone (and other
        processes reading it are not disturbed).
        """
        import duckdb

        try:
            check = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error:
            return False  # unreadable or busy: the caller's error explains it
        try:
            missing = self._missing(check)
        finally:
            check.close()
        if not missing:
            return False
        self._complete = False
        con = self.connect()  # a writer: checks the tables again and repairs them
        con.close()
        return self._healed

    def connect(self, *, read_only: bool = False):  # noqa: ANN201 - duckdb imported lazily
        """Open the store file itself (for writers: ingest, sync, fetch).

        Engines of this process reading the same file are closed first (they reopen on their
        next query): DuckDB lets one process attach a file only once. A writer's first
        connection checks that the store has all its tables and creates those it lacks.
        """
        import duckdb

        self.ensure()
        self._healed = False
        if not read_only:
            release_readers(self.path)
        try:
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            if is_lock_error(exc):
                raise busy_error(exc, self.path) from None
            raise self.open_error(exc) from None
        if read_only or self._complete:
            return con
        try:
            missing = self._missing(con)
            if missing:
                self._repair(con, missing)
                self._healed = True
        except duckdb.Error as exc:
            con.close()
            raise self.open_error(exc) from None
        self._complete = True
        return con

    def open_error(self, exc: BaseException) -> IdcsegError:
        """The error to raise for a DuckDB failure reading the store (or another catalog file).

        When the store file itself cannot be read, the message says how to start afresh.
        """
        import duckdb

        reason = duckdb_reason(exc)
        probe = duckdb.connect()
        try:
            probe.execute(f"ATTACH {_literal(self.path)} AS s (READ_ONLY)")
            probe.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 's'")
        except duckdb.Error as store_exc:
            if is_lock_error(store_exc):
                return busy_error(store_exc, self.path)
            return StoreDamagedError(
                f"the store {self.path} is damaged ({duckdb_reason(store_exc)}); move it aside "
                f"({_mv(self.path)}) and run again to start an empty store; "
                "segments you ingested, synced or fetched must then be stored again"
            )
        finally:
            probe.close()
        return IdcsegError(f"cannot open the local catalog: {reason}")


def _mv(path: Path) -> str:
    """A shell command moving *path* aside (quoted for a POSIX shell)."""
    import shlex

    return f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.damaged')}"


def _literal(path: Path) -> str:
    """A DuckDB string literal for a file path (never a user value)."""
    return "'" + str(path).replace("'", "''") + "'"
