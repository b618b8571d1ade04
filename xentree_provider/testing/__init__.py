"""The Xentree sandbox: a local HTTP server speaking the Xentree API contract, for tests and demos.

Importing this package is cheap (standard library and ``requests``); the server itself lives in
``xentree_provider.testing.app`` with its routes in ``xentree_provider.testing.routes``, and needs the
``sandbox`` extra (FastAPI, uvicorn).
"""

from __future__ import annotations

from xentree_provider.testing.config import FaultConfig, SandboxConfig, parse_faults
from xentree_provider.testing.readiness import READY_PREFIX
from xentree_provider.testing.server import SandboxError, SandboxServer

__all__ = ["READY_PREFIX", "FaultConfig", "SandboxConfig", "SandboxError", "SandboxServer", "parse_faults"]
