"""The membership plan and its guards (pure; no server)."""

from __future__ import annotations

import pytest

from xentree_provider.membership.plan import (
    CurrentMember,
    check_guards,
    compute_plan,
    current_members,
    format_plan_table,
    is_protected,
    role_rank,
)
from xentree_provider.membership.roster import RosterEntry


def want(email: str, role: str = "member", team: str | None = None) -> RosterEntry:
    return RosterEntry(email, role, team, "line 1")


def have(email: str, role: str, team: str | None = "t1", user_id: str | None = None) -> CurrentMember:
    return CurrentMember(user_id or f"u-{email.split('@')[0]}", email, role, team)


OWNER = have("boss@x.io", "owner")


def kinds(plan: object) -> list[tuple[str, str]]:
    return [(a.kind, a.email) for a in plan.actions]  # type: ignore[attr-defined]


def test_add_update_remove_and_unchanged() -> None:
    current = [OWNER, have("a@x.io", "member"), have("b@x.io", "member"), have("c@x.io", "admin", "t2")]
    desired = [
        want("BOSS@x.io ", "owner"),
        want("a@x.io", "manager"),  # role only -> PATCH
        want("c@x.io", "admin", "t3"),  # team only -> PUT
        want("new@x.io", "member", "t1"),
    ]
    plan = compute_plan(desired, current, remove_missing=True)
    # updates to higher roles first (c becomes admin, a manager)
    assert kinds(plan) == [
        ("add", "new@x.io"),
        ("update", "c@x.io"),
        ("update", "a@x.io"),
        ("remove", "b@x.io"),
    ]
    by_email = {a.email: a for a in plan.actions}
    assert by_email["a@x.io"].role_change and not by_email["a@x.io"].team_change
    assert by_email["c@x.io"].team_change and not by_email["c@x.io"].role_change
    assert by_email["b@x.io"].user_id == "u-b"
    assert plan.unchanged == 1
    assert plan.summary() == {
        "current_members": 4,
        "roster_members": 4,
        "add": 1,
        "update": 2,
        "remove": 1,
        "unchanged": 1,
        "skipped": 0,
        "kept_not_in_roster": 0,
        "unknown_role": 0,
        "waiting_removal": 0,
        "remove_reported_only": 0,
    }


def test_missing_members_are_kept_without_remove_missing() -> None:
    plan = compute_plan([want("boss@x.io", "owner")], [OWNER, have("a@x.io", "member")])
    assert plan.actions == []
    assert plan.kept == 1


def test_team_not_given_leaves_the_team_alone() -> None:
    plan = compute_plan(
        [want("boss@x.io", "owner"), want("a@x.io", "member")], [OWNER, have("a@x.io", "member", "t9")]
    )
    assert plan.actions == []
    assert plan.unchanged == 2


def test_protected_members_are_never_removed_or_demoted_but_may_be_promoted() -> None:
    current = [
        OWNER,
        have("svc-bot@x.io", "admin"),
        have("ceo@x.io", "admin"),
        have("lead@x.io", "member"),
        have("gone@x.io", "member"),
    ]
    desired = [
        want("boss@x.io", "owner"),
        want("ceo@x.io", "member", "t2"),  # demotion refused; team change still made
        want("lead@x.io", "manager"),  # promotion of a protected member is fine
    ]
    plan = compute_plan(desired, current, remove_missing=True, protected=["SVC-*@x.io", "ceo@x.io", "lead@*"])
    assert kinds(plan) == [("update", "ceo@x.io"), ("update", "lead@x.io"), ("remove", "gone@x.io")]
    ceo = plan.actions[0]
    assert (ceo.role, ceo.team_id, ceo.role_change) == ("admin", "t2", False)
    assert [s.to_dict() for s in plan.skipped] == [
        {
            "email": "ceo@x.io",
            "wanted": "role admin -> member",
            "reason": "protected members are never demoted",
        },
        {"email": "svc-bot@x.io", "wanted": "remove", "reason": "protected members are never removed"},
    ]


