"""Roster parsing and validation (pure; no server)."""

from __future__ import annotations

import pickle

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.membership.roster import (
    RosterEntry,
    RosterError,
    detect_format,
    parse_roster,
    parse_roster_records,
    parse_roster_table,
    parse_roster_text,
)


def problems_of(excinfo: pytest.ExceptionInfo[RosterError]) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


def test_csv_is_trimmed_and_normalised() -> None:
    text = "Email, Role ,team_id\n  Grace@Example.COM ,Admin,team_1\nalan@example.com,member,\n\n"
    entries = parse_roster_text(text, source="r.csv")
    assert entries == [
        RosterEntry("Grace@Example.COM", "admin", "team_1", "line 2"),
        RosterEntry("alan@example.com", "member", None, "line 3"),
    ]
    assert entries[0].key == "grace@example.com"


def test_csv_without_team_column_and_with_bom() -> None:
    entries = parse_roster_text("\ufeffemail,role\na@x.io,owner\n", source="r.csv")
    assert entries == [RosterEntry("a@x.io", "owner", None, "line 2")]


def test_json_array_reports_the_line_of_each_item() -> None:
    text = '[\n  {"email": "a@x.io", "role": "member"},\n\n  {"email": "b@x.io", "role": "boss"}\n]\n'
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text(text, source="r.json")
    assert problems_of(excinfo) == [
        "line 4: unknown role 'boss'; expected one of owner, admin, manager, member"
    ]


def test_json_array_and_json_lines_parse() -> None:
    array = '[{"email": "a@x.io", "role": "member", "team_id": "t1"}]'
    lines = '{"email": "a@x.io", "role": "member"}\n\n{"email": "b@x.io", "role": "admin"}\n'
    assert parse_roster_text(array, source="x.json") == [RosterEntry("a@x.io", "member", "t1", "line 1")]
    assert [e.location for e in parse_roster_text(lines, source="x.jsonl")] == ["line 1", "line 3"]
    assert parse_roster_text("[]", source="empty.json") == []


def test_every_problem_is_reported_with_its_line() -> None:
    text = (
        "email,role,team_id\n"
        "a@x.io,member,\n"
        ",member,\n"  # empty e-mail
        "A@X.IO ,admin,\n"  # duplicate (case and spaces differ)
        "b@x.io,superuser,\n"  # unknown role
        "c@x.io,member,t1,extra\n"  # malformed: too many fields
        "not-an-email,member,\n"
        "d@x.io,,\n"  # empty role
    )
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text(text, source="hr.csv")
    assert problems_of(excinfo) == [
        "line 3: email is empty",
        "line 4: duplicate email 'A@X.IO' (first at line 2)",
        "line 5: unknown role 'superuser'; expected one of owner, admin, manager, member",
        "line 6: has 4 fields but the header has 3",
        "line 7: email 'not-an-email' is not an e-mail address: it has no '@'",
        "line 8: role is empty (one of owner, admin, manager, member)",
    ]
    message = str(excinfo.value)
    assert "hr.csv has 6 problems" in message
    assert "no membership was changed" in message


def test_csv_line_numbers_count_quoted_newlines() -> None:
    text = 'email,role,team_id\n"a@x.io",member,"multi\nline"\nb@x.io,nope,\n'
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text(text, source="r.csv")
    assert problems_of(excinfo) == [
        "line 4: unknown role 'nope'; expected one of owner, admin, manager, member"
    ]


def test_csv_header_must_name_email_and_role() -> None:
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text("mail,role\na@x.io,member\n", source="r.csv")
    assert problems_of(excinfo)[0].startswith("line 1: the header has no 'email' column")
    with pytest.raises(RosterError, match="the file is empty"):
        parse_roster_text("\n\n", source="r.csv")


def test_json_lines_malformed_rows() -> None:
    text = '{"email": "a@x.io", "role": "member"}\n{"email": "b@x.io", role}\n["c@x.io", "member"]\n'
    text += '{"email": 42, "role": "member"}\n'
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text(text, source="r.jsonl")
    problems = problems_of(excinfo)
    assert problems[0].startswith("line 2: is not valid JSON")
    assert problems[1] == "line 3: expected an object with email and role, got list"
    assert problems[2] == "line 4: email must be text"


def test_json_array_syntax_errors() -> None:
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text('[\n{"email": "a@x.io", "role": "member"},\n]', source="r.json")
    assert problems_of(excinfo)[0].startswith("line 3: is not valid JSON")
    with pytest.raises(RosterError, match="expected ',' or ']'"):
        parse_roster_text('[{"email": "a@x.io", "role": "member"} {}]', source="r.json")
    with pytest.raises(RosterError, match="expected a JSON array"):
        parse_roster_text('{"email": "a@x.io"}', source="r.json", fmt="json")


def test_records_from_xcom_use_item_numbers() -> None:
    rows = [{"email": "a@x.io", "role": "member"}, {"email": "a@x.io", "role": "admin"}, "junk"]
    with pytest.raises(RosterError) as excinfo:
        parse_roster_records(rows)
    assert problems_of(excinfo) == [
        "item 2: duplicate email 'a@x.io' (first at item 1)",
        "item 3: expected an object with email and role, got str",
    ]
    assert parse_roster([{"email": "a@x.io", "role": "member"}]) == [
        RosterEntry("a@x.io", "member", None, "item 1")
    ]


