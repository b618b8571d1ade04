"""The throttle's goals in simulated time: exports against a simulated token bucket (the sandbox's kind of
limiter) and a simulated fault storm, with a fake clock and no threads (``simulated_rate_limit``), so the
figures are the same on any machine. The real-HTTP figures are printed by bench/export_throughput.py."""

from __future__ import annotations

import pytest
from simulated_rate_limit import Server, export

from xentree_provider.api.retry import RetryPolicy


@pytest.mark.parametrize("rate", [30, 100])
def test_without_a_setting_the_export_keeps_close_to_the_limit_with_few_429s(rate: int) -> None:
    adaptive = export(Server(rate=rate, burst=5), requests=800)
    fixed = export(Server(rate=rate, burst=5), requests=800, adapt=False)
    assert adaptive.accepted_per_second >= 0.8 * rate
    assert adaptive.share_429 <= 0.10
    # what the adaptation is for: a fixed concurrency is answered 429 more often than not
    assert fixed.share_429 > 0.4 and fixed.accepted_per_second < 0.2 * rate


@pytest.mark.parametrize("rate", [30, 100])
def test_the_cap_at_the_limit_is_never_answered_429(rate: int) -> None:
    capped = export(Server(rate=rate, burst=5), requests=800, max_rate=rate)
    assert capped.accepted_per_second >= 0.95 * rate
    assert capped.answers.get("429", 0) == 0
    assert capped.throttle.cuts == 0


@pytest.mark.parametrize(("rate", "burst"), [(10, 5), (300, 5), (100, 20), (30, 20)])
def test_other_limits_and_bursts_are_found_too(rate: int, burst: int) -> None:
    outcome = export(Server(rate=rate, burst=burst), requests=max(800, rate * 10))
    assert outcome.accepted_per_second >= 0.8 * rate
    assert outcome.share_429 <= 0.10


@pytest.mark.parametrize("seed", range(5))
def test_a_storm_of_429s_that_pacing_cannot_help_is_ridden_out_unpaced(seed: int) -> None:
    storm = {"storm_429": 0.06, "storm_5xx": 0.15, "storm_reset": 0.08, "seed": seed}
    policy = RetryPolicy(max_wait=0.1)  # the storm test's retry_max_wait
    shape = {"requests": 350, "workers": 16, "latency": 0.03, "policy": policy, "seed": seed}
    adaptive = export(Server(**storm), **shape)  # type: ignore[arg-type]
    fixed = export(Server(**storm), **shape, adapt=False)  # type: ignore[arg-type]
    assert adaptive.throttle.rate is None  # not paced (or pacing was dropped)
    assert adaptive.elapsed <= 1.25 * fixed.elapsed
