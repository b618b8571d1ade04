"""Unit tests for ``xentree_provider.api.throttle``: the cap, AIMD on 429s, adaptive slots (fake clock)."""

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


def test_a_429_cuts_the_rate_to_just_below_what_was_accepted() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    for _ in range(40):  # 40 answers over the last second
        clock.now += 0.025
        limiter.accepted()
    for _ in range(5):  # then 429s: over a tenth of the answers
        limiter.throttled()
    assert limiter.rate == pytest.approx(module.BACKOFF * 40, rel=0.05)
    assert limiter.cuts == 1
    limiter.throttled()  # sent before the cut took effect: not a second cut
    assert limiter.cuts == 1


def test_the_rate_is_probed_upward_but_never_past_the_cap() -> None:
    clock = Clock()
    limiter = Throttle(max_rate=50.0, clock=clock)
    for _ in range(20):
        clock.now += 0.05
        limiter.accepted()
    for _ in range(3):
        limiter.throttled()
    cut = limiter.rate
    assert cut is not None and cut < 50
    clock.now += 1.0
    limiter.delay()
    assert limiter.rate == pytest.approx(cut * (1 + module.GROWTH), rel=0.01)
    clock.now += 60.0
    limiter.delay()
    assert limiter.rate == 50.0


def test_slots_are_cut_floored_and_regrown() -> None:
    clock = Clock()
    limiter = Throttle(max_concurrency=16, clock=clock)
    assert limiter.concurrency == 16
    for _ in range(5):
        for _ in range(module.MIN_EVIDENCE):
            limiter.accepted()
        clock.now += module.CUT_INTERVAL
        limiter.throttled()
    assert limiter.concurrency <= module.MIN_CONCURRENCY + 1
    for _ in range(400):
        limiter.accepted()
    assert limiter.concurrency == 16


def test_scattered_429s_do_not_slow_everything_down() -> None:
    clock = Clock()
    limiter = Throttle(clock=clock)
    for n in range(200):  # 3% of the answers are 429s, spread out
        clock.now += 0.01
        limiter.throttled() if n % 33 == 0 else limiter.accepted()
    assert (limiter.cuts, limiter.rate) == (0, None)


def test_a_lone_429_measures_nothing_and_cuts_nothing() -> None:
    limiter = Throttle(clock=Clock())
    limiter.accepted()
    limiter.throttled()
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