def test_parse_roster_accepts_json_text_and_rejects_other_types() -> None:
    assert len(parse_roster('[{"email": "a@x.io", "role": "member"}]')) == 1
    with pytest.raises(XentreeConfigError, match="list of dicts"):
        parse_roster(42)


def test_detect_format() -> None:
    assert detect_format("x.CSV", "") == "csv"
    assert detect_format("x.jsonl", "") == "jsonl"
    assert detect_format("x.ndjson.gz", "") == "jsonl"
    assert detect_format("x.json", "[{}]") == "json"
    assert detect_format("x.json", '{"a": 1}\n') == "jsonl"
    assert detect_format("x.txt", "  [") == "json"
    assert detect_format("x", "email,role") == "csv"


def test_roster_error_survives_pickling() -> None:
    error = RosterError("r.csv", [])
    assert isinstance(pickle.loads(pickle.dumps(error)), RosterError)
    with pytest.raises(XentreeConfigError, match="source_format"):
        parse_roster_text("", source="x", fmt="xml")  # type: ignore[arg-type]


BAD_EMAILS = {
    "a\u200b@x.io": "invisible character U+200B (ZERO WIDTH SPACE)",
    "a@x.io\u200d": "invisible character U+200D",
    "\ufeffa@x.io": "invisible character U+FEFF",
    "a\u00ad@x.io": "invisible character U+00AD (SOFT HYPHEN)",
    "a\u2060b@x.io": "invisible character U+2060",
    "a\u3164@x.io": "invisible character U+3164",
    "a\x00@x.io": "invisible character U+0000",
    "a\x1b@x.io": "invisible character U+001B",
    "a\u202e@x.io": "invisible character U+202E",
    "a b@x.io": "whitespace (U+0020)",
    "a\u00a0b@x.io": "whitespace (U+00A0)",
    "a\u2028b@x.io": "whitespace (U+2028)",
    "a@@b.io": "2 '@' signs",
    "a@b@c.io": "2 '@' signs",
    "mailto:x@y.io": "starts with 'mailto:'",
    "MAILTO:x@y.io": "starts with 'mailto:'",
    "<x@y.io>": "display name, quotes or angle brackets",
    "Ann <x@y.io>": "display name, quotes or angle brackets",
    '"ann"@y.io': "display name, quotes or angle brackets",
    "a@x.io,b@x.io": "several addresses",
    "a@x.io;b@x.io": "several addresses",
    "plain": "no '@'",
    "@x.io": "the part before '@' is empty",
    "a@": "the domain after '@' is empty",
    ".a@x.io": "starts or ends with a dot",
    "a.@x.io": "starts or ends with a dot",
    "a..b@x.io": "two dots in a row",
    "a(b)@x.io": "contains '(', ')'",
    "a@localhost": "has no dot",
    "a@x..io": "empty label",
    "a@x.io.": "empty label",
    "a@-x.io": "starts or ends with a hyphen",
    "a@x_y.io": "letters, digits and hyphens",
    "a@[192.0.2.1]": "IP-address domains",
    "a@x.123": "ends in a number",
    ("l" * 65) + "@x.io": "longer than 64",
}


@pytest.mark.parametrize("email", sorted(BAD_EMAILS))
def test_an_address_that_is_not_one_bare_addr_spec_is_refused(email: str) -> None:
    with pytest.raises(RosterError) as excinfo:
        parse_roster_records([{"email": email, "role": "member"}])
    (problem,) = problems_of(excinfo)
    assert problem.startswith(f"item 1: email {email.strip()!r} is not an e-mail address: ")
    assert BAD_EMAILS[email] in problem


@pytest.mark.parametrize(
    "email",
    ["a@x.io", "First.Last+tag@sub.example.co.uk", "o'brien@x.io", "jos\u00e9@b\u00fccher.de", "a-b@x-y.io"],
)
def test_ordinary_addresses_are_accepted(email: str) -> None:
    assert [e.email for e in parse_roster_records([{"email": email, "role": "member"}])] == [email]


def test_every_bad_address_is_reported_with_its_line_before_anything_else() -> None:
    text = 'email,role\nok@x.io,member\nlook\u200balike@x.io,member\na@@x.io,admin\n"Ann <a@x.io>",member\n'
    with pytest.raises(RosterError) as excinfo:
        parse_roster_text(text, source="hr.csv")
    assert [p.split(":")[0] for p in problems_of(excinfo)] == ["line 3", "line 4", "line 5"]
    assert "U+200B" in problems_of(excinfo)[0]


def test_sql_rows_get_the_same_row_level_errors() -> None:
    rows = [
        ("a@x.io", "Admin", 7),
        ("a\u200b@x.io", "member", None),
        ("A@X.IO", "member", None),
        (None, "boss", "t"),
    ]
    with pytest.raises(RosterError) as excinfo:
        parse_roster_table(["EMAIL", "role", "team_id"], rows, source="the query")
    assert problems_of(excinfo) == [
        "row 2: email 'a\\u200b@x.io' is not an e-mail address: it contains the invisible character "
        "U+200B (ZERO WIDTH SPACE) at character 2",
        "row 3: duplicate email 'A@X.IO' (first at row 1)",
        "row 4: email is empty",
        "row 4: unknown role 'boss'; expected one of owner, admin, manager, member",
    ]
    good = parse_roster_table(["email", "role", "team_id"], [("a@x.io", "Admin", 7)], source="q")
    assert good == [RosterEntry("a@x.io", "admin", "7", "row 1")]
    with pytest.raises(RosterError, match="returns no 'role' column"):
        parse_roster_table(["email", "team"], [], source="q")
