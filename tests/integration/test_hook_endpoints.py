"""Every typed XentreeHook method against the sandbox, and the paging variants of the contract."""

from __future__ import annotations

import itertools

import pytest

from xentree_provider.api.errors import XentreeConflictError, XentreeNotFoundError, XentreeValidationError
from xentree_provider.hooks.xentree import XentreeHook


def test_every_typed_method_round_trips(sandbox, make_hook):
    hook: XentreeHook = make_hook()
    creds = sandbox.credentials()
    org_id = creds["api_keys"]["full"]["organization_id"]

    # authentication
    assert hook.get_me()["email"] == creds["email"]
    assert hook.update_me(full_name="Ada King")["full_name"] == "Ada King"
    registered = hook.register_user("grace@example.org", "a-long-sandbox-password", full_name="Grace")
    assert registered["email"] == "grace@example.org"
    with pytest.raises(XentreeConflictError):
        hook.register_user("grace@example.org", "a-long-sandbox-password")
    facts = hook.refresh_token()
    assert facts["expires_at"] and "access_token" not in facts

    # conversations
    assert hook.list_ai_providers()
    conversation = hook.create_conversation("Weekly summary")
    answer = hook.generate_response(
        "Summarise this week", conversation_id=conversation["id"], user_language="en"
    )
    assert answer["content"] and answer["model"]
    assert isinstance(list(hook.iter_conversations()), list)
    assert isinstance(list(hook.iter_conversation_messages(conversation["id"])), list)
    assert isinstance(hook.search_content("summary", limit=5), list)

    # knowledge base
    hits = hook.search_knowledge("grammar schedule", limit=3)
    assert 0 < len(hits) <= 3 and {"id", "content", "score"} <= set(hits[0])
    rag = hook.rag_query("How do teams plan a launch?")
    assert rag["answer"] and isinstance(rag["sources"], list)

    # Live
    quota = hook.get_live_quota()
    assert quota["remaining_seconds"] <= quota["limit_seconds"]
    session = hook.start_live_session("voice")
    hook.live_session_heartbeat(session["session_id"])
    hook.end_live_session(session["session_id"])
    hook.update_live_nickname("Ada")
    page = hook.list_transcripts(limit=3)
    assert len(page) == 3
    full = hook.get_transcript(page[0]["id"])
    assert full["transcripts"] and full["transcripts"][0]["role"] in ("user", "ai")
    saved = hook.save_transcript(
        "2026-11-01T10:00:00Z",
        "2026-11-01T10:05:00Z",
        [{"role": "user", "text": "hi", "timestamp": "2026-11-01T10:00:01Z"}],
    )
    assert saved["id"]
    with pytest.raises(XentreeNotFoundError):
        hook.get_transcript("ltr_does_not_exist")

    # organizations
    orgs = list(hook.iter_organizations())
    assert org_id in {o["id"] for o in orgs}
    assert hook.get_organization(org_id)["id"] == org_id
    created = hook.create_organization("Pipeline Org", "pipeline-org", "made by a test")
    assert hook.update_organization(created["id"], description="changed")["description"] == "changed"
    members = list(hook.iter_members(org_id))
    assert members
    added = hook.add_member("new.hire@acme.example", "member", org_id)
    with pytest.raises(XentreeConflictError):
        hook.add_member("NEW.HIRE@acme.example", "member", org_id)
    assert hook.update_member_role(added["user_id"], "manager", org_id)["role"] == "manager"
    team = members[0]["team_id"]
    replaced = hook.replace_member(added["user_id"], "member", team_id=team, org_id=org_id)
    assert replaced["role"] == "member" and replaced["team_id"] == team
    hook.remove_member(added["user_id"], org_id)
    assert all(m["email"] != "new.hire@acme.example" for m in hook.iter_members(org_id))
    hook.delete_organization(created["id"])
    with pytest.raises(XentreeNotFoundError):
        hook.get_organization(created["id"])

    # integrations
    assert isinstance(list(hook.iter_integrations()), list)
    assert hook.connect_google_calendar().startswith("https://")

    # XEL
    modules = list(hook.iter_modules())
    assert modules
    module = hook.get_module(modules[0]["id"])
    assert module["tasks"]
    submitted = hook.submit_task(module["tasks"][0]["id"], "My answer")
    assert "score" in submitted
    assert "score" in hook.evaluate("writing", text="I has a dream.")
    with pytest.raises(ValueError, match="speaking"):
        hook.evaluate("singing", text="la")
    assert "overall_progress_percent" in hook.get_dashboard()
    progress = list(
        itertools.islice(hook.iter_member_progress(org_id, start_date="2026-11-01", end_date="2026-11-07"), 5)
    )
    assert progress and "progress_percent" in progress[0]

    # generic request for the rest of openapi.yaml
    assert hook.request("GET", "/api/live/quota")["limit_seconds"] == quota["limit_seconds"]


def test_organization_falls_back_to_connection_extra(sandbox, make_hook):
    org_id = sandbox.credentials()["api_keys"]["full"]["organization_id"]
    hook = make_hook("full", extra={"organization_id": org_id})
    assert hook.get_organization()["id"] == org_id
    no_org = make_hook("full")
    with pytest.raises(ValueError, match="organization_id"):
        list(no_org.iter_members())


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
@pytest.mark.parametrize("page_size", [7, 200])
def test_every_list_shape_reads_every_record_once(sandbox, make_hook, shape, envelope_key, page_size):
    sandbox.reset(list_shape=shape, envelope_key=envelope_key, transcripts=450)
    hook = make_hook("full")
    ids = [t["id"] for t in hook.iter_transcripts(page_size=page_size)]
    assert len(ids) == 450
    assert len(set(ids)) == 450
    started = [t["session_started_at"] for t in hook.iter_transcripts(page_size=page_size)]
    assert started == sorted(started, reverse=True)


@pytest.mark.parametrize("style", ["z", "offset", "fractional"])
def test_timestamp_styles_parse_to_the_same_instants(sandbox, make_hook, style):
    from xentree_provider.api.timestamps import parse_timestamp

    sandbox.reset(timestamp_style="z", transcripts=50)
    reference = [parse_timestamp(t["session_started_at"]) for t in make_hook("full").iter_transcripts()]
    sandbox.reset(timestamp_style=style, transcripts=50)
    seen = [parse_timestamp(t["session_started_at"]) for t in make_hook("full").iter_transcripts()]
    assert [s.replace(microsecond=0) for s in seen] == [r.replace(microsecond=0) for r in reference]


def test_org_progress_directory_pages_through_a_large_directory(sandbox, make_hook):
    org_id = sandbox.credentials()["api_keys"]["full"]["organization_id"]
    hook = make_hook("full")
    rows = list(
        hook.iter_member_progress(org_id, start_date="2026-11-01", end_date="2026-11-20", page_size=40)
    )
    assert len(rows) == len({r["user_id"] for r in rows})
    assert len(rows) >= sandbox.server_config()["directory_members"]


def test_page_size_out_of_range_is_refused_before_any_request(sandbox, make_hook):
    hook = make_hook("full")
    with pytest.raises(ValueError, match="page_size"):
        list(hook.iter_transcripts(page_size=500))
    assert sandbox.counters()["requests_total"] == 0


def test_server_side_validation_errors_carry_field_messages(sandbox, make_hook):
    hook = make_hook("full")
    with pytest.raises(XentreeValidationError) as caught:
        hook.request("GET", "/api/live/transcripts", params={"limit": 999})
    assert caught.value.status in (400, 422)
    assert caught.value.field_errors or caught.value.message
