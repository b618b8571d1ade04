"""What the sandbox offers a user trying the provider: an API key for every demo organization, and the
pages the extra links open."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
import requests

from xentree_provider.links.xentree import XentreeOrganizationLink, XentreeTranscriptLink, XentreeXelLink
from xentree_provider.testing import SandboxServer
from xentree_provider.testing.sandbox import connection_banner


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _page_text(response: requests.Response) -> str:
    assert response.headers["content-type"].startswith("text/html")
    parser = _Text()
    parser.feed(response.text)
    return " ".join(parser.parts)


def test_the_offered_api_key_covers_every_demo_organization(sandbox: SandboxServer) -> None:
    creds = sandbox.credentials()
    banner = connection_banner(sandbox.url, creds)
    offered = creds["api_keys"]["demo"]
    assert offered["key"] in banner and creds["api_keys"]["full"]["key"] not in banner
    assert "every scope" in banner
    assert set(offered["organization_ids"]) == set(creds["org_ids"].values())
    assert len(offered["organization_ids"]) >= 2

    listed = requests.get(
        f"{sandbox.url}/api/organizations", headers={"X-API-Key": offered["key"]}, timeout=10
    ).json()
    assert {org["id"] for org in listed} == set(creds["org_ids"].values())


def test_the_demo_key_reads_and_writes_the_second_organization(sandbox: SandboxServer, make_hook) -> None:
    """The membership example syncs two organizations; the second answered a bare 404 before."""
    second = sandbox.credentials()["org_ids"]["globex"]
    hook = make_hook("demo")
    members = list(hook.iter_members(second))
    assert members
    added = hook.add_member("new.person@globex.example", "member", org_id=second)
    assert added["email"] == "new.person@globex.example"
    # The single-organization key still sees its own organization only.
    full = sandbox.credentials()["api_keys"]["full"]
    assert full["organization_ids"] == [full["organization_id"]]


def test_extra_links_of_a_sandbox_run_open_a_page(sandbox: SandboxServer) -> None:
    creds = sandbox.credentials()
    org_id = creds["org_ids"]["acme"]
    members_page = requests.get(XentreeOrganizationLink.url(sandbox.url, org_id=org_id), timeout=10)
    assert members_page.status_code == 200
    text = _page_text(members_page)
    assert "Acme Learning" in text and creds["email"] in text

    transcripts_page = requests.get(XentreeTranscriptLink.url(sandbox.url), timeout=10)
    assert transcripts_page.status_code == 200
    assert "transcripts" in _page_text(transcripts_page)

    module_id = requests.get(
        f"{sandbox.url}/api/xel/modules", headers={"X-API-Key": creds["api_keys"]["full"]["key"]}, timeout=10
    ).json()[0]["id"]
    for url in (XentreeXelLink.url(sandbox.url), XentreeXelLink.url(sandbox.url, module_id=module_id)):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, url
        assert module_id in _page_text(response) or "Level" in _page_text(response)


@pytest.mark.parametrize("path", ["/organizations/org_nope/members", "/xel/modules/mod_nope"])
def test_a_page_for_an_unknown_id_is_a_404_page(sandbox: SandboxServer, path: str) -> None:
    response = requests.get(sandbox.url + path, timeout=10)
    assert response.status_code == 404
    assert "does not exist" in _page_text(response)


def test_pages_escape_the_data(sandbox: SandboxServer) -> None:
    key = sandbox.credentials()["api_keys"]["full"]["key"]
    created = requests.post(
        f"{sandbox.url}/api/organizations",
        json={"name": "<script>alert(1)</script> & Co", "slug": "hostile"},
        headers={"X-API-Key": key},
        timeout=10,
    ).json()
    page = requests.get(XentreeOrganizationLink.url(sandbox.url, org_id=created["id"]), timeout=10)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


def test_a_404_on_an_organization_the_api_key_does_not_cover_says_so(
    sandbox: SandboxServer, make_hook
) -> None:
    from xentree_provider.api.errors import XentreeNotFoundError

    second = sandbox.credentials()["org_ids"]["globex"]
    with pytest.raises(XentreeNotFoundError) as raised:
        list(make_hook("full").iter_members(second))
    assert raised.value.status == 404
    assert "does not cover organization" in str(raised.value) and second in str(raised.value)
    with pytest.raises(XentreeNotFoundError, match="does not cover"):
        make_hook("full").get_organization(second)
    # A login sees what its user belongs to: no API-key hint there.
    with pytest.raises(XentreeNotFoundError) as by_login:
        make_hook().get_organization("org_unknown")
    assert "API key" not in str(by_login.value)


def test_the_async_hook_says_the_same(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import json

    from xentree_provider.api.errors import XentreeNotFoundError
    from xentree_provider.hooks.xentree_async import XentreeAsyncHook

    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_ASYNC_FULL", json.dumps(sandbox.api_key_connection("full")))
    hook = XentreeAsyncHook("xentree_async_full")
    second = sandbox.credentials()["org_ids"]["globex"]

    async def read_members() -> None:
        try:
            async for _ in hook.iter_list("list_members", path_params={"org_id": second}):
                pass
        finally:
            await hook.aclose()

    with pytest.raises(XentreeNotFoundError, match="does not cover organization"):
        asyncio.run(read_members())
