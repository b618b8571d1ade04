"""The line a sandbox process prints once it accepts connections, and how a waiting process reads it.

Standard library only: both the command line entry point and :class:`SandboxServer` import it.
"""

from __future__ import annotations

READY_PREFIX = "XENTREE_SANDBOX_READY"


def ready_line(url: str) -> str:
    """Return the ready line announcing ``url`` (``XENTREE_SANDBOX_READY http://127.0.0.1:PORT``)."""
    return f"{READY_PREFIX} {url}"


def ready_url(output: str) -> str | None:
    """Return the URL of the first ready line in a process's ``output``, or ``None`` if not there yet."""
    for line in output.splitlines():
        if line.startswith(READY_PREFIX):
            return line.split(None, 1)[1].strip()
    return None
