"""Redaction and field selection of whole export records (transcripts, conversations, ...).

Which text is redacted: every string value of the record, at any depth (inside lists and nested
objects too), except the values of keys that hold identities, times or fixed vocabularies
(:func:`is_untouched_key`: ``id``, ``*_id``, ``*_at``, ``timestamp``, ``role``). A field the API
adds later is therefore redacted unless its name says it is an id or a time. Numbers, booleans and
None are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xentree_provider.redaction.redactor import TextRedactor

__all__ = ["UNTOUCHED_KEYS", "RecordRedactor", "is_untouched_key"]

#: Keys whose values are never redacted, besides those ending in ``_id`` or ``_at``.
UNTOUCHED_KEYS = frozenset({"id", "timestamp", "role"})


def is_untouched_key(key: str) -> bool:
    """True for keys whose values are ids, timestamps or fixed words, never free text."""
    return key in UNTOUCHED_KEYS or key.endswith(("_id", "_at"))


class RecordRedactor:
    """Applies field selection, then redaction, to each record of an export; counts the redactions.

    Reusable by every export: it knows nothing of a record's shape beyond :func:`is_untouched_key`.

    :param redactor: the text redactor, or None to redact nothing.
    :param fields: the top-level fields to keep (from
        :func:`~xentree_provider.redaction.fields.select_fields`), or None to keep all.
    :param untouched: says which keys' values are never redacted.
    """

    def __init__(
        self,
        redactor: TextRedactor | None = None,
        fields: Sequence[str] | None = None,
        *,
        untouched: Callable[[str], bool] = is_untouched_key,
    ) -> None:
        self.redactor = redactor
        self.fields = tuple(fields) if fields is not None else None
        self.untouched = untouched

    @property
    def active(self) -> bool:
        """True when it changes records at all."""
        return self.fields is not None or (self.redactor is not None and bool(self.redactor.patterns))

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A new record: the kept fields in their original order, their free text redacted."""
        kept = (
            {key: value for key, value in record.items() if key in self.fields}
            if self.fields is not None
            else dict(record)
        )
        if self.redactor is None or not self.redactor.patterns:
            return kept
        return {key: self._value(key, value) for key, value in kept.items()}

    def _value(self, key: str, value: Any) -> Any:
        if self.untouched(key):
            return value
        if isinstance(value, str):
            assert self.redactor is not None
            return self.redactor.redact(value)
        if isinstance(value, list):
            return [self._value(key, item) for item in value]
        if isinstance(value, Mapping):
            return {inner: self._value(inner, item) for inner, item in value.items()}
        return value

    def counts(self) -> dict[str, int]:
        """Redactions so far per pattern (``{"email": 3, "phone": 1, "pattern_1": 0}``); ``{}`` if none."""
        return self.redactor.counts_dict() if self.redactor is not None else {}
