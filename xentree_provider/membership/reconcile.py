"""The reconcile loop: apply a membership plan through a :class:`MemberWriter`, converging after failures.

Every planned change is tried once per round; one failing member never stops the others. ``409``
"already a member" on an add and ``404`` on a removal count as done. After any failure the members are
read again and only what is still missing is retried (at most the changes of the original plan), so an
add whose response was lost but which took effect is confirmed, never sent twice. No Airflow, no hook:
the writer is anything with the five member methods (the Xentree hook, or an in-memory fake in tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
)
from xentree_provider.api.logs import LoggerLike
from xentree_provider.membership.plan import Action, CurrentMember, Plan, current_members

__all__ = [
    "MemberWriter",
    "Outcome",
    "Reconciler",
    "WriteRecord",
    "is_transient",
]

_LOG = logging.getLogger(__name__)


class MemberWriter(Protocol):
    """What the reconcile loop calls to read and change an organization's members."""

    def iter_members(self, org_id: str | None = None) -> Iterable[Mapping[str, Any]]:
        """Every member of the organization (all pages)."""

    def add_member(self, email: str, role: str, org_id: str | None = None) -> Mapping[str, Any]:
        """Add a member; raise ``XentreeConflictError`` when already a member."""

    def update_member_role(self, user_id: str, role: str, org_id: str | None = None) -> Mapping[str, Any]:
        """Change a member's role."""

    def replace_member(
        self, user_id: str, role: str, *, team_id: str | None = None, org_id: str | None = None
    ) -> Mapping[str, Any]:
        """Set a member's role and team."""

    def remove_member(self, user_id: str, org_id: str | None = None) -> None:
        """Remove a member; raise ``XentreeNotFoundError`` when not a member."""


