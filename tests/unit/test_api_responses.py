"""Unit tests for ``decode_response``: JSON that decodes but cannot be used is refused, clearly."""

from __future__ import annotations

import pytest

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.responses import decode_response

JSON_HEADERS = {"content-type": "application/json"}


def decode(body: bytes) -> object:
    return decode_response(200, JSON_HEADERS, body, method="GET", path="/api/live/transcripts/t1")


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\\ud800"}',  # an escaped lone high surrogate
        b'{"text": "a\\uDC00b"}',  # an escaped lone low surrogate
        b'{"text": "\xed\xa0\x80"}',  # the surrogate's code point as UTF-8 bytes
        b'{"\\ud800": 1}',  # in a key
        '{"text": "\ud800"}'.encode("utf-16-le", "surrogatepass"),
    ],
)
def test_unpaired_surrogates_are_refused(body: bytes) -> None:
    with pytest.raises(XentreeResponseError, match="unpaired UTF-16 surrogate") as caught:
        decode(body)
    assert str(caught.value).startswith("GET /api/live/transcripts/t1 HTTP 200: ")
    assert not caught.value.retryable_body


@pytest.mark.parametrize(
    ("body", "text"),
    [(b'{"text": "\\ud83d\\ude00"}', "\U0001f600"), ('{"text": "\U0001f600"}'.encode(), "\U0001f600")],
)
def test_paired_surrogates_and_plain_unicode_pass(body: bytes, text: str) -> None:
    assert decode(body) == {"text": text}


def test_json_nested_too_deeply_is_a_response_error() -> None:
    with pytest.raises(XentreeResponseError, match="nested too deeply"):
        decode(b"[" * 200_000 + b"]" * 200_000)
