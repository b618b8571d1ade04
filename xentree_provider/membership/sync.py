"""One membership sync without Airflow: its settings, the plan read from the writer, the guarded apply.

:func:`plan_sync` reads the members through the writer and plans; :meth:`PlannedSync.reconciler` is
the only way to a :class:`~xentree_provider.membership.reconcile.Reconciler`, and refuses a plan whose
guards trip, so no write can ever happen before the guards were checked on the whole plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from xentree_provider.membership.plan import (
    CurrentMember,
    GuardCheck,
    Plan,
    check_guards,
    compute_plan,
    current_members,
)
from xentree_provider.membership.reconcile import MemberWriter, Reconciler
from xentree_provider.membership.roster import RosterEntry

__all__ = ["PlanBlockedError", "PlannedSync", "SyncSettings", "plan_sync"]


@dataclass(frozen=True)
class SyncSettings:
    """How a sync plans, guards and reconciles (see the operator's parameters of the same names).

    Building one checks every value and raises ``ValueError`` naming the field.
    """

    remove_missing: bool = False
    max_removals: int | None = 10
    max_changes_ratio: float | None = 0.2
    min_changes_allowed: int = 5
    reconcile_rounds: int = 5

    def __post_init__(self) -> None:
        if self.max_removals is not None and (
            not isinstance(self.max_removals, int)
            or isinstance(self.max_removals, bool)
            or self.max_removals < 0
        ):
            raise ValueError(f"max_removals must be >= 0 or None, got {self.max_removals}")
        if self.max_changes_ratio is not None and not (
            isinstance(self.max_changes_ratio, int | float)
            and not isinstance(self.max_changes_ratio, bool)
            and 0 <= self.max_changes_ratio < float("inf")
        ):
            raise ValueError(f"max_changes_ratio must be >= 0 or None, got {self.max_changes_ratio}")
        if (
            not isinstance(self.min_changes_allowed, int)
            or isinstance(self.min_changes_allowed, bool)
            or self.min_changes_allowed < 0
        ):
            raise ValueError(f"min_changes_allowed must be an integer >= 0, got {self.min_changes_allowed!r}")
        if not isinstance(self.reconcile_rounds, int) or self.reconcile_rounds < 0:
            raise ValueError(f"reconcile_rounds must be >= 0, got {self.reconcile_rounds}")

    def plan(
        self, desired: Sequence[RosterEntry], current: Sequence[CurrentMember], protected: Sequence[str]
    ) -> Plan:
        """The plan that makes ``current`` follow ``desired`` under these settings."""
        return compute_plan(desired, current, remove_missing=self.remove_missing, protected=protected)

    def check(self, plan: Plan) -> GuardCheck:
        """The guards' verdict on ``plan``."""
        return check_guards(
            plan,
            max_removals=self.max_removals,
            max_changes_ratio=self.max_changes_ratio,
            min_changes_allowed=self.min_changes_allowed,
        )

    def to_report(self, protected: Sequence[str]) -> dict[str, Any]:
        """The settings section of the report."""
        return {
            "remove_missing": self.remove_missing,
            "protected": list(protected),
            "max_removals": self.max_removals,
            "max_changes_ratio": self.max_changes_ratio,
            "min_changes_allowed": self.min_changes_allowed,
        }


class PlanBlockedError(RuntimeError):
    """A plan whose guards trip was about to be applied; nothing was written."""


@dataclass(frozen=True)
class PlannedSync:
    """A plan for one organization with the guards' verdict, ready to apply."""

    org: str
    desired: list[RosterEntry]
    protected: list[str]
    settings: SyncSettings
    plan: Plan
    guards: GuardCheck

    def replan(self, fresh: Sequence[CurrentMember]) -> Plan:
        """The plan again, from freshly read members (used between reconcile rounds)."""
        return self.settings.plan(self.desired, fresh, self.protected)

    def reconciler(self, writer: MemberWriter, **options: Any) -> Reconciler:
        """A reconciler for this plan (``options`` as :class:`Reconciler`); refuses a blocked plan."""
        if not self.guards.ok:
            raise PlanBlockedError(
                f"the plan for organization {self.org} trips its guards and is not applied: "
                + "; ".join(self.guards.violations)
            )
        return Reconciler(
            self.org,
            self.plan,
            writer,
            replan=self.replan,
            rounds=self.settings.reconcile_rounds,
            **options,
        )


def plan_sync(
    org: str,
    desired: list[RosterEntry],
    writer: MemberWriter,
    settings: SyncSettings,
    protected: Sequence[str] = (),
) -> PlannedSync:
    """Read the members of ``org`` (every page) and plan the sync to ``desired``, guards checked."""
    patterns = list(protected)
    plan = settings.plan(desired, current_members(writer.iter_members(org)), patterns)
    return PlannedSync(org, desired, patterns, settings, plan, settings.check(plan))
