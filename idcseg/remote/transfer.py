"""Anonymous reads of IDC's public buckets with obstore (the Rust ``object_store`` crate).

:class:`ObjectClient` lists a prefix, reads byte ranges and streams whole objects into files,
unsigned (``skip_signature``), over connections obstore pools and reuses. It is what
``idcseg download`` uses; :mod:`idcseg.remote.bucket` (standard library only) stays the client of
``fetch-segments``.

Addressing as :mod:`idcseg.remote.bucket`: AWS by default (virtual-hosted,
``https://<bucket>.s3.us-east-1.amazonaws.com``); with an endpoint (``IDCSEG_S3_ENDPOINT`` or
``endpoint=``, e.g. ``http://127.0.0.1:9000``) path-style ``<endpoint>/<bucket>/<key>``.

Faults, in two layers. obstore retries each request on 5xx answers, connection errors and
timeouts (exponential backoff with jitter, ``attempts`` tries), and resumes a body that breaks
off. On top of that :meth:`ObjectClient.download` checks what arrived: a body shorter than the
object (a server may send a consistent but short ``206``) is continued with a ranged request
for the rest, pinned to the same version with ``If-Match``; an object that changed meanwhile
(``412``) is fetched again from its first byte; bounded by ``attempts`` tries without progress.
Errors become :class:`TransferError` with a short ``kind`` for reports.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from .bucket import ClientStats, ObjectInfo, RangeData, S3Error, endpoint_from_env

DEFAULT_TIMEOUT = 20.0
DEFAULT_ATTEMPTS = 5
CHUNK = 1 << 18  # bytes handed over per read of a body (bigger ones cost obstore copies)
HEAD_BYTES = 1 << 16  # the first bytes of each download are kept (file names come from them)
REGION = "us-east-1"  # IDC's buckets
_STATUS = re.compile(r"status code: (\d{3})|(\d{3}) [A-Z][a-z]+")


class TransferError(S3Error):
    """A request failed for good. ``kind`` names the cause in a few words (``HTTP 404``,
    ``timeout``, ``short body``…); ``retryable`` says whether it was transient (and tries ran
    out); ``status`` is the HTTP status when there was one. An
    :class:`~idcseg.remote.bucket.S3Error`, so code written for that client (``fetch-segments``)
    handles it alike."""


class Cancelled(TransferError):
    """The run was interrupted (``cancel()``); nothing is wrong with the object."""

    def __init__(self) -> None:
        super().__init__("cancelled", "the run was interrupted")


@dataclass(frozen=True)
class Fetched:
    """What :meth:`ObjectClient.download` wrote: the object's size and ETag (of the version
    read), its first bytes, and what it took."""

    size: int
    etag: str | None
    head: bytes
    requests: int
    retries: int


def etag_md5(etag: str | None) -> str | None:
    """The MD5 (hex) an ETag stands for: single-part uploads only (multipart ETags have ``-N``)."""
    if not etag:
        return None
    value = etag.strip('"').lower()
    return value if re.fullmatch(r"[0-9a-f]{32}", value) else None


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _kind(exc: BaseException) -> tuple[str, int | None, bool]:
    """(kind, HTTP status, retryable) of an obstore failure."""
    from obstore.exceptions import (
        PermissionDeniedError,
        PreconditionError,
        UnauthenticatedError,
    )

    if isinstance(exc, FileNotFoundError):
        return "HTTP 404", 404, False
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError):
        return "HTTP 403", 403, False
    if isinstance(exc, PreconditionError):
        return "changed", 412, True
    text = str(exc)
    match = _STATUS.search(text)
    if match:
        status = int(match.group(1) or match.group(2))
        return f"HTTP {status}", status, status >= 500 or status == 429
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout", None, True
    if "connection" in lowered or "connect" in lowered or "reset" in lowered:
        return "connection error", None, True
    if "body" in lowered or "decode" in lowered:
        return "broken body", None, True
    return "error", None, True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ObjectClient:
    """Anonymous obstore reads of public S3 buckets (thread-safe; share one per run).

    Args:
        endpoint: ``http(s)://host[:port]`` of an S3-compatible server (path-style); ``None``
            reads ``$IDCSEG_S3_ENDPOINT``, and without it AWS.
        timeout: seconds to connect, and seconds any one read may wait for data.
        attempts: tries per request (obstore's retries), and per download without progress.
        backoff: the first wait before another try; each further one doubles (with jitter).
        max_backoff: the longest wait.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
    ) -> None:
        from ..errors import UsageError

        if attempts < 1:
            raise UsageError(f"attempts must be ≥ 1, not {attempts}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise UsageError(f"--timeout must be a number of seconds > 0, not {timeout}")
        self.endpoint = endpoint_from_env(endpoint)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stats = ClientStats()
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    # --- stores -------------------------------------------------------------------------------

    def store(self, bucket: str) -> Any:
        """The obstore ``S3Store`` of *bucket* (made once)."""
        with self._lock:
            store = self._stores.get(bucket)
            if store is None:
                store = self._stores[bucket] = self._make_store(bucket)
            return store

    def _make_store(self, bucket: str) -> Any:
        from obstore.store import S3Store

        seconds = timedelta(seconds=self.timeout)
        client: dict[str, Any] = {
            "connect_timeout": seconds,
            "read_timeout": seconds,  # a stalled read; a large object may take longer in all
            "timeout": timedelta(hours=12),
            "user_agent": "idcseg-download",
        }
        retry = {
            "max_retries": self.attempts - 1,
            "backoff": {
                "init_backoff": timedelta(seconds=self.backoff),
                "max_backoff": timedelta(seconds=self.max_backoff),
                "base": 2,
            },
            "retry_timeout": timedelta(minutes=5),
        }
        config: dict[str, Any] = {"skip_signature": True, "region": REGION}
        if self.endpoint is None:
            config["virtual_hosted_style_request"] = True
        else:
            client["allow_http"] = urlsplit(self.endpoint).scheme == "http"
            config["endpoint"] = self.endpoint
            config["virtual_hosted_style_request"] = False
        return S3Store(bucket, config=config, client_options=client, retry_config=retry)

    def cancel(self) -> None:
        """Make every download stop at its next chunk and every new request fail."""
        self._cancelled.set()

    def close(self) -> None:
        """Nothing to release (obstore pools and closes its own connections)."""

    @property
    def cancelled(self) -> bool:
        """True after :meth:`cancel`."""
        return self._cancelled.is_set()

    def _count(self, requests: int = 0, retries: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.stats.requests += requests
            self.stats.retries += retries
            self.stats.bytes_read += nbytes

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled()

    def _wait(self, tries: int) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** max(0, tries - 1))
        delay = delay / 2 + random.uniform(0, delay / 2)
        self._count(retries=1)
        if self._cancelled.wait(delay):
            raise Cancelled()

    # --- requests -----------------------------------------------------------------------------

    def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with *prefix* (ListObjectsV2, all pages)."""
        import obstore

        self._check()
        found: list[ObjectInfo] = []
        try:
            self._count(requests=1)
            for batch in obstore.list(self.store(bucket), prefix=prefix, chunk_size=1000):
                for meta in batch:
                    stamp = meta.get("last_modified")
                    found.append(
                        ObjectInfo(
                            key=meta["path"],
                            size=int(meta["size"]),
                            last_modified=stamp.isoformat() if stamp else None,
                            etag=(meta.get("e_tag") or "").strip('"') or None,
                        )
                    )
        except Exception as exc:
            kind, status, retryable = _kind(exc)
            raise TransferError(
                kind,
                f"cannot list s3://{bucket}/{prefix}: {_first_line(exc)}",
                status=status,
                retryable=retryable,
            ) from None
        return found

    def get_range(self, bucket: str, key: str, start: int, end: int) -> RangeData:
        """Bytes *start*…*end* (inclusive) of an object; fewer at its end (as
        :meth:`idcseg.remote.bucket.AnonymousS3.get_range`, so header readers take either)."""
        import obstore

        if start < 0 or end < start:
            raise ValueError(f"bad range {start}-{end}")
        self._check()
        try:
            self._count(requests=1)
            result = obstore.get(self.store(bucket), key, options={"range": (start, end + 1)})
            data = bytes(result.bytes())
        except Exception as exc:
            kind, status, retryable = _kind(exc)
            if "range" in str(exc).lower() and status in (None, 416):
                return RangeData(b"", start, None)  # at or past the end: nothing there
            raise TransferError(
                kind, _first_line(exc), status=status, retryable=retryable
            ) from None
        self._count(nbytes=len(data))
        return RangeData(data, start, int(result.meta["size"]))

    def download(
        self,
        bucket: str,
        key: str,
        out: IO[bytes],
        *,
        size: int | None = None,
        etag: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Fetched:
        """Stream object *key* into the open binary file *out* (from its start); return what
        arrived. The file holds exactly the object's bytes when this returns; on an exception
        it holds a part of them and the caller discards it.

        *size* and *etag* are what a listing said: an answer for that same version that
        announces fewer bytes (a consistent but short body) is continued up to *size*.
        """
        import obstore
        from obstore.exceptions import PreconditionError

        store = self.store(bucket)
        listed_size, listed_etag = size, (etag or "").strip('"') or None
        have = 0
        total: int | None = None
        etag = None
        head = bytearray()
        requests = retries = 0
        stalled = 0  # tries in a row that brought nothing
        last: TransferError | None = None
        while True:
            self._check()
            if stalled:
                if stalled >= self.attempts:
                    assert last is not None
                    raise TransferError(
                        last.kind,
                        f"{last} (after {self.attempts} tries)",
                        status=last.status,
                        retryable=True,
                    )
                retries += 1
                self._wait(stalled)
            options: dict[str, Any] = {}
            if have:
                options["range"] = {"offset": have}
                if etag:
                    options["if_match"] = _quoted(etag)
            before = have
            try:
                requests += 1
                self._count(requests=1)
                result = obstore.get(store, key, options=options or None)
                meta = result.meta
                if total is None:
                    total, etag = int(meta["size"]), meta.get("e_tag")
                    same = (etag or "").strip('"') == listed_etag and listed_etag is not None
                    if same and listed_size is not None and total < listed_size:
                        total = listed_size  # the listing knows better than a short answer
                elif int(meta["size"]) not in (total, total - have):
                    raise PreconditionError("the object's size changed")
                start = result.range[0] if have else 0
                if start != have:
                    raise TransferError("bad response", f"asked for byte {have}, got {start}")
                for chunk in result.stream(min_chunk_size=CHUNK):
                    if self._cancelled.is_set():
                        raise Cancelled()
                    if have + len(chunk) > total:
                        raise TransferError("bad response", "more bytes than the object has")
                    out.write(chunk)
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    have += len(chunk)
                    self._count(nbytes=len(chunk))
                    if on_bytes is not None:
                        on_bytes(len(chunk))
            except Cancelled:
                raise
            except PreconditionError:
                # another version now: start again from its first byte
                last = TransferError("changed", "the object changed while it was read")
                out.seek(0)
                out.truncate()
                if on_bytes is not None and have:
                    on_bytes(-have)
                have, total, etag, head = 0, None, None, bytearray()
                stalled += 1
                continue
            except TransferError as exc:
                last = exc
                stalled = 0 if have > before else stalled + 1
                continue
            except FileNotFoundError:
                raise TransferError(
                    "HTTP 404", f"no object s3://{bucket}/{key}", status=404
                ) from None
            except OSError:
                raise  # writing failed (disk full, …): not the network's fault
            except Exception as exc:
                kind, status, retryable = _kind(exc)
                if not retryable:
                    raise TransferError(kind, _first_line(exc), status=status) from None
                last = TransferError(kind, _first_line(exc), status=status, retryable=True)
                stalled = 0 if have > before else stalled + 1
                continue
            if have == total:
                return Fetched(
                    total, (etag or "").strip('"') or None, bytes(head), requests, retries
                )
            # a short body that ended cleanly: ask for the rest
            last = TransferError(
                "short body", f"the body ended after {have} of {total} bytes", retryable=True
            )
            stalled = 0 if have > before else stalled + 1


def file_md5(path: Path, block: int = 1 << 20) -> str:
    """The MD5 (hex) of a file, read in blocks."""
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fp:
        while data := fp.read(block):
            digest.update(data)
    return digest.hexdigest()
