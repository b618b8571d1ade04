"""The earlier report a new one is compared with: found by folder or file, read, checked it is JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from xentree_provider.api.errors import XentreeConfigError

__all__ = ["PreviousReport", "ReadablePath", "load_previous_report"]

REPORT_JSON = "progress.json"


class ReadablePath(Protocol):
    """The part of a path object this module reads (``ObjectStoragePath`` and ``pathlib.Path`` fit)."""

    @property
    def suffix(self) -> str:
        """The file name's extension, e.g. ``.json``."""
        ...

    def __truediv__(self, name: str) -> ReadablePath:
        """The child ``name`` of this folder."""
        ...

    def exists(self) -> bool:
        """Whether the path exists."""
        ...

    def read_text(self, encoding: str = ...) -> str:
        """The file's text."""
        ...


class _Log(Protocol):
    def warning(self, event: Any, /, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PreviousReport:
    """An earlier ``progress.json`` and where it was read from."""

    report: Any  # as parsed; build_report says if it is not a report of the same scope
    path: str


def load_previous_report(path: ReadablePath | None, log: _Log) -> PreviousReport | None:
    """Read the report at ``path`` (its folder or its ``progress.json``); None when there is none.

    A missing report is the first run's normal case (logged); an unreadable one is a config error.
    """
    if path is None:
        return None
    if path.suffix != ".json":
        path = path / REPORT_JSON
    if not path.exists():
        log.warning("No previous report at %s: writing this report without a comparison", path)
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise XentreeConfigError(
            f"previous_report_path {str(path)!r} is not a readable progress.json ({error}); "
            "point it at the folder or progress.json of an earlier report"
        ) from None
    return PreviousReport(report=report, path=str(path))
