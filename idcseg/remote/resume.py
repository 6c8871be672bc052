"""What a download folder already holds: the ledger of files written, and the folder's lock.

``DIR/.idcseg/ledger.jsonl`` has one line per file a download wrote and checked: the object it
came from (``s3://bucket/key``), its ETag and size, the file's path under DIR and the file's
size and modification time (ns) just after it was written. A rerun skips an object when

- the ledger knows it with the object's current ETag and size, and the file is still there with
  the size and modification time recorded (nobody touched it since it was checked); or
- a file is where the object belongs (its name in the series folder, as s5cmd writes it, or the
  ledger's path) with the object's size and, for single-part objects, the MD5 its ETag names —
  then it is recorded, so the next rerun need not read it again.

Anything else is fetched again. ``verify=True`` (``--verify``) checks the MD5 of every file the
ledger vouches for too.

The ledger is appended line by line as files complete (so a killed run keeps what it finished),
read back tolerating a torn last line, and rewritten compactly at the end of a run (temporary
file, then rename). Only one download may write to a folder at a time (:class:`FolderLock`).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import IdcsegError

STATE_DIR = ".idcseg"
LEDGER = "ledger.jsonl"
PART_SUFFIX = ".idcseg-part"


class FolderBusyError(IdcsegError):
    """Another idcseg download is writing to the same folder."""

    exit_code = 3


@dataclass(frozen=True)
class Entry:
    """One file a download wrote."""

    url: str  # s3://bucket/key
    etag: str | None
    size: int
    path: str  # relative to the download folder, POSIX separators
    mtime_ns: int
    series: str | None = None  # SeriesInstanceUID


def _fields(entry: Entry) -> dict[str, object]:
    """*entry* as a dict (``dataclasses.asdict`` deep-copies: 10x slower)."""
    return {name: getattr(entry, name) for name in _NAMES}


_NAMES = tuple(f.name for f in fields(Entry))


class Ledger:
    """The ledger of one download folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / STATE_DIR / LEDGER
        self.entries: dict[str, Entry] = {}
        self.torn = 0  # lines that could not be read (a torn last line after a kill)
        self.lines = 0  # lines the file holds (read and appended): more than entries → compact
        self._fp: int | None = None

    def load(self) -> Ledger:
        """Read the ledger (a missing one is empty)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return self
        for line in text.splitlines():
            if not line.strip():
                continue
            self.lines += 1
            try:
                entry = Entry(**json.loads(line))
                if not isinstance(entry.size, int) or not isinstance(entry.path, str):
                    raise TypeError
            except (ValueError, TypeError):
                self.torn += 1
                continue
            self.entries[entry.url] = entry
        return self

    def get(self, url: str) -> Entry | None:
        """The entry of object *url*, if any."""
        return self.entries.get(url)

    def record(self, entry: Entry) -> None:
        """Remember *entry* and append it to the ledger file at once."""
        self.entries[entry.url] = entry
        line = (json.dumps(_fields(entry), separators=(",", ":")) + "\n").encode()
        if self._fp is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fp = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if self.torn or self._ends_torn():
                os.write(self._fp, b"\n")  # a torn last line stays alone on its line
        os.write(self._fp, line)
        self.lines += 1

    def _ends_torn(self) -> bool:
        try:
            with open(self.path, "rb") as fp:
                fp.seek(-1, os.SEEK_END)
                return fp.read(1) != b"\n"
        except OSError:
            return False

    def close(self) -> None:
        """Stop appending."""
        if self._fp is not None:
            os.close(self._fp)
            self._fp = None

    def compact(self) -> None:
        """Rewrite the ledger with one line per known file (temporary file, then rename), when
        it holds more lines than that (files replaced, torn lines); else leave it.

        A failure (e.g. a full disk) leaves the appended ledger as it was.
        """
        from ..files import temp_beside

        self.close()
        if self.lines == len(self.entries) and not self.torn:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_beside(self.path)
        try:
            with open(fd, "w", encoding="utf-8") as fp:
                for entry in self.entries.values():
                    fp.write(json.dumps(_fields(entry), separators=(",", ":")) + "\n")
            os.replace(tmp, self.path)
            self.lines = len(self.entries)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def series(self) -> set[str]:
        """SeriesInstanceUIDs of the files the ledger knows."""
        return {e.series for e in self.entries.values() if e.series}


def stat_matches(root: Path, entry: Entry) -> bool:
    """True when the file of *entry* is there with the size and mtime recorded."""
    try:
        st = os.stat(root / entry.path)
    except OSError:
        return False
    return st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns


class FolderLock:
    """An exclusive lock on a download folder (``DIR/.idcseg/lock``), held for a whole run."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / STATE_DIR / "lock"
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusyError(
                f"another idcseg download is writing to {self.path.parent.parent}; "
                "wait for it to finish (or choose another --output)"
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def remove_parts(folder: Path) -> int:
    """Delete temporary files a killed run left in *folder* (not recursive); how many."""
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if name.endswith(PART_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
                removed += 1
    return removed
