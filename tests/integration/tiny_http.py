"""A tiny stdlib HTTP server for tests that need answers the sandbox cannot give (hostile servers).

``serve(answer)`` runs a threaded server on 127.0.0.1 for the ``with`` block and stops it after; ``answer``
gets each request and returns ``(status, headers, body)``. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes


Answer = Callable[[Request], tuple[int, dict[str, str], bytes]]


@dataclass
class TinyServer:
    """The running server: its base URL and the requests it has answered."""

    url: str
    requests: list[Request] = field(default_factory=list)


def json_answer(payload: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    """An answer with ``payload`` as its JSON body."""
    return status, {"content-type": "application/json"}, json.dumps(payload).encode()


@contextmanager
def serve(answer: Answer) -> Iterator[TinyServer]:
    """Serve ``answer`` on a free local port for the ``with`` block."""
    lock = threading.Lock()
    state = TinyServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            parts = urlsplit(self.path)
            request = Request(self.command, parts.path, dict(parse_qsl(parts.query)), self.rfile.read(length))
            with lock:
                state.requests.append(request)
            status, headers, body = answer(request)
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
