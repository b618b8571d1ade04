"""XentreeHook: an Airflow connection turned into a pooled, authenticated, retrying Xentree client."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from functools import cached_property
from typing import Any, cast

import requests
from airflow.sdk import BaseHook

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConfigError,
    XentreeError,
    XentreePermissionError,
)
from xentree_provider.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageReader
from xentree_provider.api.records import (
    ChatResponse,
    Conversation,
    Integration,
    KnowledgeResult,
    LiveQuota,
    LiveSession,
    Member,
    MemberProgress,
    Message,
    Organization,
    RagAnswer,
    Transcript,
    UserProfile,
    XELDashboard,
    XELModule,
)
from xentree_provider.api.retry import RetryPolicy
from xentree_provider.api.routes import ROUTES, adhoc_route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.shapes import check_response
from xentree_provider.api.throttle import Throttle
from xentree_provider.api.timestamps import day_param, format_timestamp
from xentree_provider.api.transport import Transport
from xentree_provider.hooks import connection_form
from xentree_provider.hooks._airflow import mask_secret, settings_from_connection, user_agent

__all__ = ["XentreeHook"]


class XentreeHook(BaseHook):
    """Talks to the Xentree REST API with the credentials of an Airflow connection.

    Nothing is read or sent in ``__init__``: the connection is read once, on first use. One pooled
    ``requests.Session`` serves every call (and every thread) of the hook; bearer tokens are refreshed
    ahead of expiry and shared between threads. Arguments given here win over the connection's extras.

    :param xentree_conn_id: the Airflow connection id (connection type ``xentree``).
    :param timeout: seconds, or ``(connect, read)`` seconds, for every request.
    :param max_retries: retries after the first try for retryable failures.
    :param retry_max_wait: the longest single wait between tries (also caps ``Retry-After``).
    :param token_refresh_lead: seconds before a token's expiry to refresh it.
    :param verify: TLS verification: True, False or a CA bundle path.
    :param organization_id: default organization for organization calls.
    :param retry_budget_seconds: how long one request may keep retrying, from its first try.
    :param request_deadline: the longest one request may take in all (connect and every read).
    :param max_response_bytes: the largest response body accepted.
    :param max_requests_per_second: a cap on the requests started per second, across the hook's threads.
    """

    conn_name_attr = "xentree_conn_id"
    default_conn_name = "xentree_default"
    conn_type = "xentree"
    hook_name = "Xentree"

    def __init__(
        self,
        xentree_conn_id: str = default_conn_name,
        *,
        timeout: float | tuple[float, float] | None = None,
        max_retries: int | None = None,
        retry_max_wait: float | None = None,
        token_refresh_lead: float | None = None,
        verify: bool | str | None = None,
        organization_id: str | None = None,
        logger_name: str | None = None,
        retry_budget_seconds: float | None = None,
        request_deadline: float | None = None,
        max_response_bytes: int | None = None,
        max_requests_per_second: float | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.xentree_conn_id = xentree_conn_id
        self._overrides: dict[str, Any] = {
            "timeout": list(timeout) if isinstance(timeout, tuple) else timeout,
            "max_retries": max_retries,
            "retry_max_wait": retry_max_wait,
            "token_refresh_lead": token_refresh_lead,
            "verify": verify,
            "organization_id": organization_id,
            "retry_budget_seconds": retry_budget_seconds,
            "request_deadline": request_deadline,
            "max_response_bytes": max_response_bytes,
            "max_requests_per_second": max_requests_per_second,
        }

    # -- connection form (Airflow 3.1; 3.2+ reads conn-fields from provider info) -----------------

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (same fields as ``conn-fields`` in provider info)."""
        return connection_form.connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields of the connection form."""
        return connection_form.ui_field_behaviour()

    # -- plumbing -----------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ClientSettings:
        """Validated settings from the connection (read once) and the constructor's overrides."""
        return settings_from_connection(
            self.get_connection(self.xentree_conn_id), self._overrides, mask_secret
        )

    @cached_property
    def transport(self) -> Transport:
        """The shared HTTP transport (pooled session, tokens, retries)."""
        return Transport(self.settings, user_agent=user_agent(), on_secret=mask_secret, logger=self.log)

    @property
    def throttle(self) -> Throttle:
        """The hook's rate limit, shared by its threads (pass it to the exporter as its concurrency)."""
        return self.transport.flows.throttle

    def get_conn(self) -> requests.Session:
        """Return the pooled ``requests.Session`` (authentication is added per request)."""
        return self.transport.session

    def close(self) -> None:
        """Close pooled connections; the hook can still be used afterwards (it reconnects)."""
        if "transport" in self.__dict__:
            self.transport.close()
            del self.__dict__["transport"]

    def _org(self, org_id: str | None) -> str:
        return self.settings.organization(org_id, self.xentree_conn_id)

    def _call(self, name: str, **kwargs: Any) -> Any:
        """Call route ``name``; its answer is checked against the route's shape (api/shapes.py)."""
        route = ROUTES[name]
        payload = self.transport.call(route, **kwargs)
        return check_response(route, payload, path=route.format_path(**(kwargs.get("path_params") or {})))

    def _iter(self, name: str, page_size: int, **kwargs: Any) -> Iterator[Any]:
        return self.transport.iter_list(ROUTES[name], page_size=page_size, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Call any endpoint of the API (for those without a typed method); returns decoded JSON.

        Retries follow the same policy. Once the request may have reached the server, only GET, HEAD,
        OPTIONS and PUT are sent again; POST, PATCH and DELETE are retried only when the request never
        left (or the server declined it with 429/503).
        """
        return self.transport.call(adhoc_route(method, path), params=params, json=json)

    # -- authentication -----------------------------------------------------------------------------

    def register_user(
        self, email: str, password: str, *, full_name: str | None = None, username: str | None = None
    ) -> UserProfile:
        """Register a new Xentree user (``POST /api/auth/register``)."""
        mask_secret(password)
        body = {"email": email, "password": password, "full_name": full_name, "username": username}
        return cast(
            UserProfile, self._call("register", json={k: v for k, v in body.items() if v is not None})
        )

    def login(self) -> dict[str, Any]:
        """Log in now with the connection's login and password; returns expiry facts, never the tokens."""
        if self.settings.api_key:
            raise XentreeConfigError("login() needs a login/password connection; this one uses an API key")
        tokens = self.transport.tokens
        assert tokens is not None
        tokens.forget()
        tokens.access_token()
        return self._token_facts()

    def refresh_token(self) -> dict[str, Any]:
        """Refresh the access token now (logging in first if needed); returns expiry facts only."""
        tokens = self.transport.tokens
        if tokens is None:
            raise XentreeConfigError("refresh_token() needs a login/password connection, not an API key")
        state = tokens.state
        if state is None:
            tokens.access_token()
        else:
            tokens.invalidate(state.access_token)
            tokens.access_token()
        return self._token_facts()

    def _token_facts(self) -> dict[str, Any]:
        tokens = self.transport.tokens
        state = tokens.state if tokens else None
        return {
            "expires_at": state.expires_at if state else None,
            "has_refresh_token": bool(state and state.refresh_token),
        }

    def logout(self) -> None:
        """Revoke the current bearer token (``POST /api/auth/logout``); no-op in API-key mode."""
        self.transport.logout()

    def get_me(self) -> UserProfile:
        """The logged-in user (``GET /api/auth/me``; needs a login connection, not an API key)."""
        return cast(UserProfile, self._call("get_me"))

    def update_me(
        self, *, full_name: str | None = None, username: str | None = None, nickname: str | None = None
    ) -> UserProfile:
        """Update the logged-in user's profile (``PATCH /api/auth/me``)."""
        body = {"full_name": full_name, "username": username, "nickname": nickname}
        return cast(
            UserProfile, self._call("update_me", json={k: v for k, v in body.items() if v is not None})
        )

    # -- conversations ------------------------------------------------------------------------------

    def list_ai_providers(self) -> list[dict[str, Any]]:
        """The AI providers and their models (``GET /api/core/providers``)."""
        return list(self._iter("list_ai_providers", DEFAULT_PAGE_SIZE))

    def generate_response(
        self,
        message: str,
        *,
        provider: str = "auto",
        conversation_history: list[Mapping[str, str]] | None = None,
        user_language: str | None = None,
        conversation_id: str | None = None,
    ) -> ChatResponse:
        """Generate an AI response (``POST /api/core/chat``)."""
        body: dict[str, Any] = {"message": message, "provider": provider}
        if conversation_history is not None:
            body["conversation_history"] = [dict(turn) for turn in conversation_history]
        if user_language is not None:
            body["user_language"] = user_language
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        return cast(ChatResponse, self._call("generate_response", json=body))

    def iter_conversations(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Conversation]:
        """Every conversation of the current user (``GET /api/core/conversations``)."""
        return self._iter("list_conversations", page_size)

    def create_conversation(self, title: str) -> Conversation:
        """Create a conversation (``POST /api/core/conversations``)."""
        return cast(Conversation, self._call("create_conversation", json={"title": title}))

    def iter_conversation_messages(
        self, conversation_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Message]:
        """Every message of a conversation (``GET /api/core/conversations/{id}/messages``)."""
        return self._iter(
            "list_conversation_messages", page_size, path_params={"conversation_id": conversation_id}
        )

    def search_content(self, query: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Search the user's messages, notes and conversations (``GET /api/core/search``)."""
        payload = self._call("search_content", params={"q": query, "limit": limit})
        return list(payload["results"] if isinstance(payload, Mapping) else payload)

    # -- knowledge base -----------------------------------------------------------------------------

    def search_knowledge(
        self,
        query: str,
        *,
        limit: int | None = None,
        conversation_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[KnowledgeResult]:
        """Search the knowledge base (``POST /api/knowledge/search``); returns the hits."""
        body: dict[str, Any] = {"query": query, **(filters or {})}
        if limit is not None:
            body["limit"] = limit
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        payload = self._call("search_knowledge", json=body)
        return list(payload["results"] if isinstance(payload, Mapping) else payload)

    def rag_query(self, query: str, **options: Any) -> RagAnswer:
        """Ask the knowledge base a question (``POST /api/rag/query``); the answer with its sources."""
        return cast(RagAnswer, self._call("rag_query", json={"query": query, **options}))

    # -- Xentree Live -------------------------------------------------------------------------------

    def get_live_quota(self) -> LiveQuota:
        """Remaining Live quota (``GET /api/live/quota``)."""
        return cast(LiveQuota, self._call("get_live_quota"))

    def start_live_session(self, session_type: str = "voice") -> LiveSession:
        """Start a Live session (``POST /api/live/session/start``); ``voice`` or ``avatar``."""
        return cast(LiveSession, self._call("start_live_session", json={"session_type": session_type}))

    def live_session_heartbeat(self, session_id: str) -> Any:
        """Keep a Live session alive (``POST /api/live/session/heartbeat``)."""
        return self._call("live_session_heartbeat", json={"session_id": session_id})

    def end_live_session(self, session_id: str) -> Any:
        """End a Live session (``POST /api/live/session/end``)."""
        return self._call("end_live_session", json={"session_id": session_id})

    def update_live_nickname(self, nickname: str) -> Any:
        """Set the nickname used in Live (``PATCH /api/live/nickname``)."""
        return self._call("update_live_nickname", json={"nickname": nickname})

    def list_transcripts(self, *, limit: int = 50, offset: int = 0) -> list[Transcript]:
        """One page of transcripts, newest first (``GET /api/live/transcripts``)."""
        payload = self._call("list_transcripts", params={"limit": limit, "offset": offset})
        reader = PageReader.for_route(ROUTES["list_transcripts"], page_size=max(1, min(limit, MAX_PAGE_SIZE)))
        return reader.feed(payload)

    def iter_transcripts(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Transcript]:
        """Every transcript, newest first, without turns; pages are read as the iterator advances."""
        return self._iter("list_transcripts", page_size)

    def get_transcript(self, transcript_id: str) -> Transcript:
        """One transcript with its turns (``GET /api/live/transcripts/{id}``)."""
        return cast(Transcript, self._call("get_transcript", path_params={"transcript_id": transcript_id}))

    def save_transcript(
        self,
        session_started_at: str | datetime,
        session_ended_at: str | datetime,
        transcripts: list[Mapping[str, Any]],
    ) -> Transcript:
        """Save a Live session's turns (``POST /api/live/transcripts``)."""

        def stamp(value: str | datetime) -> str:
            return format_timestamp(value) if isinstance(value, datetime) else value

        body = {
            "session_started_at": stamp(session_started_at),
            "session_ended_at": stamp(session_ended_at),
            "transcripts": [dict(turn) for turn in transcripts],
        }
        return cast(Transcript, self._call("save_transcript", json=body))

    # -- organizations ------------------------------------------------------------------------------

    def iter_organizations(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Organization]:
        """Every organization visible to the credentials (``GET /api/organizations``)."""
        return self._iter("list_organizations", page_size)

    def create_organization(self, name: str, slug: str, description: str | None = None) -> Organization:
        """Create an organization (``POST /api/organizations``)."""
        body = {"name": name, "slug": slug, "description": description}
        return cast(Organization, self._call("create_organization", json=body))

    def get_organization(self, org_id: str | None = None) -> Organization:
        """One organization (``GET /api/organizations/{org_id}``)."""
        return cast(Organization, self._call("get_organization", path_params={"org_id": self._org(org_id)}))

    def update_organization(self, org_id: str | None = None, **fields: Any) -> Organization:
        """Change an organization's name, slug or description (``PATCH /api/organizations/{org_id}``)."""
        return cast(
            Organization,
            self._call("update_organization", path_params={"org_id": self._org(org_id)}, json=fields),
        )

    def delete_organization(self, org_id: str) -> None:
        """Delete an organization (``DELETE /api/organizations/{org_id}``); no default on purpose."""
        self._call("delete_organization", path_params={"org_id": org_id})

    def iter_members(
        self, org_id: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Member]:
        """Every member of an organization (``GET /api/organizations/{org_id}/members``)."""
        return self._iter("list_members", page_size, path_params={"org_id": self._org(org_id)})

    def add_member(self, email: str, role: str, org_id: str | None = None) -> Member:
        """Add a member (``POST .../members``); raises XentreeConflictError if already a member."""
        return cast(
            Member,
            self._call(
                "add_member", path_params={"org_id": self._org(org_id)}, json={"email": email, "role": role}
            ),
        )

    def update_member_role(self, user_id: str, role: str, org_id: str | None = None) -> Member:
        """Change a member's role (``PATCH .../members/{user_id}``); ``{}`` if the answer has no body."""
        path = {"org_id": self._org(org_id), "user_id": user_id}
        return cast(Member, self._call("update_member_role", path_params=path, json={"role": role}) or {})

    def replace_member(
        self, user_id: str, role: str, *, team_id: str | None = None, org_id: str | None = None
    ) -> Member:
        """Set a member's role and team (``PUT .../members/{user_id}``); ``{}`` if the answer has no body."""
        org = self._org(org_id)
        body = {"role": role, "organization_id": org, "team_id": team_id}
        path = {"org_id": org, "user_id": user_id}
        return cast(Member, self._call("replace_member", path_params=path, json=body) or {})

    def remove_member(self, user_id: str, org_id: str | None = None) -> None:
        """Remove a member (``DELETE .../members/{user_id}``)."""
        self._call("remove_member", path_params={"org_id": self._org(org_id), "user_id": user_id})

    # -- integrations -------------------------------------------------------------------------------

    def iter_integrations(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Integration]:
        """The user's connected integrations (``GET /api/integrations``)."""
        return self._iter("list_integrations", page_size)

    def connect_google_calendar(self) -> str:
        """Start the Google Calendar OAuth flow; returns the URL a person must open to finish it."""
        payload = self._call("connect_google_calendar")
        return str(payload["auth_url"])

    # -- Xentree English (XEL) ----------------------------------------------------------------------

    def iter_modules(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[XELModule]:
        """Every XEL module with the caller's progress (``GET /api/xel/modules``)."""
        return self._iter("list_xel_modules", page_size)

    def get_module(self, module_id: str) -> XELModule:
        """One XEL module with its tasks (``GET /api/xel/modules/{module_id}``)."""
        return cast(XELModule, self._call("get_xel_module", path_params={"module_id": module_id}))

    def submit_task(self, task_id: str, response: str) -> dict[str, Any]:
        """Submit a learning task response (``POST /api/xel/tasks/{task_id}/submit``)."""
        return cast(
            dict[str, Any],
            self._call("submit_xel_task", path_params={"task_id": task_id}, json={"response": response}),
        )

    def evaluate(self, mode: str, *, text: str | None = None, audio_url: str | None = None) -> dict[str, Any]:
        """AI evaluation of speaking or writing (``POST /api/xel/evaluate``)."""
        if mode not in ("speaking", "writing"):
            raise ValueError(f"mode must be 'speaking' or 'writing', got {mode!r}")
        body = {"mode": mode, "text": text, "audio_url": audio_url}
        return cast(dict[str, Any], self._call("evaluate_xel", json={k: v for k, v in body.items() if v}))

    def get_dashboard(self) -> XELDashboard:
        """The caller's XEL dashboard (``GET /api/xel/dashboard``)."""
        return cast(XELDashboard, self._call("get_xel_dashboard"))

    def iter_member_progress(
        self,
        org_id: str | None = None,
        *,
        start_date: date | datetime | str | None = None,
        end_date: date | datetime | str | None = None,
        query: str | None = None,
        team_id: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[MemberProgress]:
        """The organization's learning-progress directory (``GET /api/v1/admin/stats/progress/members``).

        Dates are UTC days (``YYYY-MM-DD``); ``start_date`` is inclusive and ``end_date`` includes its
        whole day.
        """
        params = {
            "org_id": self._org(org_id),
            "start_date": day_param(start_date),
            "end_date": day_param(end_date),
            "q": query,
            "team_id": team_id,
            "sort": sort,
            "order": order,
        }
        return self._iter("list_member_progress", page_size, params=params)

    # -- connection test ----------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection cheaply and without side effects; the message says what is wrong."""
        try:
            settings = self.settings
        except XentreeError as error:
            return False, f"Connection settings are invalid: {error.message}"
        except Exception as error:
            return False, f"Connection could not be read: {type(error).__name__}: {error}"
        probe = Transport(
            dataclasses.replace(settings, retry=RetryPolicy(max_attempts=1), timeout=(5.0, 15.0)),
            user_agent=user_agent(),
            on_secret=mask_secret,
            logger=self.log,
        )
        try:
            if settings.api_key:
                return _probe_api_key(probe)
            profile = probe.call(ROUTES["get_me"])
            who = profile.get("email") if isinstance(profile, Mapping) else None
            return True, f"Connected to {settings.base_url} as {who or 'the connection login'}"
        except XentreeAuthError as error:
            return False, f"Credentials rejected by {settings.base_url}: {error.message}"
        except XentreeError as error:
            return False, f"Could not use {settings.base_url}: {error}"
        except Exception as error:  # a test must answer, never raise
            return False, f"Could not use {settings.base_url}: {type(error).__name__}"
        finally:
            probe.logout_quietly()
            probe.close()


#: One cheap read without side effects per area the operators use: (area, route, call arguments).
_API_KEY_PROBES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("live", "get_live_quota", {}),
    ("organizations", "list_organizations", {"params": {"limit": 1}}),
    ("xel", "list_xel_modules", {"params": {"limit": 1}}),
    ("knowledge base", "search_knowledge", {"json": {"query": "connection test", "limit": 1}}),
    ("conversations", "list_ai_providers", {"params": {"limit": 1}}),
)


def _probe_api_key(probe: Transport) -> tuple[bool, str]:
    """Try a cheap read per area: the key is valid if any answers or names its scopes in a 403, and the
    message says which areas it can read and which scopes it lacks."""
    readable: list[str] = []
    lacking: list[str] = []
    granted: list[str] = []
    for area, route_name, call_args in _API_KEY_PROBES:
        try:
            probe.call(ROUTES[route_name], **call_args)
            readable.append(area)
        except XentreePermissionError as error:
            lacking.append(error.required_scope or ROUTES[route_name].scope or area)
            granted = granted or error.granted_scopes
    base = probe.settings.base_url
    if not readable and not granted:
        return False, (
            f"The API key is accepted by {base} but can read nothing the provider uses; it lacks "
            f"{', '.join(lacking)}. Add those scopes to the key in Xentree."
        )
    if not readable:
        return True, (
            f"Connected to {base} with an API key whose scopes are {', '.join(granted)}; it lacks "
            f"{', '.join(lacking)}, so tasks needing those will fail"
        )
    message = f"Connected to {base} with an API key (can read: {', '.join(readable)})"
    if lacking:
        message += f"; the key lacks {', '.join(lacking)}, so tasks needing those will fail"
    return True, message
