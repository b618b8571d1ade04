"""Airflow-side helpers of the membership sync task: the approval's answer, the approved plan, request ids."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from xentree_provider._task.outputs import output_path
from xentree_provider.membership.approval import ApprovalCheck, check_approval
from xentree_provider.membership.sync import PlannedSync
from xentree_provider.operators._membership_files import read_json, with_org

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["approval_answer", "check_approved_plan", "request_id_tap"]


def approval_answer(context: Context, task_id: str) -> list[str] | None:
    """The options the HITL task ``task_id`` (same map index as this task) was answered with, if any."""
    ti = context["ti"]
    answer = ti.xcom_pull(task_ids=task_id, map_indexes=ti.map_index)
    chosen = answer.get("chosen_options") if isinstance(answer, Mapping) else None
    return [str(option) for option in chosen] if isinstance(chosen, list) else None


def check_approved_plan(
    approved_plan: str, planned: PlannedSync, conn_id: str | None
) -> tuple[ApprovalCheck, str]:
    """Read the approved plan (``{organization_id}`` replaced) and check it against ``planned``."""
    location = output_path(with_org(approved_plan, planned.org), conn_id)
    stored, problem = read_json(location)
    if problem is not None:
        return ApprovalCheck(0, (), f"the approved plan cannot be read: {problem}"), str(location)
    return check_approval(stored, planned, location=str(location)), str(location)


def request_id_tap(hook: Any) -> Callable[[], str | None]:
    """A callable giving the ``X-Request-ID`` of the hook's last HTTP response (None if unknown)."""
    last: list[str | None] = [None]

    def remember(response: Any, *_args: Any, **_kwargs: Any) -> Any:
        last[0] = response.headers.get("x-request-id")
        return response

    try:
        hook.get_conn().hooks["response"].append(remember)
    except (AttributeError, KeyError, TypeError):
        return lambda: None
    return lambda: last[0]
