"""Unit tests for ``xentree_provider.api.routes`` and ``xentree_provider.api.timestamps``."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from xentree_provider.api.routes import ROUTES, Auth, Paging, Route, route
from xentree_provider.api.timestamps import day_param, format_date, format_timestamp, parse_timestamp

# CI lays shared/ beside the clone, as on the developers' machines.
CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "xentree-api" / "CONTRACT.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# --------------------------------------------------------------------------- path formatting


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_route_formats_and_quotes_its_params(name: str) -> None:
    r = ROUTES[name]
    assert r.name == name
    assert r.method in METHODS
    assert r.path.startswith("/api/")
    values = {param: f"{param} /?#&%x" for param in r.path_params}
    path = r.format_path(**values)
    assert "{" not in path and "}" not in path
    for param in r.path_params:
        assert f"{param}%20%2F%3F%23%26%25x" in path
    # nothing but the template's own slashes
    assert path.count("/") == r.path.count("/")


def test_format_path_examples() -> None:
    assert route("get_transcript").format_path(transcript_id="t-1") == "/api/live/transcripts/t-1"
    assert (
        route("update_member_role").format_path(org_id="o 1", user_id="u/2")
        == "/api/organizations/o%201/members/u%2F2"
    )
    assert route("get_me").format_path() == "/api/auth/me"
    assert route("get_xel_module").format_path(module_id=17) == "/api/xel/modules/17"


@pytest.mark.parametrize("value", [None, ""])
def test_format_path_missing_value(value: str | None) -> None:
    with pytest.raises(ValueError, match="get_organization needs a value for org_id"):
        route("get_organization").format_path(org_id=value)
    with pytest.raises(ValueError, match="org_id, user_id"):
        route("remove_member").format_path()


def test_path_params() -> None:
    assert route("replace_member").path_params == ("org_id", "user_id")
    assert route("list_transcripts").path_params == ()


# --------------------------------------------------------------------------- retry safety


@pytest.mark.parametrize(
    ("method", "idempotent", "expected"),
    [
        ("GET", None, True),
        ("PUT", None, True),
        ("HEAD", None, True),
        ("POST", None, False),
        ("PATCH", None, False),
        ("DELETE", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_safe_to_retry_semantics(method: str, idempotent: bool | None, expected: bool) -> None:
    assert Route("r", method, "/api/x", idempotent=idempotent).safe_to_retry is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("get_transcript", True),
        ("list_transcripts", True),
        ("login", True),
        ("refresh", True),
        ("search_knowledge", True),
        ("rag_query", True),
        ("replace_member", True),
        ("remove_member", True),
        ("save_transcript", False),
        ("add_member", False),
        ("generate_response", False),
        ("start_live_session", False),
        ("create_organization", False),
        ("register", False),
    ],
)
def test_route_retry_safety(name: str, expected: bool) -> None:
    assert route(name).safe_to_retry is expected


def test_every_get_is_safe_and_every_unsafe_is_a_create() -> None:
    for r in ROUTES.values():
        if r.method in ("GET", "PUT"):
            assert r.safe_to_retry, r.name
        if not r.safe_to_retry:
            assert r.method == "POST", r.name


def test_route_attributes() -> None:
    assert route("login").auth is Auth.NONE and route("login").form
    assert route("refresh").auth is Auth.REFRESH
    assert route("get_me").auth is Auth.BEARER
    assert route("list_member_progress").paging is Paging.PAGE
    assert route("list_transcripts").paging is Paging.OFFSET
    assert route("get_transcript").paging is Paging.NONE
    assert route("add_member").scope == "organizations:write"
    assert route("get_live_quota").scope == "live:read"


def test_unknown_route_name() -> None:
    with pytest.raises(KeyError) as info:
        route("get_transcripts")
    message = str(info.value)
    assert "unknown Xentree route 'get_transcripts'" in message
    assert "get_transcript" in message and "list_transcripts" in message


def test_route_names_are_unique() -> None:
    from xentree_provider.api import routes as module

    names = [r.name for r in module._ROUTE_LIST]
    assert len(names) == len(set(names))


# --------------------------------------------------------------------------- ROUTES covers CONTRACT.md


def normalise(path: str) -> str:
    """Drop the query string and the placeholder names: ``/a/{org_id}?x`` -> ``/a/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0].rstrip("/"))


def contract_endpoints(text: str) -> set[tuple[str, str]]:
    """Every ``METHOD /path`` named in the contract's Authentication and Endpoints sections.

    Understands ``GET|PATCH|DELETE /path`` and a bare ```PUT` same path`` that refers to the last path.
    """
    start = text.index("## Authentication")
    text = text[start:]
    found: set[tuple[str, str]] = set()
    last_path: str | None = None
    span = re.compile(r"`([^`]*)`(\s+same path)?")
    method_path = re.compile(r"^((?:GET|POST|PUT|PATCH|DELETE)(?:\|(?:GET|POST|PUT|PATCH|DELETE))*)\s+(/\S+)")
    for match in span.finditer(text):
        content = " ".join(match.group(1).split())
        head = method_path.match(content)
        if head:
            last_path = normalise(head.group(2))
            for method in head.group(1).split("|"):
                found.add((method, last_path))
        elif match.group(2) and content in METHODS and last_path is not None:
            found.add((content, last_path))
    return found


