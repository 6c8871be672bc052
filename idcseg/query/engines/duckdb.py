"""The embedded engine: DuckDB over IDC's series index and the local store.

A connection attaches an in-memory catalog named ``bigquery-public-data`` with one schema per
IDC dataset name (``idc_v25``, ``idc_current``), whose views carry IDC's table names
(``sql/duckdb/catalog.sql``). Templates are rendered as BigQuery SQL, transpiled once by sqlglot
and cached, then run with bound parameters: a value never enters SQL text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from ...errors import IdcsegError
from ...local.store import Store, busy_error, index_dir, is_lock_error, register_reader
from .. import render
from ..spec import Query, validate_dataset
from ..sqlcache import SqlCache
from . import normalise_frame, sql_kind

BUSY_TIMEOUT = 10.0  # seconds a query waits for a writer to finish its batch


def transpile(sql: str) -> str:
    """BigQuery Standard SQL → DuckDB SQL (``@param`` becomes ``$param``)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        return sqlglot.transpile(sql, read="bigquery", write="duckdb", pretty=True)[0] + "\n"
    except SqlglotError as exc:
        raise IdcsegError(f"cannot translate the query for DuckDB: {exc}") from None


class _DamagedCopies(Exception):
    """DuckDB cannot open one or more of the copies of IDC's indexes: ``(path, why)`` each."""

    def __init__(self, copies: list[tuple[Path, str]]) -> None:
        super().__init__(copies)
        self.copies = copies


