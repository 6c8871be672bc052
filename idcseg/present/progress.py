"""A one-line progress display on stderr, redrawn at most five times a second."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """Rewrites one stderr line in place; :meth:`close` ends it with a newline if shown."""

    def __init__(self, enabled: bool, interval: float = 0.2) -> None:
        self.enabled = enabled
        self.interval = interval
        self.began = time.monotonic()
        self._last = 0.0
        self._shown = False

    def elapsed(self) -> float:
        """Seconds since the line was started (never 0)."""
        return max(time.monotonic() - self.began, 1e-9)

    def due(self, force: bool = False) -> bool:
        """True when a redraw is allowed now (always with *force*)."""
        if not self.enabled:
            return False
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        return True

    def show(self, text: str) -> None:
        """Draw *text* over the previous line."""
        sys.stderr.write(f"\r{text}   ")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        """Finish the line (a newline) if anything was drawn."""
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = False
