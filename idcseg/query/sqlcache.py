"""A small on-disk cache of generated SQL text.

Rendering (Jinja) and transpiling (sqlglot) cost ~0.25 s of imports per process; the SQL they
produce depends only on the template files and the query's structure, never on values, so it is
computed once and reused. Writes are atomic; an unwritable folder only disables the cache.

Cached SQL is executed, so it is never trusted as found: each file starts with a line holding the
SHA-256 of its key and its text, checked before use. An edited, truncated or empty file does not
match, and is rebuilt from the templates and replaced.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

_HEADER = "-- idcseg sql cache sha256:"


def _digest(key: str, text: str) -> str:
    return hashlib.sha256(f"{key}\n{text}".encode()).hexdigest()


def _verified(key: str, stored: str) -> str | None:
    """The SQL of a cache file's content *stored*, or None unless its checksum line matches."""
    header, newline, text = stored.partition("\n")
    if not newline or not header.startswith(_HEADER) or not text.strip():
        return None
    if header.removeprefix(_HEADER) != _digest(key, text):
        return None
    return text


class SqlCache:
    """Files ``<key>.sql`` in *folder*, each checked against the checksum it starts with."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get_or_create(self, key: str, produce: Callable[[], str]) -> str:
        """Return the cached text for *key*, producing and storing it on a miss or a mismatch."""
        path = self.folder / f"{key}.sql"
        try:
            text = _verified(key, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None:
            return text
        text = produce()
        tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_text(f"{_HEADER}{_digest(key, text)}\n{text}", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
        return text
