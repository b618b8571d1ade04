"""The HTML progress report opens in a real headless Chromium without errors and shows the totals.

Chromium comes from Debian's ``chromium`` package (``scripts/ensure_chromium.sh`` installs it when it
is missing); where it cannot be found this test is skipped and says why. The screenshot is saved under
``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.testing import SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
# Console messages and uncaught script errors as Chromium logs them with --enable-logging=stderr.
PAGE_ERROR = re.compile(r"CONSOLE[:(]\d+|Uncaught|SyntaxError|ReferenceError|TypeError:|net::ERR_", re.I)


def _chromium() -> str:
    explicit = os.environ.get("XENTREE_CHROMIUM")
    if explicit and Path(explicit).is_file():
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium found (looked for XENTREE_CHROMIUM and "
        f"{', '.join(CHROMIUM_NAMES)} on PATH); run scripts/ensure_chromium.sh as root to install "
        "Debian's chromium package"
    )


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class _TextById(HTMLParser):
    """Collects the text inside every element that has an ``id``."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, str | None]] = []
        self.text: dict[str, str] = {}
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("br", "meta", "link", "img", "input", "line", "rect"):
            return
        element_id = dict(attrs).get("id")
        self.open.append((tag, element_id))
        if element_id:
            self.text.setdefault(element_id, "")

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self.open:
            if element_id:
                self.text[element_id] += data


def test_report_opens_in_chromium_and_shows_the_totals(
    xentree_sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _chromium()
    xentree_sandbox.reset(anchor="2026-11-23")
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox.connection_env())
    org_id = xentree_sandbox.credentials()["first_org_id"]
    context = {
        "data_interval_start": datetime(2026, 11, 16, tzinfo=timezone.utc),
        "data_interval_end": datetime(2026, 11, 23, tzinfo=timezone.utc),
        "outlet_events": OutletEventAccessors(),
    }
    common = {"scope": "organization", "organization_id": org_id}
    XentreeXELProgressReportOperator(
        task_id="previous",
        output_path=str(tmp_path / "previous"),
        start_day="2026-11-09",
        end_day="2026-11-15",
        **common,
    ).execute(context)  # type: ignore[arg-type]
    result = XentreeXELProgressReportOperator(
        task_id="report",
        output_path=str(tmp_path / "report"),
        previous_report_path=str(tmp_path / "previous"),
        **common,
    ).execute(context)  # type: ignore[arg-type]
    page = Path(result["html"].removeprefix("file://"))

    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = [line for line in dom.stderr.splitlines() if PAGE_ERROR.search(line)]
    assert not errors, "\n".join(errors)

    parsed = _TextById()
    parsed.feed(dom.stdout)
    text = {key: " ".join(value.split()) for key, value in parsed.text.items()}
    assert text["report-title"] == "Xentree English progress \u2014 Acme Learning"
    assert text["total-members"] == f"{result['members']:,}" == "250"
    assert text["total-average-progress"] == f"{result['average_progress']:.1f}%"
    assert text["total-active-share"] == f"{result['active_share'] * 100:.0f}%"
    assert text["inactive-count"] == str(result["members"] - result["active_members"])
    assert "2026-11-16 \u2013 2026-11-22" in text["report-meta"]
    assert "Change since the previous report (2026-11-09 \u2013 2026-11-15)" in text["comparison"]
    for chart in ("chart-groups", "chart-distribution", "chart-activity"):
        assert chart in text, f"chart {chart} missing from the rendered page"
    for team in ("Design", "Platform", "Research", "Sales", "Support"):
        assert team in text["chart-groups"]
    assert "script" not in parsed.tags  # nothing to run, nothing to fail

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "xel-progress-report.png"
    screenshot.unlink(missing_ok=True)
    shot = _run_chromium(
        binary,
        tmp_path / "profile-shot",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        page.as_uri(),
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    assert screenshot.read_bytes().startswith(b"\x89PNG")
