"""Cold-process benchmark of a seg_index filter: idcseg against idc-index, index present on both.

Issue 7's must-hold: a cold ``idcseg series --structure Liver --algorithm-type AUTOMATIC`` with
IDC's seg_index present takes ≤ 0.5 s wall, measured against idc-index's
``fetch_index("seg_index")`` + ``sql_query`` with the same file present. In one run:

1. **The file.** IDC's ``seg_index.parquet`` cannot be downloaded here, so a stand-in is built
   once and cached (``seg_index_standin.py``: the wheel's exact seg_index schema, one row per SEG
   series of the wheel's index with its real SeriesInstanceUID and a real segmented series,
   SYNTHETIC segment meanings and algorithms; ~6.5 MB). Answers on it are not IDC's answers.
2. **idcseg gets it as ``idcseg index fetch`` leaves it.** The stand-in's folder is served by
   ``http.server`` on 127.0.0.1 in a thread of this process and ``idcseg index fetch --url
   http://127.0.0.1:PORT/{version}/seg_index.parquet`` runs once (untimed) into a new temporary
   ``IDCSEG_HOME``: download, SHA-256 sidecar, schema check, ``meta.json``. Then ``idcseg index
   status`` must say present, with the stand-in's SHA-256.
3. **idc-index gets the same file.** idc-index 0.13.4's ``IDCClient`` keeps non-bundled indexes
   in ``platformdirs.user_data_dir("idc_index_data", "IDC", version=<idc-index-data version>)``
   and ``fetch_index`` downloads only when ``<that folder>/seg_index.parquet`` does not exist
   (``os.path.exists``); otherwise it reads it with ``pd.read_parquet``. The idc-index children
   run with ``XDG_DATA_HOME`` set to a temporary folder (so the user's own data folder is never
   touched) and that path is a symlink to the file in idcseg's store: the very same bytes.
4. **Nobody touches the network.** idcseg children run with ``IDCSEG_INDEX_URLS`` pointing at a
   closed local port, so an unexpected fetch would fail the run; idc-index children refuse every
   socket connect and DNS lookup in-process (``idc_index_answer.py --refuse-network``; a run that
   tried exits 1) and must report that ``fetch_index`` read the symlink. One extra untimed run of
   each tool also runs under ``unshare -n`` (no network at all) where that is allowed.
5. **Timed runs.** ``--warmup`` untimed runs of each tool (the first idcseg run renders and
   caches the query's SQL, as ``cli_cold.py`` does), then ``-n`` idcseg runs and
   ``--idc-index-runs`` idc-index runs, interleaved, each a fresh process; wall (Popen to wait4),
   peak RSS and CPU from ``wait4`` (``cli_cold.run_child``). Every run's answer must equal its
   tool's first; idcseg's and idc-index's must hold the same set of SeriesInstanceUIDs, in the
   same order, with equal values in every column both print. A mismatch is printed loudly and the
   exit status is 1.
6. **Where idcseg's time goes** (``--no-phases`` to skip): one more fresh process runs the same
   query through idcseg's modules with ``perf_counter`` around import, catalog, query, fetch and
   JSON writing.

Results go to ``bench/out/seg_index_filters-<time>.json``.

    bash bench/setup_idc_index.sh              # once
    python bench/seg_index_filters.py          # 7 idcseg runs, 3 idc-index runs (~3 min)
    python bench/seg_index_filters.py --no-idc-index
    python bench/seg_index_filters.py --limit 20   # the same filters with --limit 20 / LIMIT 20
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import functools
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import cli_cold  # noqa: E402 - bench/ sibling, not a package
import seg_index_standin  # noqa: E402
from cli_cold import BUDGET_RSS_MB, BUDGET_WALL_S, MIB, Run  # noqa: E402

QUESTION = "seg_liver_automatic"
IDCSEG_ARGS = [
    "series",
    "--structure",
    "Liver",
    "--algorithm-type",
    "AUTOMATIC",
    "--format",
    "json",
]
CLOSED_URL = "http://127.0.0.1:9/{version}/seg_index.parquet"  # discard port: nothing listens
# Where idc-index 0.13.4 keeps indexes it does not bundle (IDCClient.__init__, indices_data_dir).
IDC_INDEX_DATA_DIR = (
    "import platformdirs\nfrom importlib.metadata import version\n"
    'print(platformdirs.user_data_dir("idc_index_data", "IDC", version=version("idc-index-data")))'
)
MAX_PROBLEMS = 12


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[int]:
    """Serve *folder* over HTTP on 127.0.0.1 (a free port) in a thread; yield the port."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install_for_idcseg(
    standin: Path, idcseg_cmd: list[str], env: dict[str, str], sha256: str
) -> dict[str, Any]:
    """``idcseg index fetch`` the stand-in from a local HTTP server; return idcseg's status."""
    # the stand-in lives at <folder>/<version>/seg_index.parquet, as the URL template expects
    with serve(standin.parent.parent) as port:
        url = f"http://127.0.0.1:{port}/{{version}}/seg_index.parquet"
        t0 = time.perf_counter()
        done = subprocess.run(
            [*idcseg_cmd, "index", "fetch", "--url", url], env=env, capture_output=True, text=True
        )
        fetch_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"idcseg index fetch exited {done.returncode}:\n{done.stderr}")
    status = subprocess.run(
        [*idcseg_cmd, "index", "status", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(status.stdout)
    if not info["present"] or info["sha256"] != sha256 or _sha256(Path(info["path"])) != sha256:
        raise SystemExit(f"idcseg index status after the fetch is not the stand-in: {info}")
    info["fetch_s"] = fetch_s
    info["fetch_stderr"] = done.stderr.strip().splitlines()
    return info


def place_for_idc_index(idc_python: str, env: dict[str, str], file: Path) -> Path:
    """Symlink *file* where idc-index's ``fetch_index("seg_index")`` looks; return that path."""
    done = subprocess.run(
        [idc_python, "-c", IDC_INDEX_DATA_DIR], env=env, capture_output=True, text=True, check=True
    )
    folder = Path(done.stdout.strip())
    if not str(folder).startswith(env["XDG_DATA_HOME"]):
        raise SystemExit(f"idc-index's data folder {folder} is not under XDG_DATA_HOME")
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "seg_index.parquet"
    link.symlink_to(file)
    return link


def _info_line(stderr: str) -> dict[str, Any]:
    for line in stderr.splitlines():
        if line.startswith("BENCH-INFO "):
            return json.loads(line.removeprefix("BENCH-INFO "))
    return {}


def _phases_child(limit: int | None) -> int:
    """In this process: time the query through idcseg's modules; print the phases as JSON."""
    import io
    import resource

    t0 = time.perf_counter()
    import duckdb  # noqa: F401

    t1 = time.perf_counter()
    from idcseg.present.output import Rows, write_result
    from idcseg.query.engines.duckdb import DuckDBEngine
    from idcseg.query.spec import SeriesFilter, series_query

    t2 = time.perf_counter()
    query = series_query(SeriesFilter.build(structure="Liver", algorithm_type="AUTOMATIC"), limit)
    engine = DuckDBEngine()
    engine.sql(query)  # cached by the warm-up run
    engine.connection()
    t3 = time.perf_counter()
    result = engine.run(query)
    t4 = time.perf_counter()
    rows = result.rows()
    t5 = time.perf_counter()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        write_result(Rows(result.columns, rows), "json")
    t6 = time.perf_counter()
    phases = {
        "import duckdb": t1 - t0,
        "import idcseg modules": t2 - t1,
        "query spec + cached SQL + catalog": t3 - t2,
        "execute": t4 - t3,
        "fetchall": t5 - t4,
        "JSON text": t6 - t5,
    }
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "phases": phases,
                "rows": len(rows),
                "bytes": len(sink.getvalue()),
                "peak_rss_mib": peak,
            }
        )
    )
    return 0


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


