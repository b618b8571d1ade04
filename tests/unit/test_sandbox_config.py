"""Sandbox configuration, seeded data and import hygiene (no server needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xentree_provider.testing import FaultConfig, SandboxConfig, parse_faults
from xentree_provider.testing.seed import DAY_US, World, format_timestamp


def test_parse_faults() -> None:
    faults = parse_faults(
        "latency_ms=10,error_rate=0.1,reset_rate=0.05,rate_limit_rps=50,error_codes=500;503"
    )
    assert faults.latency_ms == 10
    assert faults.error_rate == 0.1
    assert faults.reset_rate == 0.05
    assert faults.rate_limit_rps == 50
    assert faults.error_codes == (500, 503)
    assert parse_faults("").to_dict() == FaultConfig().to_dict()
    assert parse_faults("reset_phase=after,fault_routes=/api/live|/api/organizations").fault_routes == [
        "/api/live",
        "/api/organizations",
    ]
    with pytest.raises(ValueError, match="unknown fault knob"):
        parse_faults("latency=5")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_faults("error_rate=2")


def test_config_round_trip_and_merge() -> None:
    config = SandboxConfig(seed=7, list_shape="page", faults=FaultConfig(error_rate=0.2, error_codes=(503,)))
    assert SandboxConfig.from_dict(config.to_dict()) == config
    merged = config.merged({"transcripts": 10, "faults": {"latency_ms": 5}})
    assert (merged.transcripts, merged.faults.latency_ms, merged.faults.error_rate) == (10, 5.0, 0.2)
    with pytest.raises(ValueError, match="unknown SandboxConfig"):
        SandboxConfig.from_dict({"sede": 1})
    with pytest.raises(ValueError, match="list_shape"):
        SandboxConfig(list_shape="pages")  # type: ignore[arg-type]


def test_world_is_deterministic_and_anchored() -> None:
    config = SandboxConfig(transcripts=500, anchor="2026-04-20")
    one, two = World(config), World(config)
    assert [r.id for r in one.transcripts] == [r.id for r in two.transcripts]
    assert one.password == two.password
    assert list(one.api_keys) == list(two.api_keys)
    assert one.turns_for(one.transcripts[3]) == two.turns_for(two.transcripts[3])
    assert World(SandboxConfig(transcripts=500, anchor="2026-04-20", seed=1)).password != one.password
    newest, oldest = one.transcripts[0], one.transcripts[-1]
    assert one.anchor_us - 3600 * 10**6 < newest.started < one.anchor_us
    assert oldest.started == one.anchor_us - 28 * DAY_US
    assert format_timestamp(oldest.started, "z") == "2026-03-23T00:00:00Z"
    assert format_timestamp(oldest.started, "offset") == "2026-03-23T00:00:00+00:00"
    assert format_timestamp(oldest.started, "fractional") == "2026-03-23T00:00:00.000000Z"


def test_fifty_thousand_transcripts_seed_quickly() -> None:
    world = World(SandboxConfig(transcripts=50_000))
    assert len(world.transcripts) == 50_000
    assert len(world.transcript_index) == 50_000


def test_light_imports_and_cli_refuses_remote() -> None:
    code = (
        "import sys, xentree_provider.testing, xentree_provider.testing.pytest_plugin\n"
        "heavy = {'fastapi', 'uvicorn', 'starlette', 'airflow'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run(
        [sys.executable, "-m", "xentree_provider.testing.sandbox", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr


def test_generated_organizations_leave_the_named_ones_as_they_were() -> None:
    default = World(SandboxConfig(transcripts=10))
    wide = World(SandboxConfig(transcripts=10, organizations=20))
    assert len(default.orgs) == 3 and len(wide.orgs) == 20
    assert list(wide.orgs)[:3] == list(default.orgs)
    for org_id in default.orgs:
        assert wide.members[org_id] == default.members[org_id]
        assert wide.learners[org_id] == default.learners[org_id]
    assert wide.password == default.password and list(wide.api_keys) == list(default.api_keys)
    demo = next(key for key in wide.api_keys.values() if key.name == "demo")
    assert demo.organization_ids == tuple(wide.orgs)
    emails: set[str] = set()
    for org_id in list(wide.orgs)[3:]:
        roster = wide.members[org_id]
        assert len(roster) == 40
        assert roster[wide.primary.id].role == "owner"
        assert sum(member.role == "owner" for member in roster.values()) == 1
        assert {member.team_id for member in roster.values()} <= {t.id for t in wide.orgs[org_id].teams}
        emails |= {wide.users[user_id].email for user_id in roster if user_id != wide.primary.id}
    assert len(emails) == 17 * 39  # nobody but Ada is in two generated organizations
    assert [org.slug for org in wide.orgs.values()][3:5] == ["org04", "org05"]
    assert list(World(SandboxConfig(transcripts=10, organizations=20)).orgs) == list(wide.orgs)
    assert list(World(SandboxConfig(transcripts=10, organizations=2)).orgs) == list(default.orgs)[:2]


@pytest.mark.parametrize("count", [0, 100])
def test_organizations_out_of_range(count: int) -> None:
    with pytest.raises(ValueError, match="organizations must be between 1 and 99"):
        SandboxConfig(organizations=count)
