"""The total deadline of one sync request (connect, headers and body), however slowly a server answers.

``requests`` bounds each socket read, not the whole exchange: a server that trickles one byte per read
timeout keeps a call alive for ever. :class:`Deadline` shuts the request's socket down when its time is
up, which ends whatever read is in progress. The socket is handed over by the connection classes of
:class:`DeadlineAdapter` just before the response is read. (The async driver needs none of this:
``asyncio.wait_for`` cancels the whole exchange.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Deadline", "DeadlineAdapter"]

_current: ContextVar[Deadline | None] = ContextVar("xentree_request_deadline", default=None)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to stop
        sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """A timer for the request made inside ``with Deadline(seconds):`` in this thread.

    :param seconds: the time the whole exchange may take.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        #: True once the time was up (the socket was, or will be at once, shut down).
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        self._token = _current.set(self)
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._timer.cancel()
        if self._token is not None:
            _current.reset(self._token)

    @property
    def request_sent(self) -> bool:
        """True once the request went out (its answer is being read on the watched socket)."""
        return self._sock is not None

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock``: the socket the request is answered on."""
        with self._lock:
            self._sock = sock
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)


def _attach_current(sock: socket.socket | None) -> None:
    deadline = _current.get()
    if deadline is not None and sock is not None:
        deadline.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections hand their socket to the current :class:`Deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Make the pool manager build pools of watched connections."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
