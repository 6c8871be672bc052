"""The local store: where idcseg keeps segment rows and series facts between runs.

It lives in ``$IDCSEG_HOME`` or, by default, the platform's user data folder
(``~/.local/share/idcseg`` on Linux). ``store.duckdb`` holds the tables of ``sql/duckdb/store.sql``;
``cache/`` holds transpiled SQL. IDC's series index is not copied here: it is read in place from
the installed ``idc-index-data`` wheel.
"""

from __future__ import annotations

import os
import weakref
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import IdcsegError, StoreBusyError

HOME_ENV = "IDCSEG_HOME"
#: The store's schema version: ``sql/duckdb/store.sql`` makes version 1, ``store_v<N>.sql``
#: brings a store from version N-1 to N.
SCHEMA_VERSION = 2


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


class Store:
    """The local DuckDB store file and its cache folder."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder) if folder is not None else home()

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

        The file is built under a temporary name and renamed into place, so a store is either
        absent or complete.
        """
        if self.exists():
            return self.path
        import duckdb

        from ..query.render import template_dir

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IdcsegError(
                f"cannot create the store folder {self.folder}: {exc.strerror}"
            ) from None
        tmp = self.path.with_name(f".store.{os.getpid()}.duckdb")
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.execute((template_dir() / "duckdb" / "store.sql").read_text())
                migrate(con)
            finally:
                con.close()
            if not self.exists():
                os.replace(tmp, self.path)
        except OSError as exc:
            raise IdcsegError(f"cannot create the store {self.path}: {exc.strerror}") from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
                leftover.unlink(missing_ok=True)
        return self.path

    def connect(self, *, read_only: bool = False):  # noqa: ANN201 - duckdb imported lazily
        """Open the store file itself (for writers: ingest, sync, fetch).

        Engines of this process reading the same file are closed first (they reopen on their
        next query): DuckDB lets one process attach a file only once.
        """
        import duckdb

        self.ensure()
        if not read_only:
            release_readers(self.path)
        try:
            con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            if is_lock_error(exc):
                raise StoreBusyError(
                    f"the store {self.path} is in use by another idcseg process that is writing "
                    "to it; wait for it to finish and try again"
                ) from None
            raise IdcsegError(f"cannot open the store {self.path}: {exc}") from None
        if not read_only:
            try:
                migrate(con)
            except BaseException:
                con.close()
                raise
        return con

    def upgrade(self) -> None:
        """Bring an older store to the current schema (readers call this when a table of a
        newer version is missing; writers do it whenever they connect)."""
        self.connect().close()


def migrate(con: Any) -> None:
    """Bring the store open on *con* (writable) to :data:`SCHEMA_VERSION`, one version per
    transaction; tables already there keep their rows."""
    import duckdb

    rows = con.execute(statement("schema_version")).fetchall()
    version = int(rows[0][0]) if rows else 1
    for target in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(statement(f"store_v{target}"))
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise IdcsegError(f"cannot upgrade the store to version {target}: {exc}") from None
