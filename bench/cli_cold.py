"""Cold-process benchmark: the idcseg CLI side by side with idc-index, in one run.

For each question, fresh processes of

  (a) the idcseg CLI, e.g. ``idcseg summary --format json``, and
  (b) idc-index 0.13 answering the same question (``IDCClient()`` then ``client.sql_query(...)``,
      ``idc_index_answer.py`` in ``bench/.venv-idc-index``, made by ``setup_idc_index.sh``),

are started one at a time, and for each child the parent records its wall time (from just
before ``Popen`` to ``os.wait4`` returning: interpreter start-up, imports, query, output and exit)
and its peak RSS (``ru_maxrss`` from ``os.wait4``'s rusage of that child).

"Cold" means a new process each time, not a cold disk: each (question, tool) first gets
``--warmup`` untimed runs, which load the parquet files and libraries into the OS file cache
(and fill idcseg's transpiled-SQL cache), so the figures are warm-cache, cold-process figures.
The warm-up runs are reported separately. The first idcseg run in the fresh store folder also
shows the cost of a first run ever (store created, SQL rendered and transpiled).

idcseg runs with ``IDCSEG_HOME`` set to a new, empty temporary folder, so it answers from IDC's
index alone, as idc-index does (with segment rows synced into a store, idcseg takes the body part
of the segmented series instead of the SEG's own, and the series answer could differ).

Every answer is checked: every run of each tool must agree with the other tool (same counts per
collection; the same SeriesInstanceUIDs in the same order) and a mismatch is printed loudly and
makes the exit status 1. The Python API is measured once too, in its own process
(``api_inprocess.py``), for reference. Results go to ``bench/out/cli_cold-<time>.json``.

    bash bench/setup_idc_index.sh        # once
    python bench/cli_cold.py             # 7 idcseg runs, 3 idc-index runs per question
    python bench/cli_cold.py -n 15 --idc-index-runs 5
    python bench/cli_cold.py --no-idc-index   # idcseg only (seconds, not minutes)
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import math
import os
import platform
import pty
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
IDC_INDEX_VENV = BENCH / ".venv-idc-index"
OUT = BENCH / "out"

# The budget for a cold idcseg CLI run on the 2-core build machine.
BUDGET_WALL_S = 0.5
BUDGET_RSS_MB = 200.0  # megabytes (10^6 bytes)
MIB = 1024 * 1024
SHIM = "idcseg via pyenv shim"


@dataclass
class Run:
    """One finished child process."""

    wall_s: float
    peak_rss_mib: float
    user_s: float
    sys_s: float
    exit_code: int
    other_load: float  # CPUs kept busy by other processes meanwhile (from /proc/stat), 0..nproc
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class Question:
    """One question, asked of both tools."""

    name: str
    idcseg_args: list[str]
    idc_index_arg: str
    compare: Callable[[Any, Any], list[str]]


def _compare_summary(ours: Any, theirs: Any) -> list[str]:
    """Differences between two summary answers (lists of per-collection records)."""
    problems: list[str] = []
    order_a = [r["collection_id"] for r in ours]
    order_b = [r["collection_id"] for r in theirs]
    if order_a != order_b:
        problems.append(f"collection order differs: {order_a[:5]}… vs {order_b[:5]}…")
    by_b = {r["collection_id"]: r for r in theirs}
    for row in ours:
        other = by_b.get(row["collection_id"])
        if other is None:
            problems.append(f"collection {row['collection_id']} missing from the other answer")
            continue
        for key in ("series_count", "study_count", "patient_count"):
            if row[key] != other[key]:
                problems.append(f"{row['collection_id']}.{key}: {row[key]} vs {other[key]}")
        if not math.isclose(row["size_MB"], other["size_MB"], rel_tol=1e-9, abs_tol=1e-6):
            problems.append(
                f"{row['collection_id']}.size_MB: {row['size_MB']} vs {other['size_MB']}"
            )
    extra = set(by_b) - set(order_a)
    if extra:
        problems.append(f"collections only in the other answer: {sorted(extra)}")
    return problems


def _compare_series(ours: Any, theirs: Any) -> list[str]:
    """Differences between two series answers (same UIDs in the same order, same shared columns)."""
    uids_a = [r["SeriesInstanceUID"] for r in ours]
    uids_b = [r["SeriesInstanceUID"] for r in theirs]
    if uids_a != uids_b:
        only_a, only_b = set(uids_a) - set(uids_b), set(uids_b) - set(uids_a)
        what = (
            "order differs"
            if not only_a and not only_b
            else f"{len(only_a)}/{len(only_b)} UIDs differ"
        )
        return [f"SeriesInstanceUIDs: {what} ({len(uids_a)} vs {len(uids_b)} rows)"]
    problems = []
    for a, b in zip(ours, theirs, strict=True):
        for key in sorted(set(a) & set(b)):
            va, vb = a[key], b[key]
            same = (
                math.isclose(va, vb, rel_tol=1e-9)
                if isinstance(va, float) and isinstance(vb, float)
                else va == vb
            )
            if not same:
                problems.append(f"{a['SeriesInstanceUID']}.{key}: {va!r} vs {vb!r}")
    return problems


QUESTIONS = [
    Question("summary", ["summary", "--format", "json"], "summary", _compare_summary),
    Question(
        "series",
        [
            "series",
            "--analysis-result",
            "dicom_lidc_idri_nodules",
            "--body-part",
            "CHEST",
            "--limit",
            "20",
            "--format",
            "json",
        ],
        "series",
        _compare_series,
    ),
]


def _busy_cpu_s() -> float:
    """CPU seconds all processes have used since boot (first line of /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return math.nan
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait are busy
    busy = sum(fields[:3]) + sum(fields[5:8])
    return busy / os.sysconf("SC_CLK_TCK")


def wait_quiet(limit_s: float, threshold: float = 0.5) -> float:
    """Wait up to *limit_s* for other processes to use under *threshold* CPUs; return that load."""
    deadline = time.monotonic() + limit_s
    while True:
        busy0 = _busy_cpu_s()
        time.sleep(1.0)
        load = _busy_cpu_s() - busy0
        if load < threshold or time.monotonic() >= deadline:
            return load


def run_child(
    argv: list[str], env: dict[str, str], *, terminal: bool = False
) -> tuple[Run, str, str]:
    """Run *argv* to completion; return its measurements, stdout and stderr.

    With *terminal*, stdout is a pseudo-terminal (read as the child writes, as a terminal
    would), so the child behaves as when typed in a shell; its ``\\r\\n`` come back as ``\\n``.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        leader = follower = -1
        reader: threading.Thread | None = None
        chunks: list[bytes] = []
        if terminal:
            leader, follower = pty.openpty()
            reader = threading.Thread(target=_drain, args=(leader, chunks), daemon=True)
        busy0 = _busy_cpu_s()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=follower if terminal else out,
            stderr=err,
            env=env,
        )
        if reader is not None:
            os.close(follower)
            reader.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        busy1 = _busy_cpu_s()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if reader is not None:
            reader.join()
            os.close(leader)
        out.seek(0)
        err.seek(0)
        raw = b"".join(chunks) if terminal else out.read()
        stdout = raw.decode("utf-8", "replace")
        if terminal:
            stdout = stdout.replace("\r\n", "\n")
        stderr = err.read().decode("utf-8", "replace")
    phases: dict[str, float] = {}
    for line in stderr.splitlines():
        if line.startswith("BENCH-PHASES "):
            phases = json.loads(line.removeprefix("BENCH-PHASES "))
    run = Run(
        wall_s=wall,
        peak_rss_mib=usage.ru_maxrss / 1024,  # kilobytes on Linux
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        exit_code=proc.returncode,
        other_load=max(0.0, (busy1 - busy0 - usage.ru_utime - usage.ru_stime) / wall),
        phases=phases,
    )
    return run, stdout, stderr


def _drain(fd: int, chunks: list[bytes]) -> None:
    """Read a pseudo-terminal until the child closes it."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # EIO: the other side is closed
            return
        if not chunk:
            return
        chunks.append(chunk)


def _versions(python: str, names: list[str]) -> dict[str, str]:
    """Installed versions of *names* in the environment of *python* (plus Python itself)."""
    code = (
        "import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "def v(n):\n try: return version(n)\n except PackageNotFoundError: return None\n"
        f"print(json.dumps({{'python': sys.version.split()[0], **{{n: v(n) for n in {names!r}}}}}))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def machine_info(idc_python: str | None) -> dict[str, Any]:
    """What ran the benchmark: cores, CPU, memory, load, and the versions on each side."""
    cpu = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / MIB:.1f} GiB"
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory": mem,
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
        "idcseg_env": _versions(
            sys.executable, ["idcseg", "duckdb", "idc-index-data", "sqlglot", "pandas", "typer"]
        ),
    }
    if idc_python:
        info["idc_index_env"] = _versions(
            idc_python, ["idc-index", "idc-index-data", "duckdb", "pandas"]
        )
    return info


