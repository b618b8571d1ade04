"""Injected faults follow a schedule fixed by the seed and each request's own history, never by timing.

Before, one shared random stream served every request in arrival order: a token refresh, a background
thread or a slower machine shifted which requests failed, and a test could meet seven 5xx in a row on
one request. Now each occurrence of a request (method, path, query) has its own seeded dice, and with
random rates one request fails at most ``MAX_CONSECUTIVE_FAULTS`` times in a row.
"""

from __future__ import annotations

import pytest
import requests

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.state import MAX_CONSECUTIVE_FAULTS

pytestmark = pytest.mark.integration

TARGET = "/api/live/transcripts?limit=5"
OTHERS = ("/api/live/quota", "/api/organizations", "/api/live/transcripts?limit=7")


def _faulted(sandbox: SandboxServer, session: requests.Session, path: str) -> bool:
    # Faults come before authentication: an injected fault is a 5xx, a request let through is a 401.
    status = session.get(sandbox.url + path, timeout=30).status_code
    assert status in (401, 500, 502, 503), status
    return status != 401


def _target_schedule(sandbox: SandboxServer, others_between: int) -> list[bool]:
    sandbox.set_faults(error_rate=0.5, error_codes=[500, 502, 503])
    with requests.Session() as session:
        schedule = []
        for attempt in range(40):
            for other in range(others_between):
                _faulted(sandbox, session, OTHERS[(attempt + other) % len(OTHERS)])
            schedule.append(_faulted(sandbox, session, TARGET))
    return schedule


def test_a_requests_faults_do_not_depend_on_the_other_requests_in_between(sandbox: SandboxServer) -> None:
    alone = _target_schedule(sandbox, others_between=0)
    interleaved = _target_schedule(sandbox, others_between=3)
    assert alone == interleaved
    assert any(alone) and not all(alone)


def test_the_schedule_is_the_seeds(sandbox: SandboxServer) -> None:
    assert _target_schedule(sandbox, 0) == _target_schedule(sandbox, 0)


def test_random_faults_never_hit_one_request_more_than_the_cap_in_a_row(sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=0.95, error_codes=[503])
    with requests.Session() as session:
        schedule = [_faulted(sandbox, session, TARGET) for _ in range(60)]
    longest = max(len(run) for run in "".join("x" if f else "." for f in schedule).split("."))
    assert longest == MAX_CONSECUTIVE_FAULTS


def test_a_rate_of_one_still_fails_every_request(sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_rate=1.0, error_codes=[503])
    with requests.Session() as session:
        assert all(_faulted(sandbox, session, TARGET) for _ in range(10))
