"""The Xentree sandbox HTTP application (FastAPI) and a helper to serve it with uvicorn.

The routes live in :mod:`xentree_provider.testing.routes`, one router per area; this module puts them
together with the middleware. Only this module, the routes and their helpers import FastAPI or uvicorn.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from xentree_provider.testing.config import SandboxConfig
from xentree_provider.testing.middleware import SandboxMiddleware, silence_reset_tracebacks
from xentree_provider.testing.routes import (
    admin,
    auth,
    conversations,
    integrations,
    knowledge,
    live,
    organizations,
    progress,
    xel,
)
from xentree_provider.testing.state import SandboxState

#: In registration order (the middleware names a request after the first route that matches it).
ROUTERS = (
    auth.router,
    live.router,
    organizations.router,
    progress.router,
    xel.router,
    knowledge.router,
    conversations.router,
    integrations.router,
    admin.router,
)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """Build the sandbox application for ``config`` (defaults to :class:`SandboxConfig()`)."""
    state = SandboxState(config or SandboxConfig())
    app = FastAPI(
        title="Xentree sandbox",
        version="1",
        docs_url="/__sandbox/docs",
        redoc_url=None,
        openapi_url="/__sandbox/openapi.json",
    )
    app.state.sandbox = state
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(SandboxMiddleware, state=state, routes=lambda: app.router.routes)
    return app


def world_credentials(app: Any) -> dict[str, Any]:
    """Return the credentials of a running sandbox app (what ``/__sandbox/credentials`` serves)."""
    state: SandboxState = app.state.sandbox
    return admin.world_credentials(state.world)


# ---------------------------------------------------------------------- serving
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self._on_ready is not None and not self.should_exit:
            self._on_ready()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (``port=0`` picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def build_server(
    config: SandboxConfig, on_ready: Callable[[], None] | None = None, log_level: str = "warning"
) -> uvicorn.Server:
    """Return a uvicorn server for the sandbox app; run it with ``server.run(sockets=[bind_socket(...)])``.

    ``on_ready`` is called once the server accepts connections.
    """
    silence_reset_tracebacks()
    uvicorn_config = uvicorn.Config(
        create_app(config),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    return _Server(uvicorn_config, on_ready)