def _default_idcseg() -> str:
    """The idcseg console script beside this interpreter, else ``python -m idcseg``."""
    script = Path(sys.executable).parent / "idcseg"
    if script.is_file():
        return str(script)
    return f"{sys.executable} -m idcseg"


def _idcseg_code(env: dict[str, str]) -> dict[str, str]:
    """Which idcseg package the children import, and the git state of the tree holding it."""
    done = subprocess.run(
        [sys.executable, "-c", "import idcseg; print(idcseg.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    module = Path(done.stdout.strip()).parent
    tree = str(module.parent)

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "-C", tree, *argv], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        last = git("log", "-1", "--format=%h", "--", "idcseg", "sql")
        dirty = git("status", "--porcelain", "--", "idcseg", "sql")
        state = f"HEAD {head}, idcseg/ and sql/ last changed in {last}" + (
            ", WITH UNCOMMITTED CHANGES" if dirty else ", no uncommitted changes"
        )
    except (OSError, subprocess.CalledProcessError):
        state = "not in a git checkout"
    return {"module": str(module), "git": state}


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarise(runs: list[Run]) -> dict[str, float]:
    """Median, min and max wall time and median peak RSS of *runs*."""
    walls = [r.wall_s for r in runs]
    return {
        "n": len(runs),
        "median_wall_s": _median(walls),
        "min_wall_s": min(walls) if walls else math.nan,
        "max_wall_s": max(walls) if walls else math.nan,
        "median_peak_rss_mib": _median([r.peak_rss_mib for r in runs]),
        "max_peak_rss_mib": max((r.peak_rss_mib for r in runs), default=math.nan),
        "median_cpu_s": _median([r.user_s + r.sys_s for r in runs]),
        "median_other_load": _median([r.other_load for r in runs]),
    }


def _loud(lines: list[str]) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n!!! ANSWER MISMATCH", file=sys.stderr)
    for line in lines:
        print(f"!!! {line}", file=sys.stderr)
    print(bar, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=7, help="timed idcseg runs (7)")
    parser.add_argument(
        "--idc-index-runs", type=int, default=3, help="timed idc-index runs (3; ~10-30 s each)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed runs per question and tool first (1)"
    )
    parser.add_argument("--no-idc-index", action="store_true", help="time idcseg only")
    parser.add_argument("--api-calls", type=int, default=20, help="Python API calls (20; 0: skip)")
    parser.add_argument(
        "--idcseg",
        default=_default_idcseg(),
        help="the idcseg command (default: the console script beside this Python)",
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=BENCH.parent,
        help="idcseg source checkout to measure, put first on PYTHONPATH (default: the one "
        "holding bench/)",
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="measure whatever idcseg is installed (no PYTHONPATH) instead of --checkout",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE from the environment (default: unset it for the "
        "children, so modules are byte-compiled once, as after a pip install)",
    )
    parser.add_argument(
        "--no-shim",
        action="store_true",
        help="do not also time the pyenv shim ($PYENV_ROOT/shims/idcseg) when there is one",
    )
    parser.add_argument(
        "--idc-index-python",
        default=str(IDC_INDEX_VENV / "bin" / "python"),
        help="python of the idc-index venv (bench/.venv-idc-index/bin/python)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each question, wait up to SECONDS for the machine to be quiet "
        "(other processes using < 0.5 CPU); default 0: don't wait",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON (bench/out)")
    args = parser.parse_args(argv)

    idc_python: str | None = None if args.no_idc_index else args.idc_index_python
    if idc_python and not Path(idc_python).is_file():
        parser.error(f"{idc_python} not found: run `bash bench/setup_idc_index.sh` first")

    started = time.time()
    home = tempfile.mkdtemp(prefix="idcseg-bench-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # also on failure
    env_idc = {**os.environ}
    if not args.no_bytecode_cache:
        env_idc.pop("PYTHONDONTWRITEBYTECODE", None)
    # an empty cache too: the first warm-up run makes the DuckDB copy of IDC's series index
    # (idcseg.local.prepared), as a user's first command does; its time is in the warm-up figures
    env_idcseg = {**env_idc, "IDCSEG_HOME": home, "IDCSEG_CACHE": os.path.join(home, "cache")}
    env_idcseg.pop("IDCSEG_ENGINE", None)
    if not args.installed:
        inherited = env_idcseg.get("PYTHONPATH")
        env_idcseg["PYTHONPATH"] = str(args.checkout.resolve()) + (
            os.pathsep + inherited if inherited else ""
        )
    code = _idcseg_code(env_idcseg)
    idcseg_cmd = shlex.split(args.idcseg)
    shim = Path(os.environ.get("PYENV_ROOT", "/nonexistent")) / "shims" / "idcseg"
    use_shim = not args.no_shim and shim.is_file()

    info = machine_info(idc_python)
    print("== machine")
    print(f"nproc {info['nproc']} | {info['cpu']} | {info['memory']} | {info['platform']}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in info['loadavg_start'])}")
    print("idcseg env:   " + ", ".join(f"{k} {v}" for k, v in info["idcseg_env"].items()))
    if idc_python:
        print("idc-index env: " + ", ".join(f"{k} {v}" for k, v in info["idc_index_env"].items()))
    print(
        f"idcseg command: {' '.join(idcseg_cmd)} (IDCSEG_HOME={home}, an empty store; "
        "IDCSEG_CACHE empty until the first warm-up run)"
    )
    print(f"idcseg code: {code['module']} ({code['git']})")
    print(
        "bytecode cache: "
        + (
            "as inherited (PYTHONDONTWRITEBYTECODE="
            f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})"
            if args.no_bytecode_cache
            else "on (PYTHONDONTWRITEBYTECODE unset for the children)"
        )
    )
    print(
        f"runs: {args.runs} idcseg, {0 if not idc_python else args.idc_index_runs} idc-index per "
        f"question, after {args.warmup} untimed warm-up run(s) each: warm OS file cache, "
        "cold processes"
    )

    tools: dict[str, Callable[[Question], list[str]]] = {
        "idcseg": lambda q: [*idcseg_cmd, *q.idcseg_args],
    }
    if use_shim:
        tools[SHIM] = lambda q: [str(shim), *q.idcseg_args]
    if idc_python:
        tools["idc-index"] = lambda q: [
            idc_python,
            str(BENCH / "idc_index_answer.py"),
            q.idc_index_arg,
        ]
    envs = {"idcseg": env_idcseg, SHIM: env_idcseg, "idc-index": env_idc}
    counts = {"idcseg": args.runs, SHIM: args.runs, "idc-index": args.idc_index_runs}

    results: dict[str, Any] = {}
    mismatches: list[str] = []
    answers: dict[tuple[str, str], Any] = {}

    def one(question: Question, tool: str, label: str) -> Run:
        run, stdout, stderr = run_child(tools[tool](question), envs[tool])
        if run.exit_code != 0:
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            raise SystemExit(f"{tool} {question.name} ({label}) exited {run.exit_code}:\n{tail}")
        answer = json.loads(stdout)
        reference = answers.setdefault((question.name, tool), answer)
        problems = question.compare(answer, reference)
        if problems:
            mismatches.extend(
                f"{question.name} {tool} {label} vs its first run: {p}" for p in problems
            )
        print(
            f"  {question.name:<8} {tool:<21} {label:<9} {run.wall_s:7.3f} s "
            f"{run.peak_rss_mib:8.1f} MiB  other load {run.other_load:4.2f}"
            + (
                "  (" + ", ".join(f"{k} {v:.2f}" for k, v in run.phases.items()) + ")"
                if run.phases
                else ""
            ),
            flush=True,
        )
        return run

    print("\n== runs (wall s, peak RSS)")
    for question in QUESTIONS:
        record: dict[str, Any] = {"idcseg_argv": ["idcseg", *question.idcseg_args]}
        if args.wait_quiet > 0:
            load = wait_quiet(args.wait_quiet)
            print(f"  (other processes' load before {question.name}: {load:.2f} CPUs)")
            record["other_load_at_start"] = load
        warm: dict[str, list[Run]] = {tool: [] for tool in tools}
        timed: dict[str, list[Run]] = {tool: [] for tool in tools}
        for tool in tools:
            for i in range(args.warmup):
                warm[tool].append(one(question, tool, f"warm-up{i + 1}"))
        # interleave the tools, so that drift in machine load hits both alike
        for i in range(max(counts[t] for t in tools)):
            for tool in tools:
                if i < counts[tool]:
                    timed[tool].append(one(question, tool, f"run {i + 1}"))
        for tool in tools:
            if tool == "idcseg":
                continue
            problems = question.compare(
                answers[(question.name, "idcseg")], answers[(question.name, tool)]
            )
            mismatches.extend(f"{question.name}: idcseg vs {tool}: {p}" for p in problems)
            if tool == "idc-index":
                record["answers_match"] = not problems
        record["rows"] = len(answers[(question.name, "idcseg")])
        for tool in tools:
            record[tool] = {
                **summarise(timed[tool]),
                "runs": [asdict(r) for r in timed[tool]],
                "warmup": [asdict(r) for r in warm[tool]],
            }
        results[question.name] = record

    api: dict[str, Any] | None = None
    if args.api_calls > 0:
        print("\n== Python API, one process (api_inprocess.py)")
        api_run, stdout, stderr = run_child(
            [
                sys.executable,
                str(BENCH / "api_inprocess.py"),
                "--json",
                "--calls",
                str(args.api_calls),
            ],
            env_idcseg,
        )
        if api_run.exit_code != 0:
            raise SystemExit(f"api_inprocess.py exited {api_run.exit_code}:\n{stderr}")
        api = json.loads(stdout)
        cli_uids = [r["SeriesInstanceUID"] for r in answers[("series", "idcseg")]]
        if api["SeriesInstanceUIDs"] != cli_uids:
            mismatches.append("series: idcseg.series() (API) vs idcseg series (CLI): UIDs differ")
        api["process_wall_s"] = api_run.wall_s
        api["process_peak_rss_mib"] = api_run.peak_rss_mib
        ms = 1000.0
        print(
            f"  import idcseg {api['import_idcseg_s'] * ms:.0f} ms | first idcseg.series() "
            f"{api['first_call_s'] * ms:.0f} ms | later calls: idcseg.series() median "
            f"{_median(api['function_call_s']) * ms:.0f} ms (min {min(api['function_call_s']) * ms:.0f}), "
            f"Explorer.series() median {_median(api['explorer_call_s']) * ms:.0f} ms "
            f"(min {min(api['explorer_call_s']) * ms:.0f}) | n={api['calls']} | "
            f"peak RSS {api['peak_rss_mib']:.0f} MiB"
        )

    print("\n== cold CLI, warm OS file cache: medians")
    header = (
        f"{'question':<8} | {'tool':<21} | {'n':>2} | {'median wall s':>13} | {'min':>6} | "
        f"{'max':>6} | {'median peak RSS MiB':>19} | {'ratio wall':>10} | {'ratio RSS':>9} | "
        f"{'CPU s':>6} | {'other load':>10}"
    )
    print(header)
    print("-" * len(header))
    for question in QUESTIONS:
        record = results[question.name]
        ours = record["idcseg"]
        for tool in tools:
            s = record[tool]
            ratio_wall = ratio_rss = ""
            if tool != "idcseg":
                s["ratio_wall"] = s["median_wall_s"] / ours["median_wall_s"]
                s["ratio_rss"] = s["median_peak_rss_mib"] / ours["median_peak_rss_mib"]
                ratio_wall, ratio_rss = f"{s['ratio_wall']:.1f}x", f"{s['ratio_rss']:.1f}x"
            print(
                f"{question.name:<8} | {tool:<21} | {s['n']:>2} | {s['median_wall_s']:>13.3f} | "
                f"{s['min_wall_s']:>6.3f} | {s['max_wall_s']:>6.3f} | "
                f"{s['median_peak_rss_mib']:>19.1f} | {ratio_wall:>10} | {ratio_rss:>9} | "
                f"{s['median_cpu_s']:>6.2f} | {s['median_other_load']:>10.2f}"
            )
    print(
        "ratio: this row's median / idcseg's median (the idc-index row: idc-index / idcseg).\n"
        "CPU s: median user+sys of the child. other load: median CPUs kept busy by other\n"
        f"processes during the runs (of {info['nproc']}; /proc/stat less the child's own CPU time)."
    )

    print("\n== idcseg against the budget (median wall ≤ 0.5 s, peak RSS ≤ 200 MB)")
    budget_ok = True
    for question in QUESTIONS:
        s = results[question.name]["idcseg"]
        rss_mb = s["max_peak_rss_mib"] * MIB / 1e6
        ok_wall = s["median_wall_s"] <= BUDGET_WALL_S
        ok_rss = rss_mb <= BUDGET_RSS_MB
        budget_ok = budget_ok and ok_wall and ok_rss
        print(
            f"{question.name:<8} median wall {s['median_wall_s']:.3f} s {'ok' if ok_wall else 'OVER'} | "
            f"max peak RSS {rss_mb:.1f} MB {'ok' if ok_rss else 'OVER'}"
        )
        warm = results[question.name]["idcseg"]["warmup"]
        if warm:
            print(
                f"{'':<8} (warm-up, first run of this query in the fresh store folder, SQL not yet "
                f"cached: {warm[0]['wall_s']:.3f} s, {warm[0]['peak_rss_mib']:.1f} MiB)"
            )
        if SHIM in results[question.name]:
            shimmed = results[question.name][SHIM]
            print(
                f"{'':<8} (through the pyenv shim, as typing `idcseg` in a shell here runs it: "
                f"median {shimmed['median_wall_s']:.3f} s)"
            )

    if idc_python:
        print("\n== answers")
        for question in QUESTIONS:
            record = results[question.name]
            print(
                f"{question.name:<8} {record['rows']} rows: "
                + (
                    "same answer from idcseg and idc-index"
                    if record["answers_match"]
                    else "MISMATCH"
                )
            )
    if mismatches:
        _loud(mismatches)

    info["loadavg_end"] = os.getloadavg()
    elapsed = time.time() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.out / f"cli_cold-{stamp}.json"
    payload = {
        "what": "cold-process CLI runs, warm OS file cache; wall from Popen to wait4, peak RSS from wait4",
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "machine": info,
        "idcseg_code": code,
        "bytecode_cache": not args.no_bytecode_cache,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "budget": {"wall_s": BUDGET_WALL_S, "peak_rss_MB": BUDGET_RSS_MB, "met": budget_ok},
        "questions": results,
        "api_inprocess": api,
        "mismatches": mismatches,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in info['loadavg_end'])}")
    print(f"total {elapsed:.0f} s; results: {path}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
