"""Every command in README.md's console examples runs, and prints what the README shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

README = (REPO / "README.md").read_text()
sys.path.insert(0, str(REPO / "tools"))
from readme_examples import blocks, run  # noqa: E402


def test_quick_start_has_exactly_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quick, flags=re.S)
    assert [c.strip() for c in commands] == [
        "pip install . && idcseg series --analysis-result dicom_lidc_idri_nodules --limit 10",
        'pip install ".[test]" && python -m pytest',
    ]
    ci = (REPO / ".ci" / "run").read_text()
    assert 'pip install ".[test]" && python -m pytest' in ci


def test_quick_start_main_job_runs() -> None:
    run = subprocess.run(
        ["idcseg", "series", "--analysis-result", "dicom_lidc_idri_nodules", "--limit", "10"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("https://viewer.imaging.datacommons.cancer.gov/v3/viewer/") == 10


@pytest.mark.parametrize("block", blocks(README), ids=lambda b: b[0][0][:60])
def test_readme_example(block: list[tuple[str, list[str]]], tmp_path: Path) -> None:
    for command, expected in block:
        result = run(command, tmp_path)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        if expected:
            assert result.stdout.rstrip("\n").splitlines() == expected, command
