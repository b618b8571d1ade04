"""The membership plan: what to change so an organization matches its roster, and the safety guards.

Pure functions over plain data (no Airflow, no HTTP), so every rule is unit-tested:

* members are matched by e-mail, trimmed and case-insensitive;
* adds, role changes, team changes and (only with ``remove_missing``) removals are planned;
* owners and members matching a ``protected`` pattern are never removed or demoted; when the
  organization has a single owner, that owner is never touched at all;
* the guards (``max_removals``, ``max_changes_ratio`` with its floor ``min_changes_allowed``) are checked on
  the whole plan before any write.
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
    "check_guards",
    "compute_plan",
    "current_members",
    "format_plan_table",
    "is_protected",
    "role_rank",
]

ActionKind = Literal["add", "update", "remove"]
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
                role=str(record.get("role") or "member"),
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


@dataclass
class Plan:
    """Everything the sync would do to one organization, and what it leaves alone."""

    actions: list[Action] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    unchanged: int = 0
    kept: int = 0
    current_count: int = 0
    desired_count: int = 0

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
        }


def compute_plan(
    desired: Sequence[RosterEntry],
    current: Sequence[CurrentMember],
    *,
    remove_missing: bool = False,
    protected: Sequence[str] = (),
) -> Plan:
    """Compare the roster with the current members and return the plan (adds, updates, removals)."""
    by_key = {m.key: m for m in current}
    owners = [m for m in current if m.role == "owner"]
    last_owner = owners[0].key if len(owners) == 1 else None
    plan = Plan(current_count=len(current), desired_count=len(desired))

    for entry in desired:
        member = by_key.get(entry.key)
        if member is None:
            plan.actions.append(Action("add", entry.email, role=entry.role, team_id=entry.team_id))
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
        if member.key in wanted_keys:
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
        plan.actions.append(
            Action(
                "remove",
                member.email,
                user_id=member.user_id,
                from_role=member.role,
                from_team_id=member.team_id,
            )
        )
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

    The changes allowed are ``max(min_changes_allowed, max_changes_ratio * current members)``, so a
    small or empty organization may always make ``min_changes_allowed`` changes.
    """
    removals = len(plan.of_kind("remove"))
    changes = plan.changes
    violations = []
    if max_removals is not None and removals > max_removals:
        violations.append(f"the plan removes {removals} members, more than max_removals={max_removals}")
    max_changes = None
    if max_changes_ratio is not None:
        by_ratio = max_changes_ratio * plan.current_count
        max_changes = max(float(min_changes_allowed), by_ratio)
        if changes > max_changes and by_ratio >= min_changes_allowed:
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
    if not rows:
        return "(no changes)"
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    hidden = len(plan.actions) + len(plan.skipped) - len(rows)
    if hidden > 0:
        lines.append(f"... and {hidden} more rows (see the report)")
    return "\n".join(lines)
