"""Deterministic text relevance used by the sandbox's knowledge and conversation search."""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"[a-z0-9]+")


def score_text(query: str, text: str, salt: str) -> float:
    """Share of the query's words found in ``text`` (0..1), nudged by a hash of ``salt`` to break ties."""
    words = set(_WORD.findall(query.lower()))
    if not words:
        return 0.0
    haystack = set(_WORD.findall(text.lower()))
    overlap = len(words & haystack) / len(words)
    if overlap == 0:
        return 0.0
    jitter = hashlib.sha256(f"{query}:{salt}".encode()).digest()[0] / 25500.0
    return round(min(1.0, overlap * 0.9 + jitter), 4)
