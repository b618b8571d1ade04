"""Unit tests for ``xentree_provider.api.throttle``: the cap, pacing on 429s, adaptive slots (fake clock)."""

from __future__ import annotations

import threading

import pytest

from xentree_provider.api import throttle as module
from xentree_provider.api.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_cap_or_a_429_nothing_waits() -> None:
    limiter = Throttle(clock=Clock())
    assert [limiter.delay() for _ in range(100)] == [0.0] * 100
    assert limiter.rate is None


def test_the_cap_spaces_the_starts_of_every_caller() -> None:
    clock = Clock()
    limiter = Throttle(max_rate=10.0, clock=clock)
    assert [round(limiter.delay(), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    clock.now += 1.0  # idle: no credit is saved up beyond the next slot
    assert limiter.delay() == 0.0
    assert limiter.delay() == pytest.approx(0.1)


def answer(limiter: Throttle, *, throttled: bool = False) -> None:
    """Reserve a start and report its answer (a 429 when ``throttled``)."""
    ticket = limiter.reserve()
    limiter.throttled(ticket) if throttled else limiter.accepted(ticket)


def start_pacing(limiter: Throttle, clock: Clock, accepted: int = 10, every: float = 0.01) -> None:
    """``accepted`` answers ``every`` seconds apart, then a burst of 429s to tries started with them."""
    for _ in range(accepted):
        clock.now += every
        answer(limiter)
    burst = [limiter.reserve() for _ in range(8)]  # a quarter of the latest answers
    for ticket in burst:
        limiter.throttled(ticket)


def test_a_burst_of_429s_paces_just_below_what_was_accepted() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    start_pacing(limiter, clock, accepted=40, every=0.025)  # 40 answers over the last second
    assert limiter.rate == pytest.approx(module.BACKOFF * 40, rel=0.05)
    assert limiter.cuts == 1


def test_a_429_to_a_try_started_before_the_cut_is_not_a_second_cut() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    early = limiter.reserve()  # sent before the cut, answered after it
    start_pacing(limiter, clock)
    limiter.throttled(early)
    limiter.throttled()  # no ticket: nothing known about its pace
    assert limiter.cuts == 1


def test_the_rate_is_probed_upward_but_never_past_the_cap() -> None:
    clock = Clock()
    limiter = Throttle(max_rate=50.0, clock=clock)
    start_pacing(limiter, clock, every=0.05)
    cut = limiter.rate
    assert cut is not None and cut < 50
    for _ in range(20):
        clock.now += 1.0 / cut
        answer(limiter)
    assert limiter.rate is not None and limiter.rate > cut
    for _ in range(2000):
        clock.now += 0.02
        answer(limiter)
    assert limiter.rate == 50.0


def test_a_pace_nobody_keeps_is_not_probed_upward() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    start_pacing(limiter, clock)
    paced = limiter.rate
    clock.now += 60.0  # every worker waits out a Retry-After: no answers, no growth
    assert limiter.reserve().wait == 0.0 and limiter.rate == paced


def test_slots_are_cut_floored_and_regrown() -> None:
    clock = Clock()
    limiter = Throttle(max_concurrency=16, clock=clock)
    assert limiter.concurrency == 16
    start_pacing(limiter, clock)
    assert limiter.concurrency == 12
    limiter._limit = 1.0  # as after many cuts: the floor holds at the next one
    for _ in range(40):
        clock.now += 0.01
        answer(limiter, throttled=True)
    assert limiter.concurrency >= module.MIN_CONCURRENCY
    for _ in range(400):
        answer(limiter)
    assert limiter.concurrency == 16


def test_scattered_429s_do_not_slow_everything_down() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    for n in range(2000):  # 6% of the answers are 429s, spread out: each waits its own Retry-After
        clock.now += 0.005
        answer(limiter, throttled=n % 17 == 0)
    assert (limiter.cuts, limiter.rate) == (0, None)


def test_429s_that_pacing_does_not_make_rarer_end_the_pacing() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    start_pacing(limiter, clock)  # looks like a rate limit at first
    for n in range(2000):  # then 6% of the answers are 429s, whatever the pace
        ticket = limiter.reserve()
        clock.now += max(ticket.wait, 0.005)
        limiter.throttled(ticket) if n % 17 == 0 else limiter.accepted(ticket)
    assert limiter.background_spells >= 1 and limiter.rate is None
    assert 0.0 < limiter.background <= module.MAX_BACKGROUND


def test_a_lone_429_measures_nothing_and_cuts_nothing() -> None:
    limiter = Throttle(clock=Clock())
    answer(limiter)
    answer(limiter, throttled=True)
    assert (limiter.cuts, limiter.rate) == (0, None)


def test_slot_blocks_beyond_the_limit() -> None:
    limiter = Throttle(max_concurrency=2)
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with limiter.slot():
            entered.set()
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    entered.wait(5)
    third = threading.Thread(target=lambda: limiter.slot().__enter__())
    third.start()
    third.join(0.2)
    assert third.is_alive()  # waiting for a slot
    release.set()
    third.join(5)
    assert not third.is_alive()
    for thread in holders:
        thread.join(5)
