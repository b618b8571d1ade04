"""Small HTML pages at the paths of the Xentree web app that the provider's extra links open.

``/live/transcripts``, ``/organizations/{org_id}/members``, ``/xel`` and ``/xel/modules/{module_id}``:
a link clicked in the Airflow UI after a run against the sandbox shows the matching sandbox data
instead of a 404. No login: the sandbox's data is made up, and a browser sends no API key.
"""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

from collections.abc import Iterable, Sequence
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from xentree_provider.testing.dependencies import CurrentState
from xentree_provider.testing.responses import timestamp

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
LISTED_TRANSCRIPTS = 50


def page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    """A complete HTML page; ``title`` is escaped here, ``body`` must already be."""
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · Xentree sandbox</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}</style></head>"
        f"<body><p>Xentree sandbox: a stand-in for the Xentree web app.</p><h1>{escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status_code)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table of escaped cells."""
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    lines = "".join(
        "<tr>" + "".join(f"<td>{escape('' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def not_found(what: str) -> HTMLResponse:
    """The 404 page for an unknown id."""
    return page("Not found", f"<p>{escape(what)} does not exist in this sandbox.</p>", status_code=404)


@router.get("/live/transcripts")
async def transcripts_page(state: CurrentState) -> HTMLResponse:
    """The latest Live transcripts."""
    transcripts = state.world.transcripts[:LISTED_TRANSCRIPTS]
    rows = [
        (row.id, timestamp(state, row.started), timestamp(state, row.ended), row.turn_count)
        for row in transcripts
    ]
    summary = f"<p>{len(state.world.transcripts)} transcripts; the latest {len(rows)}:</p>"
    return page("Xentree Live transcripts", summary + table(("id", "started", "ended", "turns"), rows))


@router.get("/organizations/{org_id}/members")
async def members_page(state: CurrentState, org_id: str) -> HTMLResponse:
    """An organization's members."""
    world = state.world
    organization = world.orgs.get(org_id)
    if organization is None:
        return not_found(f"Organization {org_id}")
    members = sorted(world.members[org_id].values(), key=lambda member: (member.joined_at, member.user_id))
    rows = [
        (world.users[m.user_id].full_name, world.users[m.user_id].email, m.role, world.team_name(m.team_id))
        for m in members
    ]
    body = f"<p>{len(rows)} members of {escape(organization.name)} ({escape(org_id)}).</p>"
    return page(f"{organization.name}: members", body + table(("name", "e-mail", "role", "team"), rows))


@router.get("/xel")
async def xel_page(state: CurrentState) -> HTMLResponse:
    """The Xentree English modules."""
    modules = state.world.modules.values()
    rows = [(module.id, module.title, module.level, module.skill, len(module.tasks)) for module in modules]
    return page("Xentree English", table(("id", "title", "level", "skill", "tasks"), rows))


@router.get("/xel/modules/{module_id}")
async def xel_module_page(state: CurrentState, module_id: str) -> HTMLResponse:
    """One Xentree English module and its tasks."""
    module = state.world.modules.get(module_id)
    if module is None:
        return not_found(f"Module {module_id}")
    rows = [(task.id, task.type, task.prompt) for task in module.tasks]
    body = f"<p>Level {escape(module.level)}, {escape(module.skill)}.</p>"
    return page(f"Xentree English: {module.title}", body + table(("task", "type", "prompt"), rows))
