"""The Xentree sandbox over real HTTP: auth, lists, timestamps, faults, admin API, membership, directory."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import email.utils
import json
import re
import time
from typing import Any

import pytest
import requests

from xentree_provider.testing import SandboxConfig, SandboxServer

pytestmark = pytest.mark.integration

ANCHOR = "2026-04-20"


# ---------------------------------------------------------------------- helpers
def login(sbx: SandboxServer) -> dict[str, Any]:
    creds = sbx.credentials()
    r = requests.post(
        f"{sbx.url}/api/auth/login",
        data={"username": creds["email"], "password": creds["password"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def bearer(sbx: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(sbx)['access_token']}"}


def key(sbx: SandboxServer, name: str = "full") -> dict[str, str]:
    return {"X-API-Key": sbx.api_key(name)}


def jwt_payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def get(sbx: SandboxServer, path: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{sbx.url}{path}", headers=headers, params=params, timeout=10)


@pytest.fixture
def sbx(xentree_sandbox_clean: SandboxServer) -> SandboxServer:
    return xentree_sandbox_clean


# ---------------------------------------------------------------------- basics and auth
def test_health_request_id_and_env(sbx: SandboxServer) -> None:
    import os

    assert requests.get(f"{sbx.url}/__sandbox/health", timeout=5).json()["status"] == "ok"
    r = get(sbx, "/api/organizations", key(sbx))
    assert r.status_code == 200
    assert r.headers["X-Request-ID"]
    conn = json.loads(os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"])
    assert conn["conn_type"] == "xentree"
    assert conn["host"] == sbx.url
    assert conn["login"] == "ada@acme.example"


def test_login_returns_jwt_with_exp(sbx: SandboxServer) -> None:
    tokens = login(sbx)
    assert tokens["token_type"] == "bearer"
    assert tokens["refresh_token"]
    claims = jwt_payload(tokens["access_token"])
    assert {"exp", "iat", "sub", "jti"} <= set(claims)
    assert 899 <= claims["exp"] - claims["iat"] <= 901
    assert get(sbx, "/api/auth/me", {"Authorization": f"Bearer {tokens['access_token']}"}).json()[
        "email"
    ] == ("ada@acme.example")


def test_bad_login_401(sbx: SandboxServer) -> None:
    r = requests.post(
        f"{sbx.url}/api/auth/login", data={"username": "ada@acme.example", "password": "nope"}, timeout=5
    )
    assert r.status_code == 401
    assert r.json()["detail"]["error"] == "INVALID_CREDENTIALS"
    r = requests.post(f"{sbx.url}/api/auth/login", data={"username": "ada@acme.example"}, timeout=5)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list)


def test_refresh_rotation_revokes_old(sbx: SandboxServer) -> None:
    tokens = login(sbx)
    old = tokens["refresh_token"]
    r = requests.post(f"{sbx.url}/api/auth/refresh", headers={"Authorization": f"Bearer {old}"}, timeout=5)
    assert r.status_code == 200
    new = r.json()
    assert new["refresh_token"] != old
    assert new["access_token"] != tokens["access_token"]
    again = requests.post(
        f"{sbx.url}/api/auth/refresh", headers={"Authorization": f"Bearer {old}"}, timeout=5
    )
    assert again.status_code == 401
    assert again.json()["detail"]["error"] == "INVALID_TOKEN"
    assert get(sbx, "/api/auth/me", {"Authorization": f"Bearer {new['access_token']}"}).status_code == 200
    counters = sbx.counters()
    assert counters["refreshes"] == 1
    assert counters["refresh_rejected"] == 1
    assert counters["tokens_issued"] == 2


def test_refresh_without_rotation_and_expires_in_variant(sbx: SandboxServer) -> None:
    sbx.reset(rotate_refresh=False)
    old = login(sbx)["refresh_token"]
    for _ in range(2):
        r = requests.post(
            f"{sbx.url}/api/auth/refresh", headers={"Authorization": f"Bearer {old}"}, timeout=5
        )
        assert r.status_code == 200
        assert r.json()["refresh_token"] == old
    sbx.reset(token_response="expires_in", token_lifetime=120)
    tokens = login(sbx)
    assert "refresh_token" not in tokens
    assert tokens["expires_in"] == 120


def test_expired_token_is_401(sbx: SandboxServer) -> None:
    sbx.reset(token_lifetime=1)
    headers = bearer(sbx)
    assert get(sbx, "/api/auth/me", headers).status_code == 200
    time.sleep(2.05)
    r = get(sbx, "/api/auth/me", headers)
    assert r.status_code == 401
    assert r.json()["detail"]["error"] == "INVALID_TOKEN"
    assert "expired" in r.json()["detail"]["message"].lower()


def test_malformed_and_revoked_tokens(sbx: SandboxServer) -> None:
    assert get(sbx, "/api/auth/me", {"Authorization": "Bearer not-a-jwt"}).status_code == 401
    headers = bearer(sbx)
    assert sbx.revoke_tokens() >= 2
    r = get(sbx, "/api/auth/me", headers)
    assert r.status_code == 401
    assert r.json()["detail"]["error"] == "INVALID_TOKEN"


def test_logout_revokes_access_and_refresh(sbx: SandboxServer) -> None:
    tokens = login(sbx)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.post(f"{sbx.url}/api/auth/logout", headers=headers, timeout=5).status_code in (200, 204)
    assert get(sbx, "/api/auth/me", headers).status_code == 401
    r = requests.post(
        f"{sbx.url}/api/auth/refresh",
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
        timeout=5,
    )
    assert r.status_code == 401


def test_api_key_scope_403_body(sbx: SandboxServer) -> None:
    org_id = sbx.credentials()["first_org_id"]
    r = requests.post(
        f"{sbx.url}/api/organizations/{org_id}/members",
        headers=key(sbx, "orgs_read"),
        json={"email": "new@acme.example", "role": "member"},
        timeout=5,
    )
    assert r.status_code == 403
    assert r.json() == {
        "detail": {
            "error": "INSUFFICIENT_API_KEY_SCOPE",
            "message": r.json()["detail"]["message"],
            "required_scope": "organizations:write",
            "granted_scopes": ["organizations:read"],
        }
    }
    assert get(sbx, "/api/organizations", key(sbx, "orgs_read")).status_code == 200
    assert get(sbx, "/api/live/transcripts", key(sbx, "orgs_read")).status_code == 403
    assert get(sbx, "/api/live/transcripts", key(sbx, "live")).status_code == 200
    assert get(sbx, "/api/organizations", {"X-API-Key": "xntr-" + "A" * 86}).status_code == 401
    assert get(sbx, "/api/organizations", {}).status_code == 401


def test_me_is_bearer_only(sbx: SandboxServer) -> None:
    r = get(sbx, "/api/auth/me", key(sbx))
    assert r.status_code == 401
    assert "bearer" in r.json()["detail"]["message"].lower()
    r = requests.patch(
        f"{sbx.url}/api/auth/me", headers=bearer(sbx), json={"nickname": "Countess"}, timeout=5
    )
    assert r.json()["nickname"] == "Countess"


def test_credentials_shape(sbx: SandboxServer) -> None:
    creds = sbx.credentials()
    keys = creds["api_keys"]
    assert {"full", "readonly", "live", "orgs_read"} <= set(keys)
    assert keys["live"]["scopes"] == ["live:read"]
    assert keys["orgs_read"]["scopes"] == ["organizations:read"]
    assert all(s.endswith(":read") for s in keys["readonly"]["scopes"])
    for entry in keys.values():
        assert re.fullmatch(r"xntr-[A-Za-z0-9_-]{86}", entry["key"])
        assert entry["organization_id"] == creds["first_org_id"]
    assert {"acme", "globex"} <= set(creds["org_ids"])


# ---------------------------------------------------------------------- lists and timestamps
@pytest.mark.parametrize(
    ("shape", "envelope_key"),
    [
        ("array", "items"),
        ("envelope", "items"),
        ("envelope", "data"),
        ("envelope", "results"),
        ("page", "items"),
    ],
)
def test_list_shapes(sbx: SandboxServer, shape: str, envelope_key: str) -> None:
    sbx.reset(anchor=ANCHOR)
    expected = get(sbx, "/api/live/transcripts", key(sbx), limit=5, offset=5).json()
    assert isinstance(expected, list)
    assert len(expected) == 5
    sbx.reset(anchor=ANCHOR, list_shape=shape, envelope_key=envelope_key)
    body = get(sbx, "/api/live/transcripts", key(sbx), limit=5, offset=5).json()
    if shape == "array":
        assert body == expected
    elif shape == "envelope":
        assert body == {envelope_key: expected, "total": 3000, "limit": 5, "offset": 5}
    else:
        assert body == {"items": expected, "page": 2, "limit": 5, "total": 3000}
        assert get(sbx, "/api/live/transcripts", key(sbx), limit=5, page=2).json() == body


def test_list_limits(sbx: SandboxServer) -> None:
    assert len(get(sbx, "/api/live/transcripts", key(sbx)).json()) == 50
    assert len(get(sbx, "/api/live/transcripts", key(sbx), limit=200).json()) == 200
    r = get(sbx, "/api/live/transcripts", key(sbx), limit=201)
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list)
    assert get(sbx, "/api/live/transcripts", key(sbx), offset=2999).json()[0]["id"]
    assert get(sbx, "/api/live/transcripts", key(sbx), offset=3000).json() == []


@pytest.mark.parametrize(
    ("style", "pattern"),
    [
        ("z", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
        ("offset", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"),
        ("fractional", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"),
    ],
)
def test_timestamp_styles(sbx: SandboxServer, style: str, pattern: str) -> None:
    sbx.reset(timestamp_style=style)
    item = get(sbx, "/api/live/transcripts", key(sbx), limit=1).json()[0]
    for field in ("session_started_at", "session_ended_at", "created_at"):
        assert re.fullmatch(pattern, item[field]), item[field]
    detail = get(sbx, f"/api/live/transcripts/{item['id']}", key(sbx)).json()
    assert len(detail["transcripts"]) == item["turn_count"]
    assert re.fullmatch(pattern, detail["transcripts"][0]["timestamp"])


def test_transcripts_span_days_before_anchor(sbx: SandboxServer) -> None:
    sbx.reset(anchor=ANCHOR, transcripts=1500)
    items: list[dict[str, Any]] = []
    while True:
        page = get(sbx, "/api/live/transcripts", key(sbx, "live"), limit=200, offset=len(items)).json()
        items.extend(page)
        if len(page) < 200:
            break
    assert len(items) == 1500
    starts = [dt.datetime.fromisoformat(i["session_started_at"].replace("Z", "+00:00")) for i in items]
    assert starts == sorted(starts, reverse=True)
    anchor = dt.datetime(2026, 4, 20, tzinfo=dt.timezone.utc)
    assert anchor - dt.timedelta(hours=1) < starts[0] < anchor
    assert starts[-1] >= anchor - dt.timedelta(days=28)
    midnights = {s for s in starts if s.time() == dt.time(0, 0)}
    assert anchor - dt.timedelta(days=1) in midnights
    assert anchor - dt.timedelta(days=28) in midnights
    assert len({i["id"] for i in items}) == 1500
    # a save lands in order and can be read back
    saved = requests.post(
        f"{sbx.url}/api/live/transcripts",
        headers=key(sbx),
        json={
            "session_started_at": "2026-04-19T12:00:00Z",
            "session_ended_at": "2026-04-19T12:05:00Z",
            "transcripts": [
                {"role": "user", "text": "Hello Xentree", "timestamp": "2026-04-19T12:00:03Z"},
                {"role": "ai", "text": "Hi!", "timestamp": "2026-04-19T12:00:05Z"},
            ],
        },
        timeout=5,
    )
    assert saved.status_code == 201
    got = get(sbx, f"/api/live/transcripts/{saved.json()['id']}", key(sbx)).json()
    assert [t["text"] for t in got["transcripts"]] == ["Hello Xentree", "Hi!"]
    assert get(sbx, "/api/live/transcripts", key(sbx), limit=1, offset=0).json()[0]["id"] == items[0]["id"]


# ---------------------------------------------------------------------- faults
def test_fault_error_html_malformed_truncated(sbx: SandboxServer) -> None:
    headers = key(sbx)
    sbx.set_faults(error_rate=1.0, error_codes=(503,))
    r = get(sbx, "/api/organizations", headers)
    assert r.status_code == 503
    assert r.json()["detail"]["error"] == "SANDBOX_INJECTED_ERROR"
    assert r.headers["X-Request-ID"]
    sbx.set_faults(html_error_rate=1.0)
    r = get(sbx, "/api/organizations", headers)
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    for knob in ("malformed_json_rate", "truncated_json_rate"):
        sbx.set_faults(**{knob: 1.0})
        r = get(sbx, "/api/organizations", headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        with pytest.raises(requests.JSONDecodeError):
            r.json()
    # admin routes never fault
    assert requests.get(f"{sbx.url}/__sandbox/health", timeout=5).status_code == 200
    faults = sbx.counters()["faults"]
    assert faults == {"error": 1, "html_error": 1, "malformed_json": 1, "truncated_json": 1}
    sbx.clear_faults()
    assert get(sbx, "/api/organizations", headers).status_code == 200


@pytest.mark.parametrize("phase", ["before", "after"])
def test_fault_reset_drops_connection(sbx: SandboxServer, phase: str) -> None:
    org_id = sbx.credentials()["first_org_id"]
    headers = key(sbx)
    before = len(sbx.members(org_id))
    sbx.set_faults(reset_rate=1.0, reset_phase=phase)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.post(
            f"{sbx.url}/api/organizations/{org_id}/members",
            headers=headers,
            json={"email": "reset.probe@acme.example", "role": "member"},
            timeout=5,
        )
    sbx.clear_faults()
    after = len(sbx.members(org_id))
    assert after == (before if phase == "before" else before + 1)
    assert sbx.counters()["faults"] == {"reset": 1}


def test_fault_latency_overlaps(sbx: SandboxServer) -> None:
    headers = key(sbx)
    sbx.set_faults(latency_ms=300)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: get(sbx, "/api/live/quota", headers).status_code, range(6)))
    elapsed = time.monotonic() - t0
    assert codes == [200] * 6
    assert 0.3 <= elapsed < 1.5


def test_fault_routes_limit_scope(sbx: SandboxServer) -> None:
    headers = key(sbx)
    sbx.set_faults(error_rate=1.0, error_codes=(500,), fault_routes=["/api/live"])
    assert get(sbx, "/api/live/quota", headers).status_code == 500
    assert get(sbx, "/api/organizations", headers).status_code == 200


@pytest.mark.parametrize("style", ["seconds", "date", "none"])
def test_rate_limit_retry_after(sbx: SandboxServer, style: str) -> None:
    sbx.reset(retry_after=style, faults={"rate_limit_rps": 0.5, "rate_limit_burst": 2})
    headers = key(sbx)
    codes = [get(sbx, "/api/organizations", headers) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    limited = codes[-1]
    if style == "seconds":
        assert limited.headers["Retry-After"].isdigit()
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
    elif style == "date":
        when = email.utils.parsedate_to_datetime(limited.headers["Retry-After"])
        assert when > dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    else:
        assert "Retry-After" not in limited.headers
    assert sbx.counters()["faults"]["rate_limit"] == 1


# ---------------------------------------------------------------------- admin API
def test_counters_and_reset(sbx: SandboxServer) -> None:
    org_id = sbx.credentials()["first_org_id"]
    headers = bearer(sbx)
    get(sbx, f"/api/organizations/{org_id}", headers)
    get(sbx, "/api/organizations/nope", headers)
    r = requests.post(
        f"{sbx.url}/api/organizations/{org_id}/members",
        headers=headers,
        json={"email": "c@acme.example"},
        timeout=5,
    )
    assert r.status_code == 201
    counters = sbx.counters()
    assert counters["logins"] == 1
    assert counters["requests"]["GET /api/organizations/{org_id}"] == 2
    assert counters["responses"]["404"] == 1
    assert counters["writes"] == {"POST /api/organizations/{org_id}/members": 1}
    assert "c@acme.example" in {m["email"] for m in sbx.members(org_id)}
    sbx.reset_counters()
    assert sbx.counters()["requests"] == {}
    sbx.reset()
    assert "c@acme.example" not in {m["email"] for m in sbx.members(org_id)}
    password = sbx.credentials()["password"]
    assert sbx.reset(seed=7)["seed"] == 7
    assert sbx.credentials()["password"] != password
    assert sbx.server_config()["seed"] == 7


def test_secrets_lists_issued_tokens(sbx: SandboxServer) -> None:
    tokens = login(sbx)
    secrets = sbx.issued_secrets()
    assert tokens["access_token"] in secrets["all"]
    assert tokens["refresh_token"] in secrets["all"]
    assert sbx.credentials()["password"] in secrets["all"]
    assert sbx.api_key("full") in secrets["all"]


# ---------------------------------------------------------------------- organizations
def test_members_add_conflict_and_last_owner(sbx: SandboxServer) -> None:
    creds = sbx.credentials()
    org_id = creds["org_ids"]["acme"]
    headers = key(sbx)
    base = f"{sbx.url}/api/organizations/{org_id}/members"
    members = get(sbx, f"/api/organizations/{org_id}/members", headers, limit=200).json()
    assert len(members) == 40
    assert {m["role"] for m in members} == {"owner", "admin", "manager", "member"}
    owners = [m for m in members if m["role"] == "owner"]
    assert len(owners) == 1
    r = requests.post(
        base, headers=headers, json={"email": "New.Person@Acme.example", "role": "manager"}, timeout=5
    )
    assert r.status_code == 201
    new = r.json()
    assert new["role"] == "manager"
    r = requests.post(base, headers=headers, json={"email": "new.person@acme.example"}, timeout=5)
    assert r.status_code == 409
    assert r.json()["detail"]["error"] == "ALREADY_MEMBER"
    owner = owners[0]["user_id"]
    r = requests.patch(f"{base}/{owner}", headers=headers, json={"role": "admin"}, timeout=5)
    assert r.status_code == 409
    assert r.json()["detail"]["error"] == "LAST_OWNER"
    assert requests.delete(f"{base}/{owner}", headers=headers, timeout=5).status_code == 409
    team = next(iter(creds["organizations"]["acme"]["teams"].values()))
    r = requests.put(
        f"{base}/{new['user_id']}", headers=headers, json={"role": "admin", "team_id": team}, timeout=5
    )
    assert (r.status_code, r.json()["role"], r.json()["team_id"]) == (200, "admin", team)
    assert requests.patch(f"{base}/{new['user_id']}", headers=headers, json={"role": "owner"}, timeout=5).ok
    assert requests.patch(f"{base}/{owner}", headers=headers, json={"role": "member"}, timeout=5).ok
    assert requests.delete(f"{base}/{new['user_id']}", headers=headers, timeout=5).status_code == 409
    r = requests.patch(f"{base}/{new['user_id']}", headers=headers, json={"role": "boss"}, timeout=5)
    assert r.status_code == 422
    assert requests.delete(f"{base}/nobody", headers=headers, timeout=5).status_code == 404
    state = {m["user_id"]: m["role"] for m in sbx.members(org_id)}
    assert state[owner] == "member"
    assert state[new["user_id"]] == "owner"


def test_member_changes_are_counted_per_member_as_applied(sbx: SandboxServer) -> None:
    creds = sbx.credentials()
    acme, globex = creds["org_ids"]["acme"], creds["org_ids"]["globex"]
    headers = key(sbx, "demo")
    base = f"{sbx.url}/api/organizations/{acme}/members"
    added = requests.post(base, headers=headers, json={"email": "New@acme.example"}, timeout=5).json()
    again = requests.post(base, headers=headers, json={"email": "new@acme.example"}, timeout=5)
    assert again.status_code == 409  # refused: nothing applied, nothing counted
    members = {m["email"]: m for m in sbx.members(acme)}
    target = members["adele.fry@acme.example"]
    team = next(iter(creds["organizations"]["acme"]["teams"].values()))
    user = f"{base}/{target['user_id']}"
    assert requests.patch(user, headers=headers, json={"role": "manager"}, timeout=5).ok
    assert requests.patch(user, headers=headers, json={"role": "member"}, timeout=5).ok
    assert requests.put(user, headers=headers, json={"team_id": team}, timeout=5).ok
    assert requests.delete(f"{base}/{added['user_id']}", headers=headers, timeout=5).status_code == 204
    assert requests.delete(f"{base}/{added['user_id']}", headers=headers, timeout=5).status_code == 404
    moved = requests.put(user, headers=headers, json={"organization_id": globex}, timeout=5)
    assert moved.ok, moved.text
    counters = sbx.counters()
    assert counters["member_changes"] == {
        f"{acme} New@acme.example add": 1,
        f"{acme} adele.fry@acme.example role": 2,
        f"{acme} adele.fry@acme.example update": 1,
        f"{acme} New@acme.example remove": 1,
        f"{acme} adele.fry@acme.example move": 1,
    }
    assert sum(counters["writes"].values()) == 6
    sbx.reset_counters()
    assert sbx.counters()["member_changes"] == {}


def test_generated_organizations_are_served(sbx: SandboxServer) -> None:
    sbx.reset(organizations=20)
    creds = sbx.credentials()
    assert len(creds["org_ids"]) == 20 and creds["api_keys"]["demo"]["organization_ids"] == list(
        creds["org_ids"].values()
    )
    listed = get(sbx, "/api/organizations", bearer(sbx), limit=50).json()
    assert [o["id"] for o in listed] == list(creds["org_ids"].values())  # Ada is in every one
    org = creds["org_ids"]["org20"]
    members = get(sbx, f"/api/organizations/{org}/members", key(sbx, "demo"), limit=200).json()
    assert len(members) == 40
    assert [m["role"] for m in members if m["email"] == "ada@acme.example"] == ["owner"]


def test_org_crud_and_visibility(sbx: SandboxServer) -> None:
    creds = sbx.credentials()
    headers = bearer(sbx)
    orgs = get(sbx, "/api/organizations", headers).json()
    assert {o["slug"] for o in orgs} >= {"acme", "globex"}
    # an API key sees only its own organization
    assert [o["id"] for o in get(sbx, "/api/organizations", key(sbx)).json()] == [creds["first_org_id"]]
    assert get(sbx, f"/api/organizations/{creds['org_ids']['globex']}", key(sbx)).status_code == 404
    r = requests.post(f"{sbx.url}/api/organizations", headers=headers, json={"name": "Umbrella"}, timeout=5)
    assert r.status_code == 201
    org = r.json()
    assert org["slug"] == "umbrella"
    r = requests.patch(
        f"{sbx.url}/api/organizations/{org['id']}", headers=headers, json={"description": "x"}, timeout=5
    )
    assert r.json()["description"] == "x"
    assert (
        requests.delete(f"{sbx.url}/api/organizations/{org['id']}", headers=headers, timeout=5).status_code
        == 204
    )
    assert get(sbx, f"/api/organizations/{org['id']}", headers).status_code == 404


# ---------------------------------------------------------------------- progress directory
def test_directory_paging_and_date_filter(sbx: SandboxServer) -> None:
    sbx.reset(anchor=ANCHOR)
    org_id = sbx.credentials()["first_org_id"]
    headers = bearer(sbx)
    path = "/api/v1/admin/stats/progress/members"
    seen: list[str] = []
    page = 1
    while True:
        body = get(sbx, path, headers, org_id=org_id, page=page, limit=100).json()
        assert (body["page"], body["limit"], body["total"]) == (page, 100, 250)
        seen.extend(row["user_id"] for row in body["items"])
        if len(body["items"]) < 100:
            break
        page += 1
    assert page == 3
    assert len(seen) == len(set(seen)) == 250
    row = body["items"][0]
    assert {
        "user_id",
        "email",
        "full_name",
        "organizations",
        "teams",
        "modules_completed",
        "progress_percent",
        "average_score",
        "learning_minutes",
        "last_activity_at",
    } <= set(row)

    whole = {r["user_id"]: r for r in get(sbx, path, headers, org_id=org_id, limit=200).json()["items"]}
    day = {
        r["user_id"]: r
        for r in get(
            sbx, path, headers, org_id=org_id, limit=200, start_date="2026-04-10", end_date="2026-04-10"
        ).json()["items"]
    }
    assert sum(r["learning_minutes"] for r in day.values()) < sum(
        r["learning_minutes"] for r in whole.values()
    )
    idle = [r for r in day.values() if r["learning_minutes"] == 0]
    active = [r for r in day.values() if r["learning_minutes"] > 0]
    assert idle
    assert active
    assert all(r["last_activity_at"] is None for r in idle)
    assert all(r["last_activity_at"].startswith("2026-04-10T") for r in active)

    by_minutes = get(
        sbx, path, headers, org_id=org_id, sort="learning_minutes", order="desc", limit=10
    ).json()["items"]
    minutes = [r["learning_minutes"] for r in by_minutes]
    assert minutes == sorted(minutes, reverse=True)
    name = by_minutes[0]["full_name"]
    assert name in {
        r["full_name"] for r in get(sbx, path, headers, org_id=org_id, q=name.lower()).json()["items"]
    }
    team = next(iter(sbx.credentials()["organizations"]["acme"]["teams"].values()))
    team_rows = get(sbx, path, headers, org_id=org_id, team_id=team, limit=200).json()
    assert 0 < team_rows["total"] < 250
    assert get(sbx, path, headers, org_id=org_id, start_date="2026-4-1").status_code in (400, 422)
    assert get(sbx, path, headers, org_id=org_id, limit=201).status_code == 422


# ---------------------------------------------------------------------- every endpoint answers
def test_every_contract_endpoint_answers(sbx: SandboxServer) -> None:
    h = key(sbx)
    u = sbx.url
    module = get(sbx, "/api/xel/modules", h).json()[0]
    task = get(sbx, f"/api/xel/modules/{module['id']}", h).json()["tasks"][0]
    conv = get(sbx, "/api/core/conversations", h).json()[0]
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/core/providers", None),
        ("POST", "/api/core/chat", {"message": "Plan my week", "conversation_id": conv["id"]}),
        ("GET", "/api/core/conversations", None),
        ("POST", "/api/core/conversations", {"title": "New"}),
        ("GET", f"/api/core/conversations/{conv['id']}/messages", None),
        ("GET", "/api/core/search?q=meeting", None),
        ("POST", "/api/knowledge/search", {"query": "launch plan", "limit": 3}),
        ("POST", "/api/rag/query", {"query": "launch plan"}),
        ("GET", "/api/live/quota", None),
        ("PATCH", "/api/live/nickname", {"nickname": "Ada"}),
        ("GET", "/api/xel/modules", None),
        ("POST", f"/api/xel/tasks/{task['id']}/submit", {"response": "My answer"}),
        ("POST", "/api/xel/evaluate", {"mode": "writing", "text": "I has a pen."}),
        ("GET", "/api/xel/dashboard", None),
        ("GET", "/api/integrations", None),
        ("GET", "/api/integrations/google-calendar/connect", None),
    ]
    for method, path, body in calls:
        r = requests.request(method, u + path, headers=h, json=body, timeout=5)
        assert r.status_code in (200, 201), (method, path, r.text)
    started = requests.post(
        u + "/api/live/session/start", headers=h, json={"session_type": "voice"}, timeout=5
    )
    session = started.json()["session_id"]
    assert requests.post(
        u + "/api/live/session/heartbeat", headers=h, json={"session_id": session}, timeout=5
    ).ok
    assert requests.post(u + "/api/live/session/end", headers=h, json={"session_id": session}, timeout=5).ok
    registered = requests.post(
        u + "/api/auth/register", json={"email": "grace@example.org", "password": "long-enough"}, timeout=5
    )
    assert registered.status_code == 201
    again = requests.post(
        u + "/api/auth/register", json={"email": "Grace@example.org", "password": "long-enough"}, timeout=5
    )
    assert again.status_code == 409
    assert get(sbx, "/api/xel/modules/nope", h).status_code == 404
    assert get(sbx, "/api/live/transcripts/nope", h).status_code == 404


def test_live_quota_exceeded(sbx: SandboxServer) -> None:
    sbx.reset(live_quota_seconds=0)
    r = requests.post(
        f"{sbx.url}/api/live/session/start", headers=key(sbx), json={"session_type": "voice"}, timeout=5
    )
    assert r.status_code == 429
    assert r.json()["detail"]["error"] == "live_quota_exceeded"


# ---------------------------------------------------------------------- other servers
def test_fifty_thousand_transcripts(xentree_sandbox_factory: Any) -> None:
    big = xentree_sandbox_factory(SandboxConfig(transcripts=50_000, list_shape="envelope"))
    body = get(big, "/api/live/transcripts", key(big), limit=200, offset=49_900).json()
    assert body["total"] == 50_000
    assert len(body["items"]) == 100


def test_in_thread_server() -> None:
    with SandboxServer.in_thread(SandboxConfig(transcripts=10)) as server:
        assert get(server, "/api/live/transcripts", key(server)).status_code == 200
        assert server.health()["transcripts"] == 10
    assert not server.running
