"""Writing files safely: a temporary file beside the target, renamed over it when complete.

The temporary file is created with ``O_CREAT | O_EXCL`` under an unpredictable name
(:func:`tempfile.mkstemp`), so it never follows a symlink planted in its place nor opens
another user's file. ``mkstemp`` makes it private (``0600``); before the rename it gets the
permissions of the file it replaces, or those a new file gets under the process's umask, so
what is installed is as readable as any other file the user writes.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path


def default_mode() -> int:
    """The permission bits of a newly created file under the current umask (e.g. ``0644``)."""
    try:  # Linux: read it without changing it (os.umask is process-wide, threads share it)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def mode_for(target: Path) -> int:
    """The permission bits a file replacing *target* should have: *target*'s own, else the
    default for a new file."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return default_mode()


def temp_beside(target: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """An open descriptor and the path of a new, exclusively created temporary file in
    *target*'s folder, already given the permissions *target* should end up with."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    with suppress(OSError):
        os.fchmod(fd, mode_for(target))
    return fd, Path(name)
