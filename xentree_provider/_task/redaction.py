"""The Airflow side of redaction for exports: operator arguments checked at construction, and the
HMAC key read from a connection or a Variable (and masked) when the task runs, before any request.

Operators call :func:`redaction_options` in ``__init__`` and
:meth:`RedactionOptions.record_redactor` at the start of ``execute``; the pure work is in
:mod:`xentree_provider.redaction`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.redaction import (
    REDACTION_MODES,
    RecordRedactor,
    TextPattern,
    TextRedactor,
    compile_patterns,
    select_fields,
)

__all__ = ["RedactionOptions", "redaction_key", "redaction_options"]


@dataclass(frozen=True)
class RedactionOptions:
    """An export's validated redaction and field-selection arguments (no key: that is read at run time)."""

    patterns: tuple[TextPattern, ...] = ()
    mode: str = "mask"
    fields: tuple[str, ...] | None = None
    key_conn_id: str | None = None
    key_variable: str | None = None

    def record_redactor(self) -> RecordRedactor:
        """The record redactor of one run; in ``hash`` mode the key is read (and masked) now."""
        if not self.patterns:
            return RecordRedactor(None, self.fields)
        key = redaction_key(self.key_conn_id, self.key_variable) if self.mode == "hash" else None
        return RecordRedactor(TextRedactor(self.patterns, self.mode, key), self.fields)


def _optional_name(value: object, name: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not value.strip():
        raise XentreeConfigError(f"{name} must be a name (a string), got {type(value).__name__}")
    return value.strip()


def redaction_options(
    *,
    redact: Sequence[str] | str | None,
    redaction: str,
    fields: Sequence[str] | str | None,
    key_conn_id: str | None,
    key_variable: str | None,
    available_fields: Sequence[str],
) -> RedactionOptions:
    """Check an export's ``redact``, ``redaction``, ``fields`` and key arguments (at construction).

    :raises XentreeConfigError: naming the argument to fix: an unknown mode or field, a bad regex,
        ``hash`` without ``redaction_key_conn_id`` / ``redaction_key_variable``, or both of them.
    """
    if redaction not in REDACTION_MODES:
        raise XentreeConfigError(f'redaction must be "mask" or "hash", got {redaction!r}')
    patterns = compile_patterns(redact)
    conn_id = _optional_name(key_conn_id, "redaction_key_conn_id")
    variable = _optional_name(key_variable, "redaction_key_variable")
    if conn_id and variable:
        raise XentreeConfigError(
            "give redaction_key_conn_id or redaction_key_variable, not both: the key comes from one place"
        )
    if redaction == "hash" and patterns and not (conn_id or variable):
        raise XentreeConfigError(
            'redaction="hash" needs a key: set redaction_key_conn_id (a connection whose password is '
            "the key) or redaction_key_variable (the name of an Airflow Variable holding the key)"
        )
    return RedactionOptions(
        patterns=patterns,
        mode=redaction,
        fields=select_fields(fields, available_fields),
        key_conn_id=conn_id,
        key_variable=variable,
    )


def redaction_key(conn_id: str | None, variable: str | None) -> str:
    """The HMAC key: the password of connection ``conn_id`` or the value of Variable ``variable``.

    It is registered with Airflow's secrets masker before it is returned, and never shown in errors.

    :raises XentreeConfigError: when neither is set, the connection or Variable does not exist, or the
        key is empty.
    """
    from xentree_provider.hooks._airflow import mask_secret

    if conn_id:
        from airflow.sdk import BaseHook

        try:
            connection = BaseHook.get_connection(conn_id)
        except Exception as error:  # the SDK raises its own not-found types, which moved between minors
            raise XentreeConfigError(
                f"redaction_key_conn_id={conn_id!r}: the connection could not be read "
                f"({type(error).__name__}); create it with the key as its password"
            ) from None
        key, source = connection.password or "", f"the password of connection {conn_id!r}"
    elif variable:
        from airflow.sdk import Variable

        value = Variable.get(variable, default=None)
        if value is None:
            raise XentreeConfigError(
                f"redaction_key_variable={variable!r}: no such Airflow Variable; create it with the key"
            )
        key, source = str(value), f"Variable {variable!r}"
    else:
        raise XentreeConfigError(
            'redaction="hash" needs a key: set redaction_key_conn_id or redaction_key_variable'
        )
    mask_secret(key)
    if not key.strip():
        raise XentreeConfigError(f"the redaction key ({source}) is empty: set it to a long random string")
    return key
