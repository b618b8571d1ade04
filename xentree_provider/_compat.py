"""The Airflow names that moved between the 3.x minors this package supports (3.1, 3.2, 3.3).

Import a moved name from here, never from Airflow directly: each one is looked up where current
Airflow keeps it, then where Airflow 3.1 kept it. Everything else comes straight from ``airflow.sdk``.

=============================  ============================  ============================
Name                           Airflow 3.2+ / Task SDK 1.3+  Airflow 3.1 / Task SDK < 1.3
=============================  ============================  ============================
``AirflowException`` & co.     ``airflow.sdk.exceptions``    ``airflow.exceptions``
``CronDataIntervalTimetable``  ``airflow.sdk``               ``airflow.timetables.interval``
``conf``                       ``airflow.sdk.configuration`` ``airflow.configuration``
``amask_secret``               ``airflow.sdk.log`` (1.3+)    a local twin (same messages)
=============================  ============================  ============================

Features that exist only in newer Airflow call :func:`require_airflow` first, so that they fail at
once with a message naming the version instead of an ``ImportError`` deep inside a task.
"""

from __future__ import annotations

import re
from contextlib import suppress
from functools import cache

try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[assignment,no-redef,attr-defined]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import (  # type: ignore[assignment,no-redef]
        CronDataIntervalTimetable,
    )

try:
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[assignment,no-redef]


async def _amask_secret_before_sdk_1_3(secret: str, name: str | None = None) -> None:
    """Mask ``secret`` here and tell the supervisor, without blocking the event loop.

    The twin of Task SDK 1.3's ``amask_secret``: the sync ``mask_secret`` of older SDKs tells the
    supervisor with a blocking call, which a trigger must not make on the triggerer's event loop.
    """
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    _secrets_masker().add_mask(secret, name)
    with suppress(Exception):  # outside a task or trigger process there is no supervisor to tell
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import MaskSecret

        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
        if comms is not None and hasattr(comms, "asend"):
            await comms.asend(MaskSecret(value=secret, name=name))


try:
    from airflow.sdk.log import amask_secret
except ImportError:  # Task SDK < 1.3 (Airflow 3.1 and 3.2)
    amask_secret = _amask_secret_before_sdk_1_3  # type: ignore[assignment]


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowVersionError",
    "CronDataIntervalTimetable",
    "TaskDeferred",
    "airflow_version",
    "amask_secret",
    "conf",
    "require_airflow",
]


class AirflowVersionError(AirflowFailException):
    """A feature needs a newer Airflow than the one running; retrying cannot help, so the task fails."""


@cache
def airflow_version() -> tuple[int, int, int]:
    """The running Airflow's version as ``(major, minor, micro)``; pre-release tags are ignored."""
    from airflow import __version__

    return _parse_version(__version__)


def require_airflow(minimum: str, feature: str) -> None:
    """Fail at once unless the running Airflow is at least ``minimum`` (e.g. ``"3.3"``).

    :param minimum: the oldest Airflow version that has the feature, ``"X.Y"`` or ``"X.Y.Z"``.
    :param feature: what needs it, in words a user recognizes (e.g. ``"the asset state store"``).
    :raises AirflowVersionError: naming the feature, the version it needs and the version running.
    """
    from airflow import __version__

    if airflow_version() < _parse_version(minimum):
        raise AirflowVersionError(
            f"{feature} needs Apache Airflow {minimum} or newer; this is Airflow {__version__}. "
            f"Upgrade Airflow (pip install 'apache-airflow>={minimum}') or do not use {feature}."
        )


def _parse_version(text: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"not an Airflow version: {text!r} (expected X.Y or X.Y.Z)")
    major, minor, micro = match.groups()
    return int(major), int(minor), int(micro or 0)
