"""The path a new user takes in Airflow's UI, driven in a real browser.

A real Airflow 3 (``AirflowCluster``: api-server, scheduler, dag-processor, triggerer; the simple auth
manager in all-admins mode, so the UI logs in by itself) and a sandbox are started by the test. A
headless Chromium (Debian's ``chromium``, through Playwright's ``executable_path``; never
``playwright install``) then:

* creates the ``xentree_default`` connection through the Add Connection form (host and port of the
  sandbox, the sandbox's offered API key) and saves it: the stored extras are the form's defaults,
  none of them masked;
* presses the connection list's Test button (``AIRFLOW__CORE__TEST_CONNECTION=Enabled``): success;
* triggers the membership example from its Trigger dialog with the defaults and waits for the run to
  succeed with that connection: both organizations of the rosters synced, mapped tasks labelled by
  organization id, and the extra link opens the sandbox's members page;
* opens every example DAG's Trigger dialog: the Trigger button is enabled with the defaults.

Screenshots of each step go to ``test-artifacts/ui-browser/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags_examples"
ROSTER_DIR = DAGS_FOLDER / "rosters"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui-browser"
CHROMIUM = os.environ.get("XENTREE_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ANCHOR = "2026-11-23"
CONN_ID = "xentree_default"
MEMBERSHIP = "xentree_org_membership_sync"
EXAMPLE_DAGS = (
    "xentree_learning_report",
    MEMBERSHIP,
    "xentree_transcript_export",
    "xentree_conversation_export",
)
# Test-cluster policy: a failed try is retried after 1 s, not 5 min (the DAG files stay untouched).
LOCAL_SETTINGS = """\
from datetime import timedelta


def task_policy(task):
    try:
        task.retry_delay = timedelta(seconds=1)
    except Exception:
        pass
