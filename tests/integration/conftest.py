"""Fixtures for integration tests: a clean sandbox and hooks bound to it through real connections."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.testing import SandboxServer

_conn_ids = itertools.count()


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer) -> SandboxServer:
    """The session sandbox, reset to its seeded state, no faults, zeroed counters."""
    return xentree_sandbox_clean


@pytest.fixture
def make_hook(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., XentreeHook]:
    """``make_hook(mode="login" or an API key name, extra={...}, **kw)``: a hook on a new connection."""
    hooks: list[XentreeHook] = []

    def factory(mode: str = "login", extra: dict[str, Any] | None = None, **hook_kwargs: Any) -> XentreeHook:
        conn = sandbox.login_connection() if mode == "login" else sandbox.api_key_connection(mode)
        conn.setdefault("extra", {}).update(extra or {})
        conn_id = f"xentree_it_{next(_conn_ids)}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        hook = XentreeHook(conn_id, **hook_kwargs)
        hooks.append(hook)
        return hook

    yield factory  # type: ignore[misc]
    for hook in hooks:
        hook.close()
