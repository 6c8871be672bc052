"""Where a cold ``idcseg`` CLI process spends its time: imports, and the floors beneath them.

1. Runs ``python -X importtime -m idcseg <args>`` N times (default: ``summary --format json``,
   N=5) in a warmed store folder and prints the modules with the largest median *self* import
   time, the largest median *cumulative* time among the top-level imports, and the median
   self time summed per top-level package.
2. Times fresh processes that do less than idcseg (``python -c pass``, ``import duckdb``,
   ``import typer``, duckdb's query on the parquet alone), so the CLI's wall time can be read
   against what no CLI on this interpreter can beat; and idcseg itself, with its modules
   byte-compiled (as after ``pip install``) and without (a copy of the checkout that is never
   byte-compiled: an editable install under ``PYTHONDONTWRITEBYTECODE=1``, as on the build
   machine, compiles idcseg's sources in every process).

idcseg is imported from the checkout holding ``bench/`` (put first on ``PYTHONPATH``), with
``PYTHONDONTWRITEBYTECODE`` unset so that its modules are byte-compiled once by the warm-up run.

Times from ``-X importtime`` are microseconds inside the process and include the tracing
overhead; the wall times are from just before ``Popen`` to ``os.wait4`` returning, CPU times are
the child's user + system time (steadier than wall time on a shared machine).

    python bench/importtime.py
    python bench/importtime.py -n 9 -- series --analysis-result dicom_lidc_idri_nodules --format json
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _wall(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS (MiB) of one child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    wall = time.perf_counter() - t0
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def importtimes(args: list[str], env: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    """One ``-X importtime`` run: self and cumulative µs per module (cumulative: top level only)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "idcseg", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    own: dict[str, int] = {}
    top: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        module = name.strip()
        own[module] = own.get(module, 0) + int(self_us)
        if name.startswith(" ") and not name.startswith("  "):  # depth 1: imported by __main__
            top[module] = int(cumulative_us)
    return own, top


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=5, help="runs of each measurement (5)")
    parser.add_argument("--top", type=int, default=15, help="rows per list (15)")
    parser.add_argument("args", nargs="*", help="idcseg arguments (summary --format json)")
    options = parser.parse_args(argv)
    args = options.args or ["summary", "--format", "json"]
    home = tempfile.mkdtemp(prefix="idcseg-bench-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # also on failure
    checkout = Path(__file__).resolve().parents[1]
    env = {**os.environ, "IDCSEG_HOME": home}
    env.pop("IDCSEG_ENGINE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")]))
    # the same code, never byte-compiled: a copy without __pycache__, and no writing of one
    raw = Path(home) / "source-copy"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(checkout / "idcseg", raw / "idcseg", ignore=ignore)
    shutil.copytree(checkout / "sql", raw / "sql", ignore=ignore)
    env_raw = {**env, "PYTHONPATH": str(raw), "PYTHONDONTWRITEBYTECODE": "1"}
    python = sys.executable

    subprocess.run(
        [python, "-m", "idcseg", *args], env=env, check=True, stdout=subprocess.DEVNULL
    )  # warm-up: store created, SQL cached, files in the OS cache

    own_runs: dict[str, list[int]] = defaultdict(list)
    top_runs: dict[str, list[int]] = defaultdict(list)
    for _ in range(options.runs):
        own, top = importtimes(args, env)
        for module, us in own.items():
            own_runs[module].append(us)
        for module, us in top.items():
            top_runs[module].append(us)
    own_median = {m: statistics.median(v) for m, v in own_runs.items()}
    top_median = {m: statistics.median(v) for m, v in top_runs.items()}
    packages: dict[str, float] = defaultdict(float)
    for module, us in own_median.items():
        packages[module.split(".")[0]] += us

    print(f"== python -X importtime -m idcseg {' '.join(args)}  (median of {options.runs} runs)")
    print(f"idcseg from {checkout}")
    print(f"all imports, summed self time: {sum(own_median.values()) / 1000:.0f} ms")
    print("\n-- top-level imports by cumulative ms (imported by idcseg's __main__ or its parents)")
    for module, us in sorted(top_median.items(), key=lambda kv: -kv[1])[: options.top]:
        print(f"{us / 1000:8.1f}  {module}")
    print("\n-- packages by summed self ms")
    for package, us in sorted(packages.items(), key=lambda kv: -kv[1])[: options.top]:
        print(f"{us / 1000:8.1f}  {package}")
    print("\n-- modules by self ms")
    for module, us in sorted(own_median.items(), key=lambda kv: -kv[1])[: options.top]:
        print(f"{us / 1000:8.1f}  {module}")

    import idc_index_data

    parquet = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
    floors = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import duckdb'": [python, "-c", "import duckdb"],
        "python -c 'import typer'": [python, "-c", "import typer"],
        "duckdb alone: count SEG series per collection": [
            python,
            "-c",
            'import duckdb, json, sys; r = duckdb.sql("SELECT collection_id, COUNT(*) FROM '
            f"read_parquet('{parquet}') WHERE SOPClassUID IN ('1.2.840.10008.5.1.4.1.1.66.4', "
            "'1.2.840.10008.5.1.4.1.1.66.7') GROUP BY 1 ORDER BY 2 DESC\").fetchall(); "
            "json.dump(r, sys.stdout)",
        ],
        f"idcseg {' '.join(args)}": [python, "-m", "idcseg", *args],
        f"idcseg {' '.join(args)}, idcseg's modules not byte-compiled": [
            python,
            "-m",
            "idcseg",
            *args,
        ],
    }
    print(
        f"\n-- fresh processes, warm OS cache (median of {options.runs}): wall ms (min), "
        "CPU ms, peak RSS MiB"
    )
    for label, command in floors.items():
        child_env = env_raw if "not byte-compiled" in label else env
        _wall(command, child_env)  # warm-up
        samples = [_wall(command, child_env) for _ in range(options.runs)]
        wall = statistics.median(s[0] for s in samples)
        least = min(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        rss = statistics.median(s[2] for s in samples)
        print(
            f"{wall * 1000:6.0f} ms ({least * 1000:4.0f}) {cpu * 1000:6.0f} ms {rss:7.1f} MiB  "
            f"{label}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
