"""A small on-disk cache of generated SQL text.

Rendering (Jinja) and transpiling (sqlglot) cost ~0.25 s of imports per process; the SQL they
produce depends only on the template files and the query's structure, never on values, so it is
computed once and reused. Writes are atomic; an unwritable folder only disables the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class SqlCache:
    """Files ``<key>.sql`` in *folder*."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get_or_create(self, key: str, produce: Callable[[], str]) -> str:
        """Return the cached text for *key*, producing and storing it on a miss."""
        path = self.folder / f"{key}.sql"
        try:
            return path.read_text()
        except OSError:
            pass
        text = produce()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError:
            pass
        return text
