"""Grace before removal: how many consecutive runs each member has been absent, from the last report.

The count lives in the report itself (``grace.missing_runs``), so no state store is needed: a run
reads the previous run's report, adds one for every member still absent, and writes the new counts in
its own report. Only an applied run moves the count on; a dry run, a blocked, failed or aborted run
writes the counts it started from. A missing or unreadable previous report restarts the count, and
the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["GraceState", "grace_from_report", "grace_section"]


@dataclass(frozen=True)
class GraceState:
    """The absence counts a run starts from, where they came from, and why they restarted (if so)."""

    missing_runs: dict[str, int]
    counted_from: str | None
    restarted: str | None

    @classmethod
    def restart(cls, reason: str, counted_from: str | None = None) -> GraceState:
        """No usable previous counts: every absent member starts at one."""
        return cls({}, counted_from, f"{reason}: the count of missing runs starts again")


def grace_from_report(report: Any, *, location: str, organization_id: str) -> GraceState:
    """The counts stored in a previous report (parsed JSON); restart when it is not a usable report."""
    if not isinstance(report, Mapping):
        return GraceState.restart(f"the previous report {location} is not a JSON object", location)
    if report.get("organization_id") != organization_id:
        found = report.get("organization_id")
        return GraceState.restart(
            f"the previous report {location} is for organization {found!r}, not {organization_id!r}",
            location,
        )
    grace = report.get("grace")
    counts = grace.get("missing_runs") if isinstance(grace, Mapping) else None
    if not isinstance(counts, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1
        for k, v in counts.items()
    ):
        return GraceState.restart(f"the previous report {location} holds no missing-run counts", location)
    return GraceState(dict(counts), location, None)


def grace_section(
    state: GraceState, needed: int, counts: Mapping[str, int], *, counted: bool
) -> dict[str, Any]:
    """The report's ``grace`` section: the new counts when this run counts, else the ones it started from."""
    return {
        "remove_after_missing_runs": needed,
        "counted_from": state.counted_from,
        "restarted": state.restarted,
        "counted": counted,
        "missing_runs": dict(sorted((counts if counted else state.missing_runs).items())),
    }
