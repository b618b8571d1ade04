"""Spreadsheet-safe CSV cells: formula-like text gets a leading quote; numbers and plain text do not."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xentree_provider.reporting.data import csv_text
from xentree_provider.tabular.spreadsheet import (
    FORMULA_TRIGGERS,
    spreadsheet_cell,
    spreadsheet_row,
    spreadsheet_safe,
)


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://evil.example","x")',
        "+SUM(1,2)",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        "\n=1",
        " =1",
        "\u00a0@x",
        "\uff1dSUM(1)",
        "-",
        "=",
    ],
)
def test_formula_like_text_gets_a_leading_quote(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["", "Ada Lovelace", "a=b", "ada@example.com", "-3.5", "+2", "-1e5", ".5", "2026-11-16", "'=x"]
)
def test_plain_text_and_numbers_are_unchanged(text: str) -> None:
    assert spreadsheet_safe(text) == text


@given(st.text())
def test_no_cell_a_spreadsheet_would_run_survives(text: str) -> None:
    safe = spreadsheet_safe(text)
    assert safe in (text, "'" + text)
    stripped = safe.lstrip(" \t\r\n\u00a0\u3000\ufeff")
    if safe and (safe[0] in FORMULA_TRIGGERS or stripped[:1] in FORMULA_TRIGGERS):
        float(safe)  # only a plain number may still begin with a sign


def test_cells_keep_non_text_values_and_rows_map_every_cell() -> None:
    assert spreadsheet_cell(-3) == -3
    assert spreadsheet_cell(None) is None
    assert spreadsheet_row(["=1", 2.5, True, "ok"]) == ["'=1", 2.5, True, "ok"]


def test_report_csv_quotes_text_but_not_negative_figures() -> None:
    row = {"user_id": "u1", "full_name": "=1+1", "email": "@x", "progress_change": -12.5}
    lines = "".join(csv_text([row], ["user_id", "full_name", "email", "progress_change"]))
    assert list(csv.reader(io.StringIO(lines)))[1] == ["u1", "'=1+1", "'@x", "-12.5"]


def test_a_carriage_return_inside_a_cell_never_splits_the_row() -> None:
    from xentree_provider.tabular.csv_lines import CsvLines

    lines = CsvLines()
    text = lines.line(["a", "x\ry", "p\nq", 'say "hi"']) + lines.line(["b", "", None, 1.5])
    assert text == 'a,"x\ry","p\nq","say ""hi"""\nb,,,1.5\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "x\ry", "p\nq", 'say "hi"'],
        ["b", "", "", "1.5"],
    ]
