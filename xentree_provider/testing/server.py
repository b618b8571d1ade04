"""Start and drive a sandbox from Python (standard library and ``requests`` only).

``SandboxServer`` runs ``python -m xentree_provider.testing.sandbox`` in its own process group on a
free loopback port, or (``SandboxServer.in_thread``) runs uvicorn in a background thread.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import IO, Any

import requests

from xentree_provider.testing.config import FaultConfig, SandboxConfig
from xentree_provider.testing.readiness import READY_PREFIX as READY_PREFIX  # kept importable from here
from xentree_provider.testing.readiness import ready_url


class SandboxError(RuntimeError):
    """The sandbox failed to start or an admin call failed."""


class SandboxServer:
    """A running (or startable) Xentree sandbox plus helpers for its ``/__sandbox`` admin API."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 60.0,
        **config_overrides: Any,
    ) -> None:
        base = config or SandboxConfig()
        self.config = base.merged(config_overrides) if config_overrides else base
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._uvicorn: Any = None
        self._credentials: dict[str, Any] | None = None
        self._http = requests.Session()

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def in_thread(cls, config: SandboxConfig | None = None, **config_overrides: Any) -> SandboxServer:
        """Start a sandbox in a background thread of this process (needs FastAPI and uvicorn)."""
        server = cls(config, **config_overrides)
        server._start_thread()
        return server

    def start(self) -> SandboxServer:
        """Start the sandbox subprocess and wait until it answers; return ``self``."""
        if self.running:
            return self
        # kept open for the life of the subprocess, closed in stop()
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        cmd = [
            sys.executable,
            "-m",
            "xentree_provider.testing.sandbox",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--config-json",
            json.dumps(self.config.to_dict()),
        ]
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            cmd, stdout=self._stdout, stderr=self._stderr, start_new_session=True
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while self._url is None:
            self._url = self._ready_url()
            if self._url is not None:
                break
            if self._proc.poll() is not None:
                status = self._proc.returncode
                detail = self._stderr_text()
                self.stop()
                raise SandboxError(f"sandbox exited with status {status} before it was ready:\n{detail}")
            if time.monotonic() > deadline:
                detail = self._stderr_text()  # read before stop() closes it
                self.stop()
                raise SandboxError(f"sandbox not ready after {self.startup_timeout:.0f}s; stderr:\n{detail}")
            time.sleep(0.02)
        self._wait_healthy(deadline)
        return self

    def _start_thread(self) -> None:
        from xentree_provider.testing.app import bind_socket, build_server

        sock = bind_socket(self.host, self.port)
        ready = threading.Event()
        self._uvicorn = build_server(self.config, on_ready=ready.set)
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, name="xentree-sandbox", daemon=True
        )
        self._thread.start()
        if not ready.wait(self.startup_timeout):
            self.stop()
            raise SandboxError("in-thread sandbox did not start")
        self._url = f"http://{self.host}:{sock.getsockname()[1]}"
        atexit.register(self.stop)

    def _ready_url(self) -> str | None:
        assert self._stdout is not None
        self._stdout.seek(0)
        return ready_url(self._stdout.read().decode("utf-8", "replace"))

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-4000:]

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            try:
                if self._http.get(f"{self.url}/__sandbox/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                url, detail = self._url, self._stderr_text()  # read before stop() clears them
                self.stop()
                raise SandboxError(f"sandbox at {url} never became healthy:\n{detail}")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        """Whether the sandbox is up (as far as this object knows)."""
        if self._proc is not None:
            return self._proc.poll() is None
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the sandbox (its whole process group); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=5)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        thread, self._thread = self._thread, None
        if thread is not None and self._uvicorn is not None:
            self._uvicorn.should_exit = True
            thread.join(timeout=5)
        for handle in (self._stdout, self._stderr):
            if handle is not None:
                handle.close()
        self._stdout = self._stderr = None
        self._http.close()
        # A stopped sandbox may be started again, on a new port with new credentials.
        self._url = None
        self._credentials = None
        self._http = requests.Session()
        atexit.unregister(self.stop)

    def __enter__(self) -> SandboxServer:
        return self.start() if self._thread is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ connection helpers
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise SandboxError("the sandbox is not started")
        return self._url

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, f"{self.url}/__sandbox/{path}", json=body, timeout=60)
        if not response.ok:
            raise SandboxError(f"{method} /__sandbox/{path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    def credentials(self) -> dict[str, Any]:
        """Login e-mail, password, API keys by name (``key``, ``scopes``) and organization ids (cached)."""
        if self._credentials is None:
            self._credentials = self._admin("GET", "credentials")
        return self._credentials

    def api_key(self, key_name: str = "full") -> str:
        """Return the seeded API key called ``key_name``."""
        return str(self.credentials()["api_keys"][key_name]["key"])

    def login_connection(self, **extra: Any) -> dict[str, Any]:
        """Airflow connection dict for user login (``extra`` goes into the connection's extra)."""
        creds = self.credentials()
        conn: dict[str, Any] = {
            "conn_type": "xentree",
            "host": self.url,
            "login": creds["email"],
            "password": creds["password"],
        }
        if extra:
            conn["extra"] = dict(extra)
        return conn

    def api_key_connection(self, key_name: str = "full", **extra: Any) -> dict[str, Any]:
        """Airflow connection dict using the seeded API key ``key_name``."""
        extra = {"api_key": self.api_key(key_name), **extra}
        return {"conn_type": "xentree", "host": self.url, "extra": extra}

    def connection_env(self, key_name: str | None = None, **extra: Any) -> str:
        """JSON for an ``AIRFLOW_CONN_*`` variable: login, or the API key ``key_name`` when given."""
        if key_name is None:
            return json.dumps(self.login_connection(**extra))
        return json.dumps(self.api_key_connection(key_name, **extra))

    # ------------------------------------------------------------------ admin API
    def health(self) -> dict[str, Any]:
        """``GET /__sandbox/health``."""
        result: dict[str, Any] = self._admin("GET", "health")
        return result

    def server_config(self) -> dict[str, Any]:
        """The configuration the server is running with."""
        result: dict[str, Any] = self._admin("GET", "config")
        return result

    def counters(self) -> dict[str, Any]:
        """Request, response, fault, login and refresh counters."""
        result: dict[str, Any] = self._admin("GET", "counters")
        return result

    def reset_counters(self) -> None:
        """Zero the counters."""
        self._admin("POST", "counters/reset")

    def set_faults(self, faults: FaultConfig | None = None, **knobs: Any) -> dict[str, Any]:
        """Replace the fault configuration (knobs left out take their defaults)."""
        body = (faults or FaultConfig()).merged(knobs).to_dict()
        result: dict[str, Any] = self._admin("PUT", "faults", body)
        return result

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self._admin("PUT", "faults", {})

    def reset(self, **config_overrides: Any) -> dict[str, Any]:
        """Rebuild all data/state from the start-up config plus ``config_overrides``; return the config."""
        self._credentials = None
        result: dict[str, Any] = self._admin("POST", "reset", config_overrides)
        return result

    def revoke_tokens(self) -> int:
        """Revoke every access and refresh token; return how many were live."""
        return int(self._admin("POST", "revoke-tokens")["revoked"])

    def issued_secrets(self) -> dict[str, Any]:
        """Every token issued so far plus the password and API keys (``all`` lists them together)."""
        result: dict[str, Any] = self._admin("GET", "secrets")
        return result

    def members(self, org_id: str) -> list[dict[str, Any]]:
        """Current members of an organization, read past auth and faults."""
        result: list[dict[str, Any]] = self._admin("GET", f"state/members/{org_id}")
        return result

    def set_member_role(self, org_id: str, user_id: str, role: str | None) -> dict[str, Any]:
        """List a member with ``role`` as given (any text, unchecked), or without a role (None)."""
        result: dict[str, Any] = self._admin("PUT", f"state/members/{org_id}/{user_id}/role", {"role": role})
        return result
