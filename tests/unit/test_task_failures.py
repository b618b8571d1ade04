"""How tasks fail: configuration errors fail at once (no retries); sensors honour never_fail when deferred."""

from __future__ import annotations

import pytest

from xentree_provider._compat import AirflowFailException, AirflowSkipException
from xentree_provider._task.hooked import XentreeTaskConfigError
from xentree_provider.api.errors import XentreeAuthError, XentreeConfigError
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.sensors.live import XentreeTranscriptSensor


def test_a_bad_window_fails_the_task_for_good_and_is_still_a_config_error(tmp_path) -> None:
    operator = XentreeTranscriptExportOperator(
        task_id="export", output_path=str(tmp_path / "x.jsonl"), start="not-a-date", end="2026-01-02"
    )
    with pytest.raises(XentreeTaskConfigError) as caught:
        operator.execute({})  # type: ignore[arg-type]
    assert isinstance(caught.value, AirflowFailException)
    assert isinstance(caught.value, XentreeConfigError)
    assert "start='not-a-date'" in str(caught.value)
    assert isinstance(caught.value.__cause__, XentreeConfigError)


@pytest.mark.parametrize(("never_fail", "raised"), [(True, AirflowSkipException), (False, XentreeAuthError)])
def test_a_deferred_sensor_error_event_honours_never_fail(never_fail: bool, raised: type[Exception]) -> None:
    sensor = XentreeTranscriptSensor(
        task_id="wait", start="2026-01-01", end="2026-01-02", never_fail=never_fail, deferrable=True
    )
    event = {"status": "error", "error_type": "XentreeAuthError", "message": "rejected", "error_state": {}}
    with pytest.raises(raised):
        sensor.execute_complete({}, event)  # type: ignore[arg-type]
