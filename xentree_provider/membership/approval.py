"""Applying a plan a human approved: re-check the stored plan against the organization as it is now.

The stored plan is the dry run's report. The fresh plan may do only what was approved, plus additions
and role or team changes that pass the guards on their own; if what is new since the approval removes
anyone, or trips a guard (or the organization or the settings differ), the apply is refused before
any write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xentree_provider.membership.plan import Action, Plan
from xentree_provider.membership.sync import PlannedSync

__all__ = ["ApprovalCheck", "check_approval"]

_LISTED = 10


def _identity(kind: Any, email: Any, role: Any = None, team_id: Any = None) -> tuple[Any, ...]:
    key = str(email or "").strip().lower()
    return (kind, key) if kind == "remove" else (kind, key, role, team_id)


def _of_action(action: Action) -> tuple[Any, ...]:
    return _identity(action.kind, action.email, action.role, action.team_id)


@dataclass(frozen=True)
class ApprovalCheck:
    """The verdict on an approved plan: ``problem`` is None when the fresh plan may be applied."""

    approved_changes: int
    drift: tuple[Action, ...]
    problem: str | None

    @property
    def ok(self) -> bool:
        """True when the fresh plan stays within what was approved (plus drift within the guards)."""
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        return {
            "approved_changes": self.approved_changes,
            "drift": [a.to_dict() for a in self.drift],
            "problem": self.problem,
        }


def check_approval(stored: Any, planned: PlannedSync, *, location: str) -> ApprovalCheck:
    """Compare the approved plan ``stored`` (the dry run's report, parsed) with the fresh ``planned``."""
    if not isinstance(stored, Mapping) or not isinstance(stored.get("plan"), list):
        return ApprovalCheck(0, (), f"the approved plan {location} is not a membership plan report")
    if stored.get("organization_id") != planned.org:
        return ApprovalCheck(
            0,
            (),
            f"the approved plan {location} is for organization {stored.get('organization_id')!r}, "
            f"not {planned.org!r}",
        )
    settings = planned.settings.to_report(planned.protected)
    if stored.get("settings") != settings:
        return ApprovalCheck(
            0, (), f"the settings changed since the plan {location} was approved (now {settings})"
        )
    approved = {
        _identity(a.get("action"), a.get("email"), a.get("role"), a.get("team_id"))
        for a in stored["plan"]
        if isinstance(a, Mapping)
    }
    drift = tuple(a for a in planned.plan.actions if _of_action(a) not in approved)
    verdict = planned.settings.check(Plan(actions=list(drift), current_count=planned.plan.current_count))
    # A removal nobody approved is never applied on the strength of an approval, however few: the
    # guards were already overridden once for this run.
    unapproved_removals = [a for a in drift if a.kind == "remove"]
    problem = None
    if not verdict.ok or unapproved_removals:
        listed = ", ".join(f"{a.kind} {a.email}" for a in drift[:_LISTED])
        more = f" and {len(drift) - _LISTED} more" if len(drift) > _LISTED else ""
        why = (
            f"{len(unapproved_removals)} of them remove members nobody approved"
            if unapproved_removals
            else f"they trip the guards on their own: {'; '.join(verdict.violations)}"
        )
        problem = (
            f"the organization changed since the plan {location} was approved: {len(drift)} changes "
            f"are not in the approved plan ({listed}{more}), and {why}"
        )
    return ApprovalCheck(len(approved), drift, problem)
