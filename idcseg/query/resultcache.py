"""Local cache of query results, as parquet files keyed by (SQL, parameters, dataset).

Results from a pinned release (``idc_v25``) never change and never expire; ``idc_current``
moves with each IDC release, so its entries expire (default 24 hours, ``$IDCSEG_CACHE_TTL``
seconds).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

TTL_ENV = "IDCSEG_CACHE_TTL"
DEFAULT_TTL = 24 * 3600


def cache_key(sql: str, params: dict[str, Any], dataset: str, project: str | None = None) -> str:
    """Identify a result: the exact SQL, its parameter values and the dataset."""
    blob = json.dumps([sql, params, dataset, project or ""], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:40]


class ResultCache:
    """Parquet files ``<key>.parquet`` in *folder*."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def get(self, key: str, dataset: str) -> Any | None:
        """The cached pandas DataFrame, or None if absent or expired."""
        path = self._path(key)
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
        ttl = float(os.environ.get(TTL_ENV, DEFAULT_TTL))
        if dataset == "idc_current" and age > ttl:
            return None
        import pandas as pd

        try:
            return pd.read_parquet(path)
        except Exception:  # a damaged entry is a miss, not an error
            return None

    def put(self, key: str, frame: Any) -> None:
        """Store *frame* atomically; an unwritable cache folder only disables caching."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._path(key).with_suffix(f".{os.getpid()}.tmp")
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self._path(key))
        except (OSError, ValueError, TypeError):
            pass
