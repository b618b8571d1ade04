"""The client-side rate limit of one hook, shared by all its threads: a cap, and AIMD adaptation to 429s.

Every request of a hook asks :meth:`Throttle.delay` before it is sent (the request flow yields the wait
as a ``Sleep`` step, so the sync and the async client both obey it) and reports how it was answered.

* ``max_requests_per_second`` (connection extra): requests are spaced so that no more than that many
  start per second, across every thread of the hook.
* Without a cap, nothing is slowed until the server answers 429. Then the rate is cut to a little below
  the rate the server was accepting (multiplicative decrease), and probed upward again by a few percent a
  second while no 429 comes (additive increase). The 429'd request itself waits its ``Retry-After``.
* :meth:`Throttle.slot` is an adaptive concurrency limit for callers that run many requests at once
  (the transcript exporter): cut by a quarter on each cut, grown by one per window of successes.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Throttle"]

#: Accepted answers are counted over this many seconds to estimate what the server lets through.
WINDOW = 1.0
#: Below this much history the estimate divides by it (the first answers come in a burst).
MIN_WINDOW = 0.1
#: After a cut, further 429s are ignored this long (they were sent before the cut took effect).
CUT_INTERVAL = 1.0
#: A cut sets the rate to this share of the accepted rate...
BACKOFF = 0.9
#: ...but to no less than this share of the rate before the cut: when other failures (5xx, resets) keep
#: the accepted rate below the sending rate, cuts must not spiral down.
MAX_CUT = 0.7
#: While no 429 comes, the rate grows by this share per second (compounded).
GROWTH = 0.4
MIN_RATE = 0.5
#: A cut needs this many accepted answers in the window: with fewer there is no rate to measure (a
#: lone 429 is answered by its own Retry-After alone).
MIN_EVIDENCE = 5
#: A cut needs at least this share of the window's answers to be 429s: a few scattered 429s (a fault
#: storm, a neighbour's burst) are answered by their own Retry-After and do not slow everything down.
MIN_THROTTLED_SHARE = 0.1
#: :meth:`Throttle.slot` never goes below this many slots: a 429'd request holds its slot while it waits.
MIN_CONCURRENCY = 4


class Throttle:
    """Paces and limits the requests of one hook.

    :param max_rate: the most requests started per second (``max_requests_per_second``); None: no cap.
    :param max_concurrency: the ceiling of :meth:`slot`'s adaptive limit.
    :param clock: a monotonic clock.
    """

    def __init__(
        self,
        max_rate: float | None = None,
        *,
        max_concurrency: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_rate = max_rate
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._lock = threading.Condition()
        self._rate = max_rate  # the current allowed rate; None: unlimited
        self._next_start = -math.inf
        self._grown_at = clock()
        self._started_at = clock()
        self._cut_at = -math.inf
        self._accepted: deque[float] = deque()
        self._throttled: deque[float] = deque()
        self._limit = float(max_concurrency)
        self._in_flight = 0
        #: How many times the rate was cut after a 429.
        self.cuts = 0

    @property
    def rate(self) -> float | None:
        """The rate requests are currently held to (None: not limited)."""
        return self._rate

    @property
    def concurrency(self) -> int:
        """The current limit of :meth:`slot`."""
        return int(self._limit)

    def delay(self) -> float:
        """Reserve the next start; return how many seconds to wait before sending (0: at once)."""
        with self._lock:
            now = self._clock()
            self._grow(now)
            if self._rate is None:
                return 0.0
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self._rate
            return start - now

    def accepted(self) -> None:
        """The server answered (anything but a 429)."""
        with self._lock:
            now = self._clock()
            self._accepted.append(now)
            self._forget(now)
            self._limit = min(float(self.max_concurrency), self._limit + 1.0 / self._limit)
            self._lock.notify()

    def throttled(self) -> None:
        """The server answered 429: slow down to what it accepts."""
        with self._lock:
            now = self._clock()
            self._throttled.append(now)
            self._forget(now)
            answers = len(self._accepted) + len(self._throttled)
            if now - self._cut_at < CUT_INTERVAL or len(self._accepted) < MIN_EVIDENCE:
                return
            if len(self._throttled) < MIN_THROTTLED_SHARE * answers:
                return
            self._cut_at = now
            span = max(min(WINDOW, now - self._started_at), MIN_WINDOW)
            accepted_rate = len(self._accepted) / span
            ceiling = min(r for r in (self._rate, self.max_rate, math.inf) if r is not None)
            floor = MAX_CUT * self._rate if self._rate is not None else 0.0
            self._rate = max(MIN_RATE, floor, min(BACKOFF * accepted_rate, ceiling))
            self._grown_at = now
            self._limit = max(float(min(MIN_CONCURRENCY, self.max_concurrency)), self._limit * 0.75)
            self.cuts += 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the adaptive concurrency slots while a request (with its retries) runs."""
        with self._lock:
            while self._in_flight >= int(self._limit):
                self._lock.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify()

    def _grow(self, now: float) -> None:
        if self._rate is not None and (self.max_rate is None or self._rate < self.max_rate):
            grown = self._rate * (1.0 + GROWTH) ** (now - self._grown_at)
            self._rate = grown if self.max_rate is None else min(grown, self.max_rate)
        self._grown_at = now

    def _forget(self, now: float) -> None:
        for times in (self._accepted, self._throttled):
            while times and times[0] < now - WINDOW:
                times.popleft()
