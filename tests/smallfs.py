"""A tiny real filesystem for tests of a full disk: a tmpfs of a few hundred KB, mounted for one test.

    with small_filesystem(tmp_path / "disk", size_kb=600) as disk:
        ...                                 # writes under `disk` fail with ENOSPC once it is full
        resize(disk, size_kb=20_000)        # "free some space"

Mounting needs CAP_SYS_ADMIN (root in a container or on CI); elsewhere :func:`can_mount` is
false and the tests that need it are skipped with that reason. Each mount is checked to refuse
a write past its size with ``ENOSPC`` before it is handed out.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path


def _mount(path: Path, size_kb: int) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
        capture_output=True,
    )
    return done.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@cache
def can_mount() -> bool:
    """True when this process may mount a tmpfs (and a full one answers ENOSPC)."""
    import tempfile

    if os.name != "posix" or not Path("/proc/mounts").exists():
        return False
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        try:
            if not _mount(where, 64):
                return False
        except OSError:  # no mount binary
            return False
        try:
            fill(where)
            return True
        except AssertionError:
            return False
        finally:
            _umount(where)


def fill(folder: Path, leave: int = 0) -> None:
    """Write a filler file until the filesystem of *folder* is full (then free *leave* bytes)."""
    filler = folder / ".filler"
    block = b"\0" * 4096
    try:
        with open(filler, "ab") as fh:
            while True:
                fh.write(block)
                fh.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    if leave:
        size = filler.stat().st_size
        os.truncate(filler, max(0, size - leave))


@contextmanager
def small_filesystem(path: Path, size_kb: int) -> Iterator[Path]:
    """Mount a *size_kb* tmpfs at *path* (created) for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount(path, size_kb):
        raise RuntimeError(f"cannot mount a tmpfs at {path}")
    try:
        yield path
    finally:
        _umount(path)


def resize(path: Path, size_kb: int) -> None:
    """Grow (or shrink) the tmpfs at *path*: frees space without touching its files."""
    done = subprocess.run(
        ["mount", "-o", f"remount,size={size_kb}k", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot resize {path}: {done.stderr.strip()}")
