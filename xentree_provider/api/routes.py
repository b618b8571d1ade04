"""Every Xentree endpoint the provider calls, in one table.

A wrong guess about a path is a one-line fix here. Each route says which HTTP method it uses, which
API-key scope it needs, whether it accepts API keys, whether repeating it is harmless (which decides
whether a failed attempt may be retried), and how its lists are paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from string import Formatter
from typing import Any
from urllib.parse import quote

__all__ = ["ROUTES", "Auth", "Paging", "Route", "adhoc_route", "route"]


class Auth(str, Enum):
    """Which credentials a route accepts."""

    NONE = "none"
    ANY = "any"
    BEARER = "bearer"
    REFRESH = "refresh"


class Paging(str, Enum):
    """How a list route is paged (the reader also detects the shape from the response)."""

    NONE = "none"
    OFFSET = "offset"
    PAGE = "page"


@dataclass(frozen=True)
class Route:
    """One endpoint: method, path template, auth, scope, retry safety and paging."""

    name: str
    method: str
    path: str
    scope: str | None = None
    auth: Auth = Auth.ANY
    idempotent: bool | None = None
    paging: Paging = Paging.NONE
    form: bool = False
    #: The success body carries credentials (tokens): never quote it in an error message.
    secret_body: bool = False

    @property
    def safe_to_retry(self) -> bool:
        """True when sending the request twice has the effect of sending it once."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "HEAD", "OPTIONS", "PUT")

    @property
    def path_params(self) -> tuple[str, ...]:
        """Names of the ``{placeholders}`` in the path."""
        return tuple(name for _, name, _, _ in Formatter().parse(self.path) if name)

    def format_path(self, **params: Any) -> str:
        """Fill the path template; every value is URL-quoted and must be non-empty."""
        missing = [name for name in self.path_params if params.get(name) in (None, "")]
        if missing:
            raise ValueError(f"{self.name} needs a value for {', '.join(missing)}")
        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})


def adhoc_route(method: str, path: str) -> Route:
    """A route for a path outside the table (the generic ``request``); retried only if safe by method."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    return Route(
        name=f"{method.upper()} {path}",
        method=method.upper(),
        path=path.replace("{", "{{").replace("}", "}}"),
    )


def route(name: str) -> Route:
    """Return the route called ``name``; raise ``KeyError`` naming the known routes otherwise."""
    try:
        return ROUTES[name]
    except KeyError:
        raise KeyError(f"unknown Xentree route {name!r}; known: {', '.join(sorted(ROUTES))}") from None


_ROUTE_LIST = [
    # Authentication
    Route("register", "POST", "/api/auth/register", auth=Auth.NONE),
    Route("login", "POST", "/api/auth/login", auth=Auth.NONE, idempotent=True, form=True, secret_body=True),
    Route("refresh", "POST", "/api/auth/refresh", auth=Auth.REFRESH, idempotent=True, secret_body=True),
    Route("logout", "POST", "/api/auth/logout", auth=Auth.BEARER, idempotent=True),
    Route("get_me", "GET", "/api/auth/me", auth=Auth.BEARER),
    Route("update_me", "PATCH", "/api/auth/me", auth=Auth.BEARER, idempotent=True),
    # Conversations
    Route(
        "list_ai_providers", "GET", "/api/core/providers", scope="conversations:read", paging=Paging.OFFSET
    ),
    Route("generate_response", "POST", "/api/core/chat", scope="conversations:write"),
    Route(
        "list_conversations",
        "GET",
        "/api/core/conversations",
        scope="conversations:read",
        paging=Paging.OFFSET,
    ),
    Route("create_conversation", "POST", "/api/core/conversations", scope="conversations:write"),
    Route(
        "list_conversation_messages",
        "GET",
        "/api/core/conversations/{conversation_id}/messages",
        scope="conversations:read",
        paging=Paging.OFFSET,
    ),
    Route("search_content", "GET", "/api/core/search", scope="conversations:read"),
    # Knowledge base
    Route("search_knowledge", "POST", "/api/knowledge/search", scope="rag:read", idempotent=True),
    Route("rag_query", "POST", "/api/rag/query", scope="rag:read", idempotent=True),
    # Xentree Live
    Route("get_live_quota", "GET", "/api/live/quota", scope="live:read"),
    Route("start_live_session", "POST", "/api/live/session/start", scope="live:write"),
    Route(
        "live_session_heartbeat", "POST", "/api/live/session/heartbeat", scope="live:write", idempotent=True
    ),
    Route("end_live_session", "POST", "/api/live/session/end", scope="live:write", idempotent=True),
    Route("update_live_nickname", "PATCH", "/api/live/nickname", scope="live:write", idempotent=True),
    Route("list_transcripts", "GET", "/api/live/transcripts", scope="live:read", paging=Paging.OFFSET),
    Route("save_transcript", "POST", "/api/live/transcripts", scope="live:write"),
    Route("get_transcript", "GET", "/api/live/transcripts/{transcript_id}", scope="live:read"),
    # Organizations
    Route(
        "list_organizations", "GET", "/api/organizations", scope="organizations:read", paging=Paging.OFFSET
    ),
    Route("create_organization", "POST", "/api/organizations", scope="organizations:write"),
    Route("get_organization", "GET", "/api/organizations/{org_id}", scope="organizations:read"),
    Route(
        "update_organization",
        "PATCH",
        "/api/organizations/{org_id}",
        scope="organizations:write",
        idempotent=True,
    ),
    Route(
        "delete_organization",
        "DELETE",
        "/api/organizations/{org_id}",
        scope="organizations:write",
        idempotent=True,
    ),
    Route(
        "list_members",
        "GET",
        "/api/organizations/{org_id}/members",
        scope="organizations:read",
        paging=Paging.OFFSET,
    ),
    Route("add_member", "POST", "/api/organizations/{org_id}/members", scope="organizations:write"),
    Route(
        "update_member_role",
        "PATCH",
        "/api/organizations/{org_id}/members/{user_id}",
        scope="organizations:write",
        idempotent=True,
    ),
    Route(
        "replace_member",
        "PUT",
        "/api/organizations/{org_id}/members/{user_id}",
        scope="organizations:write",
        idempotent=True,
    ),
    Route(
        "remove_member",
        "DELETE",
        "/api/organizations/{org_id}/members/{user_id}",
        scope="organizations:write",
        # Repeating a removal may answer 404, which the caller treats as done; the effect is the same.
        idempotent=True,
    ),
    # Integrations
    Route("list_integrations", "GET", "/api/integrations", scope="integrations:read", paging=Paging.OFFSET),
    Route(
        "connect_google_calendar",
        "GET",
        "/api/integrations/google-calendar/connect",
        scope="integrations:write",
    ),
    # Xentree English (XEL)
    Route("list_xel_modules", "GET", "/api/xel/modules", scope="xel:read", paging=Paging.OFFSET),
    Route("get_xel_module", "GET", "/api/xel/modules/{module_id}", scope="xel:read"),
    Route("submit_xel_task", "POST", "/api/xel/tasks/{task_id}/submit", scope="xel:write"),
    Route("evaluate_xel", "POST", "/api/xel/evaluate", scope="xel:write", idempotent=True),
    Route("get_xel_dashboard", "GET", "/api/xel/dashboard", scope="xel:read"),
    Route(
        "list_member_progress",
        "GET",
        "/api/v1/admin/stats/progress/members",
        scope="xel:read",
        paging=Paging.PAGE,
    ),
]

ROUTES: dict[str, Route] = {r.name: r for r in _ROUTE_LIST}
