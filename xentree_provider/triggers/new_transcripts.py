"""XentreeNewTranscriptsTrigger: an event trigger for ``AssetWatcher`` that fires when transcripts are saved.

Schedule a DAG on an Asset watched by it::

    from airflow.sdk import Asset, AssetWatcher

    new_transcripts = Asset(
        "xentree://live/transcripts",
        watchers=[AssetWatcher(name="xentree_new_transcripts", trigger=XentreeNewTranscriptsTrigger())],
    )

Each poll reads the newest-first list back to sessions started ``max_arrival_lag`` before the last
watermark (:mod:`xentree_provider.conditions.arrivals`). The first poll only sets the watermark (the
newest ``created_at`` seen), unless ``newer_than`` gives one; every later poll that finds transcripts
saved after it fires one event ``{"newest_created_at", "count", "since", "conn_id"}`` and moves the
watermark on. The watermark lives in the triggerer's memory: after a triggerer restart the first poll
sets it again, so saves made meanwhile fire no event until the next save. Pair it with an
incremental export
(:class:`~xentree_provider.operators.live_incremental.XentreeIncrementalTranscriptExportOperator`),
whose own watermark in the asset state store makes every run catch up on everything.

Watchers of the same connection and settings share one poll (Airflow 3.3 ``shared_stream_key``).
Transient failures (connection, 5xx, 429 beyond the hook's retries) are logged and the next poll
tries again; authentication, permission and configuration errors end the trigger with the error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConfigError,
    XentreeError,
    XentreePermissionError,
)
from xentree_provider.conditions.arrivals import poll_new_arrivals
from xentree_provider.transcripts.selection import DEFAULT_MAX_ARRIVAL_LAG

__all__ = ["XentreeNewTranscriptsTrigger"]

_FATAL = (XentreeAuthError, XentreePermissionError, XentreeConfigError)


class XentreeNewTranscriptsTrigger(BaseEventTrigger):
    """Fires whenever new Live transcripts were saved since the last poll.

    :param conn_id: the Xentree connection id.
    :param poke_interval: seconds between polls (> 0).
    :param max_arrival_lag: seconds after its session a transcript may be saved (default 48 h).
    :param page_size: list page size (1..200).
    :param newer_than: an ISO watermark for the first poll; None: the first poll only sets it.
    :param hook_overrides: keyword overrides for the hook (``timeout``, ``max_retries``, ...).
    """

    def __init__(
        self,
        conn_id: str = "xentree_default",
        poke_interval: float = 60.0,
        max_arrival_lag: float = DEFAULT_MAX_ARRIVAL_LAG.total_seconds(),
        page_size: int = 100,
        newer_than: str | None = None,
        hook_overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if not float(poke_interval) > 0:
            raise ValueError(f"poke_interval must be > 0 seconds, got {poke_interval!r}")
        if not float(max_arrival_lag) > 0:
            raise ValueError(f"max_arrival_lag must be > 0 seconds, got {max_arrival_lag!r}")
        if not 1 <= int(page_size) <= 200:
            raise ValueError(f"page_size must be between 1 and 200, got {page_size!r}")
        self.conn_id = conn_id
        self.poke_interval = float(poke_interval)
        self.max_arrival_lag = float(max_arrival_lag)
        self.page_size = int(page_size)
        self.newer_than = newer_than
        self.hook_overrides = dict(hook_overrides or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and primitive state."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "poke_interval": self.poke_interval,
                "max_arrival_lag": self.max_arrival_lag,
                "page_size": self.page_size,
                "newer_than": self.newer_than,
                "hook_overrides": self.hook_overrides,
            },
        )

    def shared_stream_key(self) -> Hashable | None:
        """Watchers of one connection with the same poll settings share one poll."""
        return (
            "xentree_new_transcripts",
            self.conn_id,
            self.poke_interval,
            self.max_arrival_lag,
            self.page_size,
            self.newer_than,
            json.dumps(self.hook_overrides, sort_keys=True, default=str),
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The one poll of a group of watchers: raw events (the event payloads)."""
        async for payload in cls(**kwargs).poll():
            yield payload

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """Every raw event of the shared poll is this watcher's event."""
        async for payload in shared_stream:
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll on its own (no shared stream) and yield one event per poll that found new saves."""
        async for payload in self.poll():
            yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def poll(self) -> AsyncIterator[dict[str, Any]]:
        """Poll forever; yield the payload of each poll that found transcripts saved after the watermark."""
        from xentree_provider.hooks.xentree_async import XentreeAsyncHook

        hook = XentreeAsyncHook(self.conn_id, **self.hook_overrides)
        since = self.newer_than
        baseline = since is None
        try:
            while True:
                try:
                    found = await poll_new_arrivals(
                        hook, since, max_arrival_lag_seconds=self.max_arrival_lag, page_size=self.page_size
                    )
                except _FATAL:
                    raise
                except XentreeError as error:
                    self.log.warning("Polling for new transcripts failed (next poll retries): %s", error)
                else:
                    if baseline:
                        baseline = False
                        since = found["newest_created_at"]
                        self.log.info("Watching for transcripts saved after %s", since)
                    elif found["count"]:
                        yield {**found, "conn_id": self.conn_id}
                        since = found["newest_created_at"]
                await asyncio.sleep(self.poke_interval)
        finally:
            await hook.aclose()
