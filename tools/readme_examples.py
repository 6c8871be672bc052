"""README.md's console examples: list them, or rerun them and write their real output back.

    python tools/readme_examples.py --update   # after changing a command's output

Each ```console block holds `$ command` lines, each followed by the output it prints. The test
suite (tests/test_readme.py) runs each block's commands in order, in one fresh folder and store,
and compares the output shown; --update does the same.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", flags=re.S)


def commands(block: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ ` line of one console block."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return found


def blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """The console blocks of *text*, each a list of (command, expected output lines)."""
    return [commands(block) for block in BLOCK.findall(text)]


def run(
    command: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one example as a user would, in a shell, in *cwd* (with *env*, else this process's)."""
    return subprocess.run(
        command,
        shell=True,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ if env is None else env,
        timeout=300,
    )


def update() -> None:
    """Rerun every example that shows output and write what it prints into README.md."""
    text = README.read_text()

    def refresh(match: re.Match[str]) -> str:
        lines: list[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "IDCSEG_HOME": str(Path(tmp) / "idcseg-home")}  # a new store
            for command, expected in commands(match.group(1)):
                lines.append(f"$ {command}")
                result = run(command, Path(tmp), env)
                if expected:
                    lines.extend(result.stdout.rstrip("\n").splitlines())
        return "```console\n" + "\n".join(lines) + "\n```"

    README.write_text(BLOCK.sub(refresh, text))


if __name__ == "__main__":
    if "--update" in sys.argv:
        update()
    else:
        for block in blocks(README.read_text()):
            for command, expected in block:
                print(f"$ {command}  ({len(expected)} lines)")
