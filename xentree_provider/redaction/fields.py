"""Field selection: which top-level fields of an export's records are written."""

from __future__ import annotations

from collections.abc import Sequence

from xentree_provider.api.errors import XentreeConfigError

__all__ = ["IDENTITY_FIELD", "select_fields"]

#: Always written, listed in ``fields`` or not: without it a row cannot be deduplicated or joined.
IDENTITY_FIELD = "id"


def select_fields(
    fields: Sequence[str] | str | None, available: Sequence[str], *, identity: str = IDENTITY_FIELD
) -> tuple[str, ...] | None:
    """The fields to write, in the order of ``available`` (the full schema's order), or None for all.

    :param fields: the names to keep (a string is one name); None keeps every field.
    :param available: the record's top-level fields, in file order.
    :param identity: the field written even when ``fields`` does not list it.
    :raises XentreeConfigError: on an empty list, a repeat or an unknown name (listing the valid ones).
    """
    if fields is None:
        return None
    names = [fields] if isinstance(fields, str) else fields
    if not isinstance(names, Sequence) or not names:
        raise XentreeConfigError(
            f"fields must be a non-empty list of field names (or None for all); valid: {', '.join(available)}"
        )
    unknown = [name for name in names if name not in available]
    if unknown:
        raise XentreeConfigError(
            f"fields: unknown field(s) {', '.join(repr(name) for name in unknown)}; valid: "
            f"{', '.join(available)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise XentreeConfigError(f"fields lists {', '.join(map(repr, repeated))} more than once")
    kept = {*names, identity}
    return tuple(name for name in available if name in kept)
