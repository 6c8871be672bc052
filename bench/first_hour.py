"""The first hour's commands, two checkouts side by side (issue 11 §4), in one run.

For each measurement, fresh processes of ``python -m idcseg`` from checkout A (``--before``,
e.g. an export of the commit before a change) and checkout B (``--after``, default: this
checkout) are started alternately, so drift in the machine's load hits both alike:

- **cold commands**: ``find --structure Nodule``, ``facets --structure Nodule`` (a code
  filter: the SNOMED-RT/CT concept table) and ``series --analysis-result
  dicom_lidc_idri_nodules --limit 20`` for reference, ``--format json`` to a file, with the
  DuckDB copies of the indexes already made (each checkout in its own ``IDCSEG_CACHE``);
- **series facets**: ``facets --level series --by structure`` over the stand-in seg_index of
  ``seg_index_standin.py`` (stored with ``index fetch --url file://...``), peak RSS;
- **first copy**: the first command of an installation, ``summary``, with an empty
  ``IDCSEG_CACHE`` each run: the time to make the DuckDB copy of the series index.

Wall time from ``Popen`` to ``wait4``, peak RSS and CPU from ``wait4`` (``cli_cold.run_child``);
``other load`` is the CPUs other processes kept busy meanwhile. Answers of A and B must agree
(the JSON rows of each command; the copy's ``summary``). Results: ``bench/out/first_hour-*.json``.

    git archive <commit> | tar -x -C /tmp/before
    python bench/first_hour.py --before /tmp/before -n 5 --copies 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import cli_cold
import seg_index_standin

BENCH = Path(__file__).resolve().parent
COLD = {
    "find --structure Nodule": ["find", "--structure", "Nodule"],
    "facets --structure Nodule": ["facets", "--structure", "Nodule"],
    "series --analysis-result ... --limit 20": [
        "series",
        "--analysis-result",
        "dicom_lidc_idri_nodules",
        "--limit",
        "20",
    ],
}
FACETS = ["facets", "--level", "series", "--by", "structure"]


def _env(checkout: Path, home: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPATH=str(checkout),
        IDCSEG_HOME=str(home),
        IDCSEG_CACHE=str(cache),
        IDCSEG_INDEX_URLS="http://127.0.0.1:9/{version}/seg_index.parquet",
    )
    return env


def _run(env: dict[str, str], args: list[str], answer: Path) -> tuple[cli_cold.Run, str]:
    # -P: not the current folder first on sys.path, so PYTHONPATH picks the checkout
    argv = [
        sys.executable,
        "-P",
        "-m",
        "idcseg",
        *args,
        "--format",
        "json",
        "--output",
        str(answer),
    ]
    run, _, err = cli_cold.run_child(argv, env)
    if run.exit_code != 0:
        raise SystemExit(f"{' '.join(args)} failed ({run.exit_code}): {err.strip()[-500:]}")
    return run, answer.read_text()


def _row(name: str, tool: str, runs: list[cli_cold.Run]) -> str:
    s = cli_cold.summarise(runs)
    return (
        f"| {name} | {tool} | {s['n']} | {s['median_wall_s']:.3f} | {s['min_wall_s']:.3f} | "
        f"{s['max_wall_s']:.3f} | {s['median_peak_rss_mib']:.0f} | {s['median_cpu_s']:.2f} | "
        f"{s['median_other_load']:.2f} |"
    )


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - a linear script
    """Run the measurements, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout A (before)")
    parser.add_argument("--after", type=Path, default=BENCH.parent, help="checkout B (this one)")
    parser.add_argument("-n", "--runs", type=int, default=5, help="cold runs per command (5)")
    parser.add_argument("--copies", type=int, default=3, help="first-copy runs per side (3)")
    parser.add_argument("--skip", nargs="*", default=[], help="cold, facets, copy")
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args(argv)

    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    work = Path(tempfile.mkdtemp(prefix="idcseg-first-hour-"))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    table: list[str] = []
    mismatches: list[str] = []
    try:
        envs = {
            side: _env(path, work / side / "home", work / side / "cache")
            for side, path in sides.items()
        }
        for side, env in envs.items():  # warm-up: copies made, SQL cached (untimed)
            for args_ in COLD.values():
                _run(env, args_, work / f"{side}.json")
        if "cold" not in args.skip:
            for name, cmd in COLD.items():
                runs: dict[str, list[cli_cold.Run]] = {s: [] for s in sides}
                answers: dict[str, str] = {}
                for _ in range(args.runs):
                    for side, env in envs.items():
                        run, answer = _run(env, cmd, work / f"{side}.json")
                        runs[side].append(run)
                        answers[side] = answer
                if json.loads(answers["before"]) != json.loads(answers["after"]):
                    mismatches.append(f"{name}: the two checkouts answer differently")
                for side in sides:
                    table.append(_row(name, side, runs[side]))
                results[name] = {s: [vars(r) for r in runs[s]] for s in sides}
        if "facets" not in args.skip:
            # built (once) in a child: a child's peak RSS as wait4 reports it starts at its
            # parent's, so building it here would inflate every figure measured after it
            subprocess.run(
                [sys.executable, seg_index_standin.__file__], check=True, capture_output=True
            )
            standin, _ = seg_index_standin.ensure()  # cached now: nothing is read
            url = standin.parent.parent.as_uri() + "/{version}/seg_index.parquet"
            for side, env in envs.items():
                fetched = cli_cold.run_child(
                    [sys.executable, "-P", "-m", "idcseg", "index", "fetch", "-q", "--url", url],
                    env,
                )
                if fetched[0].exit_code != 0:
                    raise SystemExit(f"index fetch failed: {fetched[2]}")
                _run(env, FACETS, work / f"{side}.json")  # the seg_index copy made, untimed
            runs = {s: [] for s in sides}
            answers = {}
            for _ in range(args.runs):
                for side, env in envs.items():
                    run, answer = _run(env, FACETS, work / f"{side}.json")
                    runs[side].append(run)
                    answers[side] = answer
            if json.loads(answers["before"]) != json.loads(answers["after"]):
                mismatches.append("facets --level series: the two checkouts answer differently")
            for side in sides:
                table.append(_row("facets --level series --by structure", side, runs[side]))
            results["series_facets"] = {s: [vars(r) for r in runs[s]] for s in sides}
        if "copy" not in args.skip:
            runs = {s: [] for s in sides}
            answers = {}
            for i in range(args.copies):
                for side, path in sides.items():
                    # a new user's first command: no cache and a new store (the facets runs'
                    # store holds a seg_index, whose copy the first command would make too)
                    cache = work / side / f"fresh-cache-{i}"
                    home = work / side / f"fresh-home-{i}"
                    env = _env(path, home, cache)
                    run, answer = _run(env, ["summary"], work / f"{side}.json")
                    runs[side].append(run)
                    answers[side] = answer
                    shutil.rmtree(cache, ignore_errors=True)
                    shutil.rmtree(home, ignore_errors=True)
            if json.loads(answers["before"]) != json.loads(answers["after"]):
                mismatches.append("summary after the first copy: answers differ")
            for side in sides:
                table.append(_row("first command (copy of the series index)", side, runs[side]))
            results["first_copy"] = {s: [vars(r) for r in runs[s]] for s in sides}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("| measurement | checkout | n | median wall s | min | max | median peak RSS MiB "
          "| median CPU s | other load |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(table))
    for side, path in sides.items():
        print(f"{side}: {path}")
    if mismatches:
        print("\n!!! ANSWER MISMATCH\n" + "\n".join(mismatches))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = args.out / f"first_hour-{stamp}.json"
    target.write_text(
        json.dumps(
            {
                "sides": {k: str(v) for k, v in sides.items()},
                "runs": results,
                "machine": cli_cold.machine_info(None),
                "mismatches": mismatches,
            },
            indent=1,
        )  # fmt: skip
    )
    print(f"results: {target}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