def test_owners_are_never_removed_or_demoted() -> None:
    current = [
        have("o1@x.io", "owner"),
        have("o2@x.io", "owner"),
        have("o3@x.io", "owner"),
        have("m@x.io", "member"),
    ]
    desired = [want("o1@x.io", "owner", "t5"), want("o2@x.io", "admin"), want("m@x.io", "member")]
    plan = compute_plan(desired, current, remove_missing=True)
    # With several owners, an owner's team may change; demotion and removal are refused.
    assert kinds(plan) == [("update", "o1@x.io")]
    assert [(s.email, s.reason) for s in plan.skipped] == [
        ("o2@x.io", "owners are never demoted"),
        ("o3@x.io", "owners are never removed"),
    ]


def test_the_last_owner_is_never_touched() -> None:
    current = [OWNER, have("m@x.io", "member")]
    plan = compute_plan([want("boss@x.io", "owner", "t7"), want("m@x.io", "member")], current)
    assert plan.actions == []
    assert [(s.wanted, s.reason) for s in plan.skipped] == [
        ("team t1 -> t7", "the last owner is never changed")
    ]
    plan = compute_plan([want("m@x.io", "member")], current, remove_missing=True)
    assert plan.actions == []
    assert [(s.wanted, s.reason) for s in plan.skipped] == [("remove", "the last owner is never changed")]


def test_promotions_come_before_demotions_and_removals_last() -> None:
    current = [OWNER, have("a@x.io", "admin"), have("b@x.io", "member"), have("c@x.io", "member")]
    desired = [
        want("boss@x.io", "owner"),
        want("a@x.io", "member"),
        want("b@x.io", "owner"),
        want("d@x.io", "member"),
    ]
    plan = compute_plan(desired, current, remove_missing=True)
    assert kinds(plan) == [
        ("add", "d@x.io"),
        ("update", "b@x.io"),
        ("update", "a@x.io"),
        ("remove", "c@x.io"),
    ]


def test_guards() -> None:
    current = [OWNER] + [have(f"m{i}@x.io", "member") for i in range(19)]
    plan = compute_plan(
        [want("boss@x.io", "owner")] + [want(f"m{i}@x.io", "member") for i in range(16)],
        current,
        remove_missing=True,
    )
    assert len(plan.of_kind("remove")) == 3
    ok = check_guards(plan, max_removals=3, max_changes_ratio=0.15)  # 3 of 20 = 0.15 exactly: allowed
    assert ok.ok
    assert ok.to_dict()["max_changes"] == pytest.approx(3.0)
    blocked = check_guards(plan, max_removals=2, max_changes_ratio=0.1)
    assert not blocked.ok
    assert blocked.violations == (
        "the plan removes 3 members, more than max_removals=2",
        "the plan changes 3 of 20 members, more than max_changes_ratio=0.1 allows (2)",
    )
    assert blocked.to_dict()["blocked"] is True
    assert check_guards(plan, max_removals=None, max_changes_ratio=None).ok
    assert not check_guards(plan, max_removals=0, max_changes_ratio=None).ok


def test_ratio_guard_counts_every_kind_of_change() -> None:
    current = [OWNER] + [have(f"m{i}@x.io", "member") for i in range(9)]
    desired = [want("boss@x.io", "owner")] + [want(f"m{i}@x.io", "manager") for i in range(3)]
    desired += [want(f"m{i}@x.io", "member") for i in range(3, 9)] + [want("n@x.io", "member")]
    plan = compute_plan(desired, current)
    assert plan.changes == 4
    assert not check_guards(plan, max_removals=10, max_changes_ratio=0.2).ok  # 4 > 0.2 * 10


