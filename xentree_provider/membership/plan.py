"""The membership plan: what to change so an organization matches its roster, and the safety guards.

Pure functions over plain data (no Airflow, no HTTP), so every rule is unit-tested:

* members are matched by e-mail, trimmed and case-insensitive;
* adds, role changes, team changes and (only with ``remove_missing``) removals are planned;
* owners and members matching a ``protected`` pattern are never removed or demoted; when the
  organization has a single owner, that owner is never touched at all;
* a member whose role in Xentree's list is missing or unknown (after trimming and lower-casing) cannot
  be classified, so it is never changed or removed, only listed;
* with ``remove_after_missing_runs=N`` a member is removed only when absent from N consecutive runs
  (the counts come from the previous report); ``removal_mode="report_only"`` plans removals but puts
  them aside, never into the actions;
* the guards (``max_removals``, ``max_changes_ratio`` with its floor ``min_changes_allowed``, which
  only ever permits additions and role or team changes, never removals) are checked on the whole plan
  before any write.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xentree_provider.membership.roster import ROLES, RosterEntry, normalize_email

__all__ = [
    "Action",
    "CurrentMember",
    "GuardCheck",
    "Plan",
    "Skip",
    "Waiting",
    "check_guards",
    "compute_plan",
    "current_members",
    "format_plan_table",
    "is_protected",
    "normalize_role",
    "role_rank",
]

ActionKind = Literal["add", "update", "remove"]
RemovalMode = Literal["delete", "report_only"]
_KIND_ORDER = {"add": 0, "update": 1, "remove": 2}


def role_rank(role: str | None) -> int:
    """Higher is more powerful: owner 3, admin 2, manager 1, member 0 (unknown roles -1)."""
    try:
        return len(ROLES) - 1 - ROLES.index(str(role))
    except ValueError:
        return -1


def is_protected(email: str, patterns: Iterable[str]) -> bool:
    """Whether ``email`` matches one of the shell-style ``patterns`` (case-insensitive)."""
    key = normalize_email(email)
    return any(fnmatch.fnmatchcase(key, normalize_email(p)) for p in patterns if p and p.strip())


def normalize_role(value: Any) -> str:
    """A listed role as one of ``ROLES`` when it matches one (trimmed, case-insensitive), else as given.

    A missing role becomes ``""``; anything not in ``ROLES`` marks a member the sync cannot classify.
    """
    if value is None:
        return ""
    text = str(value)
    folded = text.strip().lower()
    return folded if folded in ROLES else text


@dataclass(frozen=True)
class CurrentMember:
    """A member as Xentree lists it (only the fields the sync looks at)."""

    user_id: str
    email: str
    role: str
    team_id: str | None

    @property
    def key(self) -> str:
        """The e-mail's comparison key."""
        return normalize_email(self.email)

    @property
    def role_known(self) -> bool:
        """Whether the role is one of ``ROLES`` (else the member is never changed or removed)."""
        return self.role in ROLES


def current_members(records: Iterable[Mapping[str, Any]]) -> list[CurrentMember]:
    """Turn listed member records into :class:`CurrentMember` (records without e-mail are skipped)."""
    members = []
    for record in records:
        email = record.get("email")
        user_id = record.get("user_id") or record.get("id")
        if not email or not user_id:
            continue
        members.append(
            CurrentMember(
                user_id=str(user_id),
                email=str(email),
                role=normalize_role(record.get("role")),
                team_id=str(record["team_id"]) if record.get("team_id") else None,
            )
        )
    return members


@dataclass(frozen=True)
class Action:
    """One write of the plan.

    ``add``: ``role`` and ``team_id`` are the new member's. ``update``: the member's new ``role`` and
    ``team_id`` (``from_*`` are the current values; ``team_change`` says whether PUT is needed or a PATCH
    of the role suffices). ``remove``: ``from_*`` describe the member removed.
    """

    kind: ActionKind
    email: str
    user_id: str | None = None
    role: str | None = None
    team_id: str | None = None
    from_role: str | None = None
    from_team_id: str | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        """The e-mail's comparison key."""
        return normalize_email(self.email)

    @property
    def team_change(self) -> bool:
        """Whether an update changes the team (needs the PUT endpoint)."""
        return self.kind == "update" and self.team_id != self.from_team_id

    @property
    def role_change(self) -> bool:
        """Whether an update changes the role."""
        return self.kind == "update" and self.role != self.from_role

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        data: dict[str, Any] = {"action": self.kind, "email": self.email}
        if self.user_id:
            data["user_id"] = self.user_id
        if self.kind == "add":
            data.update(role=self.role, team_id=self.team_id)
        elif self.kind == "update":
            data.update(
                role=self.role, from_role=self.from_role, team_id=self.team_id, from_team_id=self.from_team_id
            )
        else:
            data.update(from_role=self.from_role, from_team_id=self.from_team_id)
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class Skip:
    """A change the roster asks for but the safety rules refuse (reported, never applied)."""

    email: str
    wanted: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        return {"email": self.email, "wanted": self.wanted, "reason": self.reason}