class _Logger(LoggerLike, Protocol):
    def info(self, event: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Log at INFO."""


@dataclass
class Outcome:
    """What happened to one planned member change."""

    kind: str
    email: str
    status: str = "pending"  # done | failed | retry (transient; not known to have taken effect)
    detail: str | None = None
    tries: int = 0
    permanent: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description for the report."""
        return {
            "email": self.email,
            "action": self.kind,
            "status": self.status,
            "tries": self.tries,
            "detail": self.detail,
        }

    def text(self) -> str:
        """A short text for the log table: status, detail and tries."""
        text = self.status
        if self.detail:
            text += f" ({self.detail})"
        if self.tries > 1:
            text += f" [{self.tries} tries]"
        return text


@dataclass(frozen=True)
class WriteRecord:
    """One write request the sync sent, for the audit log.

    ``outcome`` is ``done``, ``already a member``, ``already removed``, ``failed`` (the server refused;
    nothing changed) or ``unknown`` (the answer was lost: it may have taken effect).
    """

    time: str
    action: str  # add | change_role | change_team | remove
    email: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    outcome: str
    detail: str | None = None
    request_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able line of the audit log (without the organization, added by the writer)."""
        return {
            "time": self.time,
            "action": self.action,
            "email": self.email,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome,
            "detail": self.detail,
            "request_id": self.request_id,
        }


def is_transient(error: XentreeError) -> bool:
    """Whether ``error`` may pass on a later try (or may hide a write that did take effect)."""
    if isinstance(error, XentreeQuotaExceededError):
        return False
    transient = (XentreeConnectionError, XentreeRateLimitError, XentreeResponseError, XentreeServerError)
    return error.maybe_applied or isinstance(error, transient)


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Reconciler:
    """Apply ``plan`` to organization ``org`` through ``writer`` and reconcile until it converges.

    :param replan: computes the plan again from freshly read members (same settings as ``plan``).
    :param rounds: how many re-read-and-retry rounds are allowed after the first try.
    :param wait_seconds: the pause before retry round ``n`` (1-based).
    :param request_id: the request id of the last answered write, if the writer can tell (audit log).

    After :meth:`run` (or an exception out of it) ``outcomes``, ``rounds_made`` and ``writes`` say what
    happened; ``writes`` lists every write sent, even when the run stopped on an auth error.
    """

    org: str
    plan: Plan
    writer: MemberWriter
    replan: Callable[[list[CurrentMember]], Plan]
    rounds: int = 5
    wait_seconds: Callable[[int], float] = lambda _round: 0.0
    sleep: Callable[[float], None] = time.sleep
    log: _Logger = _LOG
    request_id: Callable[[], str | None] = lambda: None
    clock: Callable[[], str] = _utc_now
    outcomes: dict[str, Outcome] = field(init=False)
    rounds_made: int = field(init=False, default=0)
    writes: list[WriteRecord] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.outcomes = {a.key: Outcome(kind=a.kind, email=a.email) for a in self.plan.actions}

    def run(self) -> dict[str, Outcome]:
        """Apply the plan; after failures, re-read the members and retry only what is still to do."""
        planned_removals = {a.key for a in self.plan.of_kind("remove")}
        pending = list(self.plan.actions)
        while pending:
            self.rounds_made += 1
            clean = True
            for action in pending:
                outcome = self.outcomes[action.key]
                self._apply_one(action, outcome)
                clean = clean and outcome.status == "done" and not outcome.detail
            if clean:
                break
            try:
                fresh = current_members(self.writer.iter_members(self.org))
            except (XentreeAuthError, XentreePermissionError):
                raise
            except XentreeError as error:
                for outcome in self.outcomes.values():
                    if outcome.status != "done" or outcome.detail:
                        outcome.status = "failed"
                        outcome.detail = f"{outcome.detail or 'unverified'}; members re-read failed: {error}"
                break
            residual = self.replan(fresh)
            still = {
                a.key: a
                for a in residual.actions
                if a.key in self.outcomes and (a.kind != "remove" or a.key in planned_removals)
            }
            pending = self._still_to_do(still)
            if pending:
                wait = self.wait_seconds(self.rounds_made)
                self.log.warning(
                    "Round %d left %d membership changes to do; retrying them in %.2f s",
                    self.rounds_made,
                    len(pending),
                    wait,
                )
                self.sleep(wait)
        return self.outcomes

    def _still_to_do(self, still: dict[str, Action]) -> list[Action]:
        pending = []
        for key, outcome in self.outcomes.items():
            if key not in still:
                if outcome.status != "done":
                    self.log.info("%s %s: done (confirmed by re-reading the members)", outcome.kind, key)
                    outcome.detail = f"confirmed by re-reading the members after: {outcome.detail}"
                outcome.status = "done"
                continue
            if outcome.permanent:
                outcome.status = "failed"
                continue
            if self.rounds_made > self.rounds:
                outcome.status = "failed"
                outcome.detail = (
                    f"not converged after {self.rounds_made} rounds: {outcome.detail or 'unknown'}"
                )
                continue
            outcome.status = "retry"
            pending.append(still[key])
        return pending

    def _apply_one(self, action: Action, outcome: Outcome) -> None:
        """Make one change; record done, a permanent failure, or a transient one to verify and retry."""
        outcome.tries += 1
        outcome.detail = None
        try:
            if action.kind == "add":
                self._add(action, outcome)
                return
            if action.kind == "update":
                assert action.user_id is not None
                self._write(action, "change_team" if action.team_change else "change_role")
            else:
                assert action.user_id is not None
                try:
                    self._write(action, "remove")
                except XentreeNotFoundError:
                    outcome.status, outcome.detail = "done", "already removed"
                    return
            outcome.status = "done"
        except (XentreeAuthError, XentreePermissionError):
            raise
        except XentreeError as error:
            transient = is_transient(error) or (
                action.kind == "update" and isinstance(error, XentreeNotFoundError)
            )
            outcome.status = "retry" if transient else "failed"
            outcome.permanent = not transient
            outcome.detail = str(error)
            self.log.warning(
                "%s %s failed (%s): %s",
                action.kind,
                action.email,
                "will verify and retry" if transient else "not retried",
                error,
            )

    def _add(self, action: Action, outcome: Outcome) -> None:
        try:
            member = self._write(action, "add")
        except XentreeConflictError as error:
            outcome.status, outcome.detail = "done", f"already a member ({error.code or 'HTTP 409'})"
            return
        user_id = str(member.get("user_id") or "") if isinstance(member, Mapping) else ""
        if action.team_id is not None and user_id and member.get("team_id") != action.team_id:
            self._write(action, "change_team", user_id=user_id)
        outcome.status = "done"

    def _write(self, action: Action, kind: str, *, user_id: str | None = None) -> Any:
        """Send one write through the writer, recording it (and its outcome) for the audit log."""
        role = action.role or "member"
        before: dict[str, Any] | None = None
        if action.kind != "add":
            before = {"role": action.from_role, "team_id": action.from_team_id}
        after: dict[str, Any] | None = {"role": role, "team_id": action.team_id}
        try:
            if kind == "add":
                after = {"role": role}  # the team, if any, is set by the change_team that follows
                result: Any = self.writer.add_member(action.email, role, org_id=self.org)
            elif kind == "change_team":
                if action.kind == "add":
                    before = {"role": role, "team_id": None}
                result = self.writer.replace_member(
                    user_id or str(action.user_id), role, team_id=action.team_id, org_id=self.org
                )
            elif kind == "change_role":
                after = {"role": role, "team_id": action.from_team_id}
                result = self.writer.update_member_role(str(action.user_id), role, org_id=self.org)
            else:
                after = result = None
                self.writer.remove_member(str(action.user_id), org_id=self.org)
        except XentreeError as error:
            self._record(kind, action, before, after, _failure_outcome(kind, error), error)
            raise
        self._record(kind, action, before, after, "done", None)
        return result

    def _record(
        self,
        kind: str,
        action: Action,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        outcome: str,
        error: XentreeError | None,
    ) -> None:
        request_id = error.request_id if error is not None and error.request_id else self.request_id()
        self.writes.append(
            WriteRecord(
                time=self.clock(),
                action=kind,
                email=action.email,
                before=before,
                after=after,
                outcome=outcome,
                detail=str(error) if error is not None else None,
                request_id=request_id,
            )
        )


def _failure_outcome(kind: str, error: XentreeError) -> str:
    if kind == "add" and isinstance(error, XentreeConflictError):
        return "already a member"
    if kind == "remove" and isinstance(error, XentreeNotFoundError):
        return "already removed"
    if isinstance(error, XentreeConnectionError) and not error.request_sent:
        return "failed"
    return "unknown" if is_transient(error) else "failed"
