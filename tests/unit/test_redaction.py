"""Redaction without Airflow: the built-in patterns, custom regexes, mask and hash, field selection."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.redaction import (
    DIGEST_HEX_CHARS,
    RecordRedactor,
    TextRedactor,
    compile_patterns,
    email_pattern,
    phone_pattern,
    select_fields,
)
from xentree_provider.transcripts.writers import RECORD_FIELDS

PROPERTY = settings(max_examples=150, derandomize=True, deadline=None, database=None)
KEY = "k" * 32


def found(pattern_text: str, text: str) -> list[str]:
    pattern = email_pattern() if pattern_text == "email" else phone_pattern()
    return [text[start:end] for start, end in pattern.spans(text)]


@pytest.mark.parametrize(
    "number",
    [
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+49-30-1234567",
        "+33 6 12 34 56 78",
        "+15551234567",
        "+81.3.1234.5678",
        "0049 30 1234567",
        "(555) 123-4567",
        "555-123-4567",
        "555.123.4567",
        "06 12 34 56 78",
        "030 12345678",
        "+1\u00a0555\u00a0123\u00a04567",
    ],
)
def test_phone_numbers_in_their_usual_forms_are_found_whole(number: str) -> None:
    assert found("phone", f"call me on {number}, thanks") == [number]
    assert found("phone", f"tel:{number}") == [number]
    assert found("phone", number) == [number]


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01",
        "2026-12-01T12:33:43Z",
        "2026-12-01T12:33:43.123456Z",
        "2026-12-01 12:33:43",
        "01.12.2026 10:00",
        "12/01/2026",
        "12:33:43",
        "00:05:00",
        "PT1H30M",
        "took 3600 seconds",
        "123e4567-e89b-12d3-a456-426614174000",
        "tr_123456789012",
        "order 12345678901",
        "epoch 1733054023",
        "192.168.100.200",
        "1 000 000 000 users",
        "1.234.567.890 EUR",
        "pi is 3.14159265358979",
        "1234.567890",
        "version 1.2.3.4",
        "2026-12-01 2026-12-31",
        "id-555-123-4567",
        "sess_0123456789abcdef",
    ],
)
def test_dates_times_ids_durations_and_numbers_are_not_phone_numbers(text: str) -> None:
    assert found("phone", text) == []


def test_two_numbers_side_by_side_are_two_matches() -> None:
    text = "555-123-4567 555-987-6543 and +44 20 7946 0958"
    assert found("phone", text) == ["555-123-4567", "555-987-6543", "+44 20 7946 0958"]


def test_a_number_after_a_list_of_numbers_is_found() -> None:
    assert found("phone", "scores 12 15 18 20 22 then 555-123-4567") == ["555-123-4567"]
    assert found("phone", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 +1 555 123 4567") == [
        "+1 555 123 4567"
    ]


def test_long_runs_of_digits_separators_and_word_characters_are_no_false_hits() -> None:
    redactor = TextRedactor(compile_patterns(["email", "phone"]))
    for text in ("1 " * 20_000, "1-" * 20_000, "a." * 20_000 + "@", "(1)" * 10_000, "12:00 " * 5_000):
        assert redactor.redact(text) == text
    assert redactor.redact("x" * 40_000 + "@b.co") == "[email]"
    assert redactor.counts_dict() == {"email": 1, "phone": 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob@example.com", ["bob@example.com"]),
        ("<Bob.Smith+tag@mail.example.co.uk>,", ["Bob.Smith+tag@mail.example.co.uk"]),
        ("end of sentence: foo@bar.com.", ["foo@bar.com"]),
        ("jöhn@exämple.de!", ["jöhn@exämple.de"]),
        ("x@xn--p1ai.xn--p1ai", ["x@xn--p1ai.xn--p1ai"]),
        ("a@b.io and c.d@e.org", ["a@b.io", "c.d@e.org"]),
        ("user@localhost", []),
        ("@handle", []),
        ("a@b", []),
        ("2026-12-01T12:00@x", []),
    ],
)
def test_email_addresses(text: str, expected: list[str]) -> None:
    assert found("email", text) == expected


_LOCAL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,15}[A-Za-z0-9])?", fullmatch=True).filter(
    lambda local: ".." not in local
)
_DOMAIN = st.lists(
    st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3
)
_TLD = st.from_regex(r"[a-z]{2,8}", fullmatch=True)
_EMAILS = st.builds(lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}", _LOCAL, _DOMAIN, _TLD)
_PROSE = st.sampled_from(["", "Hi ", "mail ", "(", "<", "x: ", "\n"])
_AFTER = st.sampled_from(["", " thanks", ").", ">", ", ", "!", "\n"])


@PROPERTY
@given(_EMAILS, _PROSE, _AFTER)
def test_any_plain_address_in_prose_is_found_whole(address: str, before: str, after: str) -> None:
    assert found("email", before + address + after) == [address]


_GROUP_SEPARATOR = st.sampled_from([" ", "-", "."])


@st.composite
def _international(draw: st.DrawFn) -> str:
    country = draw(st.integers(1, 999))
    groups = draw(st.lists(st.from_regex(r"[0-9]{2,4}", fullmatch=True), min_size=2, max_size=4))
    separator = draw(_GROUP_SEPARATOR)
    number = f"+{country}{draw(st.sampled_from([' ', '-']))}{separator.join(groups)}"
    digits = sum(ch.isdigit() for ch in number)
    return number if 8 <= digits <= 15 else f"+{country} 555 123 4567"


@PROPERTY
@given(_international(), _PROSE, _AFTER)
def test_any_international_number_in_prose_is_found_whole(number: str, before: str, after: str) -> None:
    assert found("phone", before + number + after) == [number]


@PROPERTY
@given(st.datetimes(timezones=st.none()), st.sampled_from(["T", " "]), st.booleans())
def test_no_timestamp_is_a_phone_number(instant, separator: str, fraction: bool) -> None:  # type: ignore[no-untyped-def]
    text = instant.isoformat(sep=separator, timespec="microseconds" if fraction else "seconds")
    assert found("phone", f"at {text}Z, {instant.date().isoformat()} ({instant.time()})") == []


@PROPERTY
@given(st.uuids(), st.integers(0, 10**20), st.timedeltas())
def test_no_uuid_integer_or_duration_is_a_phone_number(uuid, number: int, duration) -> None:  # type: ignore[no-untyped-def]
    assert found("phone", f"id {uuid} count {number} took {duration}") == []


def test_mask_replaces_each_match_with_its_token_and_counts() -> None:
    redactor = TextRedactor(compile_patterns(["email", "phone", r"\bACME-\d+\b"]), "mask")
    text = "Mail bob@example.com or Bob@Example.com, call +1 555 123 4567, ticket ACME-42."
    assert redactor.redact(text) == "Mail [email] or [email], call [phone], ticket [redacted]."
    assert redactor.counts_dict() == {"email": 2, "phone": 1, "pattern_1": 1}


def test_hash_is_a_keyed_hmac_of_the_normalized_match() -> None:
    redactor = TextRedactor(compile_patterns(["email", "phone", "ACME-[0-9]+"]), "hash", KEY)
    out = redactor.redact("bob@example.com BOB@example.COM +1 (555) 123-4567 +1-555-123-4567 ACME-7")
    tokens = re.findall(r"\[(\w+):([0-9a-f]+)\]", out)
    assert [name for name, _ in tokens] == ["email", "email", "phone", "phone", "redacted"]
    assert all(len(digest) == DIGEST_HEX_CHARS for _, digest in tokens)
    # the same address or number however written gives the same token: joins work across files
    assert tokens[0] == tokens[1] and tokens[2] == tokens[3]
    expected = hmac.new(KEY.encode(), b"bob@example.com", hashlib.sha256).hexdigest()[:DIGEST_HEX_CHARS]
    assert tokens[0][1] == expected
    assert tokens[2][1] == hmac.new(KEY.encode(), b"+15551234567", hashlib.sha256).hexdigest()[:16]
    assert tokens[4][1] == hmac.new(KEY.encode(), b"ACME-7", hashlib.sha256).hexdigest()[:16]


def test_hash_depends_on_the_key_and_is_stable() -> None:
    patterns = compile_patterns(["email"])
    first = TextRedactor(patterns, "hash", KEY).redact("a@b.io")
    assert TextRedactor(patterns, "hash", KEY).redact("a@b.io") == first
    assert TextRedactor(patterns, "hash", "other-key-" * 3).redact("a@b.io") != first
    assert "a@b.io" not in first and KEY not in first


def test_a_token_is_never_redacted_again_and_overlaps_resolve_left_to_right() -> None:
    # the phone pattern would match digits of a hash; the custom one overlaps the address
    redactor = TextRedactor(compile_patterns(["email", "phone", r"example\.com"]), "hash", KEY)
    out = redactor.redact("to bob@example.com 2026")
    assert re.fullmatch(r"to \[email:[0-9a-f]{16}\] 2026", out)
    assert redactor.counts_dict() == {"email": 1, "phone": 0, "pattern_1": 0}


def test_redaction_is_deterministic() -> None:
    text = "a@b.io +44 20 7946 0958 x@y.org"
    outs = {TextRedactor(compile_patterns(["phone", "email"]), "hash", KEY).redact(text) for _ in range(3)}
    assert len(outs) == 1


@pytest.mark.parametrize(
    ("redact", "message"),
    [
        (["[unclosed"], "pattern_1 '[unclosed' is not a valid regex"),
        (["email", "a*"], "pattern_1 'a*' matches the empty string"),
        (["email", "ok", r"(?=x)"], "pattern_2 '(?=x)' matches the empty string"),
        ([""], "pattern_1 must be a non-empty regex string"),
        ([3], "pattern_1 must be a non-empty regex string"),
        (["email", "email"], "redact lists 'email' twice"),
        ({"email": 1}, "redact must be a list"),
    ],
)
def test_bad_patterns_fail_naming_the_pattern(redact: object, message: str) -> None:
    with pytest.raises(XentreeConfigError, match=re.escape(message)):
        compile_patterns(redact)  # type: ignore[arg-type]


def test_a_string_is_one_pattern_and_none_is_no_redaction() -> None:
    assert [p.name for p in compile_patterns("phone")] == ["phone"]
    assert compile_patterns(None) == () and compile_patterns([]) == ()


def test_modes_and_keys_are_checked() -> None:
    patterns = compile_patterns(["email"])
    with pytest.raises(XentreeConfigError, match='redaction must be "mask" or "hash"'):
        TextRedactor(patterns, "scramble")
    with pytest.raises(XentreeConfigError, match=r"redaction_key_conn_id .* or redaction_key_variable"):
        TextRedactor(patterns, "hash", None)
    with pytest.raises(XentreeConfigError, match="too short") as error:
        TextRedactor(patterns, "hash", "shortkey")
    assert "shortkey" not in str(error.value)
    assert KEY not in repr(TextRedactor(patterns, "hash", KEY))


def test_field_selection_keeps_the_schema_order_and_always_the_id() -> None:
    assert select_fields(None, RECORD_FIELDS) is None
    assert select_fields(["turns", "created_at"], RECORD_FIELDS) == ("id", "created_at", "turns")
    assert select_fields("session_id", RECORD_FIELDS) == ("id", "session_id")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["id", "text", "speaker"], "unknown field(s) 'text', 'speaker'; valid: id, session_id"),
        ([], "fields must be a non-empty list"),
        (["turns", "turns"], "fields lists 'turns' more than once"),
    ],
)
def test_bad_fields_fail_listing_the_valid_ones(fields: list[str], message: str) -> None:
    with pytest.raises(XentreeConfigError, match=re.escape(message)):
        select_fields(fields, RECORD_FIELDS)


RECORD = {
    "id": "tr_bob@example.com",
    "session_id": "s_555-123-4567",
    "session_started_at": "2026-12-01T10:00:00Z",
    "session_ended_at": None,
    "created_at": "2026-12-01T10:05:00Z",
    "turn_count": 2,
    "turns": [
        {
            "role": "user",
            "text": "I am bob@example.com, +1 555 123 4567",
            "timestamp": "2026-12-01T10:00:01Z",
        },
        {"role": "ai", "text": None, "timestamp": "2026-12-01T10:00:02Z"},
    ],
}


def test_records_have_free_text_redacted_and_ids_and_times_untouched() -> None:
    records = RecordRedactor(TextRedactor(compile_patterns(["email", "phone"]), "mask"))
    out = records.apply(RECORD)
    assert out["id"] == RECORD["id"] and out["session_id"] == RECORD["session_id"]
    assert out["turns"][0] == {
        "role": "user",
        "text": "I am [email], [phone]",
        "timestamp": "2026-12-01T10:00:01Z",
    }
    assert out["turns"][1] == RECORD["turns"][1]
    assert list(out) == list(RECORD)
    assert records.counts() == {"email": 1, "phone": 1}
    assert RECORD["turns"][0]["text"].startswith("I am bob@")  # the input is not changed


def test_nested_unknown_text_fields_are_redacted_too() -> None:
    conversation = {"id": "c1", "title": "from a@b.io", "messages": [{"id": "m1", "content": "x@y.org"}]}
    out = RecordRedactor(TextRedactor(compile_patterns(["email"]))).apply(conversation)
    assert out == {"id": "c1", "title": "from [email]", "messages": [{"id": "m1", "content": "[email]"}]}


def test_records_with_fields_only_and_no_redaction() -> None:
    records = RecordRedactor(None, select_fields(["turn_count"], RECORD_FIELDS))
    assert records.active
    assert records.apply(RECORD) == {"id": RECORD["id"], "turn_count": 2}
    assert records.counts() == {}
    assert not RecordRedactor().active


_PIECES = st.one_of(
    _EMAILS,
    _international(),
    st.sampled_from(
        ["555-123-4567", "(555) 123-4567", "2026-12-01T10:00:00Z", "12:30", "ACME-42", "1 000 000"]
    ),
    st.text(alphabet=st.characters(exclude_characters="[]"), max_size=12),
)


@PROPERTY
@given(st.lists(_PIECES, max_size=8), st.sampled_from([" ", ", ", "\n", " - ", "; "]))
def test_after_redaction_no_pattern_matches_and_counts_equal_the_tokens(pieces: list[str], glue: str) -> None:
    # pieces glued with spaces or punctuation: a token glued to a word ("a@b.co+1 555...") would be
    # a new neighbour for the next match, and what was part of a word is not looked for after it
    redactor = TextRedactor(compile_patterns(["email", "phone", r"\bACME-\d+\b"]))
    out = redactor.redact(glue.join(pieces))
    counts = redactor.counts_dict()
    assert (out.count("[email]"), out.count("[phone]"), out.count("[redacted]")) == (
        counts["email"],
        counts["phone"],
        counts["pattern_1"],
    )
    again = TextRedactor(compile_patterns(["email", "phone", r"\bACME-\d+\b"]))
    assert again.redact(out) == out  # nothing left to find
