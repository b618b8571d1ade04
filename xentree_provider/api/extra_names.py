"""Renamed connection extras, and values that Airflow's secrets masker replaced with ``***``.

Airflow masks the value of every extra whose name contains a sensitive word (``token``, ``secret``,
``password``, ``key``, ...): the connection form shows such a field's default as ``***``, and a
connection saved from the form stores ``***``. So non-secret extras must not have such names
(``token_refresh_lead`` became ``refresh_lead_seconds``), and a ``***`` found in a non-secret extra is a
masked placeholder, not a value: it is dropped with a warning and the default applies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["MASKED_VALUE", "RENAMED_EXTRAS", "name_as_given", "with_current_names"]

log = logging.getLogger(__name__)

#: Old extra name -> current name. The old names are still read.
RENAMED_EXTRAS: Mapping[str, str] = {"token_refresh_lead": "refresh_lead_seconds"}
#: What Airflow shows and stores instead of a masked value.
MASKED_VALUE = "***"
_SECRET_EXTRAS = frozenset({"api_key"})


def with_current_names(extras: Mapping[str, Any], conn_id: str) -> dict[str, Any]:
    """``extras`` under their current names, without masked placeholders (each dropped one is logged).

    When an extra is given under both its old and its current name, the current name wins.
    """
    present: dict[str, Any] = {}
    for name, value in extras.items():
        if value == MASKED_VALUE and name not in _SECRET_EXTRAS:
            log.warning(
                "Connection %r: extra %r is %r, a value masked by Airflow (its name contains a word Airflow "
                "treats as secret); it is ignored and the default applies.%s",
                conn_id,
                name,
                MASKED_VALUE,
                f" Set the extra {RENAMED_EXTRAS[name]!r} instead." if name in RENAMED_EXTRAS else "",
            )
            continue
        present[name] = value
    result = {name: value for name, value in present.items() if name not in RENAMED_EXTRAS}
    for old_name, current_name in RENAMED_EXTRAS.items():
        if old_name not in present:
            continue
        if result.get(current_name) in (None, ""):
            result[current_name] = present[old_name]
        else:
            log.warning(
                "Connection %r sets both extra %r and its old name %r; %r is used",
                conn_id,
                current_name,
                old_name,
                current_name,
            )
    return result


def name_as_given(current_name: str, *sources: Mapping[str, Any]) -> str:
    """The name under which ``current_name`` is set: an old name when only that one is.

    ``sources`` are in increasing precedence (extras, then overrides). Error messages use the result,
    so that they name the field the user actually wrote.
    """
    old_names = [old for old, renamed_to in RENAMED_EXTRAS.items() if renamed_to == current_name]
    for source in reversed(sources):
        for name in (current_name, *old_names):
            if source.get(name) not in (None, "", MASKED_VALUE):
                return name
    return current_name
