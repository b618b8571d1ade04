"""Pure logic of the XEL progress report: rows, totals, CSV, comparison, window days, HTML escaping."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.operators.english import XentreeXELProgressReportOperator, resolve_report_days
from xentree_provider.reporting.data import (
    MODULE_COLUMNS,
    NO_TEAM,
    ORGANIZATION_COLUMNS,
    build_report,
    csv_text,
    dedupe_sorted,
    member_row,
    module_row,
    team_of,
)
from xentree_provider.reporting.html import render_report_html

UTC = timezone.utc
WINDOW = (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)


def _member(uid: str, name: str, team: str, progress: float, minutes: float, last: str | None) -> dict:
    return {
        "user_id": uid,
        "email": f"{uid}@example.com",
        "full_name": name,
        "teams": [team],
        "modules_completed": int(progress // 10),
        "progress_percent": progress,
        "average_score": 70,
        "learning_minutes": minutes,
        "last_activity_at": last,
    }


def _rows(records: list[dict]) -> list[dict]:
    return dedupe_sorted(
        (member_row(r, organization_id="org", window=WINDOW) for r in records), "organization"
    )


def test_member_row_normalises_and_marks_activity() -> None:
    row = member_row(
        {
            "user_id": "u1",
            "progress_percent": "104",
            "average_score": None,
            "learning_minutes": 0,
            "last_activity_at": "2026-11-22T23:59:59.5+00:00",
            "teams": [],
        },
        organization_id="org",
        window=WINDOW,
    )
    assert row["progress_percent"] == 100.0
    assert row["average_score"] is None
    assert row["team"] == NO_TEAM
    assert row["active_in_window"] is True  # last second of the last day is inside the window
    assert row["last_activity_at"] == "2026-11-22T23:59:59.500000Z"
    outside = member_row(
        {"user_id": "u2", "last_activity_at": "2026-11-23T00:00:00Z"}, organization_id="o", window=WINDOW
    )
    assert outside["active_in_window"] is False


def test_team_prefers_this_organizations_affiliation() -> None:
    record = {
        "teams": ["Platform", "Field"],
        "affiliations": [
            {"organization_id": "a", "team": "Platform"},
            {"organization_id": "b", "team": "Field"},
        ],
    }
    assert team_of(record, "b") == "Field"
    assert team_of(record, "zzz") == "Platform; Field"
    assert team_of({"teams": [{"id": "t1", "name": "Sales"}]}, None) == "Sales"


def test_totals_groups_distribution_and_inactive() -> None:
    rows = _rows(
        [
            _member("u1", "Ann", "Sales", 100, 30, "2026-11-20T10:00:00Z"),
            _member("u2", "Bob", "Sales", 50, 0, None),
            _member("u3", "Cid", "Design", 0, 0, None),
            _member("u1", "Ann", "Sales", 100, 30, "2026-11-20T10:00:00Z"),  # repeated across pages
        ]
    )
    report = build_report(
        scope="organization",
        rows=rows,
        window=(date(2026, 11, 16), date(2026, 11, 22)),
        generated_at=NOW,
        organization={"id": "org", "name": "Org"},
    )
    totals = report["totals"]
    assert totals["members"] == 3
    assert totals["active_members"] == 1
    assert totals["active_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert totals["average_progress"] == 50.0
    assert [g["name"] for g in report["groups"]] == ["Design", "Sales"]
    assert report["groups"][1]["average_progress"] == 75.0
    counts = {b["label"]: b["count"] for b in report["distribution"]}
    assert counts["0\u201310%"] == 1 and counts["50\u201360%"] == 1 and counts["90\u2013100%"] == 1
    assert [r["user_id"] for r in report["inactive"]] == ["u3", "u2"]


def test_csv_is_stable_and_ordered() -> None:
    records = [_member(f"u{i}", f"Name {i % 7}", f"T{i % 3}", i * 3.333, i, None) for i in range(30)]
    first = "".join(csv_text(_rows(records), ORGANIZATION_COLUMNS))
    second = "".join(csv_text(_rows(list(reversed(records))), ORGANIZATION_COLUMNS))
    assert first == second
    header, line = first.splitlines()[:2]
    assert header.split(",") == list(ORGANIZATION_COLUMNS)
    assert line.split(",")[ORGANIZATION_COLUMNS.index("progress_percent")].count(".") == 1


def test_comparison_fills_changes() -> None:
    window = (date(2026, 11, 16), date(2026, 11, 22))
    before = build_report(
        scope="organization",
        window=window,
        generated_at=NOW,
        rows=_rows(
            [
                _member("u1", "Ann", "Sales", 40, 10, "2026-11-20T10:00:00Z"),
                _member("u2", "Bob", "Sales", 10, 0, None),
            ]
        ),
    )
    after = build_report(
        scope="organization",
        window=window,
        generated_at=NOW,
        previous=before,
        rows=_rows(
            [
                _member("u1", "Ann", "Sales", 55, 0, None),
                _member("u3", "Cid", "Sales", 20, 5, "2026-11-21T10:00:00Z"),
            ]
        ),
    )
    comparison = after["comparison"]
    assert comparison["new"] == ["u3"] and comparison["gone"] == ["u2"]
    assert comparison["newly_inactive"] == ["u1"]
    assert comparison["totals_change"]["average_progress"] == pytest.approx(12.5)
    assert after["rows"][0]["progress_change"] == 15.0
    assert after["groups"][0]["progress_change"] == pytest.approx(12.5)
    with pytest.raises(ValueError, match="scope"):
        build_report(scope="user", window=None, generated_at=NOW, rows=[], previous=before)


def test_module_rows_sort_by_level() -> None:
    rows = dedupe_sorted(
        (
            module_row({"id": i, "title": t, "level": lvl, "progress_percent": p}, window=None)
            for i, t, lvl, p in [("m1", "Z", "B1", 0), ("m2", "Y", "A1", 100), ("m3", "X", "A2", 50)]
        ),
        "user",
    )
    assert [r["module_id"] for r in rows] == ["m2", "m3", "m1"]
    assert [r["status"] for r in rows] == ["completed", "in_progress", "not_started"]
    assert list(rows[0]) == list(MODULE_COLUMNS)


def test_html_escapes_api_text_and_needs_no_network() -> None:
    rows = _rows([_member("u1", "<script>alert(1)</script>", "R&D <b>", 30, 0, None)])
    page = render_report_html(
        build_report(
            scope="organization",
            rows=rows,
            window=None,
            generated_at=NOW,
            organization={"id": "o", "name": "A & B"},
        )
    )
    assert "<script>" not in page
    assert "&lt;script&gt;" in page and "R&amp;D &lt;b&gt;" in page
    for reference in ("src=", "href=", "url(", "@import"):
        assert reference not in page


@pytest.mark.parametrize(
    ("context", "start", "end", "expected"),
    [
        (
            {"data_interval_start": WINDOW[0], "data_interval_end": WINDOW[1]},
            None,
            None,
            (date(2026, 11, 16), date(2026, 11, 22)),
        ),
        (
            {
                "data_interval_start": WINDOW[0],
                "data_interval_end": datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC),
            },
            None,
            None,
            (date(2026, 11, 16), date(2026, 11, 23)),
        ),
        ({}, "2026-11-20", "2026-11-20", (date(2026, 11, 20), date(2026, 11, 20))),
        ({}, date(2026, 11, 1), "2026-11-03T23:00:00-02:00", (date(2026, 11, 1), date(2026, 11, 4))),
    ],
)
def test_report_days(context: dict, start: object, end: object, expected: tuple[date, date]) -> None:
    assert resolve_report_days(context, start, end) == expected


def test_report_days_errors() -> None:
    with pytest.raises(XentreeConfigError, match="no data interval"):
        resolve_report_days({}, None, None)
    assert resolve_report_days({}, None, None, required=False) is None
    with pytest.raises(XentreeConfigError, match="empty"):
        resolve_report_days({}, "2026-11-22", "2026-11-21")
    with pytest.raises(XentreeConfigError, match="not an ISO date"):
        resolve_report_days({}, "last monday", "2026-11-21")


@pytest.mark.parametrize("scope", [None, "team", ""])
def test_scope_is_required_with_a_clear_message(scope: str | None) -> None:
    with pytest.raises(ValueError, match=r"scope='organization'.*scope='user'"):
        XentreeXELProgressReportOperator(task_id="r", scope=scope, output_path="/tmp/x")
