"""The bytes of one bucket object, read in ranges: a growing prefix, then only what is asked.

For ``idcseg masks`` on an IDC SEG: the header and frame descriptions come from the object's
first bytes (a 256 KiB window, doubled until they are complete), then only the byte ranges of
the wanted frames are fetched — joined when they touch or lie closer than :data:`GAP`, split into
parts of at most :data:`PART` bytes, and read by a few threads at once through the shared
:class:`~idcseg.remote.bucket.AnonymousS3` client (keep-alive connections, retries with backoff).
``bytes_read`` and ``requests`` say what it cost.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .bucket import AnonymousS3, S3Error

FIRST_WINDOW = 256 * 1024
GAP = 64 * 1024  # ranges closer than this are read as one
PART = 8 * 1024 * 1024  # at most this many bytes per request
DEFAULT_CONCURRENCY = 8


class ObjectBytes:
    """Bytes of ``s3://bucket/key`` (*size* bytes), fetched on demand.

    Args:
        client: the anonymous S3 client (shared, thread-safe).
        bucket, key, size: the object.
        concurrency: parallel range requests.
    """

    def __init__(
        self,
        client: AnonymousS3,
        bucket: str,
        key: str,
        size: int,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.size = size
        self.concurrency = max(1, concurrency)
        self.prefix = bytearray()
        self._starts: list[int] = []
        self._runs: list[bytes | bytearray] = []
        self.bytes_read = 0
        self.requests = 0
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def _get(self, start: int, stop: int) -> bytes:
        got = self.client.get_range(self.bucket, self.key, start, stop - 1)
        with self._lock:
            self.requests += 1
            self.bytes_read += len(got.data)
        if len(got.data) != stop - start:
            raise S3Error(
                "truncated object",
                f"{self.location}: asked for bytes {start}-{stop - 1}, got {len(got.data)} "
                f"(is the object {self.size} bytes?)",
            )
        return got.data

    def grow_prefix(self, need: int) -> bytearray:
        """The first *need* bytes at least (:data:`FIRST_WINDOW` at first; capped at the
        object's size)."""
        want = min(self.size, max(need, FIRST_WINDOW))
        if want > len(self.prefix):
            self._fill_prefix(want)
        return self.prefix

    def _fill_prefix(self, want: int) -> None:
        parts = _split([(len(self.prefix), want)])
        for data in self._run(lambda part: self._get(*part), parts):
            self.prefix += data

    def fetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Make sure every ``[start, stop)`` range is held, reading what is not (joined runs,
        split parts, concurrent requests, each part written straight into its run's buffer)."""
        todo = [(a, b) for a, b in ranges if b > len(self.prefix) and not self._held(a, b)]
        if not todo:
            return
        from ..dicom.frames import merge_ranges

        runs = merge_ranges(todo, GAP)
        buffers = [bytearray(stop - start) for start, stop in runs]
        jobs = [
            (buffer, a - start, a, b)
            for (start, stop), buffer in zip(runs, buffers, strict=True)
            for a, b in _split([(start, stop)])
        ]

        def get(job: tuple[bytearray, int, int, int]) -> None:
            buffer, offset, a, b = job
            buffer[offset : offset + (b - a)] = self._get(a, b)

        self._run(get, jobs)
        for (start, _), buffer in zip(runs, buffers, strict=True):
            position = bisect.bisect_left(self._starts, start)
            self._starts.insert(position, start)
            self._runs.insert(position, buffer)

    def _run(self, work: Any, jobs: list[Any]) -> list[Any]:
        """``work(job)`` for every job, on up to :attr:`concurrency` threads, in order."""
        if len(jobs) == 1 or self.concurrency == 1:
            return [work(job) for job in jobs]
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)))
        try:
            futures = [pool.submit(work, job) for job in jobs]
            return [f.result() for f in futures]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)

    def _held(self, start: int, stop: int) -> bool:
        position = bisect.bisect_right(self._starts, start) - 1
        return position >= 0 and self._starts[position] + len(self._runs[position]) >= stop

    def view(self, start: int, stop: int) -> memoryview:
        """Bytes ``[start, stop)``, which must have been fetched (prefix or :meth:`fetch`)."""
        if stop <= len(self.prefix):
            return memoryview(self.prefix)[start:stop]
        position = bisect.bisect_right(self._starts, start) - 1
        if position < 0 or self._starts[position] + len(self._runs[position]) < stop:
            self.fetch([(start, stop)])
            position = bisect.bisect_right(self._starts, start) - 1
        base = self._starts[position]
        return memoryview(self._runs[position])[start - base : stop - base]


def _split(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    parts = []
    for start, stop in runs:
        for a in range(start, stop, PART):
            parts.append((a, min(stop, a + PART)))
    return parts
