"""Report assembly without Airflow or HTTP: an in-memory progress source, the previous report, the files."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

import pytest

from xentree_provider.api.errors import XentreeConfigError, XentreeError, XentreePermissionError
from xentree_provider.reporting.assemble import (
    ReportRequest,
    assemble_report,
    day_window,
    report_summary,
)
from xentree_provider.reporting.data import ORGANIZATION_COLUMNS
from xentree_provider.reporting.files import REPORT_FILES, write_report
from xentree_provider.reporting.previous import PreviousReport, load_previous_report

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)
DAYS = (date(2026, 11, 16), date(2026, 11, 22))
LOG = logging.getLogger("test_report_assemble")


class MemorySource:
    """A progress source held in memory; records the directory calls it gets."""

    def __init__(self, members: list[dict[str, Any]], organization: Exception | dict[str, Any]) -> None:
        self.members = members
        self.organization = organization
        self.calls: list[dict[str, Any]] = []

    def get_organization(self, org_id: str) -> Mapping[str, Any]:
        if isinstance(self.organization, Exception):
            raise self.organization
        return self.organization

    def iter_member_progress(
        self, org_id: str, *, start_date: date, end_date: date, team_id: str | None, page_size: int
    ) -> Iterable[Mapping[str, Any]]:
        self.calls.append(
            {"org_id": org_id, "start": start_date, "end": end_date, "team": team_id, "size": page_size}
        )
        return iter(self.members)

    def get_dashboard(self) -> Mapping[str, Any]:
        return {"overall_progress_percent": 40, "current_streak": 3}

    def iter_modules(self) -> Iterable[Mapping[str, Any]]:
        return iter(
            [
                {"id": "m2", "title": "Talk", "level": "B1", "progress_percent": 20},
                {"id": "m1", "title": "Read", "level": "A1", "progress_percent": 100},
            ]
        )


def _member(uid: str, team: str, progress: float, minutes: float = 0.0) -> dict[str, Any]:
    return {
        "user_id": uid,
        "full_name": uid.upper(),
        "teams": [team],
        "progress_percent": progress,
        "learning_minutes": minutes,
    }


def _request(**overrides: Any) -> ReportRequest:
    fields: dict[str, Any] = {"scope": "organization", "days": DAYS, "organization_id": "org_1"}
    return ReportRequest(**{**fields, **overrides})


def test_organization_report_reads_the_directory_for_the_days_and_dedupes() -> None:
    source = MemorySource(
        [_member("b", "Sales", 50, 5), _member("a", "Sales", 10), _member("b", "Sales", 50, 5)],
        {"id": "org_1", "name": "Acme"},
    )
    report = assemble_report(
        source, _request(team_id="t1", page_size=20), previous=None, generated_at=NOW, log=LOG
    )

    assert source.calls == [{"org_id": "org_1", "start": DAYS[0], "end": DAYS[1], "team": "t1", "size": 20}]
    assert [r["user_id"] for r in report["rows"]] == ["a", "b"]
    assert report["title"] == "Xentree English progress — Acme"
    assert report_summary(report) == {
        "scope": "organization",
        "organization_id": "org_1",
        "team_id": "t1",
        "window": {"start_date": "2026-11-16", "end_date": "2026-11-22"},
        "rows": 2,
        "members": 2,
        "active_members": 1,
        "average_progress": 30.0,
        "active_share": 0.5,
    }


@pytest.mark.parametrize(
    "failure",
    [XentreePermissionError("no organizations:read", status=403), XentreeError("boom", status=500)],
)
def test_an_unreadable_organization_is_named_by_its_id(failure: Exception) -> None:
    source = MemorySource([_member("a", "Sales", 10)], failure)
    report = assemble_report(source, _request(), previous=None, generated_at=NOW, log=LOG)
    assert report["organization"] == {"id": "org_1", "name": "org_1"}


def test_an_organization_report_without_days_or_organization_is_a_config_error() -> None:
    source = MemorySource([], {"id": "org_1"})
    for request in (_request(days=None), _request(organization_id=None)):
        with pytest.raises(XentreeConfigError, match="days and its organization_id"):
            assemble_report(source, request, previous=None, generated_at=NOW, log=LOG)


def test_user_report_uses_the_dashboard_and_the_modules_in_level_order() -> None:
    source = MemorySource([], {"id": "unused"})
    report = assemble_report(
        source, _request(scope="user", days=None), previous=None, generated_at=NOW, log=LOG
    )
    assert [r["module_id"] for r in report["rows"]] == ["m1", "m2"]
    assert report["totals"]["average_progress"] == 40.0
    assert report["window"] is None
    assert source.calls == []


def test_a_previous_report_of_the_other_scope_names_its_path() -> None:
    source = MemorySource([_member("a", "Sales", 10)], {"id": "org_1"})
    previous = PreviousReport({"scope": "user", "totals": {}, "rows": []}, "/old/progress.json")
    with pytest.raises(XentreeConfigError, match=r"previous_report_path '/old/progress.json': .*scope"):
        assemble_report(source, _request(), previous=previous, generated_at=NOW, log=LOG)


def test_day_window_covers_whole_utc_days() -> None:
    assert day_window(DAYS) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert day_window(None) is None


def test_previous_report_found_by_folder_missing_is_none_broken_is_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert load_previous_report(None, LOG) is None
    with caplog.at_level(logging.WARNING):
        assert load_previous_report(tmp_path / "first-run", LOG) is None
    assert "No previous report" in caplog.text

    (tmp_path / "progress.json").write_text('{"scope": "organization"}', encoding="utf-8")
    found = load_previous_report(tmp_path, LOG)
    assert found == PreviousReport({"scope": "organization"}, str(tmp_path / "progress.json"))

    (tmp_path / "broken.json").write_bytes(b"\xff{")
    with pytest.raises(XentreeConfigError, match=r"broken\.json.*not a readable progress\.json"):
        load_previous_report(tmp_path / "broken.json", LOG)


def test_write_report_counts_the_bytes_it_writes_through_the_opener() -> None:
    source = MemorySource([_member("a", "Sales", 10)], {"id": "org_1", "name": "Acme"})
    report = assemble_report(source, _request(), previous=None, generated_at=NOW, log=LOG)
    buffers: dict[str, io.BytesIO] = {}

    @contextmanager
    def opener(name: str) -> Iterator[IO[bytes]]:
        buffers[name] = io.BytesIO()
        yield buffers[name]

    written = write_report(report, opener)

    assert list(written) == [spec.name for spec in REPORT_FILES]
    for name, info in written.items():
        assert info.size == len(buffers[name].getvalue()) > 0
    assert written["progress.csv"].rows == written["progress.json"].rows == 1
    assert written["report.html"].rows is None
    header = buffers["progress.csv"].getvalue().decode("utf-8").splitlines()[0]
    assert header == ",".join(ORGANIZATION_COLUMNS)
    assert json.loads(buffers["progress.json"].getvalue())["rows"] == report["rows"]
