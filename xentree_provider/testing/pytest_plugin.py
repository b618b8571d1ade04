"""pytest plugin ``xentree_sandbox``: fixtures that run a Xentree sandbox for your tests.

Inert unless a fixture is requested. Fixtures:

- ``xentree_sandbox`` (session): one sandbox for the session; ``AIRFLOW_CONN_XENTREE_DEFAULT`` points at
  it (user login) for the session and is restored afterwards. State is *not* reset between tests.
- ``xentree_sandbox_clean`` (function): the same server after ``reset()`` (data, tokens, counters, faults).
- ``xentree_sandbox_factory`` (function): ``factory(config=None, **overrides) -> SandboxServer``; every
  server it starts is stopped at teardown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from xentree_provider.testing.config import SandboxConfig
from xentree_provider.testing.server import SandboxServer

CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--xentree-sandbox-transcripts``."""
    group = parser.getgroup("xentree-sandbox")
    group.addoption(
        "--xentree-sandbox-transcripts",
        type=int,
        default=None,
        help="number of transcripts the session sandbox seeds (default: SandboxConfig default)",
    )


@pytest.fixture(scope="session")
def xentree_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """Session-wide sandbox; sets ``AIRFLOW_CONN_XENTREE_DEFAULT`` to its login connection."""
    transcripts = request.config.getoption("--xentree-sandbox-transcripts")
    config = SandboxConfig() if transcripts is None else SandboxConfig(transcripts=int(transcripts))
    server = SandboxServer(config).start()
    previous = os.environ.get(CONN_ENV)
    os.environ[CONN_ENV] = server.connection_env()
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop(CONN_ENV, None)
        else:
            os.environ[CONN_ENV] = previous
        server.stop()


@pytest.fixture
def xentree_sandbox_clean(xentree_sandbox: SandboxServer) -> SandboxServer:
    """The session sandbox, reset to its start-up state before the test."""
    xentree_sandbox.reset()
    os.environ[CONN_ENV] = xentree_sandbox.connection_env()
    return xentree_sandbox


@pytest.fixture
def xentree_sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    """Return ``factory(config=None, **overrides)`` that starts extra sandboxes, stopped at teardown."""
    started: list[SandboxServer] = []

    def factory(config: SandboxConfig | None = None, **overrides: Any) -> SandboxServer:
        server = SandboxServer(config, **overrides).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
