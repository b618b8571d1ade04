"""``/api/xel``: Xentree English modules, task submission, evaluation and the dashboard."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Paging, Principal
from xentree_provider.testing.responses import fail, now_us, shaped_list, timestamp
from xentree_provider.testing.schemas import Evaluate, TaskSubmit
from xentree_provider.testing.seed import User
from xentree_provider.testing.state import SandboxState

router = APIRouter()
XelReader = Annotated[Principal, Depends(Authenticated("xel:read"))]
XelWriter = Annotated[Principal, Depends(Authenticated("xel:write"))]
CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")


def progress_of(state: SandboxState, user: User) -> dict[str, tuple[float, int]]:
    """The user's submitted tasks: task id -> (score, submitted at in microseconds)."""
    return state.world.xel_progress.setdefault(user.id, {})


def module_summary(state: SandboxState, module_id: str, user: User) -> dict[str, Any]:
    """Render an ``XELModuleSummary`` with the user's progress."""
    module = state.world.modules[module_id]
    progress = progress_of(state, user)
    done = [progress[task.id] for task in module.tasks if task.id in progress]
    total = len(module.tasks)
    status = "completed" if len(done) == total else ("in_progress" if done else "not_started")
    return {
        "id": module.id,
        "title": module.title,
        "level": module.level,
        "skill": module.skill,
        "total_tasks": total,
        "completed_tasks": len(done),
        "progress_percent": round(100.0 * len(done) / total, 1),
        "average_score": round(sum(score for score, _ in done) / len(done), 1) if done else None,
        "status": status,
        "last_activity_at": timestamp(state, max(at for _, at in done)) if done else None,
    }


@router.get("/api/xel/modules")
async def list_modules(state: CurrentState, caller: XelReader, params: Paging) -> Any:
    """List modules with the caller's progress."""
    return shaped_list(
        state,
        list(state.world.modules),
        lambda module_id: module_summary(state, module_id, caller.user),
        params,
    )


@router.get("/api/xel/modules/{module_id}")
async def get_module(state: CurrentState, caller: XelReader, module_id: str) -> dict[str, Any]:
    """Return a module with its tasks."""
    module = state.world.modules.get(module_id)
    if module is None:
        fail(404, "NOT_FOUND", f"Module {module_id} not found")
    progress = progress_of(state, caller.user)
    data = module_summary(state, module_id, caller.user)
    data["tasks"] = [
        {
            "id": task.id,
            "type": task.type,
            "prompt": task.prompt,
            "completed": task.id in progress,
            "score": progress[task.id][0] if task.id in progress else None,
            "submitted_at": timestamp(state, progress[task.id][1]) if task.id in progress else None,
        }
        for task in module.tasks
    ]
    return data


@router.post("/api/xel/tasks/{task_id}/submit")
async def submit_task(
    state: CurrentState, caller: XelWriter, task_id: str, body: TaskSubmit
) -> dict[str, Any]:
    """Submit a task response; scores deterministically from the response text."""
    task = state.world.tasks.get(task_id)
    if task is None:
        fail(404, "NOT_FOUND", f"Task {task_id} not found")
    digest = hashlib.sha256(f"{task_id}:{body.response}".encode()).digest()
    score = float(50 + digest[0] % 51)
    progress_of(state, caller.user)[task_id] = (score, now_us())
    summary = module_summary(state, task.module_id, caller.user)
    return {
        "task_id": task_id,
        "accepted": True,
        "score": score,
        "feedback": "Well done." if score >= 75 else "Good effort; review the model answer.",
        "xp_awarded": int(score // 10) * 5,
        "module_progress_percent": summary["progress_percent"],
    }


@router.post("/api/xel/evaluate")
async def evaluate(caller: XelWriter, body: Evaluate) -> dict[str, Any]:
    """Evaluate a speaking or writing sample."""
    mode = body.mode or body.type
    if mode is None:
        fail(400, "INVALID_REQUEST", "mode must be 'speaking' or 'writing'")
    sample = body.text or body.audio_url
    if not sample:
        fail(400, "INVALID_REQUEST", "Provide text or audio_url")
    digest = hashlib.sha256(f"{mode}:{sample}".encode()).digest()
    score = float(40 + digest[0] % 61)
    level = CEFR_LEVELS[min(5, int((score - 40) // 10))]
    criteria = (
        "grammar",
        "vocabulary",
        "fluency" if mode == "speaking" else "coherence",
        "pronunciation" if mode == "speaking" else "task_achievement",
    )
    return {
        "mode": mode,
        "score": score,
        "cefr_level": level,
        "feedback": f"Estimated level {level}.",
        "criteria": {name: float(40 + digest[index + 1] % 61) for index, name in enumerate(criteria)},
    }


@router.get("/api/xel/dashboard")
async def dashboard(state: CurrentState, caller: XelReader) -> dict[str, Any]:
    """Return the caller's XEL overview."""
    world = state.world
    summaries = [module_summary(state, module_id, caller.user) for module_id in world.modules]
    progress = progress_of(state, caller.user)
    total_tasks = sum(summary["total_tasks"] for summary in summaries)
    scores = [score for score, _ in progress.values()]
    activity = world.activity(caller.user.id)
    streak = 0
    for day in range(state.config.days - 1, -1, -1):
        if day not in activity.days:
            break
        streak += 1
    recent = sorted(progress.items(), key=lambda item: (-item[1][1], item[0]))[:10]
    return {
        "overall_progress_percent": round(100.0 * len(progress) / total_tasks, 1) if total_tasks else 0.0,
        "modules_completed": sum(1 for summary in summaries if summary["status"] == "completed"),
        "modules_in_progress": sum(1 for summary in summaries if summary["status"] == "in_progress"),
        "modules_total": len(summaries),
        "average_score": round(sum(scores) / len(scores), 1) if scores else None,
        "current_streak": streak,
        "xp_total": int(sum(scores)) * 10,
        "recent_activity": [
            {
                "task_id": task_id,
                "module_id": world.tasks[task_id].module_id,
                "score": score,
                "submitted_at": timestamp(state, submitted_at),
            }
            for task_id, (score, submitted_at) in recent
        ],
    }
