"""One async transport per connection and event loop, shared by every trigger using that connection.

The triggerer runs hundreds of triggers in one event loop. Giving each its own client would mean one
login and one connection pool per trigger; sharing means one login per connection and a bounded pool.
A transport is closed when its last user releases it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from xentree_provider.api.async_transport import AsyncTransport

__all__ = ["acquire_transport", "release_transport", "shared_transport_count"]


@dataclass
class _Entry:
    transport: AsyncTransport
    users: int


_entries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Entry]] = (
    weakref.WeakKeyDictionary()
)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def acquire_transport(key: Hashable, build: Callable[[], Awaitable[AsyncTransport]]) -> AsyncTransport:
    """Return the loop's transport for ``key``, building it once with ``build()``; count one more user."""
    loop = asyncio.get_running_loop()
    entries = _entries.setdefault(loop, {})
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = _Entry(await build(), 0)
        entry.users += 1
        return entry.transport


async def release_transport(key: Hashable, transport: AsyncTransport) -> None:
    """Count one user less; close the transport when none is left."""
    entries = _entries.get(asyncio.get_running_loop(), {})
    entry = entries.get(key)
    if entry is None or entry.transport is not transport:
        await transport.aclose()
        return
    entry.users -= 1
    if entry.users <= 0:
        del entries[key]
        await transport.aclose()


def shared_transport_count() -> int:
    """How many shared transports are open in the running loop (for tests and diagnostics)."""
    return len(_entries.get(asyncio.get_running_loop(), {}))
