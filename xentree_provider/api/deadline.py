"""The total deadline of one sync request (connect, TLS handshake, sending, headers and body), however
slowly a server answers.

``requests`` bounds each socket operation, not the whole exchange: a server that trickles one byte per
read timeout keeps a call alive for ever, and one that accepts the TCP connection but never finishes the
TLS handshake holds it for the connect timeout per read. :class:`Deadline` shuts the request's socket
down when its time is up, which ends whatever read or write is in progress. The connection classes of
:class:`DeadlineAdapter` hand the socket over as soon as it is connected (before the TLS handshake),
again once it is wrapped in TLS or reused from the pool, and cap the connect timeout to what is left of
the deadline (no socket exists to shut down while connecting). (The async driver needs none of this:
``asyncio.wait_for`` cancels the whole exchange.)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
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
        self._expired = False
        self._ends_at = time.monotonic() + seconds
        self._sock: socket.socket | None = None
        self._sent = False
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        self._ends_at = time.monotonic() + self.seconds
        self._token = _current.set(self)
        self._timer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._timer.cancel()
        with self._lock:
            # A timer already running must not shut the socket: it is back in the pool, maybe in
            # another thread's request by now.
            self._done = True
            self._sock = None
        if self._token is not None:
            _current.reset(self._token)

    @property
    def expired(self) -> bool:
        """True once the time is up (the socket was, or will be at once, shut down)."""
        return self._expired or time.monotonic() >= self._ends_at

    @property
    def cut_off(self) -> bool:
        """True when the time ran out and the watched socket was shut down (what was read may be cut)."""
        return self._expired

    @property
    def remaining(self) -> float:
        """Seconds left (0 once expired)."""
        return max(0.0, self._ends_at - time.monotonic())

    @property
    def request_sent(self) -> bool:
        """True once the request went out (its answer is being read on the watched socket)."""
        return self._sent

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the time is up (at once if it already is)."""
        with self._lock:
            if self._done:
                return
            self._sock = sock
            expired = self._expired
        if expired:
            _shut(sock)

    def attach(self, sock: socket.socket) -> None:
        """Watch ``sock``, the socket the request was sent on and is answered on."""
        self._sent = True
        self.watch(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self._expired = True
            sock = self._sock
        if sock is not None:
            _shut(sock)


def _watch_current(sock: socket.socket | None, *, sent: bool = False) -> None:
    deadline = _current.get()
    if deadline is not None and sock is not None:
        if sent:
            deadline.attach(sock)
        else:
            deadline.watch(sock)


class _Watched:
    """What both connection classes add: the socket goes to the current deadline from the connect on."""

    sock: socket.socket | None
    timeout: Any

    def _new_conn(self) -> socket.socket:
        deadline = _current.get()
        if deadline is not None:
            left = max(deadline.remaining, 0.001)
            if not isinstance(self.timeout, (int, float)) or self.timeout > left:
                self.timeout = left  # connecting: no socket to shut down yet
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        _watch_current(sock)  # the TLS handshake and the sending happen on it
        return sock

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch_current(self.sock)  # wrapped in TLS: a new socket object

    def send(self, data: Any) -> None:
        if self.sock is None and getattr(self, "auto_open", True):
            self.connect()
        _watch_current(self.sock, sent=True)  # from the first byte on, the server may act on it
        super().send(data)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_current(self.sock, sent=True)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


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
