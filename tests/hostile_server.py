"""A tiny HTTP(S) server for the cases the sandbox cannot play: trickling, endless or scripted answers.

``with HostileServer(handler) as server:`` serves on 127.0.0.1 (a free port) until the block ends;
``handler(exchange)`` answers each request through the :class:`Exchange` helpers. Every loop that keeps
a connection busy stops when the server stops or after ``MAX_SECONDS``, so a test can never hang on it.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_SECONDS = 20.0


@dataclass
class Exchange:
    """One request and the means to answer it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    handler: http.server.BaseHTTPRequestHandler = field(repr=False)
    stopping: threading.Event = field(repr=False)

    def write(self, data: bytes) -> bool:
        """Send raw bytes; False once the client has gone."""
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
            return True
        except OSError:
            return False

    def head(self, status: int, headers: dict[str, str]) -> bool:
        """Send a status line and headers (raw, so nothing is added)."""
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
        return self.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        """A whole answer."""
        all_headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}
        if self.head(status, all_headers):
            self.write(body)

    def send_json(self, status: int, payload: Any, **headers: str) -> None:
        """A whole JSON answer."""
        self.send(status, json.dumps(payload).encode(), **headers)

    def trickle(self, data: bytes, every: float) -> None:
        """Send ``data`` one byte at a time, ``every`` seconds apart, until the client goes."""
        started = time.monotonic()
        for byte in data:
            if self.stopping.is_set() or time.monotonic() - started > MAX_SECONDS:
                return
            if not self.write(bytes([byte])):
                return
            time.sleep(every)

    def endless(self, chunk: bytes, limit_bytes: int) -> None:
        """Send ``chunk`` again and again, up to ``limit_bytes``, until the client goes."""
        sent = 0
        while sent < limit_bytes and not self.stopping.is_set():
            if not self.write(chunk):
                return
            sent += len(chunk)


Handler = Callable[[Exchange], None]


class HostileServer:
    """Serves ``handler`` on 127.0.0.1; records every exchange in :attr:`exchanges`.

    :param handler: answers each request.
    :param certfile: with ``keyfile``, serve HTTPS with this certificate.
    """

    def __init__(self, handler: Handler, *, certfile: str | None = None, keyfile: str | None = None) -> None:
        self.handler = handler
        self.exchanges: list[Exchange] = []
        self.stopping = threading.Event()
        server = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                exchange = Exchange(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    handler=self,
                    stopping=server.stopping,
                )
                server.exchanges.append(exchange)
                server.handler(exchange)
                self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        if certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certfile, keyfile)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.scheme = "https" if certfile else "http"

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    def requests_to(self, method: str, path: str) -> int:
        """How many requests came for ``method path`` (path without the query)."""
        return sum(1 for e in self.exchanges if e.method == method and e.path.split("?")[0] == path)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class SilentServer:
    """A TCP listener on 127.0.0.1 that never says a word, for the connect and TLS handshake phases.

    ``accept=True``: connections are accepted and held open in silence (an HTTPS client waits for the
    server's TLS hello for ever). ``accept=False``: nothing is accepted and the accept queue is kept full
    (Linux then drops further SYNs), so a connect hangs as against a blackholed address.
    """

    def __init__(self, *, accept: bool = True) -> None:
        self.accept = accept
        self.stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0 if not accept else 16)
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._hold, daemon=True)

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._listener.getsockname()[1])

    def _hold(self) -> None:
        self._listener.settimeout(0.1)
        started = time.monotonic()
        while not self.stopping.is_set() and time.monotonic() - started < MAX_SECONDS:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                continue
            self._held.append(connection)

    def __enter__(self) -> SilentServer:
        if self.accept:
            self._thread.start()
        else:
            filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self._held.append(filler)  # the one queued connection: the queue is full from here on
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()
