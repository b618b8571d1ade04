"""The few Airflow services the hooks use: secret masking and version facts for the User-Agent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import requests

import xentree_provider
from xentree_provider.api.settings import ClientSettings

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["amask_secret_soon", "mask_secret", "settings_from_connection", "user_agent"]

_pending: set[asyncio.Task[None]] = set()


def mask_secret(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker so it is redacted from logs."""
    if not secret:
        return
    from airflow.sdk.log import mask_secret as airflow_mask_secret

    airflow_mask_secret(secret)


def amask_secret_soon(secret: str) -> None:
    """Mask ``secret`` from inside an event loop without blocking it (triggers).

    The local masker is updated at once; telling the supervisor process happens on the loop.
    """
    if not secret:
        return
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    from xentree_provider._compat import amask_secret

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        mask_secret(secret)
        return
    # amask_secret does this too, but only once its task runs: a log line in between would leak.
    _secrets_masker().add_mask(secret)
    task = loop.create_task(amask_secret(secret))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


@cache
def user_agent() -> str:
    """``airflow-provider-xentree/<v> apache-airflow/<v> python-requests/<v>``."""
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover - Airflow is a dependency
        airflow_version = "unknown"
    return (
        f"airflow-provider-xentree/{xentree_provider.__version__} apache-airflow/{airflow_version} "
        f"python-requests/{requests.__version__}"
    )


def settings_from_connection(
    conn: Connection, overrides: Mapping[str, Any], mask: Callable[[str], None]
) -> ClientSettings:
    """Validated client settings from an Airflow connection; the secrets it uses are masked at once."""
    settings = ClientSettings.from_connection(
        host=conn.host,
        login=conn.login,
        password=conn.password,
        extra=conn.extra_dejson,
        port=conn.port,
        conn_id=conn.conn_id,
        overrides=overrides,
    )
    for secret in settings.secrets():
        mask(secret)
    return settings
