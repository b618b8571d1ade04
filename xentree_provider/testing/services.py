"""Throwaway PostgreSQL and Redis servers for end-to-end tests (CeleryExecutor with a real database).

Each server runs from the machine's own binaries (Debian's ``postgresql`` and ``redis-server`` packages;
``scripts/ensure_services.sh`` installs them when missing), listens on 127.0.0.1 only, keeps all its files
in a new temporary folder and is stopped, and the folder removed, by ``stop()`` (also registered with
``atexit``). PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` system user
(Debian's package creates it) through ``runuser``.

Usage::

    with PostgresServer() as postgres, RedisServer() as redis:
        env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.sqlalchemy_url,
               "AIRFLOW__CELERY__BROKER_URL": redis.url}
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from xentree_provider.testing.airflow_cluster import ClusterError, free_port

__all__ = ["PostgresServer", "RedisServer"]

_INSTALL_HINT = "install Debian's postgresql and redis-server packages (scripts/ensure_services.sh, as root)"


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise ClusterError(
            f"PostgreSQL's {name} not found on PATH or in /usr/lib/postgresql/*/bin: {_INSTALL_HINT}"
        )
    return found


class PostgresServer:
    """A PostgreSQL server with one database (``airflow``, user ``airflow``, trust auth) on loopback.

    :param startup_timeout: seconds to wait for the server to accept connections.
    """

    database = "airflow"
    user = "airflow"

    def __init__(self, *, startup_timeout: float = 120.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = 0
        self.root: Path | None = None
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None

    @property
    def sqlalchemy_url(self) -> str:
        """The SQLAlchemy URL of the database (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = list(args)
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        if result.returncode != 0:
            raise ClusterError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")

    def start(self) -> PostgresServer:
        """Create the cluster in a new temporary folder, start it, create the database."""
        if self.root is not None:
            return self
        self.root = Path(tempfile.mkdtemp(prefix="xentree-e2e-postgres-"))
        atexit.register(self.stop)
        if self._run_as is not None:
            try:
                account = pwd.getpwnam(self._run_as)
            except KeyError:
                raise ClusterError(
                    f"running as root, but there is no '{self._run_as}' user: {_INSTALL_HINT}"
                ) from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
        data = self.root / "data"
        self.port = free_port()
        try:
            self._run(
                _postgres_binary("initdb"), "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8"
            )
            options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200 -c fsync=off"
            self._run(
                _postgres_binary("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                str(int(self.startup_timeout)),
                "start",
            )
            self._run(
                _postgres_binary("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        root, self.root = self.root, None
        if root is None:
            return
        if (root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self._run(_postgres_binary("pg_ctl"), "-D", str(root / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class RedisServer:
    """A Redis server (no persistence) on loopback, as the Celery broker.

    :param startup_timeout: seconds to wait for the server to answer ``PING``.
    """

    def __init__(self, *, startup_timeout: float = 60.0) -> None:
        self.startup_timeout = startup_timeout
        self.port = 0
        self.root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server in a new temporary folder and wait until it answers."""
        if self._proc is not None:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise ClusterError(f"redis-server not found on PATH: {_INSTALL_HINT}")
        self.root = Path(tempfile.mkdtemp(prefix="xentree-e2e-redis-"))
        self.port = free_port()
        atexit.register(self.stop)
        with open(self.root / "server.log", "wb") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - the binary found on PATH, fixed arguments
                [
                    binary,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--dir",
                    str(self.root),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        give_up_at = time.monotonic() + self.startup_timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > give_up_at:
                text = (self.root / "server.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise ClusterError(f"redis-server did not start: {text}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        root, self.root = self.root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
