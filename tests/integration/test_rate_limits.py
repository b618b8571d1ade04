"""Client-side rate limits against the sandbox's token bucket: the cap keeps every request under the
server's limit, and without one the hook slows down by itself on 429s (shared by the exporter's threads)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": ANCHOR - timedelta(days=3), "data_interval_end": ANCHOR}
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


def export(tmp_path: Path, name: str) -> tuple[XentreeTranscriptExportOperator, int]:
    operator = XentreeTranscriptExportOperator(task_id=name, output_path=str(tmp_path / f"{name}.jsonl"))
    result = operator.execute(CONTEXT)  # type: ignore[arg-type]
    lines = (tmp_path / f"{name}.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] and len(lines) == result["count"]
    return operator, result["count"]


def test_a_cap_below_the_servers_limit_is_never_answered_429(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sandbox.reset(anchor=ANCHOR.date().isoformat(), transcripts=400)
    # A quarter of the server's rate and a burst of ten: however a loaded machine bunches the spaced
    # requests on their way, more than ten would have to arrive at once to meet a 429.
    monkeypatch.setenv(CONN_ENV, sandbox.connection_env(max_requests_per_second=10))
    sandbox.set_faults(rate_limit_rps=40, rate_limit_burst=10)
    operator, count = export(tmp_path, "capped")
    responses = sandbox.counters()["responses"]
    assert count > 20
    assert responses.get("429", 0) == 0
    assert operator.hook.throttle.max_rate == 10


def test_without_a_cap_the_exporter_slows_down_on_429s_and_completes(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sandbox.reset(anchor=ANCHOR.date().isoformat(), transcripts=400)
    monkeypatch.setenv(CONN_ENV, sandbox.connection_env(retry_max_wait=0.5))
    sandbox.set_faults(rate_limit_rps=20, rate_limit_burst=5)
    operator, count = export(tmp_path, "adaptive")
    responses = sandbox.counters()["responses"]
    assert count > 20 and responses.get("429", 0) > 0
    throttle = operator.hook.throttle
    assert throttle.cuts >= 1 and throttle.rate is not None


def test_the_hook_exposes_one_throttle_for_all_its_threads(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONN_ENV, sandbox.connection_env(max_requests_per_second=7.5))
    hook = XentreeHook()
    try:
        assert hook.throttle is hook.throttle and hook.throttle.max_rate == 7.5
    finally:
        hook.close()
