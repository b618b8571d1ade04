"""The reconcile loop and the guarded apply with an in-memory writer (no server, no Airflow, no sleep)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from xentree_provider.api.errors import (
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeServerError,
    XentreeValidationError,
)
from xentree_provider.membership.reconcile import MemberWriter
from xentree_provider.membership.roster import RosterEntry
from xentree_provider.membership.sync import PlanBlockedError, SyncSettings, plan_sync

ORG = "org_1"


@dataclass
class Fault:
    """Raise ``error`` on a matching call; ``after`` means the change is made first (answer lost)."""

    error: XentreeError
    after: bool = False


@dataclass
class InMemoryOrganization:
    """A :class:`MemberWriter` over a dict, with scripted faults per (method, e-mail) and a call log."""

    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[tuple[str, str], list[Fault]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    applied: list[tuple[str, str]] = field(default_factory=list)
    list_faults: list[XentreeError] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    def seed(self, email: str, role: str, team_id: str | None = "t1") -> None:
        user_id = f"u{next(self.ids)}"
        self.members[user_id] = {"user_id": user_id, "email": email, "role": role, "team_id": team_id}

    def state(self) -> dict[str, tuple[str, str | None]]:
        return {m["email"].lower(): (m["role"], m["team_id"]) for m in self.members.values()}

    def _email_of(self, user_id: str) -> str:
        return str(self.members[user_id]["email"]) if user_id in self.members else user_id

    def _call(self, method: str, email: str) -> Fault | None:
        self.calls.append((method, email))
        pending = self.faults.get((method, email.lower()))
        return pending.pop(0) if pending else None

    def _done(self, method: str, email: str, fault: Fault | None) -> None:
        self.applied.append((method, email.lower()))
        if fault is not None:
            raise fault.error

    def iter_members(self, org_id: str | None = None) -> Iterator[dict[str, Any]]:
        assert org_id == ORG
        self.calls.append(("list", ""))
        if self.list_faults:
            raise self.list_faults.pop(0)
        return iter([dict(m) for m in self.members.values()])

    def add_member(self, email: str, role: str, org_id: str | None = None) -> dict[str, Any]:
        fault = self._call("add", email)
        if fault is not None and not fault.after:
            raise fault.error
        if any(m["email"].lower() == email.lower() for m in self.members.values()):
            raise XentreeConflictError("already a member", status=409, code="ALREADY_MEMBER")
        user_id = f"u{next(self.ids)}"
        self.members[user_id] = {"user_id": user_id, "email": email, "role": role, "team_id": None}
        self._done("add", email, fault)
        return dict(self.members[user_id])

    def _change(
        self, method: str, user_id: str, role: str, team_id: str | None, *, team: bool
    ) -> dict[str, Any]:
        email = self._email_of(user_id)
        fault = self._call(method, email)
        if fault is not None and not fault.after:
            raise fault.error
        if user_id not in self.members:
            raise XentreeNotFoundError("no such member", status=404)
        member = self.members[user_id]
        owners = [m for m in self.members.values() if m["role"] == "owner"]
        if member["role"] == "owner" and role != "owner" and len(owners) == 1:
            raise XentreeConflictError("the last owner cannot be demoted", status=409)
        member["role"] = role
        if team:
            member["team_id"] = team_id
        self._done(method, email, fault)
        return dict(member)

    def update_member_role(self, user_id: str, role: str, org_id: str | None = None) -> dict[str, Any]:
        return self._change("patch", user_id, role, None, team=False)

    def replace_member(
        self, user_id: str, role: str, *, team_id: str | None = None, org_id: str | None = None
    ) -> dict[str, Any]:
        return self._change("put", user_id, role, team_id, team=True)

    def remove_member(self, user_id: str, org_id: str | None = None) -> None:
        email = self._email_of(user_id)
        fault = self._call("delete", email)
        if fault is not None and not fault.after:
            raise fault.error
        if user_id not in self.members:
            raise XentreeNotFoundError("no such member", status=404)
        if self.members[user_id]["role"] == "owner":
            raise XentreeConflictError("the last owner cannot be removed", status=409)
        del self.members[user_id]
        self._done("delete", email, fault)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "list"]


def want(email: str, role: str = "member", team: str | None = None) -> RosterEntry:
    return RosterEntry(email, role, team, "line 1")


def organization() -> InMemoryOrganization:
    org = InMemoryOrganization()
    org.seed("boss@x.io", "owner")
    for name in ("ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy"):
        org.seed(f"{name}@x.io", "member")
    return org


def roster_of(org: InMemoryOrganization) -> list[RosterEntry]:
    return [want(m["email"], m["role"], m["team_id"]) for m in org.members.values()]


LOOSE = SyncSettings(remove_missing=True, max_removals=None, max_changes_ratio=None)


def sync(org: InMemoryOrganization, desired: list[RosterEntry], settings: SyncSettings = LOOSE) -> Any:
    writer: MemberWriter = org
    planned = plan_sync(ORG, desired, writer, settings)
    reconciler = planned.reconciler(writer, sleep=lambda _seconds: None)
    reconciler.run()
    return reconciler


def changed(org: InMemoryOrganization) -> list[RosterEntry]:
    """ann promoted, bob to team t2, cat and dan left out, two new members (one with a team)."""
    rows = [r for r in roster_of(org) if r.email not in ("cat@x.io", "dan@x.io")]
    rows = [
        want(r.email, "manager", r.team_id)
        if r.email == "ann@x.io"
        else want(r.email, r.role, "t2")
        if r.email == "bob@x.io"
        else r
        for r in rows
    ]
    return [*rows, want("New@X.io"), want("new2@x.io", "admin", "t3")]


def expected(org: InMemoryOrganization) -> dict[str, tuple[str, str | None]]:
    state = {e: v for e, v in org.state().items() if e not in ("cat@x.io", "dan@x.io")}
    state["ann@x.io"] = ("manager", "t1")
    state["bob@x.io"] = ("member", "t2")
    state["new@x.io"] = ("member", None)
    state["new2@x.io"] = ("admin", "t3")
    return state


def test_converges_with_one_write_per_change() -> None:
    org = organization()
    goal = expected(org)
    reconciler = sync(org, changed(org))
    assert org.state() == goal
    assert sorted(org.writes()) == sorted(
        [
            ("add", "New@X.io"),
            ("add", "new2@x.io"),
            ("put", "new2@x.io"),  # the new member's team
            ("patch", "ann@x.io"),
            ("put", "bob@x.io"),
            ("delete", "cat@x.io"),
            ("delete", "dan@x.io"),
        ]
    )
    assert reconciler.rounds_made == 1
    assert all(o.status == "done" and o.tries == 1 for o in reconciler.outcomes.values())
    # A second run finds nothing to do and writes nothing.
    org.calls.clear()
    again = sync(org, changed(org))
    assert again.outcomes == {} and org.writes() == []


def test_409_on_add_counts_as_done_and_404_on_remove_too() -> None:
    org = organization()
    desired = [*roster_of(org), want("late@x.io")]
    desired = [r for r in desired if r.email != "ivy@x.io"]
    planned = plan_sync(ORG, desired, org, LOOSE)
    # Someone else adds late@ and removes ivy@ between the plan and the apply.
    org.seed("late@x.io", "member", None)
    del org.members[next(k for k, m in org.members.items() if m["email"] == "ivy@x.io")]
    reconciler = planned.reconciler(org, sleep=lambda _s: None)
    outcomes = reconciler.run()
    assert outcomes["late@x.io"].status == "done"
    assert outcomes["late@x.io"].detail == "already a member (ALREADY_MEMBER)"
    assert outcomes["ivy@x.io"].status == "done" and outcomes["ivy@x.io"].detail == "already removed"
    assert [w.outcome for w in reconciler.writes] == ["already a member", "already removed"]
    assert reconciler.rounds_made == 1


def test_lost_answers_are_confirmed_by_re_reading_never_resent() -> None:
    org = organization()
    lost = XentreeConnectionError("connection reset", request_sent=True)
    org.faults = {
        ("add", "new@x.io"): [Fault(lost, after=True)],  # took effect, answer lost
        ("delete", "cat@x.io"): [Fault(lost, after=True)],
        ("add", "new2@x.io"): [Fault(XentreeServerError("bad gateway", status=502))],  # never applied
    }
    goal = expected(org)
    reconciler = sync(org, changed(org))
    assert org.state() == goal
    assert org.applied.count(("add", "new@x.io")) == 1
    assert org.calls.count(("add", "New@X.io")) == 1, "the add whose answer was lost is not resent"
    assert org.calls.count(("delete", "cat@x.io")) == 1
    assert org.calls.count(("add", "new2@x.io")) == 2, "the add that never took effect is resent"
    outcomes = reconciler.outcomes
    assert outcomes["new@x.io"].detail is not None
    assert outcomes["new@x.io"].detail.startswith("confirmed by re-reading the members")
    assert outcomes["new2@x.io"].tries == 2
    assert reconciler.rounds_made == 2
    assert org.calls.count(("list", "")) == 2  # the plan's read and one re-read
    assert [w.outcome for w in reconciler.writes if w.email == "New@X.io"] == ["unknown"]


def test_nothing_is_done_twice_under_repeated_faults() -> None:
    org = organization()
    goal = expected(org)
    lost = XentreeConnectionError("reset", request_sent=True)
    busy = XentreeServerError("unavailable", status=503)
    for email in ("new@x.io", "new2@x.io", "cat@x.io", "dan@x.io", "ann@x.io", "bob@x.io"):
        method = {"new@x.io": "add", "new2@x.io": "add", "cat@x.io": "delete", "dan@x.io": "delete"}.get(
            email, "patch" if email == "ann@x.io" else "put"
        )
        org.faults[(method, email)] = [Fault(busy), Fault(lost, after=True)]
    reconciler = sync(org, changed(org))
    assert org.state() == goal
    for change in set(org.applied):
        assert org.applied.count(change) == 1, change
    assert all(o.status == "done" for o in reconciler.outcomes.values())


def test_a_permanent_failure_is_not_retried_and_the_others_complete() -> None:
    org = organization()
    org.faults[("put", "bob@x.io")] = [Fault(XentreeValidationError("INVALID_TEAM", status=422))]
    reconciler = sync(org, changed(org))
    outcomes = reconciler.outcomes
    assert outcomes["bob@x.io"].status == "failed" and outcomes["bob@x.io"].tries == 1
    assert [o.status for k, o in outcomes.items() if k != "bob@x.io"] == ["done"] * 5
    assert org.calls.count(("put", "bob@x.io")) == 1


def test_rounds_are_bounded() -> None:
    org = organization()
    busy = XentreeServerError("unavailable", status=503)
    org.faults[("add", "new@x.io")] = [Fault(busy) for _ in range(10)]
    settings = SyncSettings(
        remove_missing=True, max_removals=None, max_changes_ratio=None, reconcile_rounds=2
    )
    reconciler = sync(org, changed(org), settings)
    assert reconciler.outcomes["new@x.io"].status == "failed"
    assert "not converged after 3 rounds" in str(reconciler.outcomes["new@x.io"].detail)
    assert org.calls.count(("add", "New@X.io")) == 3


def test_a_failed_re_read_marks_the_unverified_changes_failed() -> None:
    org = organization()
    org.faults[("add", "new@x.io")] = [Fault(XentreeConnectionError("reset"), after=True)]
    # The plan's own read passes; the re-read after the failure does not.
    writer = org
    planned = plan_sync(ORG, changed(org), writer, LOOSE)
    org.list_faults = [XentreeServerError("down", status=500)]
    reconciler = planned.reconciler(writer, sleep=lambda _s: None)
    outcomes = reconciler.run()
    assert outcomes["new@x.io"].status == "failed"
    assert "members re-read failed" in str(outcomes["new@x.io"].detail)
    assert org.calls.count(("add", "New@X.io")) == 1


def test_auth_errors_stop_at_once_and_keep_the_writes_made() -> None:
    org = organization()
    denied = XentreePermissionError("missing scope", status=403)
    org.faults[("add", "new2@x.io")] = [Fault(denied)]
    planned = plan_sync(ORG, changed(org), org, LOOSE)
    reconciler = planned.reconciler(org, sleep=lambda _s: None)
    with pytest.raises(XentreePermissionError):
        reconciler.run()
    assert [(w.action, w.email, w.outcome) for w in reconciler.writes] == [
        ("add", "New@X.io", "done"),
        ("add", "new2@x.io", "failed"),
    ]


def test_guards_are_checked_before_the_first_write() -> None:
    org = organization()
    before = org.state()
    truncated = roster_of(org)[:3]  # 7 of 10 members would go
    planned = plan_sync(ORG, truncated, org, SyncSettings(remove_missing=True, max_removals=5))
    assert not planned.guards.ok
    with pytest.raises(PlanBlockedError, match="removes 7 members, more than max_removals=5"):
        planned.reconciler(org)
    assert org.writes() == []
    assert org.calls == [("list", "")]
    assert org.state() == before


def test_the_last_owner_is_never_touched() -> None:
    org = organization()
    # The roster demotes the sole owner and moves her team; another run leaves her out entirely.
    demoting = [want("boss@x.io", "member", "t9"), *roster_of(org)[1:]]
    reconciler = sync(org, demoting)
    assert reconciler.outcomes == {}
    missing = roster_of(org)[1:]
    reconciler = sync(org, missing)
    assert reconciler.outcomes == {}
    assert org.writes() == []
    assert org.state()["boss@x.io"] == ("owner", "t1")
