"""CSV cells that a spreadsheet shows as text, never runs as a formula (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets evaluate a cell that begins with ``=``, ``+``, ``-`` or ``@``
(``=HYPERLINK(...)``, ``=cmd|'/c calc'!A0``, ``@SUM(...)``), and some strip a leading tab, carriage return
or line feed or space first. A cell at risk gets a leading single quote, which spreadsheets take to mean
"text" and do not display. Plain numbers such as ``-3.5`` or ``+2`` stay as they are: a number runs
nothing, and quoting it would turn it into text.

Only files meant to be opened by people go through this; data exports keep the raw text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_TRIGGERS", "spreadsheet_cell", "spreadsheet_row", "spreadsheet_safe"]

#: First characters that make a spreadsheet read a cell as a formula: the OWASP list (``= + - @``, tab
#: and carriage return), their full-width forms (which some spreadsheets fold to ASCII) and line feed.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")

_LEADING_BLANKS = " \t\r\n\u00a0\u3000\ufeff"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would run it as a formula."""
    if not text:
        return text
    stripped = text.lstrip(_LEADING_BLANKS)
    at_risk = text[0] in FORMULA_TRIGGERS or (stripped[:1] in FORMULA_TRIGGERS and stripped != text)
    if not at_risk or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + text


def spreadsheet_cell(value: Any) -> Any:
    """A cell value made safe: text through :func:`spreadsheet_safe`; numbers, booleans and None as is."""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def spreadsheet_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a CSV row through :func:`spreadsheet_cell` (for ``csv.writer.writerow``)."""
    return [spreadsheet_cell(value) for value in values]
