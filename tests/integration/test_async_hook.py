"""XentreeAsyncHook over real HTTP: the same auth, retry policy and errors as the sync hook."""

from __future__ import annotations

import asyncio
import json

import pytest

from xentree_provider.api.errors import XentreePermissionError, XentreeServerError
from xentree_provider.hooks.xentree_async import XentreeAsyncHook


@pytest.fixture
def async_hook(sandbox, monkeypatch):
    def factory(mode: str = "login", **extra) -> XentreeAsyncHook:
        conn = sandbox.login_connection() if mode == "login" else sandbox.api_key_connection(mode)
        conn.setdefault("extra", {}).update(extra)
        conn_id = f"xentree_async_{mode}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return XentreeAsyncHook(conn_id)

    return factory


def test_async_login_refresh_and_faults_read_everything(sandbox, async_hook):
    sandbox.reset(token_lifetime=1.5, transcripts=400)
    sandbox.set_faults(error_rate=0.2, reset_rate=0.05, error_codes=[500, 502, 503])
    hook = async_hook(retry_max_wait=0.05, max_retries=10)

    async def run() -> int:
        try:
            count = 0
            async for _ in hook.iter_transcripts(page_size=20):
                count += 1
                if count % 100 == 0:
                    await asyncio.sleep(0.6)
            return count
        finally:
            await hook.aclose()

    assert asyncio.run(run()) == 400
    counters = sandbox.counters()
    assert counters["logins"] == 1
    assert counters["refreshes"] >= 1
    assert counters["faults"].get("error", 0) + counters["faults"].get("reset", 0) > 0


def test_async_concurrent_callers_share_one_login(sandbox, async_hook):
    hook = async_hook()

    async def run() -> None:
        try:
            await asyncio.gather(*(hook.get_dashboard() for _ in range(30)))
        finally:
            await hook.aclose()

    asyncio.run(run())
    assert sandbox.counters()["logins"] == 1


def test_many_hooks_of_one_connection_share_one_client_per_loop(sandbox, async_hook):
    """As in the triggerer: many triggers, each with its own hook, one login and one pool."""
    from xentree_provider.hooks._async_pool import shared_transport_count

    hooks = [async_hook() for _ in range(50)]

    async def run() -> tuple[int, int, int]:
        await asyncio.gather(*(h.get_dashboard() for h in hooks))
        open_while_used = shared_transport_count()
        transports = {id(await h.transport()) for h in hooks}
        for h in hooks:
            await h.aclose()
        return open_while_used, len(transports), shared_transport_count()

    # One shared client while in use, closed when the last hook lets go.
    assert asyncio.run(run()) == (1, 1, 0)
    assert sandbox.counters()["logins"] == 1


def test_async_errors_are_the_same_types(sandbox, async_hook):
    live_only = async_hook("live")
    org_id = sandbox.credentials()["api_keys"]["live"]["organization_id"]

    async def scope_error() -> None:
        try:
            async for _ in live_only.iter_member_progress(org_id):
                pass
        finally:
            await live_only.aclose()

    with pytest.raises(XentreePermissionError) as caught:
        asyncio.run(scope_error())
    assert caught.value.required_scope == "xel:read"

    sandbox.set_faults(html_error_rate=1.0)
    key_hook = async_hook("full", max_retries=1, retry_max_wait=0.01)

    async def html() -> None:
        try:
            await key_hook.get_dashboard()
        finally:
            await key_hook.aclose()

    with pytest.raises(XentreeServerError, match="text/html"):
        asyncio.run(html())
