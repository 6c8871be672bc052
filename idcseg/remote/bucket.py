"""An anonymous client for public S3 buckets (IDC's ``idc-open-data``), standard library only.

Just the two calls idcseg needs, unsigned, over HTTPS:

- ``ListObjectsV2`` of a prefix (``GET /?list-type=2&prefix=…``, paged by continuation token);
- ranged ``GET`` of an object (``Range: bytes=a-b``), to read only a file's first bytes.

Addressing: by default virtual-hosted, ``https://<bucket>.s3.amazonaws.com/<key>``. With an
endpoint (``IDCSEG_S3_ENDPOINT`` or ``endpoint=``, e.g. ``http://127.0.0.1:9000``), path-style:
``<endpoint>/<bucket>/<key>``, as S3-compatible servers expect.

Manners: each thread keeps one keep-alive connection per host and reuses it; every request has a
socket timeout; 5xx / 429 answers, timeouts, connection resets and short bodies are retried a
bounded number of times with exponential backoff and jitter. Other answers (403, 404…) are not
retried. :class:`S3Error` carries a short ``kind`` (``timeout``, ``connection reset``,
``HTTP 503``…) for reports.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import random
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from ..errors import IdcsegError, UsageError

ENDPOINT_ENV = "IDCSEG_S3_ENDPOINT"
DEFAULT_TIMEOUT = 20.0
DEFAULT_ATTEMPTS = 5
MAX_PAGES = 10_000  # of a listing: 10 million keys at AWS's 1000 a page
USER_AGENT = "idcseg-fetch"
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class S3Error(IdcsegError):
    """A request failed for good. ``kind`` names the cause in a few words (for reports),
    ``status`` is the HTTP status when there was an answer, ``retryable`` says whether the
    cause was transient (and attempts ran out)."""

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retryable = retryable


class _Transient(Exception):
    """A failure worth another attempt (internal)."""

    def __init__(self, kind: str, message: str, status: int | None = None, wait: float = 0.0):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.wait = wait


@dataclass(frozen=True)
class ObjectInfo:
    """One object of a listing."""

    key: str
    size: int
    last_modified: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class RangeData:
    """Bytes ``start…start+len(data)-1`` of an object, and its total size when the server said."""

    data: bytes
    start: int
    total: int | None


@dataclass
class ClientStats:
    """Counters shared by a client's threads (read under the client's lock)."""

    requests: int = 0
    retries: int = 0
    bytes_read: int = 0


def endpoint_from_env(endpoint: str | None = None) -> str | None:
    """The endpoint to use: *endpoint* if given, else ``$IDCSEG_S3_ENDPOINT``, else ``None``
    (AWS, virtual-hosted). Validated: ``http(s)://host[:port]``."""
    value = endpoint if endpoint is not None else os.environ.get(ENDPOINT_ENV) or None
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"not an S3 endpoint: {value!r} (expected http(s)://host[:port])")
    return value.rstrip("/")