def test_contract_parser_on_a_sample() -> None:
    sample = (
        "## Authentication\n- `POST /api/auth/login` x. `GET|PATCH|DELETE /api/o/{org_id}` and `PUT` same "
        "path; `DELETE` same path. `GET /api/s/progress?org_id&\n  start_date&end_date` `{a}` `live:read`"
    )
    assert contract_endpoints(sample) == {
        ("POST", "/api/auth/login"),
        ("GET", "/api/o/{}"),
        ("PATCH", "/api/o/{}"),
        ("DELETE", "/api/o/{}"),
        ("PUT", "/api/o/{}"),
        ("GET", "/api/s/progress"),
    }


@pytest.mark.skipif(not CONTRACT.exists(), reason="the shared API contract is not on this machine")
def test_routes_cover_every_contract_endpoint() -> None:
    wanted = contract_endpoints(CONTRACT.read_text(encoding="utf-8"))
    assert len(wanted) >= 35, sorted(wanted)  # the parser found the contract's endpoints
    have = {(r.method, normalise(r.path)) for r in ROUTES.values()}
    missing = sorted(wanted - have)
    assert not missing, f"endpoints in CONTRACT.md without a route: {missing}"


# --------------------------------------------------------------------------- timestamps

UTC_TS = datetime(2026, 4, 16, 10, 0, 3, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-16T10:00:03Z", UTC_TS),
        ("2026-04-16T10:00:03z", UTC_TS),
        ("2026-04-16T10:00:03+00:00", UTC_TS),
        (" 2026-04-16T10:00:03Z ", UTC_TS),
        ("2026-04-16T12:00:03+02:00", UTC_TS),
        ("2026-04-16T10:00:03", UTC_TS),
        ("2026-04-16T10:00:03.250000Z", UTC_TS.replace(microsecond=250000)),
        ("2026-04-16T10:00:03.25+00:00", UTC_TS.replace(microsecond=250000)),
        ("2026-04-16T10:00:03.123456789Z", UTC_TS.replace(microsecond=123456)),
        # What Python 3.10's fromisoformat refuses and 3.11+ takes: the same on every Python.
        ("2026-04-16T10:00:03.5Z", UTC_TS.replace(microsecond=500000)),
        ("2026-04-16T10:00:03.1234+00:00", UTC_TS.replace(microsecond=123400)),
        ("2026-04-16T12:00:03+0200", UTC_TS),
        ("2026-04-16T05:00:03.25-0500", UTC_TS.replace(microsecond=250000)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is timezone.utc


def test_parse_timestamp_datetime_inputs() -> None:
    assert parse_timestamp(UTC_TS.replace(tzinfo=None)) == UTC_TS
    plus2 = UTC_TS.astimezone(timezone(timedelta(hours=2)))
    assert parse_timestamp(plus2).tzinfo is timezone.utc


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01T00:00:00Z", "16/04/2026"])
def test_parse_timestamp_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_timestamp(text)


@pytest.mark.parametrize(
    "value",
    [UTC_TS, UTC_TS.replace(microsecond=250000), UTC_TS.astimezone(timezone(timedelta(hours=-5)))],
)
def test_format_timestamp_round_trip(value: datetime) -> None:
    text = format_timestamp(value)
    assert text.endswith("Z") and "+" not in text
    assert parse_timestamp(text) == value


def test_format_timestamp_example_and_naive() -> None:
    assert format_timestamp(UTC_TS) == "2026-04-16T10:00:03Z"
    with pytest.raises(ValueError, match="naive"):
        format_timestamp(UTC_TS.replace(tzinfo=None))


def test_format_date_and_day_param() -> None:
    assert format_date(date(2026, 4, 1)) == "2026-04-01"
    late_evening_new_york = datetime(2026, 4, 1, 22, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert format_date(late_evening_new_york) == "2026-04-02"  # the UTC day
    with pytest.raises(ValueError, match="naive"):
        format_date(datetime(2026, 4, 1))
    assert day_param(None) is None
    assert day_param("2026-04-01") == "2026-04-01"
    assert day_param(date(2026, 4, 1)) == "2026-04-01"
    assert day_param(UTC_TS) == "2026-04-16"


def test_no_api_path_literals_outside_the_routes_table() -> None:
    """Only ``routes.py`` spells API paths (the sandbox, which serves them, is exempt)."""
    import ast

    import xentree_provider

    package = Path(xentree_provider.__file__).parent
    offenders: list[str] = []
    for source in sorted(package.rglob("*.py")):
        relative = source.relative_to(package).as_posix()
        if relative == "api/routes.py" or relative.startswith("testing/"):
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.startswith("/api/")
            ):
                offenders.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert not offenders, "API paths outside api/routes.py:\n" + "\n".join(offenders)


def test_only_a_retried_delete_treats_404_as_done() -> None:
    from xentree_provider.api.transport import deleted_on_an_earlier_try

    remove = ROUTES["remove_member"]
    assert deleted_on_an_earlier_try(remove, 2)
    assert not deleted_on_an_earlier_try(remove, 1)  # a first-try 404 means a wrong id
    assert not deleted_on_an_earlier_try(ROUTES["get_organization"], 2)
