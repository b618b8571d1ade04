"""A deterministic simulation of an export against a rate-limited or fault-ridden server, in simulated time.

Workers (the exporter's threads) each take the next request from a shared list and try it until it is
answered: they reserve a start with the :class:`~xentree_provider.api.throttle.Throttle`, wait, send,
report the answer, and after a failure wait what the :class:`~xentree_provider.api.retry.RetryPolicy`
says (``Retry-After`` capped by ``max_wait``, else jittered backoff from a seeded generator). The server
is a token bucket (``rate`` requests/s, ``burst``) like the sandbox's, answering 429 with
``Retry-After: max(1, ceil(wait))`` like it, and may also fail a share of requests at random (a storm).
No threads and no real time: the same inputs give the same figures on any machine.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

from xentree_provider.api.retry import RetryPolicy
from xentree_provider.api.throttle import Throttle


@dataclass
class Server:
    """The simulated server: a token bucket (``rate`` None: none) and random faults."""

    rate: float | None = None
    burst: int = 5
    #: Shares of requests answered 429 (Retry-After ``storm_retry_after``), 5xx, or dropped (no answer).
    storm_429: float = 0.0
    storm_5xx: float = 0.0
    storm_reset: float = 0.0
    storm_retry_after: float = 2.0
    seed: int = 1
    tokens: float = field(init=False)
    refilled_at: float = field(default=0.0, init=False)
    answers: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.dice = random.Random(self.seed)

    def answer(self, now: float) -> tuple[str, float | None]:
        """How a request arriving at ``now`` is answered: ``ok``, ``429``, ``5xx`` or ``reset``, and the
        Retry-After it carries."""
        kind, retry_after = self._decide(now)
        self.answers[kind] = self.answers.get(kind, 0) + 1
        return kind, retry_after

    def _decide(self, now: float) -> tuple[str, float | None]:
        if self.rate is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.refilled_at) * self.rate)
            self.refilled_at = now
            if self.tokens < 1.0:
                return "429", float(max(1, math.ceil((1.0 - self.tokens) / self.rate)))
            self.tokens -= 1.0
        draw = self.dice.random()
        if draw < self.storm_429:
            return "429", self.storm_retry_after
        if draw < self.storm_429 + self.storm_5xx:
            return "5xx", self.storm_retry_after
        if draw < self.storm_429 + self.storm_5xx + self.storm_reset:
            return "reset", None
        return "ok", None


@dataclass(frozen=True)
class Outcome:
    """What a simulated export did: how long it took and how its requests were answered."""

    elapsed: float
    requests: int
    answers: dict[str, int]
    throttle: Throttle

    @property
    def accepted_per_second(self) -> float:
        """Requests not answered 429, per second of the export."""
        return (sum(self.answers.values()) - self.answers.get("429", 0)) / self.elapsed

    @property
    def share_429(self) -> float:
        """The share of all answers that were 429s."""
        return self.answers.get("429", 0) / sum(self.answers.values())


def export(
    server: Server,
    *,
    requests: int = 800,
    workers: int = 8,
    latency: float = 0.005,
    max_rate: float | None = None,
    policy: RetryPolicy | None = None,
    seed: int = 7,
    adapt: bool = True,
) -> Outcome:
    """Run ``requests`` requests through ``workers`` simulated workers sharing one throttle (``adapt``
    False: 429s are not reported to it, as with a fixed concurrency)."""
    policy = policy or RetryPolicy()
    now = [0.0]
    throttle = Throttle(max_rate, clock=lambda: now[0])
    backoff_dice = random.Random(seed)
    queue: list[tuple[float, int, Iterator[float]]] = []
    todo = iter(range(requests))
    order = 0

    def worker() -> Iterator[float]:
        """Yield how long to wait next; run requests until none is left."""
        for _ in todo:
            attempt = 0
            while True:
                attempt += 1
                ticket = throttle.reserve()
                if ticket.wait > 0:
                    yield ticket.wait
                kind, retry_after = server.answer(now[0])
                yield latency
                if kind == "ok":
                    throttle.accepted(ticket)
                    break
                if kind == "429" and adapt:
                    throttle.throttled(ticket)
                elif kind == "5xx":
                    throttle.accepted(ticket)
                failure = SimpleNamespace(retry_after=retry_after)
                yield policy.wait_seconds(attempt, failure, backoff_dice)

    for _ in range(workers):
        heapq.heappush(queue, (0.0, order, worker()))
        order += 1
    while queue:
        when, _, running = heapq.heappop(queue)
        now[0] = when
        wait = next(running, None)
        if wait is not None:
            order += 1
            heapq.heappush(queue, (when + wait, order, running))
    return Outcome(now[0], requests, dict(server.answers), throttle)
