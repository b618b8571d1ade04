"""The client-side rate limit of one hook, shared by all its threads: a cap, and adaptation to 429s.

Every try of a request asks :meth:`Throttle.reserve` for a start before it is sent (the request flow
yields the wait as a ``Sleep`` step, so the sync and the async client both obey it) and reports how it
was answered with the :class:`Ticket` it got. The 429'd try itself waits its ``Retry-After`` (the retry
policy); the throttle decides the pace of everything else.

* ``max_requests_per_second`` (connection extra): starts are spaced so that no more than that many
  happen per second, across every thread of the hook.
* Without a cap nothing is slowed until the server answers 429. A rate limit (a token bucket of rate
  ``R``) answers 429 only while requests come faster than ``R``, and every 429 costs a worker its
  ``Retry-After``; so the throttle paces the requests a little (``BACKOFF``) below its estimate ``E`` of
  ``R`` and probes upward, aiming to meet almost no 429:

  - pacing starts when a share (``START_SHARE``) of the latest answers are 429s: unpaced, a rate limit
    refuses most of a burst, while a storm's scattered 429s are each left to their Retry-After. ``E``
    is first guessed from the rate answers were accepted at so far, and while it is a guess the pace
    doubles every ``DOUBLING`` seconds' worth of accepted answers;
  - a 429 at a pace the estimate allowed: the probe stops, and once ``SHARE_ANSWERS`` more tries at
    that pace are answered, ``E = pace x (share accepted)`` (a bucket refuses ``1 - R / pace`` of
    them). Far above the limit (``FAR_SHARE`` refused) the pace is halved and measured again;
  - a 429 once the probe passed a measured ``E``: the limit was crossed a moment ago. ``E`` becomes
    the smaller of the pace ``DRAIN`` seconds ago and the rate answers were accepted at over the
    last ``WINDOW``; the probe then starts gently and speeds up the longer no 429 comes (doubling
    after ``PATIENCE`` seconds), to find a limit that was underestimated or raised;
  - a rate limit refuses fewer tries at a lower pace. When, after a re-estimate, 429s still come at
    ``JUDGE_RATIO`` of the share that led to it (and at most ``MAX_BACKGROUND``), they do not depend
    on the pace (a fault storm, a neighbour's burst): pacing is dropped, and from then on only a
    share of 429s well above that *background* paces again. Each 429'd try waits its own
    ``Retry-After`` in any case.

  Answers to tries started under an earlier pace say nothing about the current one (a burst reserved
  before a cut is answered 429 after it) and are ignored; the pace grows per accepted answer, not per
  second, so a pace nobody keeps (every worker waiting out a Retry-After) is not taken for accepted.
* :meth:`Throttle.slot` is an adaptive concurrency limit for callers that run many requests at once
  (the transcript exporter): cut by a quarter on each cut, never below ``MIN_CONCURRENCY``, grown by
  one per window of successes. Pacing, not concurrency, is what keeps a rate limit: every 429 costs a
  worker its ``Retry-After``, so the pace aims to meet almost none.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Throttle", "Ticket"]

_log = logging.getLogger(__name__)

#: Answers are counted over this many seconds to estimate what the server lets through.
WINDOW = 2.0
#: Below this much history the estimate divides by it (the first answers come in a burst).
MIN_WINDOW = 0.05
#: Pacing starts only after this many 429s (and one accepted answer): a lone 429 is answered by its
#: own Retry-After alone. As many 429s at a pace with none accepted halve it.
MIN_EVIDENCE = 5
#: Answers counted after a 429 at a pace before their share of 429s is trusted...
SHARE_ANSWERS = 10
#: ...and accepted answers after it without another 429 that show it was a lone one.
RELEASE_ANSWERS = 20
#: Pacing starts when at least ``MIN_EVIDENCE`` of the latest ``CLEAN_ANSWERS`` answers, and this
#: share of them, were 429s.
START_SHARE = 0.2
#: At least this share of 429s at a pace means it is far above the limit.
FAR_SHARE = 0.7
#: The pace is set to this share of the estimated limit.
BACKOFF = 0.9
#: A bucket's burst takes about this long to drain once the pace passes its rate.
DRAIN = 0.25
#: After a re-estimate, 429s must come at less than this part of the share that led to it, or they
#: are taken for background: a rate limit answers fewer 429s at a lower pace, a storm as many.
JUDGE_RATIO = 0.5
#: Accepted answers at one pace without a 429 after which a re-estimate counts as confirmed.
CLEAN_ANSWERS = 32
#: Once background 429s were seen, a 429 paces (or re-estimates) only when the share of 429s among
#: the latest ``CLEAN_ANSWERS`` answers exceeds ``max(BACKGROUND_FACTOR x background,
#: background + BACKGROUND_MARGIN)``, or ``MAX_BAR`` whatever the background.
BACKGROUND_FACTOR = 2.5
BACKGROUND_MARGIN = 0.1
MAX_BAR = 0.3
#: 429s more common than this are never taken for background.
MAX_BACKGROUND = 0.3
#: After a cut the pace grows by this share of the estimate per second...
PROBE = 0.03
#: ...and that slope itself by a whole ``PROBE`` every this many seconds without a 429.
PROBE_ACCELERATION = 2.0
#: After this many seconds without a 429 the pace doubles as if unconfirmed.
PATIENCE = 5.0
#: While the estimate is unconfirmed, the pace doubles every this many seconds.
DOUBLING = 1.0
MIN_RATE = 0.5
#: :meth:`Throttle.slot` is never cut below this many slots (the exporter's default workers): a 429'd
#: request holds its slot while it waits, and pacing alone keeps the rate.
MIN_CONCURRENCY = 8


@dataclass(frozen=True)
class Ticket:
    """A reserved start: wait ``wait`` seconds, send, then report the answer with this ticket."""

    wait: float
    #: The pace the try was started under (answers of earlier paces are not evidence about this one).
    epoch: int


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
        self._rate = max_rate  # the current pace; None: not paced
        self._epoch = 0  # bumped whenever the pace is set anew
        self._next_start = -math.inf
        self._answers: deque[tuple[float, bool]] = deque()  # (when, was a 429), over WINDOW
        self._recent: deque[bool] = deque(maxlen=CLEAN_ANSWERS)  # was a 429, of the latest answers
        self._epoch_started = clock()
        self._epoch_accepted = 0  # answers to tries of the current epoch
        self._epoch_throttled = 0
        self._estimate: float | None = None  # E, the estimated limit; None: not adapting
        self._confirmed = False  # E came from a measurement (probe gently) or is a first guess (double)
        self._strikes = 0
        self._held: float | None = None  # the pace the probe stopped at, waiting for evidence
        self._dry = False  # a 429 came at the current pace (counting since then)
        self._dry_started = 0.0
        self._strike_share = 0.0  # the share of 429s that led to the last re-estimate
        self._background = 0.0
        self._limit = float(max_concurrency)
        self._in_flight = 0
        #: How many times the pace was set below an estimate of the server's limit.
        self.cuts = 0
        #: How many times 429s were found not to depend on the pace (and pacing was dropped).
        self.background_spells = 0

    @property
    def rate(self) -> float | None:
        """The rate requests are currently held to (None: not limited)."""
        return self._rate

    @property
    def concurrency(self) -> int:
        """The current limit of :meth:`slot`."""
        return int(self._limit)

    @property
    def background(self) -> float:
        """The share of 429s found not to depend on the pace (0 until such 429s were seen)."""
        return self._background

    def reserve(self) -> Ticket:
        """Reserve the next start: how long to wait before sending, and the ticket to report with."""
        with self._lock:
            now = self._clock()
            if self._rate is None:
                return Ticket(0.0, self._epoch)
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self._rate
            return Ticket(start - now, self._epoch)

    def delay(self) -> float:
        """Reserve the next start; return how many seconds to wait before sending (0: at once)."""
        return self.reserve().wait

    def accepted(self, ticket: Ticket | None = None) -> None:
        """The server answered the try of ``ticket`` (anything but a 429)."""
        with self._lock:
            now = self._clock()
            self._answer(now, ticket, throttled=False)
            self._limit = min(float(self.max_concurrency), self._limit + 1.0 / self._limit)
            self._lock.notify()

    def throttled(self, ticket: Ticket | None = None) -> None:
        """The server answered the try of ``ticket`` 429: find the rate it accepts."""
        with self._lock:
            self._answer(self._clock(), ticket, throttled=True)

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

    # -- the steps --------------------------------------------------------------------------------

    def _answer(self, now: float, ticket: Ticket | None, *, throttled: bool) -> None:
        self._answers.append((now, throttled))
        self._recent.append(throttled)
        while self._answers and self._answers[0][0] < now - WINDOW:
            self._answers.popleft()
        if ticket is None or ticket.epoch != self._epoch:
            return  # started under an earlier pace
        if not throttled:
            self._epoch_accepted += 1
            if self._held is not None and self._epoch_accepted >= RELEASE_ANSWERS > self._epoch_throttled:
                self._held = None  # a lone 429 (say a burst booked before the cut): probe on
                self._dry = False
            self._grow(now)
            if not self._dry and self._epoch_accepted >= CLEAN_ANSWERS:
                self._strikes = 0
            return
        self._epoch_throttled += 1
        if self._estimate is None:
            if self._worth_pacing():
                self._start_pacing(now)
        elif self._confirmed and not self._dry and self._rate is not None and self._rate > self._estimate:
            self._crossed(now)
        elif not self._dry:
            # The bucket ran dry at this pace: stop probing, and count from here, where a share
            # (1 - R / pace) of the tries is refused however bunched they go out.
            self._dry = True
            self._dry_started = now
            self._held = self._rate
            self._epoch_accepted, self._epoch_throttled = 0, 1
        elif self._epoch_accepted > 0 and self._epoch_accepted + self._epoch_throttled > SHARE_ANSWERS:
            self._overestimated(now)
        elif self._epoch_accepted == 0 and self._epoch_throttled >= MIN_EVIDENCE:
            self._cut(now, (self._rate or 0.0) / 2, self._confirmed)  # far above the limit: halve
        else:
            self._held = self._rate

    def _worth_pacing(self) -> bool:
        accepted = sum(1 for _, was_429 in self._answers if not was_429)
        throttled = sum(self._recent)
        if accepted == 0 or throttled < MIN_EVIDENCE:
            return False
        # Unpaced, a rate limit refuses a large share; a storm's few 429s are left to their Retry-After.
        return throttled / len(self._recent) >= max(START_SHARE, self._bar())

    def _bar(self) -> float:
        """The share of 429s above which they are not background."""
        if self._background == 0.0:
            return 0.0
        bar = max(BACKGROUND_FACTOR * self._background, self._background + BACKGROUND_MARGIN)
        return min(bar, MAX_BAR)

    def _start_pacing(self, now: float) -> None:
        """The first 429s: guess the limit from the rate answers were accepted at so far."""
        accepted = sum(1 for _, was_429 in self._answers if not was_429)
        measured = accepted / max(now - self._answers[0][0], MIN_WINDOW)
        self._cut(now, measured if self.max_rate is None else min(measured, self.max_rate), False)

    def _crossed(self, now: float) -> None:
        """A 429 after the probe passed the estimate: the limit was crossed ``DRAIN`` seconds ago."""
        self._strikes = 0
        pace = self._rate or 0.0
        # Over the window the pace was near the limit: what was accepted is about the limit, plus at
        # most a burst (a bucket fills up while the pace is below its rate).
        accepted = sum(1 for _, was_429 in self._answers if not was_429)
        measured = accepted / max(now - self._answers[0][0], MIN_WINDOW)
        self._cut(now, min(pace - self._slope(now) * DRAIN, measured), True)

    def _overestimated(self, now: float) -> None:
        """429s at a pace the estimate allowed: re-estimate from their share, or give up on pacing."""
        answered = self._epoch_accepted + self._epoch_throttled
        share = self._epoch_throttled / answered
        if share <= self._bar():
            self._held, self._dry = None, False  # no more than the background: probe on
            return
        if self._strikes > 0 and JUDGE_RATIO * self._strike_share <= share <= MAX_BACKGROUND:
            # The last re-estimate's cut did not make the 429s rarer: they do not depend on the pace.
            self._drop_pacing(now)
            return

        if share >= FAR_SHARE:
            # Far above the limit: the tries go out in bunches (workers waiting out Retry-After come
            # back together to a refilled bucket), so the share says little; halve and measure again.
            self._cut(now, (self._rate or 0.0) / 2, False)
            return
        self._strikes += 1
        self._strike_share = share
        self._cut(now, (self._rate or 0.0) * (1.0 - share), True)

    def _cut(self, now: float, estimate: float, confirmed: bool) -> None:
        self._estimate = max(MIN_RATE, estimate)
        self._confirmed = confirmed
        self._rate = max(MIN_RATE, BACKOFF * self._estimate)
        if self.max_rate is not None:
            self._rate = min(self._rate, self.max_rate)
        self._limit = max(float(min(MIN_CONCURRENCY, self.max_concurrency)), self._limit * 0.75)
        self.cuts += 1
        self._new_epoch(now)
        _log.debug(
            "429s: requests paced at %.1f/s (the server's limit estimated at %.1f/s)", self._rate, estimate
        )

    def _drop_pacing(self, now: float) -> None:
        recent = sum(self._recent) / len(self._recent)
        self._background = min(MAX_BACKGROUND, max(self._background, recent))
        self.background_spells += 1
        self._strikes = 0
        self._estimate = None
        self._rate = self.max_rate
        self._limit = float(self.max_concurrency)
        self._new_epoch(now)
        _log.debug(
            "429s that do not depend on the pace (%.0f%% of the answers): pacing dropped",
            100 * self._background,
        )

    def _new_epoch(self, now: float) -> None:
        self._epoch += 1
        self._epoch_started = now
        self._epoch_accepted = self._epoch_throttled = 0
        self._held = None
        self._dry = False

    def _slope(self, now: float) -> float:
        """How fast (requests/s per second) the probe raises the pace now."""
        rate, estimate = self._rate or 0.0, self._estimate or 0.0
        doubling = rate * math.log(2.0) / DOUBLING
        since = now - self._epoch_started
        if not self._confirmed:
            return doubling
        gentle = estimate * PROBE * (1.0 + since / PROBE_ACCELERATION)
        # No 429 for long: the estimate was low (or the limit was raised); find it quickly.
        return gentle if since < PATIENCE else max(gentle, doubling)

    def _grow(self, now: float) -> None:
        # Per accepted answer, not per second: a pace nobody keeps (everyone waits out a Retry-After)
        # is not evidence that it is accepted.
        if self._estimate is None or self._held is not None or self._rate is None:
            return
        grown = self._rate + self._slope(now) / self._rate
        self._rate = grown if self.max_rate is None else min(grown, self.max_rate)
