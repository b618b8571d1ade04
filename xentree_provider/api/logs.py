"""The logger interface the api layer needs (satisfied by ``logging.Logger`` and Airflow's loggers)."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["LoggerLike"]


class LoggerLike(Protocol):
    """A logger taking printf-style arguments."""

    def debug(self, event: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Log at DEBUG."""

    def warning(self, event: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Log at WARNING."""
