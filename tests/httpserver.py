"""A tiny HTTP server on 127.0.0.1 for tests: canned responses, misbehaviour on request.

    server = LocalServer()            # listens on 127.0.0.1, a free port, in a thread
    server.route("/a.parquet", body)  # 200 with Content-Length
    server.route("/slow", body, stall_after=10, stall=5.0)
    server.url("/a.parquet")          # http://127.0.0.1:PORT/a.parquet
    server.close()

Unknown paths get a 404. ``server.hits`` counts requests per path.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    # announce this Content-Length instead of len(body) (e.g. larger, then close: truncated)
    content_length: int | None = None
    # send this many body bytes, then wait `stall` seconds before the rest (a slow server);
    # stall_after=-1 waits before even the status line
    stall_after: int | None = None
    stall: float = 0.0


class LocalServer:
    """A threaded HTTP server bound to 127.0.0.1 on a free port."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                server.hits[path] += 1
                route = server.routes.get(path)
                if route is None:
                    route = Route(body=b"not found\n", status=404)
                if route.stall_after == -1 and server._stop.wait(route.stall):
                    return
                self.send_response(route.status)
                length = route.content_length
                self.send_header(
                    "Content-Length", str(len(route.body) if length is None else length)
                )
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Connection", "close")
                self.end_headers()
                body = route.body
                try:
                    if route.stall_after is not None and route.stall_after >= 0:
                        self.wfile.write(body[: route.stall_after])
                        self.wfile.flush()
                        if server._stop.wait(route.stall):
                            return
                        body = body[route.stall_after :]
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def route(self, path: str, body: bytes = b"", **options: object) -> Route:
        """Serve *body* at *path* (options: see :class:`Route`)."""
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.routes[path]

    def url(self, path: str) -> str:
        """The full URL of *path* on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Wake stalled handlers, stop serving and release the port."""
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
