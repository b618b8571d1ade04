"""CSV rows as text lines ending in ``\\n``, with every field that holds a CR or LF quoted.

``csv.writer(..., lineterminator="\\n")`` quotes a field holding ``\\n`` but not one holding a lone
``\\r``, which readers then take for a line break, splitting the row. Writing with ``\\r\\n`` makes the
writer quote both, and the line end is turned back into ``\\n``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

__all__ = ["CsvLines"]


class CsvLines:
    """Turns rows into CSV lines, one at a time (so a CSV of any length streams)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def line(self, values: Iterable[Any]) -> str:
        """One CSV line for ``values``, ending in ``\\n``."""
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()[:-2] + "\n"
