"""End-to-end test helpers: keep every test's captured output for the secrets scan.

``captured_test_output()`` returns the captured stdout/stderr/log sections and failure texts of every
test reported so far in this session (``tests/e2e/test_real_airflow.py`` scans them for credentials).
Collecting them changes nothing for other tests.
"""

from __future__ import annotations

import pytest

_CAPTURED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the captured output (and any failure text) of each test phase."""
    _CAPTURED.extend(content for _name, content in report.sections)
    if report.longrepr is not None:
        _CAPTURED.append(report.longreprtext)


def captured_test_output() -> list[str]:
    """Every captured output section and failure text of the tests reported so far."""
    return list(_CAPTURED)


@pytest.fixture
def test_output_so_far() -> list[str]:
    """The captured output of every test reported before this one (see :func:`captured_test_output`)."""
    return captured_test_output()
