"""A local S3 for tests: moto's server on 127.0.0.1 behind a fault-injecting proxy.

- :class:`LocalS3` runs moto's S3 server in a process of its own on a free port of 127.0.0.1
  and creates buckets that anyone may list and read (IDC's buckets are public), so unsigned
  requests work as they do against AWS. A process per server: moto keeps every bucket in module
  state, so two servers in one test process (a session's world and a notebook's, under
  pytest-xdist) would share one bucket and mix their objects under IDC's real prefixes.
- :class:`FaultProxy` forwards GETs to it and can misbehave on purpose, per request whose path
  contains some text: answer 5xx, reset the connection, cut the body short (with the promised
  Content-Length, or a 206 whose Content-Range promises more than it sends), answer only after
  a delay (a consistent but short 200 too), or ignore the Range header (a 200 with the whole object). It speaks HTTP/1.1
  keep-alive to the client (moto's server closes every connection), forwards Range and the
  conditional headers (If-Match, If-None-Match), and logs each request (path, Range, If-Match,
  client port) and the bytes it sent. A fault's ``after`` runs once the upstream answer is in
  hand (e.g. to change the object between two requests of one download).

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class LocalS3:
    """moto's S3 server, in a process of its own, on 127.0.0.1 (a free port), with public-read
    buckets."""

    def __init__(self) -> None:
        for _ in range(5):  # another process may take the free port first: try another
            self.port = _free_port()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            if _listening(self._process, self.port):
                break
            self._stop_process()
        else:
            raise RuntimeError("moto's S3 server did not start")
        self.host = "127.0.0.1"
        self.endpoint = f"http://{self.host}:{self.port}"
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )

    def public_bucket(self, name: str) -> None:
        """Create bucket *name* (if needed) that anonymous users may list and read."""
        self.client.create_bucket(Bucket=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                }
            ],
        }
        self.client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))

    def put(self, bucket: str, key: str, data: bytes | Path) -> None:
        """Store an object."""
        body = data.read_bytes() if isinstance(data, Path) else data
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def stop(self) -> None:
        """Stop the server (its buckets go with it)."""
        self._stop_process()

    def _stop_process(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(process: subprocess.Popen, port: int, seconds: float = 60.0) -> bool:
    """Whether *process* came to accept connections on *port* (False: it ended first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
            continue
        return process.poll() is None  # ours answered, not another server on that port
    return False


def _die_with_parent() -> None:
    """In the server's process before it starts: end it when the test process ends (Linux;
    libc is loaded beforehand, as nothing may be imported between fork and exec)."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


@dataclass
class Fault:
    """Misbehave on requests whose path contains ``match`` (``times`` of them; None: all)."""

    match: str
    # "503", "500", "reset", "truncate", "short206", "short200", "slow", "norange", "none"
    kind: str
    times: int | None = 1
    delay: float = 0.0
    hits: int = 0
    after: Callable[[], None] | None = None  # run after the upstream answered


@dataclass
class Logged:
    """One request the proxy received."""

    path: str
    range: str | None
    client_port: int
    fault: str | None
    if_match: str | None = None


@dataclass
class _State:
    faults: list[Fault] = field(default_factory=list)
    log: list[Logged] = field(default_factory=list)
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 in front of *upstream* (``host``, ``port``)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.state = _State()
        state, target = self.state, upstream

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fault = None
                with state.lock:
                    for f in state.faults:
                        if f.match in self.path and (f.times is None or f.hits < f.times):
                            f.hits += 1
                            fault = f
                            break
                    state.log.append(
                        Logged(
                            self.path,
                            self.headers.get("Range"),
                            self.client_address[1],
                            fault.kind if fault else None,
                            self.headers.get("If-Match"),
                        )
                    )
                kind = fault.kind if fault else None
                if kind == "reset":
                    self._reset()
                    return
                if kind in ("503", "500"):
                    body = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
                        b"<Message>Please reduce your request rate.</Message></Error>"
                    )
                    self._send(int(kind), {"Content-Type": "application/xml"}, body)
                    return
                if kind == "slow":
                    time.sleep(fault.delay if fault else 1.0)
                status, headers, body = self._forward(use_range=kind != "norange")
                if fault is not None and fault.after is not None:
                    fault.after()
                if kind == "truncate":  # promise everything, send half, hang up
                    self._send(status, headers, body, send=len(body) // 2)
                    self.close_connection = True
                    return
                if kind == "short200" and status == 200:  # a consistent but short 200
                    cut = body[: len(body) // 2]
                    self._send(status, {**headers, "Content-Length": str(len(cut))}, cut)
                    return
                if kind == "short206" and status == 206:  # a consistent but short 206
                    cut = body[: len(body) // 2]
                    self._send(status, {**headers, "Content-Length": str(len(cut))}, cut)
                    return
                try:
                    self._send(status, headers, body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timeout)

            def _forward(self, use_range: bool = True) -> tuple[int, dict[str, str], bytes]:
                conn = http.client.HTTPConnection(*target, timeout=30)
                try:
                    headers = {}
                    if use_range and self.headers.get("Range"):
                        headers["Range"] = self.headers["Range"]
                    for name in ("If-Match", "If-None-Match"):
                        if self.headers.get(name):
                            headers[name] = self.headers[name]
                    conn.request("GET", self.path, headers=headers)
                    response = conn.getresponse()
                    body = response.read()
                    keep = ("Content-Type", "Content-Range", "ETag", "Last-Modified")
                    out = {k: v for k in keep if (v := response.getheader(k)) is not None}
                    out["Content-Length"] = str(len(body))
                    return response.status, out, body
                finally:
                    conn.close()

            def _send(
                self, status: int, headers: dict[str, str], body: bytes, send: int | None = None
            ) -> None:
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                chunk = body if send is None else body[:send]
                self.wfile.write(chunk)
                self.wfile.flush()
                with state.lock:
                    state.bytes_sent += len(chunk)

            def _reset(self) -> None:
                """Close with RST: the client sees 'connection reset by peer'."""
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.request.close()

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # faults make broken sockets on purpose

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(
        self,
        match: str,
        kind: str,
        times: int | None = 1,
        delay: float = 0.0,
        after: Callable[[], None] | None = None,
    ) -> Fault:
        """Inject a fault (see :class:`Fault`)."""
        fault = Fault(match, kind, times, delay, after=after)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def reset(self) -> None:
        """Remove all faults and forget the log."""
        with self.state.lock:
            self.state.faults.clear()
            self.state.log.clear()
            self.state.bytes_sent = 0

    @property
    def log(self) -> list[Logged]:
        """Requests so far."""
        with self.state.lock:
            return list(self.state.log)

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent to clients so far."""
        with self.state.lock:
            return self.state.bytes_sent

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
