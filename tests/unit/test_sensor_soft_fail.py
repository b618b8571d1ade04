"""A soft-failing sensor: timeouts skip (and say why at WARNING); configuration and credential errors fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from xentree_provider._compat import AirflowSkipException
from xentree_provider._task.hooked import XentreeTaskConfigError
from xentree_provider.api.errors import XentreeAuthError, XentreeConfigError, XentreePermissionError
from xentree_provider.sensors.live import XentreeTranscriptSensor


def _sensor(**kwargs: Any) -> XentreeTranscriptSensor:
    return XentreeTranscriptSensor(task_id="wait", start="2026-01-01", end="2026-01-02", **kwargs)


def _error_event(error_type: str) -> dict[str, Any]:
    return {"status": "error", "error_type": error_type, "message": "refused", "error_state": {}}


def _resume(sensor: XentreeTranscriptSensor, event: dict[str, Any]) -> Any:
    return sensor.resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]


def test_a_connection_without_credentials_fails_a_soft_failing_poke_sensor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_XENTREE_NO_CREDENTIALS",
        json.dumps({"conn_type": "xentree", "host": "https://x.example"}),
    )
    sensor = _sensor(xentree_conn_id="xentree_no_credentials", soft_fail=True, deferrable=False, timeout=30)
    with pytest.raises(XentreeTaskConfigError, match="no credentials"):
        sensor.execute({})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error_type", "raised"),
    [
        ("XentreeConfigError", XentreeConfigError),
        ("XentreeAuthError", XentreeAuthError),
        ("XentreePermissionError", XentreePermissionError),
    ],
)
def test_a_deferred_soft_failing_sensor_fails_on_config_and_credential_errors(
    error_type: str, raised: type[Exception]
) -> None:
    with pytest.raises(raised):
        _resume(_sensor(soft_fail=True, deferrable=True), _error_event(error_type))


def _warnings(output: str) -> list[str]:
    """The sensor's WARNING lines (the Task SDK logs through structlog to stdout)."""
    return [line for line in output.splitlines() if "warning" in line.lower() and "wait:" in line]


def test_a_soft_failing_timeout_is_skipped_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    sensor = _sensor(soft_fail=True, deferrable=True, timeout=5)
    with pytest.raises(AirflowSkipException):
        _resume(sensor, {"status": "timeout", "message": "3 of 10 transcripts so far"})
    assert any(
        "skipped" in line and "3 of 10 transcripts" in line for line in _warnings(capsys.readouterr().out)
    )


def test_never_fail_still_skips_any_error_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AirflowSkipException):
        _resume(_sensor(never_fail=True, deferrable=True), _error_event("XentreeAuthError"))
    assert any("refused" in line for line in _warnings(capsys.readouterr().out))