class DuckDBResult:
    """A DuckDB result waiting to be fetched."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor
        self.columns: list[str] = [d[0] for d in cursor.description or []]
        self.kinds = {d[0]: sql_kind(str(d[1])) for d in cursor.description or []}

    def rows(self) -> list[tuple[Any, ...]]:
        """All rows as tuples of Python values."""
        return self._cursor.fetchall()

    def head(self, n: int) -> list[tuple[Any, ...]]:
        """The next *n* rows (fewer at the end)."""
        return self._cursor.fetchmany(n)

    def count_rest(self) -> int:
        """How many rows are left to fetch (fetching them as Arrow, not Python values)."""
        import warnings

        reader = getattr(self._cursor, "to_arrow_reader", None) or getattr(
            self._cursor, "fetch_record_batch", None
        )
        if reader is None:  # pragma: no cover - older DuckDB without either
            return sum(len(batch) for batch in self.batches())
        with warnings.catch_warnings():  # "an extra copy of the rows": only counted here
            warnings.simplefilter("ignore", UserWarning)
            return sum(batch.num_rows for batch in reader(100_000))

    def batches(self, size: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
        """The rows, *size* at a time (memory stays bounded for large results)."""
        while batch := self._cursor.fetchmany(size):
            yield batch

    def to_arrow(self) -> Any:
        """All rows as a pyarrow Table."""
        import warnings

        fetch = getattr(self._cursor, "to_arrow_table", None) or self._cursor.fetch_arrow_table
        with warnings.catch_warnings():  # "an extra copy of the rows": fine for a result set
            warnings.simplefilter("ignore", UserWarning)
            return fetch()

    def to_pandas(self) -> Any:
        """All rows as a pandas DataFrame with nullable dtypes."""
        return normalise_frame(self._cursor.fetchdf(), self.kinds)


class DuckDBEngine:
    """Run templates on the embedded DuckDB catalog.

    Args:
        store: the local store (default: ``$IDCSEG_HOME`` or the user data folder).
        index_folder: a folder holding an ``idc_index.parquet`` to use instead of the installed
            idc-index-data wheel's (e.g. a test world, or another release's files).
        fetch_seg_index: download IDC's seg_index.parquet on first use of a filter that reads
            it (default: yes with the wheel's index, no with *index_folder*); without it,
            those filters see the segment rows of the local store only.
        dataset: ``idc_current`` or ``idc_vNN``; the embedded index is the release of the
            installed idc-index-data wheel, visible under both names.
    """

    name = "duckdb"

    def __init__(
        self,
        store: Store | None = None,
        dataset: str | None = None,
        index_folder: Path | str | None = None,
        fetch_seg_index: bool | None = None,
    ) -> None:
        self.store = store or Store()
        self.dataset = validate_dataset(dataset)
        self.index_folder = Path(index_folder) if index_folder is not None else None
        self.fetch_seg_index = index_folder is None if fetch_seg_index is None else fetch_seg_index
        self._sql = SqlCache(self.store.cache_dir / "sql")
        self._con: duckdb.DuckDBPyConnection | None = None
        self._store_attached = False
        # True once a connection reads the DuckDB-native copy of the series index (False: the
        # parquet file in place, after the copy could not be made)
        self.native_index = False

    @property
    def release(self) -> str:
        """The IDC release of the embedded index, as a dataset name (``idc_v25``)."""
        from ...local.store import index_version

        return f"idc_v{index_version().split('.')[0]}"

    def _schemas(self) -> list[str]:
        names = ["idc_current", self.release]
        if self.dataset not in names:
            raise IdcsegError(
                f"the embedded index is IDC {self.release}; {self.dataset} is available on "
                "BigQuery (--engine bigquery)"
            )
        return names

    def describe(self) -> dict[str, str]:
        """Where the data comes from: IDC release, index wheel, store file."""
        from ...local.store import index_version

        return {
            "idc_release": self.release,
            "idc_index_data": index_version(),
            "index": str((self.index_folder or index_dir()) / "idc_index.parquet"),
            "store": str(self.store.path),
        }

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The catalog connection (opened on first use; the store attached again after
        :meth:`release_store`)."""
        if self._con is None:
            self._con = self._open()
            self._store_attached = True
            register_reader(self.store.path, self)
        elif not self._store_attached:
            key = render.cache_key(
                Query("duckdb/attach_store.sql", {"store": str(self.store.path)}),
                dataset=self.dataset,
                target="duckdb-catalog",
            )
            attach = self._sql.get_or_create(
                key, lambda: render.duckdb_statement("attach_store", store_path=self.store.path)
            )
            self._waiting(lambda con: con.execute(attach), self._con)
            self._store_attached = True
        return self._con

    def release_store(self) -> None:
        """Let other processes write the store: detach it until the next query.

        The catalog stays open (attaching the store again costs ~5 ms); an
        :class:`~idcseg.api.Explorer` calls this after each query, so it never blocks an
        ``idcseg ingest`` running beside it.
        """
        if self._con is not None and self._store_attached:
            self._con.execute("DETACH store")
            self._store_attached = False

    def _open(self) -> duckdb.DuckDBPyConnection:
        store_path = self.store.ensure()
        folder = self.index_folder or index_dir()
        self._schemas()  # refuses a release the embedded index does not hold
        paths = {"store": str(store_path), "index": str(folder), **self._index_files(folder)}
        healed = remade = False
        while True:
            catalog = self._catalog(paths)
            con = duckdb.connect()
            try:
                self._waiting(lambda c, sql=catalog: c.execute(sql), con, paths)
                self.native_index = paths["series_db"] is not None
                return con
            except duckdb.CatalogException as exc:
                con.close()
                if healed or not self.store.heal():  # a store table missing: repair, once
                    raise self.store.open_error(exc) from None
                healed = True
            except _DamagedCopies as damaged:
                con.close()
                if remade:  # made again and still unreadable: the user has to look
                    copy, why = damaged.copies[0]
                    raise IdcsegError(
                        f"the DuckDB copy {copy} cannot be read ({why}); delete it and run the "
                        "command again"
                    ) from None
                self._remake(damaged.copies)
                paths.update(self._index_files(folder))
                remade = True
            except BaseException:
                con.close()
                raise

    def _waiting(
        self,
        step: Callable[[Any], Any],
        con: duckdb.DuckDBPyConnection,
        paths: dict[str, str | None] | None = None,
    ) -> None:
        """Run *step(con)*, retrying for :data:`BUSY_TIMEOUT` seconds while a writer (ingest,
        fetch, sync: short batches) holds the store; other failures become errors that say
        what is wrong with the store (a missing table stays a CatalogException), unless one of
        the DuckDB copies in *paths* is what DuckDB cannot open (:class:`_DamagedCopies`)."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        delay = 0.05
        while True:
            try:
                step(con)
                return
            except duckdb.CatalogException:
                raise
            except duckdb.Error as exc:
                if not is_lock_error(exc):
                    damaged = self._damaged_copies(paths or {})
                    if damaged:
                        raise _DamagedCopies(damaged) from None
                    raise self.store.open_error(exc) from None
                if time.monotonic() >= deadline:
                    raise busy_error(exc, self.store.path) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _catalog(self, paths: dict[str, str | None]) -> str:
        key = render.cache_key(
            Query("duckdb/catalog.sql", paths), dataset=self.dataset, target="duckdb-catalog"
        )
        return self._sql.get_or_create(key, lambda: self._render_catalog(paths))

    @staticmethod
    def _damaged_copies(paths: dict[str, str | None]) -> list[tuple[Path, str]]:
        """The DuckDB copies of IDC's indexes that DuckDB cannot open, with the reason."""
        from ...local import prepared

        found = []
        for name in ("series_db", "seg_index_db"):
            if paths.get(name):
                why = prepared.unreadable(Path(str(paths[name])))
                if why is not None:
                    found.append((Path(str(paths[name])), why))
        return found

    @staticmethod
    def _remake(damaged: list[tuple[Path, str]]) -> None:
        """Delete damaged copies (named on stderr); the next `_index_files` makes them again."""
        import sys

        from ...local import prepared

        for copy, why in damaged:
            print(
                f"idcseg: the DuckDB copy {copy} cannot be read ({why}); making it again",
                file=sys.stderr,
            )
            prepared.discard(copy)

    def _index_files(self, folder: Path) -> dict[str, str | None]:
        """The index files the catalog reads: DuckDB-native copies where they can be made."""
        import sys

        from ...local import prepared
        from ...remote import segindex

        seg_index = segindex.verified(folder=self.store.folder, refetch=self.fetch_seg_index)
        files: dict[str, str | None] = {
            "seg_index": str(seg_index) if seg_index else None,
            "series_db": None,
            "seg_index_db": None,
        }
        series = folder / "idc_index.parquet"
        try:
            files["series_db"] = str(prepared.series_index(series))
            if seg_index is not None:
                files["seg_index_db"] = str(prepared.seg_index(seg_index, series))
        except IdcsegError as exc:
            print(f"idcseg: {exc}; reading the parquet files in place", file=sys.stderr)
        return files

    def _render_catalog(self, paths: dict[str, str | None]) -> str:
        return render.duckdb_statement(
            "catalog",
            store_path=paths["store"],
            index_dir=paths["index"],
            index_files=sorted(p.name for p in Path(str(paths["index"])).glob("*.parquet")),
            seg_index_path=paths["seg_index"],
            series_db=paths["series_db"],
            seg_index_db=paths["seg_index_db"],
            schemas=self._schemas(),
        )

    def sql(self, query: Query) -> str:
        """The DuckDB SQL that runs *query* (rendered, transpiled, cached)."""
        key = render.cache_key(query, dataset=self.dataset, target="duckdb")
        return self._sql.get_or_create(
            key, lambda: transpile(render.render(query, dataset=self.dataset, target="duckdb"))
        )

    def _ensure_seg_index(self) -> None:
        """Fetch IDC's seg_index.parquet on first use of a filter that reads it."""
        import sys

        from ...remote import segindex

        file, problem = segindex.check(folder=self.store.folder)
        if file is not None:
            return
        if problem is not None:  # damaged: said, and fetched again (or the reason to fail)
            segindex.verified(folder=self.store.folder, refetch=True)
            self.close()
            return

        print(
            "idcseg: this filter reads IDC's seg_index, which is not stored yet; fetching it "
            "once (idcseg index fetch)",
            file=sys.stderr,
        )
        segindex.fetch(folder=self.store.folder)
        self.close()

    def run(self, query: Query) -> DuckDBResult:
        """Execute *query* with its parameters bound; return the pending result."""
        if self.fetch_seg_index and query.structure.get("f", {}).get("seg_index"):
            self._ensure_seg_index()
        sql = self.sql(query)
        con = self.connection()
        try:
            cursor = con.execute(sql, dict(query.params))
        except duckdb.Error as exc:
            message = str(exc).strip().splitlines()[0]
            raise IdcsegError(f"query {query.template} failed: {message}") from None
        return DuckDBResult(cursor)

    def stored_segments(self) -> int:
        """How many segment rows the local store holds (ingested, fetched or synced)."""
        from ...local.store import statement

        row = self.connection().execute(statement("stored_segments")).fetchone()
        return int(row[0]) if row else 0

    def stored_measurements(self) -> int:
        """How many SR measurement rows the local store holds (ingested, fetched or synced)."""
        from ...local.store import statement

        row = self.connection().execute(statement("stored_measurements")).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        if self._con is not None:
            self._con.close()
            self._con = None
            self._store_attached = False
