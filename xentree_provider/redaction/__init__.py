"""Redaction and field selection for exports, without Airflow: patterns, mask and hash, records.

Build once per task: :func:`compile_patterns` (when the operator is constructed, so a bad regex fails
at DAG parse), :func:`select_fields` likewise, then per run a :class:`TextRedactor` with the key and a
:class:`RecordRedactor` whose :meth:`~RecordRedactor.apply` each record passes through before it is
written; :meth:`~RecordRedactor.counts` gives the redactions per pattern.
"""

from __future__ import annotations

from xentree_provider.redaction.fields import IDENTITY_FIELD, select_fields
from xentree_provider.redaction.patterns import (
    BUILTIN_PATTERNS,
    CUSTOM_MASK,
    TextPattern,
    compile_patterns,
    custom_pattern,
    email_pattern,
    phone_pattern,
)
from xentree_provider.redaction.records import UNTOUCHED_KEYS, RecordRedactor, is_untouched_key
from xentree_provider.redaction.redactor import (
    DIGEST_HEX_CHARS,
    MIN_KEY_CHARS,
    REDACTION_MODES,
    RedactionMode,
    TextRedactor,
    hash_token,
    mask_token,
)

__all__ = [
    "BUILTIN_PATTERNS",
    "CUSTOM_MASK",
    "DIGEST_HEX_CHARS",
    "IDENTITY_FIELD",
    "MIN_KEY_CHARS",
    "REDACTION_MODES",
    "UNTOUCHED_KEYS",
    "RecordRedactor",
    "RedactionMode",
    "TextPattern",
    "TextRedactor",
    "compile_patterns",
    "custom_pattern",
    "email_pattern",
    "hash_token",
    "is_untouched_key",
    "mask_token",
    "phone_pattern",
    "select_fields",
]
