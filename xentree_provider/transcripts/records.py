"""The canonical transcript record: what an export writes for one transcript, whatever the API variant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.exports.timestamps import canonical_timestamp

__all__ = ["canonical_timestamp", "canonical_transcript"]


def canonical_transcript(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A transcript as exported: fixed fields in a fixed order, canonical timestamps, turns nested.

    Unknown fields of the API response are left out, so the file's schema does not drift.
    """
    tid = detail.get("id")
    raw_turns = detail.get("transcripts") or []
    if not isinstance(raw_turns, list):
        raise XentreeResponseError(f"transcript {tid!r}: 'transcripts' is not a list")
    turns = [
        {
            "role": turn.get("role"),
            "text": turn.get("text"),
            "timestamp": canonical_timestamp(turn.get("timestamp"), f"transcript {tid!r} turn {index}"),
        }
        for index, turn in enumerate(raw_turns)
    ]
    turn_count = detail.get("turn_count")
    return {
        "id": tid,
        "session_id": detail.get("session_id"),
        "session_started_at": canonical_timestamp(
            detail.get("session_started_at"), f"transcript {tid!r} start"
        ),
        "session_ended_at": canonical_timestamp(detail.get("session_ended_at"), f"transcript {tid!r} end"),
        "created_at": canonical_timestamp(detail.get("created_at"), f"transcript {tid!r} creation"),
        "turn_count": turn_count if isinstance(turn_count, int) else len(turns),
        "turns": turns,
    }
