"""Time ``idcseg.series(...)`` through the Python API, in one process.

What it measures, in a fresh interpreter of the environment idcseg is installed in:

- ``import idcseg`` (the package only: pandas, duckdb and the engine load lazily);
- the first ``idcseg.series(analysis_result="dicom_lidc_idri_nodules", body_part="CHEST",
  limit=20)`` call (imports pandas and duckdb, opens the engine, builds a DataFrame);
- N more calls of the same function (each makes a new engine and DuckDB connection, as the
  module-level function does): the per-call figure for a notebook cell;
- N calls of ``Explorer().series(...)`` on one Explorer (one connection reused);
- peak RSS of the process (``getrusage(RUSAGE_SELF).ru_maxrss``).

Wall times are ``time.perf_counter`` deltas around each call. The store folder is
``$IDCSEG_HOME`` if set, else a new temporary folder (an empty store, so idcseg answers from IDC's
index alone). ``--json`` prints the figures and the SeriesInstanceUIDs returned as JSON (how
``cli_cold.py`` calls it); otherwise a short text report.

    python bench/api_inprocess.py            # 20 calls each
    python bench/api_inprocess.py --calls 50
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

FILTERS: dict[str, Any] = {
    "analysis_result": "dicom_lidc_idri_nodules",
    "body_part": "CHEST",
    "limit": 20,
}


def _timed(call: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = call()
    return time.perf_counter() - t0, value


def measure(calls: int) -> dict[str, Any]:
    """Run the calls described in the module docstring; return the figures."""
    import_s, idcseg = _timed(lambda: __import__("idcseg"))
    first_s, frame = _timed(lambda: idcseg.series(**FILTERS))
    uids = [str(u) for u in frame["SeriesInstanceUID"]]
    function_s: list[float] = []
    for _ in range(calls):
        elapsed, again = _timed(lambda: idcseg.series(**FILTERS))
        function_s.append(elapsed)
        if [str(u) for u in again["SeriesInstanceUID"]] != uids:
            raise SystemExit("api_inprocess: idcseg.series() answered differently on a later call")
    explorer_open_s, explorer = _timed(idcseg.Explorer)
    explorer_s: list[float] = []
    for _ in range(calls):
        elapsed, again = _timed(lambda: explorer.series(**FILTERS))
        explorer_s.append(elapsed)
        if [str(u) for u in again["SeriesInstanceUID"]] != uids:
            raise SystemExit("api_inprocess: Explorer.series() answered differently")
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "filters": FILTERS,
        "calls": calls,
        "import_idcseg_s": import_s,
        "first_call_s": first_s,
        "function_call_s": function_s,
        "explorer_new_s": explorer_open_s,
        "explorer_call_s": explorer_s,
        "peak_rss_mib": maxrss_mib,
        "rows": len(uids),
        "SeriesInstanceUIDs": uids,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls after the first (20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    own_home = None
    if not os.environ.get("IDCSEG_HOME"):
        own_home = os.environ["IDCSEG_HOME"] = tempfile.mkdtemp(prefix="idcseg-bench-home-")
    try:
        figures = measure(args.calls)
    finally:
        if own_home:
            shutil.rmtree(own_home, ignore_errors=True)
    if args.json:
        json.dump(figures, sys.stdout, indent=1)
        print()
        return 0
    ms = 1000.0
    print(f"idcseg.series({', '.join(f'{k}={v!r}' for k, v in FILTERS.items())})")
    print(f"  import idcseg                 {figures['import_idcseg_s'] * ms:8.1f} ms")
    print(f"  first call                    {figures['first_call_s'] * ms:8.1f} ms")
    for label, key in (
        ("idcseg.series() call", "function_call_s"),
        ("Explorer.series() call", "explorer_call_s"),
    ):
        values = figures[key]
        print(
            f"  {label:<26} median {statistics.median(values) * ms:6.1f} ms  "
            f"min {min(values) * ms:6.1f}  max {max(values) * ms:6.1f}  (n={len(values)})"
        )
    print(f"  peak RSS                      {figures['peak_rss_mib']:8.1f} MiB")
    print(f"  rows                          {figures['rows']:8d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
