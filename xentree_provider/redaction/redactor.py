"""Replacing what the patterns find: a fixed mask, or a keyed hash that joins across files.

``mask`` writes ``[email]``, ``[phone]`` or ``[redacted]`` (custom patterns) in place of a match.
``hash`` writes ``[email:<digest>]`` (likewise ``phone``, ``redacted``): the first
:data:`DIGEST_HEX_CHARS` hex characters of HMAC-SHA256 over the normalized match, keyed with the
redaction key. The same text and key always give the same token, so re-runs stay byte-identical
and a person's address can be joined across files without being readable; without the key, the
token cannot be recomputed from a guessed address.

Every pattern looks at the original text in one pass: overlapping matches are resolved left to
right (the earliest start wins, then the longest, then the first pattern in ``redact``), so one
pattern never sees another's token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.redaction.patterns import TextPattern

__all__ = [
    "DIGEST_HEX_CHARS",
    "MIN_KEY_CHARS",
    "REDACTION_MODES",
    "RedactionMode",
    "TextRedactor",
    "hash_token",
    "mask_token",
]

RedactionMode = Literal["mask", "hash"]
REDACTION_MODES: tuple[RedactionMode, ...] = ("mask", "hash")
#: Hex characters of the HMAC kept in a hash token (64 bits: collisions are negligible for joins).
DIGEST_HEX_CHARS = 16
#: The shortest redaction key accepted (a short key can be found by trying keys on known addresses).
MIN_KEY_CHARS = 16


def mask_token(pattern: TextPattern) -> str:
    """The mask written for a match of ``pattern``: ``[email]``, ``[phone]`` or ``[redacted]``."""
    return f"[{pattern.mask}]"


def hash_token(pattern: TextPattern, match: str, key: bytes) -> str:
    """The hash token of ``match``: ``[<mask>:<first 16 hex of HMAC-SHA256(key, normalized match)>]``."""
    digest = hmac.new(key, pattern.normalize(match).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"[{pattern.mask}:{digest[:DIGEST_HEX_CHARS]}]"


def _checked_key(mode: str, key: str | bytes | None) -> bytes | None:
    if mode == "mask":
        return None
    if key is None or key in ("", b""):
        raise XentreeConfigError(
            'redaction="hash" needs a key: set redaction_key_conn_id (the key is the connection\'s '
            "password) or redaction_key_variable (an Airflow Variable holding the key)"
        )
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_CHARS:
        raise XentreeConfigError(
            f"the redaction key is too short ({len(raw)} bytes): give at least {MIN_KEY_CHARS}, e.g. "
            "the output of `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return raw


class TextRedactor:
    """Redacts text with ``patterns`` in ``mode``, counting the redactions per pattern.

    :param patterns: from :func:`~xentree_provider.redaction.patterns.compile_patterns`.
    :param mode: ``mask`` or ``hash``.
    :param key: the HMAC key (``hash`` only; at least :data:`MIN_KEY_CHARS` bytes).
    :raises XentreeConfigError: on an unknown mode, or ``hash`` without a usable key.
    """

    def __init__(
        self, patterns: Sequence[TextPattern], mode: str = "mask", key: str | bytes | None = None
    ) -> None:
        if mode not in REDACTION_MODES:
            raise XentreeConfigError(f'redaction must be "mask" or "hash", got {mode!r}')
        self.patterns = tuple(patterns)
        self.mode = mode
        self._key = _checked_key(mode, key)
        self.counts: Counter[str] = Counter({pattern.name: 0 for pattern in self.patterns})

    def __repr__(self) -> str:  # never the key
        names = ", ".join(pattern.name for pattern in self.patterns)
        return f"TextRedactor([{names}], mode={self.mode!r})"

    def _token(self, pattern: TextPattern, match: str) -> str:
        if self._key is None:
            return mask_token(pattern)
        return hash_token(pattern, match, self._key)

    def redact(self, text: str) -> str:
        """``text`` with every match replaced; the counts grow by what was replaced."""
        if not self.patterns or not text:
            return text
        found = sorted(
            (
                (start, -end, order)
                for order, pattern in enumerate(self.patterns)
                for start, end in pattern.spans(text)
            )
        )
        if not found:
            return text
        pieces: list[str] = []
        position = 0
        for start, negative_end, order in found:
            if start < position:
                continue  # overlaps a match already replaced
            end, pattern = -negative_end, self.patterns[order]
            pieces.append(text[position:start])
            pieces.append(self._token(pattern, text[start:end]))
            self.counts[pattern.name] += 1
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    def counts_dict(self) -> dict[str, int]:
        """The redactions so far per pattern name, every pattern listed (0 when nothing matched)."""
        return {pattern.name: self.counts[pattern.name] for pattern in self.patterns}