"""
UI_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(anchor=ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowCluster]:
    work = tmp_path_factory.mktemp("ui-browser")
    env = {
        # No AIRFLOW_CONN_XENTREE_DEFAULT: the connection is made in the UI, stored in Airflow's database.
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "XENTREE_EXAMPLES_OUTPUT": str(work / "exports"),
        "XENTREE_MEMBERSHIP_REPORT_DIR": str(work / "membership"),
        "XENTREE_LEARNING_REPORT_DIR": str(work / "reports"),
    }
    with AirflowCluster(DAGS_FOLDER, env=env, local_settings=LOCAL_SETTINGS) as running:
        running.wait_for_dags(EXAMPLE_DAGS)
        yield running
    assert not running.running


@pytest.fixture(scope="module")
def page(cluster: AirflowCluster) -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}; run scripts/ensure_chromium.sh as root (Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev group) is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            context.set_default_timeout(UI_TIMEOUT_MS)
            browser_page = context.new_page()
            # All-admins simple auth manager: the first page load logs in and sets the token cookie.
            browser_page.goto(f"{cluster.url}/")
            yield browser_page
        finally:
            browser.close()


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(
        timeout=UI_TIMEOUT_MS
    )  # a loaded machine renders slowly; waits, not assertions on time
    return expect


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def ui_connection(page: Any, cluster: AirflowCluster, sandbox: SandboxServer) -> dict[str, Any]:
    """``xentree_default`` made through the Add Connection form; returns what the REST API stores."""
    port = sandbox.url.rsplit(":", 1)[1]
    page.goto(f"{cluster.url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(CONN_ID)
    connection_type = dialog.get_by_role("combobox")
    connection_type.click()
    connection_type.fill("Xentree")
    page.get_by_role("option", name="Xentree", exact=True).click()
    dialog.locator("input[name=host]").fill(sandbox.url)
    # The port field is shown (the 3.3.2 Test button needs a stored port, apache/airflow#73298).
    port_field = dialog.locator("input[name=port]")
    _expect()(port_field).to_be_visible()
    port_field.fill(port)
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    api_key_field = dialog.locator("#element_api_key")
    _expect()(api_key_field).to_have_attribute("type", "password")
    api_key_field.fill(sandbox.api_key("demo"))
    _shot(page, "01-add-connection-form")
    with page.expect_response(
        lambda response: response.url.endswith("/api/v2/connections") and response.request.method == "POST"
    ) as created:
        dialog.get_by_role("button", name="Save").click()
    assert created.value.status == 201, created.value.text()
    _expect()(page.get_by_role("row").filter(has_text=CONN_ID)).to_be_visible()
    _shot(page, "02-connection-saved")
    stored: dict[str, Any] = cluster.api("GET", f"connections/{CONN_ID}")
    return stored


def test_the_form_saves_its_defaults_unmasked(ui_connection: dict[str, Any], sandbox: SandboxServer) -> None:
    import json

    from xentree_provider.hooks.connection_form import extra_defaults

    extra = json.loads(ui_connection["extra"])
    assert ui_connection["conn_type"] == "xentree"
    assert ui_connection["host"] == sandbox.url
    assert str(ui_connection["port"]) == sandbox.url.rsplit(":", 1)[1]
    # The REST API masks the API key (a secret); every other field holds the form's default.
    assert extra.pop("api_key") == "***"
    assert {name: value for name, value in extra.items() if value is not None} == extra_defaults()


def test_the_test_button_succeeds(page: Any, cluster: AirflowCluster, ui_connection: dict[str, Any]) -> None:
    page.goto(f"{cluster.url}/connections")
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    with page.expect_response(
        lambda response: (
            response.url.endswith("/api/v2/connections/test") and response.request.method == "POST"
        )
    ) as tested:
        row.get_by_role("button", name="Test Connection").click()
    result = tested.value.json()
    _shot(page, "03-test-connection")
    assert tested.value.status == 200, result
    assert result["status"] is True, result
    assert "API key" in result["message"]


def test_a_dag_triggered_from_the_ui_runs_with_the_connection(
    page: Any, cluster: AirflowCluster, sandbox: SandboxServer, ui_connection: dict[str, Any]
) -> None:
    page.goto(f"{cluster.url}/dags/{MEMBERSHIP}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    with page.expect_response(
        lambda response: (
            response.url.endswith(f"/api/v2/dags/{MEMBERSHIP}/dagRuns") and response.request.method == "POST"
        )
    ) as triggered:
        dialog.get_by_role("button", name="Trigger", exact=True).click()
    assert triggered.value.status in (200, 201), triggered.value.text()
    run_id = triggered.value.json()["dag_run_id"]
    state = cluster.wait_for_run(MEMBERSHIP, run_id, timeout=240)
    instances = cluster.task_instances(MEMBERSHIP, run_id)
    if state != "success":
        failed = [ti for ti in instances if ti["state"] not in ("success", "skipped")]
        logs = [
            cluster.task_log(MEMBERSHIP, run_id, ti["task_id"], max(1, ti["try_number"]), ti["map_index"])[
                -1500:
            ]
            for ti in failed
            if ti["state"] == "failed"
        ]
        pytest.fail(f"run {state}: {[(t['task_id'], t['map_index'], t['state']) for t in failed]}\n{logs}")

    organizations = sorted(path.stem for path in ROSTER_DIR.glob("*.csv"))
    assert len(organizations) >= 2
    for task_id in ("sync.plan", "sync.apply"):
        labels = sorted(ti["rendered_map_index"] for ti in instances if ti["task_id"] == task_id)
        assert labels == organizations, task_id

    page.goto(f"{cluster.url}/dags/{MEMBERSHIP}/runs/{quote(run_id, safe='')}")
    for organization in organizations:  # the Map Index column names each mapped task's organization
        _expect()(page.get_by_text(organization, exact=True).first).to_be_visible()
    _shot(page, "04-membership-run")

    # The extra link of an apply task opens the sandbox's page of that organization's members.
    apply_index = next(ti["map_index"] for ti in instances if ti["task_id"] == "sync.apply")
    links = cluster.api(
        "GET",
        f"dags/{MEMBERSHIP}/dagRuns/{quote(run_id, safe='')}/taskInstances/sync.apply/links",
        params={"map_index": apply_index},
    )
    members_url = links["extra_links"].get("Xentree organization members")
    assert members_url and members_url.startswith(sandbox.url), links
    response = page.goto(members_url)
    assert response is not None and response.status == 200
    _expect()(page.get_by_role("heading", level=1)).to_contain_text("members")
    _shot(page, "05-extra-link-members-page")


@pytest.mark.parametrize("dag_id", EXAMPLE_DAGS)
def test_every_example_dag_triggers_with_its_defaults(
    page: Any, cluster: AirflowCluster, dag_id: str
) -> None:
    page.goto(f"{cluster.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    _expect()(dialog.get_by_text(f"Trigger Dag - {dag_id}")).to_be_visible()
    trigger = dialog.get_by_role("button", name="Trigger", exact=True)
    _expect()(trigger).to_be_enabled()
    _expect()(dialog.get_by_text("This field is required")).to_have_count(0)
    if dag_id == "xentree_learning_report":
        # organization_id is optional: typed in and cleared again, it still lets the run start.
        organization_field = dialog.locator("input[name=element_organization_id]")
        organization_field.fill("org_x")
        organization_field.fill("")
        _expect()(dialog.get_by_text("This field is required")).to_have_count(0)
        _expect()(trigger).to_be_enabled()
    _shot(page, f"06-trigger-dialog-{dag_id}")
    dialog.get_by_role("button", name="Close").click()


def test_the_command_line_test_works_without_a_port(cluster: AirflowCluster, sandbox: SandboxServer) -> None:
    """The documented workaround for a connection saved without a port."""
    cluster.api(
        "POST",
        "connections",
        json={
            "connection_id": "xentree_no_port",
            "conn_type": "xentree",
            "host": sandbox.url,
            "extra": f'{{"api_key": "{sandbox.api_key("demo")}"}}',
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "xentree_no_port"],
        env=cluster.env,
        cwd=cluster.home,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Connection success!" in result.stdout, result.stdout[-2000:]
