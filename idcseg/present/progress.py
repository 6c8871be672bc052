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


def human_bytes(n: float) -> str:
    """``812.4 MB``: decimal units, as IDC's index (``series_size_MB``) and portal use."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def duration(seconds: float) -> str:
    """``0:42``, ``1:02:03``: an ETA or elapsed time."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TransferProgress(ProgressLine):
    """A progress bar for downloads: bytes, files, series, rate and ETA, on one stderr line.

    The rate is the bytes of the last few seconds (so a pause shows); the ETA divides what is
    left by it. Totals may grow while the run learns them (listings).
    """

    WINDOW = 5.0  # seconds of history for the rate

    def __init__(self, enabled: bool, interval: float = 0.2, width: int = 24) -> None:
        super().__init__(enabled, interval)
        self.width = width
        self._history: list[tuple[float, int]] = []

    def rate(self, done: int) -> float:
        """Bytes per second over the last :attr:`WINDOW` seconds."""
        now = time.monotonic()
        self._history.append((now, done))
        while len(self._history) > 2 and now - self._history[0][0] > self.WINDOW:
            self._history.pop(0)
        then, before = self._history[0]
        if now - then < 1e-3:
            return done / self.elapsed()
        return max(0.0, (done - before) / (now - then))

    def render(
        self,
        done: int,
        total: int,
        files: int,
        files_total: int,
        series: int,
        series_total: int,
        failed: int = 0,
        moved: int | None = None,
    ) -> str:
        """The line for these counts. *moved*: the bytes this run transferred, for the rate
        (default *done*; files found already complete count in *done*, not in the rate)."""
        fraction = min(1.0, done / total) if total else 0.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.rate(done if moved is None else moved)
        left = max(0, total - done)
        eta = duration(left / rate) if rate > 0 and left else ("0:00" if not left else "--:--")
        failed_text = f"  {failed} failed" if failed else ""
        return (
            f"[{bar}] {fraction:4.0%}  {human_bytes(done)}/{human_bytes(total)}  "
            f"files {files}/{files_total}  series {series}/{series_total}  "
            f"{human_bytes(rate)}/s  ETA {eta}{failed_text}"
        )