_UID = re.compile(r"^[0-9]+(?:\.[0-9]+)+$")


def table_answer(stdout: str) -> list[dict[str, Any]]:
    """The SEG series of a table preview: each row's second UID (StudyInstanceUID, then
    SeriesInstanceUID, SOPClassUID...), plus whether the preview says there are more rows."""
    lines = stdout.splitlines()
    rows = [
        {"SeriesInstanceUID": [t for t in line.split() if _UID.match(t)][1]}
        for line in lines[2:]
        if line and not line.startswith("(")
    ]
    notes = [line for line in lines[-2:] if line.startswith("(")]
    if not notes or not (notes[0].startswith("(showing") or notes[-1].endswith("rows)")):
        raise SystemExit(f"not a table preview: {lines[-2:] or stdout[:200]!r}")
    more = notes[0].startswith("(showing") and " of " in notes[0].split(" rows")[0]
    return [*rows, {"more": more}]


def compare(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[str]:
    """Differences between idcseg's and idc-index's answers (set, order, shared columns)."""
    set_a = {r["SeriesInstanceUID"] for r in ours}
    set_b = {r["SeriesInstanceUID"] for r in theirs}
    problems = []
    if set_a != set_b:
        only_a, only_b = sorted(set_a - set_b), sorted(set_b - set_a)
        problems.append(
            f"SeriesInstanceUID sets differ: {len(set_a)} vs {len(set_b)}; only idcseg "
            f"{len(only_a)} {only_a[:3]}, only idc-index {len(only_b)} {only_b[:3]}"
        )
        return problems
    return cli_cold._compare_series(ours, theirs)


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=7, help="timed idcseg runs (7)")
    parser.add_argument(
        "--idc-index-runs", type=int, default=3, help="timed idc-index runs (3; ~15-30 s each)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per tool first (1)")
    parser.add_argument("--no-idc-index", action="store_true", help="time idcseg only")
    parser.add_argument(
        "--limit", type=int, help="add --limit N to idcseg and LIMIT N to idc-index's query"
    )
    parser.add_argument(
        "--terminal",
        action="store_true",
        help="run idcseg exactly as typed in a shell: the default table format, stdout a "
        "pseudo-terminal (a preview of the first rows); checked against idc-index's first rows",
    )
    parser.add_argument("--no-phases", action="store_true", help="skip the idcseg phases process")
    parser.add_argument("--no-unshare", action="store_true", help="skip the `unshare -n` runs")
    parser.add_argument(
        "--rebuild-standin", action="store_true", help="build the stand-in parquet again"
    )
    parser.add_argument("--idcseg", default=cli_cold._default_idcseg(), help="the idcseg command")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=BENCH.parent,
        help="idcseg source checkout to measure, first on PYTHONPATH (default: the one holding "
        "bench/)",
    )
    parser.add_argument(
        "--installed", action="store_true", help="measure the installed idcseg (no PYTHONPATH)"
    )
    parser.add_argument(
        "--idc-index-python",
        default=str(cli_cold.IDC_INDEX_VENV / "bin" / "python"),
        help="python of the idc-index venv (bench/.venv-idc-index/bin/python)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before the timed runs, wait up to SECONDS for other processes to use < 0.5 CPU",
    )
    parser.add_argument("--out", type=Path, default=cli_cold.OUT, help="folder for the JSON")
    parser.add_argument("--phases-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases_child:
        return _phases_child(args.limit)

    idc_python: str | None = None if args.no_idc_index else args.idc_index_python
    if idc_python and not Path(idc_python).is_file():
        parser.error(f"{idc_python} not found: run `bash bench/setup_idc_index.sh` first")
    started = time.time()

    # 1. the stand-in
    standin, standin_info = seg_index_standin.ensure(force=args.rebuild_standin)
    print("== seg_index.parquet: a STAND-IN, not IDC's file")
    print(
        f"{standin} ({'cached' if standin_info['cached'] else 'built now'}): "
        f"{standin_info['rows']:,} rows, {standin_info['bytes']:,} bytes, "
        f"sha256 {standin_info['sha256'][:16]}…"
    )
    print(
        "real SEG SeriesInstanceUIDs (every SOPClassUID …66.4/…66.7 series of the wheel's index) "
        "and real segmented series;\nSYNTHETIC segment meanings, algorithms and counts "
        "(seg_index_standin.py): answers are not IDC's."
    )

    # 2. idcseg's store, filled by `idcseg index fetch`
    work = Path(tempfile.mkdtemp(prefix="idcseg-bench-segindex-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # also on failure
    home, xdg = work / "idcseg-home", work / "xdg-data"
    env_base = {**os.environ}
    env_base.pop("PYTHONDONTWRITEBYTECODE", None)  # byte-compile once, as after a pip install
    # an empty cache: the first warm-up run makes the DuckDB copies of the indexes
    env_idcseg = {**env_base, "IDCSEG_HOME": str(home), "IDCSEG_CACHE": str(work / "cache")}
    env_idcseg.pop("IDCSEG_ENGINE", None)
    if not args.installed:
        inherited = env_idcseg.get("PYTHONPATH")
        env_idcseg["PYTHONPATH"] = str(args.checkout.resolve()) + (
            os.pathsep + inherited if inherited else ""
        )
    code = cli_cold._idcseg_code(env_idcseg)
    idcseg_cmd = shlex.split(args.idcseg)
    installed = install_for_idcseg(standin, idcseg_cmd, env_idcseg, standin_info["sha256"])
    # from here on, a fetch attempt would hit a closed port and fail the run
    env_idcseg["IDCSEG_INDEX_URLS"] = CLOSED_URL
    env_idcseg["IDCSEG_INDEX_TIMEOUT"] = "2"
    print("\n== installed")
    for line in installed["fetch_stderr"]:
        print(f"  {line}")
    print(
        f"idcseg: {installed['path']} (idcseg index status: present, sha256 verified "
        f"{installed['sha256_verified']}, {installed['rows']:,} rows; fetch took "
        f"{installed['fetch_s']:.2f} s, not timed)"
    )

    # 3. idc-index's data folder: a symlink to the same file
    env_idc = {**env_base, "XDG_DATA_HOME": str(xdg)}
    link: Path | None = None
    if idc_python:
        link = place_for_idc_index(idc_python, env_idc, Path(installed["path"]))
        print(f"idc-index: {link} -> {os.readlink(link)} (symlink; XDG_DATA_HOME={xdg})")

    info = cli_cold.machine_info(idc_python)
    print("\n== machine")
    print(f"nproc {info['nproc']} | {info['cpu']} | {info['memory']} | {info['platform']}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in info['loadavg_start'])}")
    print("idcseg env:   " + ", ".join(f"{k} {v}" for k, v in info["idcseg_env"].items()))
    if idc_python:
        print("idc-index env: " + ", ".join(f"{k} {v}" for k, v in info["idc_index_env"].items()))
    print(f"idcseg code: {code['module']} ({code['git']})")

    limit_args = ["--limit", str(args.limit)] if args.limit is not None else []
    idcseg_args = (  # the UIDs are compared: a terminal shows only readable columns by default
        [*IDCSEG_ARGS[: IDCSEG_ARGS.index("--format")], "--wide"] if args.terminal else IDCSEG_ARGS
    )
    commands: dict[str, list[str]] = {"idcseg": [*idcseg_cmd, *idcseg_args, *limit_args]}
    envs = {"idcseg": env_idcseg, "idc-index": env_idc}
    counts = {"idcseg": args.runs, "idc-index": args.idc_index_runs}
    if idc_python:
        commands["idc-index"] = [
            idc_python,
            str(BENCH / "idc_index_answer.py"),
            QUESTION,
            "--refuse-network",
            *limit_args,
        ]
    shown = shlex.join(["idcseg", *idcseg_args, *limit_args])
    print(
        f"idcseg command:    {shown}" + ("  (stdout: a pseudo-terminal)" if args.terminal else "")
    )
    if idc_python:
        print(
            "idc-index program: IDCClient(); fetch_index('seg_index'); sql_query(<index JOIN "
            "seg_index, see idc_index_answer.py>)"
        )

    # Each tool's first answer waits on disk, parsed only after the last run: a child's peak RSS
    # as wait4 reports it starts at this process's RSS when it is spawned (Linux keeps the
    # high-water mark across the vfork and exec), so this process must stay small meanwhile.
    first: dict[str, str] = {}  # tool -> digest of its first answer
    kept: dict[str, Path] = {}  # tool -> file holding its first answer
    mismatches: list[str] = []
    extra: dict[str, dict[str, Any]] = {}

    def parser(tool: str) -> Any:
        return table_answer if args.terminal and tool == "idcseg" else json.loads

    def one(tool: str, label: str, prefix: list[str] | None = None) -> Run:
        on_terminal = args.terminal and tool == "idcseg"
        run, stdout, stderr = cli_cold.run_child(
            [*(prefix or []), *commands[tool]], envs[tool], terminal=on_terminal
        )
        if run.exit_code != 0:
            tail = "\n".join(stderr.strip().splitlines()[-8:])
            raise SystemExit(f"{tool} ({label}) exited {run.exit_code}:\n{tail}")
        digest = _digest(stdout)
        reference = first.setdefault(tool, digest)
        if tool not in kept:
            kept[tool] = work / f"answer-{tool}.txt"
            kept[tool].write_text(stdout)
        elif digest != reference:
            parse = parser(tool)
            problems = cli_cold._compare_series(parse(stdout), parse(kept[tool].read_text()))
            mismatches.extend(f"{tool} {label} vs its first run: {p}" for p in problems[:5])
        note = ""
        if tool == "idc-index":
            got = _info_line(stderr)
            seg = got.get("seg_index", {})
            if seg.get("file_path") != str(link) or got.get("network_attempts"):
                raise SystemExit(f"idc-index ({label}) did not read {link} offline: {got}")
            note = "  read the symlink, no network"
        extra.setdefault(tool, {})["output_bytes"] = len(stdout)
        print(
            f"  {tool:<9} {label:<14} {run.wall_s:7.3f} s {run.peak_rss_mib:8.1f} MiB  "
            f"CPU {run.user_s + run.sys_s:6.2f} s  other load {run.other_load:4.2f}"
            + (
                "  (" + ", ".join(f"{k} {v:.2f}" for k, v in run.phases.items()) + ")"
                if run.phases
                else ""
            )
            + note,
            flush=True,
        )
        return run

    print("\n== runs (wall, peak RSS, CPU; idc-index's own phases in s)")
    warm: dict[str, list[Run]] = {tool: [] for tool in commands}
    for tool in commands:
        for i in range(args.warmup):
            warm[tool].append(one(tool, f"warm-up {i + 1}"))

    offline: dict[str, Any] = {"unshare": False}
    if not args.no_unshare and shutil.which("unshare"):
        allowed = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
        if allowed:
            offline["unshare"] = True
            for tool in commands:
                offline[tool] = asdict(one(tool, "unshare -n", ["unshare", "-n"]))
        else:
            print("  (unshare -n not allowed here: the in-process guards only)")

    load_before = None
    if args.wait_quiet > 0:
        load_before = cli_cold.wait_quiet(args.wait_quiet)
        print(f"  (other processes' load before the timed runs: {load_before:.2f} CPUs)")
    timed: dict[str, list[Run]] = {tool: [] for tool in commands}
    for i in range(max(counts[t] for t in commands)):
        for tool in commands:  # interleaved, so drift in machine load hits both alike
            if i < counts[tool]:
                timed[tool].append(one(tool, f"run {i + 1}"))

    answers = {tool: parser(tool)(path.read_text()) for tool, path in kept.items()}
    answers_match = None
    more = answers["idcseg"].pop()["more"] if args.terminal else None
    rows = len(answers["idcseg"])
    if idc_python:
        theirs = answers["idc-index"]
        if args.terminal:  # the preview: idc-index's first rows, and whether it has more
            if more != (len(theirs) > rows):
                mismatches.append(f"the preview says more={more}; idc-index has {len(theirs)}")
            theirs = theirs[:rows]
        problems = compare(answers["idcseg"], theirs)
        answers_match = not problems
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"… and {len(problems) - MAX_PROBLEMS} more"]
        mismatches.extend(f"idcseg vs idc-index: {p}" for p in problems)
    expected = standin_info["liver_automatic_rows"]  # counted by the builder, in Python
    if args.limit is None and not args.terminal and rows != expected:
        mismatches.append(f"idcseg returned {rows} series; the stand-in holds {expected} such rows")
    answers.clear()  # ~100k records each: let them go before the phases process

    phases: dict[str, Any] | None = None
    if not args.no_phases:
        argv_phases = [sys.executable, str(Path(__file__).resolve()), "--phases-child"]
        if args.limit is not None:
            argv_phases += ["--limit", str(args.limit)]
        run, stdout, stderr = cli_cold.run_child(argv_phases, env_idcseg)
        if run.exit_code != 0:
            raise SystemExit(f"phases process exited {run.exit_code}:\n{stderr}")
        phases = {
            **json.loads(stdout),
            "wall_s": run.wall_s,
            "process_peak_rss_mib": run.peak_rss_mib,
        }

    summary = {tool: cli_cold.summarise(timed[tool]) for tool in commands}
    print("\n== cold CLI, warm OS file cache: medians")
    header = (
        f"{'tool':<9} | {'n':>2} | {'median wall s':>13} | {'min':>6} | {'max':>6} | "
        f"{'median peak RSS MiB':>19} | {'ratio wall':>10} | {'ratio RSS':>9} | {'CPU s':>6} | "
        f"{'other load':>10}"
    )
    print(header)
    print("-" * len(header))
    ours = summary["idcseg"]
    for tool, s in summary.items():
        ratio_wall = ratio_rss = ""
        if tool != "idcseg":
            s["ratio_wall"] = s["median_wall_s"] / ours["median_wall_s"]
            s["ratio_rss"] = s["median_peak_rss_mib"] / ours["median_peak_rss_mib"]
            ratio_wall, ratio_rss = f"{s['ratio_wall']:.1f}x", f"{s['ratio_rss']:.1f}x"
        print(
            f"{tool:<9} | {s['n']:>2} | {s['median_wall_s']:>13.3f} | {s['min_wall_s']:>6.3f} | "
            f"{s['max_wall_s']:>6.3f} | {s['median_peak_rss_mib']:>19.1f} | {ratio_wall:>10} | "
            f"{ratio_rss:>9} | {s['median_cpu_s']:>6.2f} | {s['median_other_load']:>10.2f}"
        )
    print(
        "ratio: idc-index's median / idcseg's. CPU s: median user+sys of the child. other load:\n"
        f"median CPUs kept busy by other processes during the runs (of {info['nproc']})."
    )
    if idc_python and timed["idc-index"]:
        names = list(timed["idc-index"][0].phases)
        medians = {
            k: cli_cold._median([r.phases.get(k, 0.0) for r in timed["idc-index"]]) for k in names
        }
        print(
            "idc-index phases (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items())
        )
        summary["idc-index"]["median_phases"] = medians

    print(
        f"\n== answer: {rows:,} SEG series, {extra['idcseg']['output_bytes'] / 1e6:.1f} MB of JSON "
        f"from idcseg ({expected:,} of the stand-in's {standin_info['rows']:,} rows have Liver "
        "and AUTOMATIC, counted when it was built)"
    )
    if idc_python:
        print(
            "same answer from idcseg and idc-index (the same SeriesInstanceUIDs in the same order, "
            "every shared column equal)"
            if answers_match
            else "MISMATCH between idcseg and idc-index (below)"
        )

    if phases is not None:
        p = phases["phases"]
        print("\n== where an idcseg run's time goes (one more process, perf_counter inside it)")
        print(
            "  "
            + " | ".join(f"{k} {v:.3f}" for k, v in p.items())
            + f"\n  sum {sum(p.values()):.3f} s of {phases['wall_s']:.3f} s wall (the rest: Python "
            "start-up and exit; the CLI also imports typer); "
            f"peak RSS {phases['peak_rss_mib']:.0f} MiB"
        )

    print(f"\n== idcseg against the budget (median wall ≤ {BUDGET_WALL_S} s)")
    ok_wall = ours["median_wall_s"] <= BUDGET_WALL_S
    rss_mb = ours["max_peak_rss_mib"] * MIB / 1e6
    print(
        f"median wall {ours['median_wall_s']:.3f} s: {'met' if ok_wall else 'NOT MET'}"
        f" | max peak RSS {rss_mb:.1f} MB ({'within' if rss_mb <= BUDGET_RSS_MB else 'OVER'} the "
        f"{BUDGET_RSS_MB:.0f} MB of the cold-CLI requirement)"
    )
    if warm["idcseg"]:
        w = warm["idcseg"][0]
        print(
            "(warm-up, first run of this query in the store, SQL not yet cached: "
            f"{w.wall_s:.3f} s, {w.peak_rss_mib:.1f} MiB)"
        )
    if mismatches:
        cli_cold._loud(mismatches)

    info["loadavg_end"] = os.getloadavg()
    elapsed = time.time() - started
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.out / f"seg_index_filters-{stamp}.json"
    payload = {
        "what": "cold-process runs with the seg_index present on both sides, warm OS file cache; "
        "wall from Popen to wait4, peak RSS from wait4",
        "seg_index": {"stand_in": True, "path": str(standin), **standin_info},
        "installed": {k: v for k, v in installed.items() if k != "fetch_stderr"},
        "idc_index_file": str(link) if link else None,
        "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "machine": info,
        "idcseg_code": code,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "commands": {k: shlex.join(v) for k, v in commands.items()},
        "budget": {"wall_s": BUDGET_WALL_S, "met": ok_wall},
        "rows": rows,
        "answers_match": answers_match,
        "summary": summary,
        "runs": {tool: [asdict(r) for r in timed[tool]] for tool in commands},
        "warmup": {tool: [asdict(r) for r in warm[tool]] for tool in commands},
        "offline": offline,
        "other_load_before": load_before,
        "output": extra,
        "idcseg_phases": phases,
        "mismatches": mismatches,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in info['loadavg_end'])}")
    print(f"total {elapsed:.0f} s; results: {path}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
