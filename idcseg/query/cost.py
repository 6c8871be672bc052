"""BigQuery cost: what a query will scan, what that costs, and the cap that refuses a surprise.

BigQuery on-demand pricing is $6.25 per TiB scanned (the first TiB each month is free). A dry
run returns ``total_bytes_processed`` without running or billing anything; a job with
``maximum_bytes_billed`` fails instead of scanning more than that. ``LIMIT`` does not reduce bytes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import IdcsegError, UsageError

USD_PER_TIB = 6.25
TIB = 2**40
DEFAULT_MAX_BYTES = 25 * 10**9
MAX_BYTES_ENV = "IDCSEG_MAX_BYTES"
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_bytes(text: str | int) -> int:
    """``"25GB"``, ``"1.5 TiB"``, ``"1000000"`` → bytes. Refuses anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not found or found[2].upper() not in _UNITS:
            raise UsageError(f"not a size: {text!r} (e.g. 25GB, 500MB, 1TiB)")
        value = int(float(found[1]) * _UNITS[found[2].upper()])
    if value <= 0:
        raise UsageError(f"--max-bytes must be positive, not {text!r}")
    return value


def default_max_bytes() -> int:
    """The cap: ``$IDCSEG_MAX_BYTES`` if set, else 25 GB (about $0.14 on demand)."""
    return parse_bytes(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))


def human(n: int) -> str:
    """Bytes in decimal units, e.g. ``12.3 GB``."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Estimate:
    """What a dry run said a query would scan."""

    bytes: int

    @property
    def usd(self) -> float:
        """On-demand price of the scan, in US dollars."""
        return self.bytes / TIB * USD_PER_TIB

    def __str__(self) -> str:
        return f"{human(self.bytes)} (≈ ${self.usd:.4f} on demand at ${USD_PER_TIB}/TiB)"


def estimate_from_job(job: object) -> Estimate:
    """The estimate a (dry-run) BigQuery job reports; unknown counts as 0 bytes."""
    return Estimate(int(getattr(job, "total_bytes_processed", None) or 0))


class CostLimitError(IdcsegError):
    """A query would scan (or did try to scan) more than ``--max-bytes`` allows."""

    exit_code = 4


def refuse(estimate: Estimate | None, max_bytes: int) -> CostLimitError:
    """The error telling the user what the query would cost and how to allow it."""
    scanned = f"would scan {estimate}" if estimate else "was refused by BigQuery"
    suggestion = human(max(max_bytes * 2, (estimate.bytes if estimate else 0) * 11 // 10))
    return CostLimitError(
        f"this query {scanned}, more than the limit of {human(max_bytes)}; "
        f"rerun with --max-bytes {suggestion.replace(' ', '')} (or set {MAX_BYTES_ENV}) to allow it"
    )


def check(estimate: Estimate, max_bytes: int) -> None:
    """Refuse, before running, a query whose dry run exceeds the cap."""
    if estimate.bytes > max_bytes:
        raise refuse(estimate, max_bytes)


def interpret_job_error(
    exc: BaseException, estimate: Estimate | None, max_bytes: int
) -> IdcsegError:
    """Turn a failed BigQuery job into one clear line (a cap refusal names the flag to raise)."""
    errors = getattr(exc, "errors", None) or []
    reasons = {str(e.get("reason", "")) for e in errors if isinstance(e, dict)}
    text = getattr(exc, "message", None) or str(exc)
    if "bytesBilledLimitExceeded" in reasons or "bytes billed" in text.lower():
        return refuse(estimate, max_bytes)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return IdcsegError(f"BigQuery refused the query: {first}")
