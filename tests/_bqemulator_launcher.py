"""Start bqemulator offline, on loopback only.  Runs inside the emulator's own virtualenv.

This file is executed by the emulator venv's interpreter (never imported by the test
process), so it may only use the standard library and ``bqemulator``.  The harness in
``tests/bqemulator.py`` runs it as::

    <venv>/bin/python tests/_bqemulator_launcher.py --data-dir DIR --ready-file FILE

What it changes relative to ``bqemulator start``:

* **No DuckDB extension downloads.** bqemulator 1.4.0 runs ``INSTALL spatial; LOAD spatial``
  in ``DuckDBEngine._load_spatial`` at start and aborts start-up when that fails (it does
  offline).  There is no setting or CLI flag for it, so this launcher replaces that one
  method before the server starts.  The replacement instead turns off DuckDB's automatic
  extension installation and points both extension repositories at an empty local
  directory, so no later query can fetch an extension either.  The only loss is GEOGRAPHY
  (``ST_*`` functions); idcseg does not use it.  The ``avro`` extension is skipped with the
  documented setting ``BQEMU_ENABLE_FORMAT_EXTENSIONS=false`` (set by the harness and here).
* **Loopback only.** A guard on ``socket`` refuses any connect or name lookup that is not
  a loopback address, so a packet can never leave 127.0.0.1 from Python code in this
  process even if some future code path tried.
* **Each SQL text parsed once.** bqemulator parses a statement in every check and rewrite
  pass of a job (~25 times; a dry run repeats them all), which is most of a query's time on
  idcseg's templates. The launcher memoizes sqlglot's ``Dialect.parse`` and bqemulator's
  ``SQLTranslator.translate`` (pure functions; parse callers get deep copies), which roughly
  halves the time of the BigQuery-path tests.
* **Readiness hand-off.** Both servers bind port 0 (the kernel picks free ports, no race);
  once they accept traffic the actual ports are written atomically as JSON to
  ``--ready-file``.  SIGTERM/SIGINT stop the server cleanly, and so does the death of
  ``--parent-pid`` (no orphaned emulator after a crashed test run).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_loopback(host: object) -> bool:
    """True when *host* names this machine's loopback interface (or is unspecified)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def install_loopback_guard() -> None:
    """Make every non-loopback ``connect``/``getaddrinfo`` in this process raise ``OSError``."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise OSError(f"idcseg test guard: connection to {address!r} refused (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host):
            raise socket.gaierror(f"idcseg test guard: name lookup of {host!r} refused")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo


def disable_extension_downloads(empty_repo: Path) -> None:
    """Replace bqemulator's mandatory ``INSTALL/LOAD spatial`` with an offline lock-down."""
    from bqemulator.storage.engine import DuckDBEngine

    repo = str(empty_repo).replace("'", "''")

    def _offline_extensions(self: DuckDBEngine) -> None:
        conn = self.connection
        conn.execute("SET autoinstall_known_extensions = false")
        conn.execute(f"SET custom_extension_repository = '{repo}'")
        conn.execute(f"SET autoinstall_extension_repository = '{repo}'")

    DuckDBEngine._load_spatial = _offline_extensions  # type: ignore[method-assign,unused-ignore]


def memoize_sql_parsing(max_entries: int = 256) -> None:
    """Parse and translate each SQL text once per process, not at every step of every job.

    bqemulator parses a statement anew in each of its ~25 checks and rewrite passes, and a
    dry run does it all again before the job that follows it; for idcseg's templates that is
    most of the time a query takes (DuckDB runs them in milliseconds). ``Dialect.parse`` is a
    pure function of the dialect, its settings, the text and the options, so its results are
    kept (least recently used first out) and every caller gets its own deep copy, free to
    transform it. ``SQLTranslator.translate`` (BigQuery text to DuckDB text, stateless) is a
    pure function of the text, the referenced tables' schemas and the caller: its successful
    results are kept the same way. Errors are not kept: they are raised again on the next call.
    """
    from collections import OrderedDict

    from sqlglot.dialects.dialect import Dialect

    real_parse = Dialect.parse
    parsed: OrderedDict[Any, list[Any]] = OrderedDict()

    def parse(self: Dialect, sql: str, **opts: Any) -> list[Any]:
        try:
            key = (
                type(self),
                self.version,
                self.normalization_strategy,
                tuple(sorted(self.settings.items())),
                sql,
                tuple(sorted(opts.items())),
            )
            hash(key)
        except TypeError:  # an unhashable setting or option: parse as usual
            return real_parse(self, sql, **opts)
        if key in parsed:
            parsed.move_to_end(key)
        else:
            parsed[key] = real_parse(self, sql, **opts)
            if len(parsed) > max_entries:
                parsed.popitem(last=False)
        return [None if e is None else e.copy() for e in parsed[key]]

    Dialect.parse = parse  # type: ignore[method-assign]

    from bqemulator.domain.result import Ok
    from bqemulator.sql.translator import SQLTranslator

    real_translate = SQLTranslator.translate
    translated: OrderedDict[Any, Any] = OrderedDict()

    def translate(
        self: SQLTranslator,
        bq_sql: str,
        *,
        schema: dict[str, Any] | None = None,
        caller: Any = None,
        **kwargs: Any,
    ) -> Any:
        """The same BigQuery text, table schemas and caller translate the same way."""
        try:
            key = (bq_sql, json.dumps(schema, sort_keys=True, default=str), caller, repr(kwargs))
            hash(key)
        except TypeError:
            return real_translate(self, bq_sql, schema=schema, caller=caller, **kwargs)
        if key in translated:
            translated.move_to_end(key)
            return translated[key]
        result = real_translate(self, bq_sql, schema=schema, caller=caller, **kwargs)
        if isinstance(result, Ok):
            translated[key] = result
            if len(translated) > max_entries:
                translated.popitem(last=False)
        return result

    SQLTranslator.translate = translate  # type: ignore[method-assign]


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Set *stop* when the process that started us is gone, so no emulator is orphaned."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            stop.set()
            return
        await asyncio.sleep(1.0)


async def _serve(data_dir: Path, ready_file: Path, log_level: str, parent_pid: int | None) -> None:
    from bqemulator import __version__
    from bqemulator.config import LogLevel, PersistenceMode, Settings
    from bqemulator.server import EmulatorServer

    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=0,
        grpc_host="127.0.0.1",
        grpc_port=0,
        persistence_mode=PersistenceMode.PERSISTENT,
        data_dir=data_dir,
        upload_staging_dir=data_dir / "uploads",
        enable_format_extensions=False,
        tracing_enabled=False,
        log_level=LogLevel(log_level),
    )
    server = EmulatorServer(settings)
    started = time.perf_counter()
    await server.start()
    info = {
        "rest_port": server.rest_port,
        "grpc_port": server.grpc_port,
        "pid": os.getpid(),
        "version": __version__,
        "start_seconds": round(time.perf_counter() - started, 3),
    }
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(info), encoding="utf-8")
    tmp.replace(ready_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    try:
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, lock the process down, run the emulator until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process ends")
    args = parser.parse_args(argv)

    install_loopback_guard()
    os.environ["BQEMU_ENABLE_FORMAT_EXTENSIONS"] = "false"
    args.data_dir.mkdir(parents=True, exist_ok=True)
    empty_repo = args.data_dir / "no-extension-repository"
    empty_repo.mkdir(exist_ok=True)
    disable_extension_downloads(empty_repo)
    memoize_sql_parsing()
    asyncio.run(_serve(args.data_dir, args.ready_file, args.log_level, args.parent_pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