def test_small_and_empty_organizations_may_make_min_changes_allowed() -> None:
    small = [OWNER] + [have(f"m{i}@x.io", "member") for i in range(3)]
    desired = [want("boss@x.io", "owner")] + [want(f"m{i}@x.io", "member") for i in range(3)]
    plan = compute_plan([*desired, want("new@x.io", "member")], small)
    assert plan.current_count == 4 and plan.changes == 1
    assert not check_guards(plan, max_removals=10, max_changes_ratio=0.2).ok  # the ratio alone: 0.8
    allowed = check_guards(plan, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5)
    assert allowed.ok
    assert allowed.to_dict()["max_changes"] == 5

    empty = compute_plan([want(f"n{i}@x.io", "member") for i in range(6)], [])
    assert empty.current_count == 0
    five = compute_plan([want(f"n{i}@x.io", "member") for i in range(5)], [])
    assert check_guards(five, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5).ok
    blocked = check_guards(empty, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5)
    assert blocked.violations == (
        "the plan changes 6 of 0 members, more than min_changes_allowed=5 allows "
        "(max_changes_ratio=0.2 alone allows 0)",
    )
    # The floor does not lift max_removals, and the ratio still rules when it allows more.
    removing = compute_plan([want("boss@x.io", "owner")], small, remove_missing=True)
    assert len(removing.of_kind("remove")) == 3
    assert not check_guards(removing, max_removals=2, max_changes_ratio=0.2, min_changes_allowed=5).ok
    big = [OWNER] + [have(f"m{i}@x.io", "member") for i in range(49)]
    plan = compute_plan([want(f"m{i}@x.io", "manager") for i in range(8)], big)
    assert check_guards(plan, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5).ok  # 8 <= 10


def test_current_members_from_records() -> None:
    records = [
        {"user_id": "u1", "email": "A@x.io", "role": "admin", "team_id": "t1", "full_name": "A"},
        {"user_id": "u2", "email": "b@x.io", "role": "member", "team_id": None},
        {"user_id": "u3", "email": None},
    ]
    assert current_members(records) == [
        CurrentMember("u1", "A@x.io", "admin", "t1"),
        CurrentMember("u2", "b@x.io", "member", None),
    ]


def test_helpers() -> None:
    assert [role_rank(r) for r in ("owner", "admin", "manager", "member", "other")] == [3, 2, 1, 0, -1]
    assert is_protected(" CEO@X.io", ["ceo@x.io"])
    assert not is_protected("ceo@x.io", ["", "  "])


def test_format_plan_table() -> None:
    current = [OWNER, have("a@x.io", "member", "t1"), have("b@x.io", "member")]
    plan = compute_plan(
        [want("boss@x.io", "admin"), want("a@x.io", "manager", "t2"), want("new@x.io", "member")],
        current,
        remove_missing=True,
    )
    table = format_plan_table(plan)
    lines = table.splitlines()
    assert lines[0].split() == ["action", "email", "role", "team", "note"]
    assert [line.split() for line in lines if line.startswith("update")] == [
        ["update", "a@x.io", "member", "->", "manager", "t1", "->", "t2"]
    ]
    assert lines[-1].startswith("skip    boss@x.io")
    assert "the last owner is never changed" in lines[-1]
    outcome = format_plan_table(plan, outcomes={"a@x.io": "done"}, limit=1)
    assert outcome.splitlines()[-1] == "... and 3 more rows (see the report)"
    assert format_plan_table(compute_plan([], [])) == "(no changes)"


def test_the_floor_never_lets_a_removal_through() -> None:
    """Six members, an empty roster: the floor of 5 changes must not permit the 5 removals."""
    six = [OWNER] + [have(f"m{i}@x.io", "member") for i in range(5)]
    wipe = compute_plan([], six, remove_missing=True)
    assert len(wipe.of_kind("remove")) == 5
    verdict = check_guards(wipe, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5)
    assert not verdict.ok
    assert verdict.violations == (
        "the plan changes 5 of 6 members, 5 of them removals, more than max_changes_ratio=0.2 allows "
        "(1.2); min_changes_allowed=5 only permits additions and role changes, never removals",
    )
    # One removal among additions: the ratio alone rules (1.2 allowed), so two changes are blocked...
    mixed = compute_plan(
        [want("boss@x.io", "owner"), want("new@x.io")] + [want(f"m{i}@x.io") for i in range(4)],
        six,
        remove_missing=True,
    )
    assert [a.kind for a in mixed.actions] == ["add", "remove"]
    assert not check_guards(mixed, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5).ok
    # ...while additions and role changes alone still enjoy the floor.
    growing = compute_plan(
        [want("boss@x.io", "owner"), want("m0@x.io", "admin")]
        + [want(f"n{i}@x.io") for i in range(4)]
        + [want(f"m{i}@x.io") for i in range(1, 5)],
        six,
        remove_missing=True,
    )
    assert growing.changes == 5 and not growing.of_kind("remove")
    assert check_guards(growing, max_removals=10, max_changes_ratio=0.2, min_changes_allowed=5).ok


