"""What redaction adds to writing a transcript export: JSON lines with and without ``redact``.

    uv run python bench/redaction_cost.py            # 5,000 transcripts of 25 turns
    uv run python bench/redaction_cost.py --quick    # 1,000

No network: the same canonical records (turn texts of chat length, one in five turns with an e-mail
address or a phone number, the rest with dates, times and ids the patterns must leave alone) are
written to memory plain, then through a ``RecordRedactor`` with ``email``, ``phone`` and one custom
pattern, in ``mask`` and in ``hash`` mode. Prints the seconds of each and their ratio to the plain
write (best of three). In a real export the fetches dominate: the writer's time is a small part of it.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable, Mapping
from typing import Any

from xentree_provider.redaction import RecordRedactor, TextRedactor, compile_patterns
from xentree_provider.transcripts.writers import JsonlWriter

TEXTS = (
    "Let's rehearse my presentation for the meeting on 2026-02-27 at 10:00.",
    "Here is a more formal way to say it: I would appreciate your feedback by Friday.",
    "Sure, write to ada.lovelace@example.com and copy the team lead, thanks!",
    "You can reach me on +44 20 7946 0958 after 18:30, or at the office.",
    "Session tr_0123456789ab lasted 00:25:13; good progress compared to last week.",
)
PATTERNS = ["email", "phone", r"\bACME-\d{4,}\b"]


def records(count: int, turns: int) -> list[dict[str, Any]]:
    """``count`` canonical transcript records of ``turns`` turns each."""
    return [
        {
            "id": f"tr_{index:08d}",
            "session_id": f"s_{index:08d}",
            "session_started_at": "2026-02-27T10:00:00Z",
            "session_ended_at": "2026-02-27T10:30:00Z",
            "created_at": "2026-02-27T10:31:00Z",
            "turn_count": turns,
            "turns": [
                {
                    "role": "user" if t % 2 else "ai",
                    "text": TEXTS[(index + t) % 5],
                    "timestamp": "2026-02-27T10:00:01Z",
                }
                for t in range(turns)
            ],
        }
        for index in range(count)
    ]


def write(
    data: list[dict[str, Any]], prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None
) -> float:
    """Best-of-three seconds to write ``data`` as JSON lines to memory."""
    best = float("inf")
    for _ in range(3):
        writer = JsonlWriter(io.StringIO())
        began = time.perf_counter()
        for record in data:
            writer.write(prepare(record) if prepare is not None else record)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 transcripts instead of 5,000")
    args = parser.parse_args()
    data = records(1_000 if args.quick else 5_000, 25)
    plain = write(data, None)
    print(f"{len(data)} transcripts x 25 turns, JSON lines to memory (best of 3)")
    print(f"  plain          {plain:7.3f} s   1.00x")
    for mode, key in (("mask", None), ("hash", "bench-key-0123456789abcdef")):
        redactor = RecordRedactor(TextRedactor(compile_patterns(PATTERNS), mode, key))
        seconds = write(data, redactor.apply)
        counts = redactor.counts()
        print(
            f"  redact {mode:<6}  {seconds:7.3f} s  {seconds / plain:5.2f}x   redactions (3 runs): {counts}"
        )


if __name__ == "__main__":
    main()
