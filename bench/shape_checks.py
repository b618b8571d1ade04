"""Cost of the response checks (shapes and page fingerprints) next to decoding the JSON itself.

    uv run python bench/shape_checks.py

For a full list page (200 transcripts, 200 members) and a transcript detail with 500 turns, it times
``json.loads`` alone and ``json.loads`` plus what the provider adds on every response: the shape check
(:mod:`xentree_provider.api.shapes`) and, for pages, the repeat fingerprint
(:func:`xentree_provider.api.pagination.page_fingerprint`). It prints the added cost as a ratio of the
decode time and per record (a transcript, a member, a turn). Goal: under 10 us per record, so a full
page costs under 2 ms, a small part of one round trip to the API (tens of milliseconds).
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from typing import Any

from xentree_provider.api.pagination import page_fingerprint
from xentree_provider.api.routes import ROUTES
from xentree_provider.api.shapes import check_records, check_response

STAMP = "2026-11-01T10:00:00.123456Z"


def transcripts_page() -> list[dict[str, Any]]:
    return [
        {
            "id": f"tr_{i:06d}",
            "session_id": f"lss_{i:06d}",
            "session_started_at": STAMP,
            "session_ended_at": STAMP,
            "created_at": STAMP,
            "turn_count": 12,
        }
        for i in range(200)
    ]


def members_page() -> list[dict[str, Any]]:
    return [
        {
            "user_id": f"usr_{i:06d}",
            "email": f"learner{i}@acme.example",
            "full_name": f"Learner {i}",
            "role": "member",
            "team_id": "team_1",
            "joined_at": STAMP,
        }
        for i in range(200)
    ]


def transcript_detail() -> dict[str, Any]:
    turns = [
        {"role": "user" if i % 2 else "ai", "text": "A sentence of the turn. " * 4, "timestamp": STAMP}
        for i in range(500)
    ]
    return {**transcripts_page()[0], "transcripts": turns}


def best(fn: Callable[[], Any], number: int = 200) -> float:
    """The best of five runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    cases = [
        ("list page, 200 transcripts", "list_transcripts", transcripts_page(), True, 200),
        ("list page, 200 members", "list_members", members_page(), True, 200),
        ("transcript detail, 500 turns", "get_transcript", transcript_detail(), False, 500),
    ]
    print(f"{'response':32} {'decode us':>10} {'+checks us':>11} {'added/decode':>13} {'us/record':>10}")
    worst = 0.0
    for label, name, payload, is_page, records in cases:
        route = ROUTES[name]
        body = json.dumps(payload).encode()

        def decode(body: bytes = body) -> Any:
            return json.loads(body)

        def decode_and_check(body: bytes = body, route: Any = route, is_page: bool = is_page) -> Any:
            value = json.loads(body)
            if is_page:
                check_records(route, value)
                page_fingerprint(value)
            else:
                check_response(route, value)
            return value

        plain, checked = best(decode), best(decode_and_check)
        ratio = (checked - plain) / plain
        per_record = (checked - plain) / records
        worst = max(worst, per_record)
        print(f"{label:32} {plain:10.1f} {checked:11.1f} {ratio:13.2f} {per_record:10.2f}")
    print(f"worst added cost: {worst:.2f} us per record (goal < 10): {'OK' if worst < 10 else 'OVER'}")


if __name__ == "__main__":
    main()