@dataclass(frozen=True)
class Waiting:
    """A member absent from the roster, not removed yet: absent from ``missing_runs`` of ``needed`` runs."""

    email: str
    missing_runs: int
    needed: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        return {"email": self.email, "missing_runs": self.missing_runs, "removed_after": self.needed}


@dataclass
class Plan:
    """Everything the sync would do to one organization, and what it leaves alone.

    ``missing_runs`` holds, per e-mail key, for how many consecutive runs (this one included) each
    removable member has been absent from the roster; the next run's grace count starts from it.
    """

    actions: list[Action] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0
    current_count: int = 0
    desired_count: int = 0
    unclassified: list[Skip] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    reported_removals: list[Action] = field(default_factory=list)
    missing_runs: dict[str, int] = field(default_factory=dict)

    def of_kind(self, kind: ActionKind) -> list[Action]:
        """The actions of one kind, in plan order."""
        return [a for a in self.actions if a.kind == kind]

    @property
    def changes(self) -> int:
        """Members the plan changes (adds + updates + removals)."""
        return len(self.actions)

    def summary(self) -> dict[str, int]:
        """Counts per category."""
        return {
            "current_members": self.current_count,
            "roster_members": self.desired_count,
            "add": len(self.of_kind("add")),
            "update": len(self.of_kind("update")),
            "remove": len(self.of_kind("remove")),
            "unchanged": self.unchanged,
            "skipped": len(self.skipped),
            "kept_not_in_roster": self.kept,
            "unknown_role": len(self.unclassified),
            "waiting_removal": len(self.waiting),
            "remove_reported_only": len(self.reported_removals),
        }


def compute_plan(
    desired: Sequence[RosterEntry],
    current: Sequence[CurrentMember],
    *,
    remove_missing: bool = False,
    protected: Sequence[str] = (),
    remove_after_missing_runs: int = 1,
    missing_runs: Mapping[str, int] | None = None,
    removal_mode: RemovalMode = "delete",
) -> Plan:
    """Compare the roster with the current members and return the plan (adds, updates, removals).

    ``missing_runs`` are the previous run's counts of consecutive absences (see :class:`Plan`).
    """
    by_key = {m.key: m for m in current}
    owners = [m for m in current if m.role == "owner"]
    last_owner = owners[0].key if len(owners) == 1 else None
    plan = Plan(current_count=len(current), desired_count=len(desired))
    for listed in current:
        if not listed.role_known:
            shown = repr(listed.role) if listed.role.strip() else "missing"
            why = f"role {shown} in Xentree's member list is not one of {', '.join(ROLES)}"
            plan.unclassified.append(Skip(listed.email, "never changed or removed", why))

    for entry in desired:
        member = by_key.get(entry.key)
        if member is None:
            plan.actions.append(Action("add", entry.email, role=entry.role, team_id=entry.team_id))
            continue
        if not member.role_known:
            continue
        role = entry.role
        team = entry.team_id if entry.team_id is not None else member.team_id
        if role == member.role and team == member.team_id:
            plan.unchanged += 1
            continue
        if member.key == last_owner:
            wanted = _describe_update(member, role, team)
            plan.skipped.append(Skip(member.email, wanted, "the last owner is never changed"))
            continue
        if role_rank(role) < role_rank(member.role):
            reason = None
            if member.role == "owner":
                reason = "owners are never demoted"
            elif is_protected(member.email, protected):
                reason = "protected members are never demoted"
            if reason:
                plan.skipped.append(Skip(member.email, f"role {member.role} -> {role}", reason))
                role = member.role
                if team == member.team_id:
                    continue
        plan.actions.append(
            Action(
                "update",
                member.email,
                user_id=member.user_id,
                role=role,
                team_id=team,
                from_role=member.role,
                from_team_id=member.team_id,
            )
        )

    wanted_keys = {entry.key for entry in desired}
    for member in current:
        if member.key in wanted_keys or not member.role_known:
            continue
        if not remove_missing:
            plan.kept += 1
            continue
        reason = None
        if member.role == "owner":
            reason = (
                "the last owner is never changed" if member.key == last_owner else "owners are never removed"
            )
        elif is_protected(member.email, protected):
            reason = "protected members are never removed"
        if reason:
            plan.skipped.append(Skip(member.email, "remove", reason))
            continue
        absent = (missing_runs or {}).get(member.key, 0) + 1
        plan.missing_runs[member.key] = absent
        if absent < remove_after_missing_runs:
            plan.waiting.append(Waiting(member.email, absent, remove_after_missing_runs))
            continue
        removal = Action(
            "remove", member.email, user_id=member.user_id, from_role=member.role, from_team_id=member.team_id
        )
        (plan.reported_removals if removal_mode == "report_only" else plan.actions).append(removal)
    # Adds first, then updates with promotions before demotions, removals last.
    plan.actions.sort(key=lambda a: (_KIND_ORDER[a.kind], -role_rank(a.role) if a.kind == "update" else 0))
    return plan