def object_url(bucket: str, key: str) -> str:
    """The canonical, endpoint-independent name of an object: ``s3://bucket/key``."""
    return f"s3://{bucket}/{key}"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/*`` (IDC's ``series_aws_url``) → ``(bucket, "prefix/")``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URL: {url!r}")
    prefix = parts.path.lstrip("/")
    if prefix.endswith("*"):
        prefix = prefix[:-1]
    return parts.netloc, prefix


class AnonymousS3:
    """Unsigned ListObjectsV2 and ranged GETs against public buckets.

    Args:
        endpoint: ``http(s)://host[:port]`` of an S3-compatible server (path-style addressing);
            ``None`` reads ``$IDCSEG_S3_ENDPOINT``, and without it AWS (virtual-hosted).
        timeout: seconds a connect or a read may wait for the server (per request).
        attempts: tries per request (≥ 1) before a transient failure becomes :class:`S3Error`.
        backoff: first retry waits about this long; each further one doubles it (with jitter).
        max_backoff: cap on one wait.
        sleep: how to wait (tests pass a fake).

    Safe to share between threads: each thread gets its own connections.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.25,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise UsageError(f"attempts must be ≥ 1, not {attempts}")
        if timeout <= 0:
            raise UsageError(f"the timeout must be > 0 seconds, not {timeout}")
        self.endpoint = endpoint_from_env(endpoint)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []
        self.stats = ClientStats()
        self._ssl: ssl.SSLContext | None = None
        self._cancelled = False

    # --- addressing ---------------------------------------------------------------------------

    def _where(self, bucket: str, key: str = "") -> tuple[str, str, int | None, str]:
        """(scheme, host, port, path) of *key* in *bucket* (the bucket itself when key is '')."""
        if self.endpoint is None:
            return "https", f"{bucket}.s3.amazonaws.com", None, "/" + quote(key, safe="/~")
        parts = urlsplit(self.endpoint)
        base = parts.path.rstrip("/")
        path = f"{base}/{quote(bucket, safe='')}"
        path += "/" + quote(key, safe="/~") if key else ""
        return parts.scheme, parts.hostname or "", parts.port, path

    def http_url(self, bucket: str, key: str) -> str:
        """The HTTP(S) URL this client reads *key* from."""
        scheme, host, port, path = self._where(bucket, key)
        return f"{scheme}://{host}{f':{port}' if port else ''}{path}"

    # --- connections --------------------------------------------------------------------------

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str, int | None], http.client.HTTPConnection] | None
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get((scheme, host, port))
        if conn is None:
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            pool[(scheme, host, port)] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection of every thread (they reopen on next use)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def cancel(self) -> None:
        """Make every request fail at once (``kind`` ``cancelled``), those waiting for an
        answer in other threads included: their sockets are shut down."""
        self._cancelled = True
        with self._lock:
            conns = list(self._all)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread
        self.close()

    def __enter__(self) -> AnonymousS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests -----------------------------------------------------------------------------

    def _count(self, requests: int = 0, retries: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.stats.requests += requests
            self.stats.retries += retries
            self.stats.bytes_read += nbytes

    def _request(
        self,
        bucket: str,
        key: str,
        query: dict[str, str] | None,
        headers: dict[str, str],
        handle: Callable[[http.client.HTTPResponse], object],
    ) -> object:
        """Send a GET with retries; *handle* reads a 2xx response (it may raise _Transient)."""
        scheme, host, port, path = self._where(bucket, key)
        if query:
            path += "?" + urlencode(query, quote_via=quote)
        headers = {"User-Agent": USER_AGENT, **headers}
        last: _Transient | None = None
        for attempt in range(self.attempts):
            if self._cancelled:
                raise S3Error("cancelled", "the run was interrupted")
            if attempt:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                delay = delay / 2 + random.uniform(0, delay / 2)  # "equal jitter"
                if last is not None and last.wait:
                    delay = max(delay, min(last.wait, self.max_backoff))
                self._count(retries=1)
                self._sleep(delay)
            conn = self._connection(scheme, host, port)
            try:
                self._count(requests=1)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                if response.status in _RETRY_STATUS:
                    body = response.read()
                    raise _Transient(
                        f"HTTP {response.status}",
                        _error_text(response.status, body),
                        response.status,
                        _retry_after(response.getheader("Retry-After")),
                    )
                if not 200 <= response.status < 300:
                    body = response.read()
                    conn.close()  # an error body is small; do not trust the stream after it
                    raise S3Error(
                        f"HTTP {response.status}",
                        _error_text(response.status, body),
                        status=response.status,
                    )
                result = handle(response)
                if response.will_close or not response.isclosed():
                    conn.close()  # keep-alive only after a fully read body
                return result
            except _Transient as exc:
                conn.close()
                last = exc
            except TimeoutError:
                conn.close()
                last = _Transient("timeout", f"no answer within {self.timeout:g} s")
            except http.client.IncompleteRead as exc:
                conn.close()
                last = _Transient(
                    "truncated response", f"the body ended after {len(exc.partial)} bytes"
                )
            except (ConnectionError, http.client.HTTPException, ssl.SSLError) as exc:
                conn.close()
                last = _Transient(_connection_kind(exc), f"{type(exc).__name__}: {exc}")
            except OSError as exc:  # unreachable network, DNS failure, …
                conn.close()
                last = _Transient("network error", f"{type(exc).__name__}: {exc}")
        assert last is not None
        raise S3Error(
            last.kind,
            f"{last} (after {self.attempts} attempts)",
            status=last.status,
            retryable=True,
        )

    def list_objects(
        self, bucket: str, prefix: str, *, max_keys: int | None = None, max_pages: int = MAX_PAGES
    ) -> list[ObjectInfo]:
        """Every object whose key starts with *prefix* (ListObjectsV2, all pages of at most
        *max_keys* keys; the server's default, 1000 on AWS, when ``None``).

        A server that sends a continuation token it sent before, or more than *max_pages*
        pages, would keep a listing going forever: :class:`S3Error` (``bad response``).
        """
        objects: list[ObjectInfo] = []
        token: str | None = None
        seen: set[str] = set()
        pages = 0
        where = object_url(bucket, prefix)
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if max_keys is not None:
                query["max-keys"] = str(max_keys)
            if token:
                query["continuation-token"] = token
            page = self._request(bucket, "", query, {}, self._read_all)
            assert isinstance(page, bytes)
            found, token = _parse_listing(page)
            objects.extend(found)
            pages += 1
            if not token:
                return objects
            if token in seen:
                raise S3Error(
                    "bad response",
                    f"the listing of {where} repeats a continuation token after {pages} pages "
                    f"({len(objects)} keys); stopped",
                )
            if pages >= max_pages:
                raise S3Error(
                    "bad response",
                    f"the listing of {where} goes on past {max_pages:,} pages "
                    f"({len(objects)} keys); stopped",
                )
            seen.add(token)

    def _read_all(self, response: http.client.HTTPResponse) -> bytes:
        body = response.read()
        self._count(nbytes=len(body))
        return body

    def get_range(self, bucket: str, key: str, start: int, end: int) -> RangeData:
        """Bytes *start*…*end* (inclusive) of an object; fewer when the object is shorter.

        A server that ignores the Range header (200) is read only as far as needed and its
        connection dropped. A short body (fewer bytes than the headers promised) is retried.
        """
        if start < 0 or end < start:
            raise ValueError(f"bad range {start}-{end}")

        def handle(response: http.client.HTTPResponse) -> RangeData:
            if response.status == 206:
                got = _CONTENT_RANGE.fullmatch((response.getheader("Content-Range") or "").strip())
                body = response.read()
                self._count(nbytes=len(body))
                if got is None:
                    raise _Transient("bad response", "206 without a usable Content-Range")
                first, last, total = int(got[1]), int(got[2]), got[3]
                if first != start or len(body) != last - first + 1:
                    raise _Transient(
                        "truncated response",
                        f"asked for bytes {start}-{end}, got {len(body)} bytes at {first}",
                    )
                return RangeData(body, start, None if total == "*" else int(total))
            # 200: the whole object follows; read what is needed. An unread rest leaves the
            # response open, and _request then drops the connection.
            length = response.getheader("Content-Length")
            total = int(length) if length and length.isdigit() else None
            body = response.read(end + 1)
            self._count(nbytes=len(body))
            if total is not None and len(body) < min(end + 1, total):
                raise _Transient("truncated response", f"the body ended after {len(body)} bytes")
            if total is None and len(body) < end + 1:
                total = len(body)  # the whole object was shorter than asked
            return RangeData(body[start:], start, total)

        try:
            result = self._request(bucket, key, None, {"Range": f"bytes={start}-{end}"}, handle)
        except S3Error as exc:
            if exc.status == 416:  # start at or past the end: nothing there
                return RangeData(b"", start, None)
            raise
        assert isinstance(result, RangeData)
        return result


def _connection_kind(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return "connection reset"  # includes http.client.RemoteDisconnected
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, http.client.HTTPException):
        return "bad response"
    return "connection error"


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _error_text(status: int, body: bytes) -> str:
    """``HTTP 404 NoSuchKey: The specified key does not exist.`` from an S3 error body."""
    code = message = None
    try:
        root = ET.fromstring(body)
        code = root.findtext("Code") or root.findtext(f"{_S3_NS}Code")
        message = root.findtext("Message") or root.findtext(f"{_S3_NS}Message")
    except ET.ParseError:
        pass
    text = f"HTTP {status}"
    if code:
        text += f" {code}"
    if message:
        text += f": {message}"
    return text


def _parse_listing(body: bytes) -> tuple[list[ObjectInfo], str | None]:
    """Objects and the continuation token (``None`` on the last page) of a ListObjectsV2 page."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3Error("bad response", f"unreadable bucket listing: {exc}") from None
    ns = _S3_NS if root.tag.startswith(_S3_NS) else ""
    found = []
    for item in root.iter(f"{ns}Contents"):
        key = item.findtext(f"{ns}Key")
        if key is None:
            continue
        etag = item.findtext(f"{ns}ETag")
        found.append(
            ObjectInfo(
                key=key,
                size=int(item.findtext(f"{ns}Size") or 0),
                last_modified=item.findtext(f"{ns}LastModified"),
                etag=etag.strip('"') if etag else None,
            )
        )
    truncated = (root.findtext(f"{ns}IsTruncated") or "").strip().lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    if truncated and not token:
        raise S3Error("bad response", "a truncated listing without a continuation token")
    return found, token