@pytest.mark.parametrize("role", [None, "", "  ", "superuser", "billing_admin", "owner?"])
def test_a_member_whose_listed_role_is_unknown_is_never_changed_or_removed(role: str | None) -> None:
    records = [
        {"user_id": "u0", "email": "boss@x.io", "role": "owner", "team_id": "t1"},
        {"user_id": "u1", "email": "odd@x.io", "role": role, "team_id": "t1"},
        {"user_id": "u2", "email": "gone@x.io", "role": "member", "team_id": "t1"},
    ]
    if role is None:
        del records[1]["role"]
    current = current_members(records)
    # Left out of the roster (with remove_missing), or asked for another role or team: untouched.
    for desired in (
        [want("boss@x.io", "owner")],
        [want("boss@x.io", "owner"), want("odd@x.io", "admin", "t2")],
    ):
        plan = compute_plan(desired, current, remove_missing=True)
        assert [(a.kind, a.email) for a in plan.actions] == [("remove", "gone@x.io")]
        assert [s.email for s in plan.unclassified] == ["odd@x.io"]
        assert "is not one of owner, admin, manager, member" in plan.unclassified[0].reason
        assert plan.summary()["unknown_role"] == 1
        assert "protect" in format_plan_table(plan)


def test_differently_cased_roles_match_case_insensitively() -> None:
    records = [
        {"user_id": "u0", "email": "boss@x.io", "role": " Owner ", "team_id": "t1"},
        {"user_id": "u1", "email": "a@x.io", "role": "ADMIN", "team_id": "t1"},
        {"user_id": "u2", "email": "b@x.io", "role": "Member", "team_id": "t1"},
    ]
    current = current_members(records)
    assert [m.role for m in current] == ["owner", "admin", "member"]
    # The sole owner (listed as " Owner ") is recognised: never removed, even when missing from the roster.
    plan = compute_plan(
        [want("a@x.io", "admin", "t1"), want("b@x.io", "member", "t1")], current, remove_missing=True
    )
    assert plan.actions == [] and plan.unchanged == 2
    assert [(s.email, s.reason) for s in plan.skipped] == [("boss@x.io", "the last owner is never changed")]


def test_grace_removes_only_after_n_consecutive_missing_runs() -> None:
    current = [OWNER, have("a@x.io", "member"), have("b@x.io", "member"), have("c@x.io", "member")]
    roster = [want("boss@x.io", "owner"), want("c@x.io")]
    first = compute_plan(roster, current, remove_missing=True, remove_after_missing_runs=2)
    assert first.actions == []
    assert [w.to_dict() for w in first.waiting] == [
        {"email": "a@x.io", "missing_runs": 1, "removed_after": 2},
        {"email": "b@x.io", "missing_runs": 1, "removed_after": 2},
    ]
    assert first.missing_runs == {"a@x.io": 1, "b@x.io": 1}
    # b comes back into the roster for a night: its count is gone; a is removed on the second night.
    second = compute_plan(
        [*roster, want("b@x.io")],
        current,
        remove_missing=True,
        remove_after_missing_runs=2,
        missing_runs=first.missing_runs,
    )
    assert [(a.kind, a.email) for a in second.actions] == [("remove", "a@x.io")]
    assert second.missing_runs == {"a@x.io": 2}
    third = compute_plan(
        roster, current, remove_missing=True, remove_after_missing_runs=2, missing_runs=second.missing_runs
    )
    assert [(a.kind, a.email) for a in third.actions] == [("remove", "a@x.io")]
    assert [w.email for w in third.waiting] == ["b@x.io"]


def test_report_only_plans_removals_but_never_puts_them_in_the_actions() -> None:
    current = [OWNER, have("a@x.io", "member"), have("b@x.io", "member")]
    plan = compute_plan(
        [want("boss@x.io", "owner"), want("new@x.io")],
        current,
        remove_missing=True,
        removal_mode="report_only",
    )
    assert [(a.kind, a.email) for a in plan.actions] == [("add", "new@x.io")]
    assert [a.email for a in plan.reported_removals] == ["a@x.io", "b@x.io"]
    assert plan.summary()["remove"] == 0 and plan.summary()["remove_reported_only"] == 2
    assert check_guards(plan, max_removals=0, max_changes_ratio=None).ok