def _describe_update(member: CurrentMember, role: str, team: str | None) -> str:
    parts = []
    if role != member.role:
        parts.append(f"role {member.role} -> {role}")
    if team != member.team_id:
        parts.append(f"team {member.team_id or '-'} -> {team or '-'}")
    return ", ".join(parts)


@dataclass(frozen=True)
class GuardCheck:
    """The guards' verdict on a plan."""

    removals: int
    changes: int
    current_count: int
    max_removals: int | None
    max_changes: float | None
    violations: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no guard trips."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        return {
            "removals": self.removals,
            "changes": self.changes,
            "current_members": self.current_count,
            "max_removals": self.max_removals,
            "max_changes": self.max_changes,
            "violations": list(self.violations),
            "blocked": not self.ok,
        }


def check_guards(
    plan: Plan,
    *,
    max_removals: int | None,
    max_changes_ratio: float | None,
    min_changes_allowed: int = 0,
) -> GuardCheck:
    """Check the whole plan against the guards; ``None`` switches a guard off.

    The changes allowed are ``max_changes_ratio * current members``; a plan without removals may
    always make ``min_changes_allowed`` changes (so a small or empty organization can be filled), but
    the floor never lets a removal through: a plan with removals is held to the ratio alone.
    """
    removals = len(plan.of_kind("remove"))
    changes = plan.changes
    violations = []
    if max_removals is not None and removals > max_removals:
        violations.append(f"the plan removes {removals} members, more than max_removals={max_removals}")
    max_changes = None
    if max_changes_ratio is not None:
        by_ratio = max_changes_ratio * plan.current_count
        floor = float(min_changes_allowed) if removals == 0 else 0.0
        max_changes = max(floor, by_ratio)
        if changes > max_changes and removals and changes <= min_changes_allowed:
            violations.append(
                f"the plan changes {changes} of {plan.current_count} members, {removals} of them "
                f"removals, more than max_changes_ratio={max_changes_ratio:g} allows ({by_ratio:g}); "
                f"min_changes_allowed={min_changes_allowed} only permits additions and role changes, "
                "never removals"
            )
        elif changes > max_changes and by_ratio >= floor:
            violations.append(
                f"the plan changes {changes} of {plan.current_count} members, more than "
                f"max_changes_ratio={max_changes_ratio:g} allows ({max_changes:g})"
            )
        elif changes > max_changes:
            violations.append(
                f"the plan changes {changes} of {plan.current_count} members, more than "
                f"min_changes_allowed={min_changes_allowed} allows (max_changes_ratio="
                f"{max_changes_ratio:g} alone allows {by_ratio:g})"
            )
    return GuardCheck(
        removals=removals,
        changes=changes,
        current_count=plan.current_count,
        max_removals=max_removals,
        max_changes=max_changes,
        violations=tuple(violations),
    )


def format_plan_table(plan: Plan, *, limit: int = 200, outcomes: Mapping[str, str] | None = None) -> str:
    """A readable fixed-width table of the plan (and of each action's outcome when given)."""
    headers = ["action", "email", "role", "team", "result" if outcomes is not None else "note"]
    rows: list[list[str]] = []
    for action in plan.actions[:limit]:
        if action.kind == "add":
            role, team = action.role or "", action.team_id or "-"
        elif action.kind == "remove":
            role, team = action.from_role or "", action.from_team_id or "-"
        else:
            role = f"{action.from_role} -> {action.role}" if action.role_change else (action.role or "")
            team = (
                f"{action.from_team_id or '-'} -> {action.team_id or '-'}"
                if action.team_change
                else (action.team_id or "-")
            )
        last = (outcomes or {}).get(action.key, "") if outcomes is not None else (action.note or "")
        rows.append([action.kind, action.email, role, team, last])
    for skip in plan.skipped[: max(0, limit - len(rows))]:
        rows.append(["skip", skip.email, skip.wanted, "", skip.reason])
    for odd in plan.unclassified[: max(0, limit - len(rows))]:
        rows.append(["protect", odd.email, odd.wanted, "", odd.reason])
    for wait in plan.waiting[: max(0, limit - len(rows))]:
        note = f"absent from {wait.missing_runs} of the {wait.needed} runs needed before removal"
        rows.append(["wait", wait.email, "", "", note])
    for removal in plan.reported_removals[: max(0, limit - len(rows))]:
        rows.append(
            ["report", removal.email, removal.from_role or "", "", "removal_mode=report_only: not sent"]
        )
    if not rows:
        return "(no changes)"
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    listed = len(plan.skipped) + len(plan.unclassified) + len(plan.waiting) + len(plan.reported_removals)
    hidden = len(plan.actions) + listed - len(rows)
    if hidden > 0:
        lines.append(f"... and {hidden} more rows (see the report)")
    return "\n".join(lines)
