"""One membership sync without Airflow: its settings, the plan read from the writer, the guarded apply.

:func:`plan_sync` reads the members through the writer and plans; :meth:`PlannedSync.reconciler` is
the only way to a :class:`~xentree_provider.membership.reconcile.Reconciler`, and refuses a plan whose
guards trip (unless a human approved it and it has not drifted since), so no write can ever happen
before the guards were checked on the whole plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from xentree_provider.membership.plan import (
    CurrentMember,
    GuardCheck,
    Plan,
    RemovalMode,
    check_guards,
    compute_plan,
    current_members,
)
from xentree_provider.membership.reconcile import MemberWriter, Reconciler
from xentree_provider.membership.roster import RosterEntry

__all__ = ["GuardMode", "PlanBlockedError", "PlannedSync", "SyncSettings", "plan_sync"]

GuardMode = Literal["fail", "request_approval"]


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    allow_empty_source: bool = False
    remove_after_missing_runs: int = 1
    removal_mode: RemovalMode = "delete"
    on_guard: GuardMode = "fail"

    def __post_init__(self) -> None:
        if self.max_removals is not None and (not _whole(self.max_removals) or self.max_removals < 0):
            raise ValueError(f"max_removals must be >= 0 or None, got {self.max_removals}")
        if self.max_changes_ratio is not None and not (
            isinstance(self.max_changes_ratio, int | float)
            and not isinstance(self.max_changes_ratio, bool)
            and 0 <= self.max_changes_ratio < float("inf")
        ):
            raise ValueError(f"max_changes_ratio must be >= 0 or None, got {self.max_changes_ratio}")
        if not _whole(self.min_changes_allowed) or self.min_changes_allowed < 0:
            raise ValueError(f"min_changes_allowed must be an integer >= 0, got {self.min_changes_allowed!r}")
        if not _whole(self.reconcile_rounds) or self.reconcile_rounds < 0:
            raise ValueError(f"reconcile_rounds must be >= 0, got {self.reconcile_rounds}")
        if not _whole(self.remove_after_missing_runs) or self.remove_after_missing_runs < 1:
            raise ValueError(
                f"remove_after_missing_runs must be an integer >= 1, got {self.remove_after_missing_runs!r}"
            )
        if self.removal_mode not in ("delete", "report_only"):
            raise ValueError(f"removal_mode must be 'delete' or 'report_only', got {self.removal_mode!r}")
        if self.on_guard not in ("fail", "request_approval"):
            raise ValueError(f"on_guard must be 'fail' or 'request_approval', got {self.on_guard!r}")
        for name in ("remove_missing", "allow_empty_source"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def plan(
        self,
        desired: Sequence[RosterEntry],
        current: Sequence[CurrentMember],
        protected: Sequence[str],
        missing_runs: Mapping[str, int] | None = None,
    ) -> Plan:
        """The plan that makes ``current`` follow ``desired`` under these settings."""
        return compute_plan(
            desired,
            current,
            remove_missing=self.remove_missing,
            protected=protected,
            remove_after_missing_runs=self.remove_after_missing_runs,
            missing_runs=missing_runs,
            removal_mode=self.removal_mode,
        )

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
            "allow_empty_source": self.allow_empty_source,
            "remove_after_missing_runs": self.remove_after_missing_runs,
            "removal_mode": self.removal_mode,
            "on_guard": self.on_guard,
        }


class PlanBlockedError(RuntimeError):
    """A plan whose guards trip was about to be applied without a valid approval; nothing was written."""


@dataclass(frozen=True)
class PlannedSync:
    """A plan for one organization with the guards' verdict, ready to apply."""

    org: str
    desired: list[RosterEntry]
    protected: list[str]
    settings: SyncSettings
    plan: Plan
    guards: GuardCheck
    missing_runs: Mapping[str, int] | None = None

    def replan(self, fresh: Sequence[CurrentMember]) -> Plan:
        """The plan again, from freshly read members (used between reconcile rounds)."""
        return self.settings.plan(self.desired, fresh, self.protected, self.missing_runs)

    def reconciler(self, writer: MemberWriter, *, approved: bool = False, **options: Any) -> Reconciler:
        """A reconciler for this plan (``options`` as :class:`Reconciler`).

        A plan whose guards trip is refused unless ``approved`` (a human approved it and
        :func:`~xentree_provider.membership.approval.check_approval` found no drift beyond the guards).
        """
        if not self.guards.ok and not approved:
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
    missing_runs: Mapping[str, int] | None = None,
) -> PlannedSync:
    """Read the members of ``org`` (every page) and plan the sync to ``desired``, guards checked.

    ``missing_runs`` are the previous run's absence counts (see :mod:`~xentree_provider.membership.grace`).
    """
    patterns = list(protected)
    plan = settings.plan(desired, current_members(writer.iter_members(org)), patterns, missing_runs)
    return PlannedSync(org, desired, patterns, settings, plan, settings.check(plan), missing_runs)
