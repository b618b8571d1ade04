"""The membership sync's files: the roster read and the report written through ``ObjectStoragePath``.

Airflow-side I/O of ``XentreeOrgMembershipSyncOperator`` (object storage, connections); the parsing
and the report's content live in ``xentree_provider.membership``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider.membership.report import report_json
from xentree_provider.membership.roster import (
    RosterEntry,
    RosterError,
    RosterFormat,
    RosterReadError,
    parse_roster,
    parse_roster_bytes,
)

__all__ = ["ORG_PLACEHOLDER", "MembershipRosterError", "read_roster", "report_location", "write_report"]

ORG_PLACEHOLDER = "{organization_id}"


class MembershipRosterError(AirflowFailException):
    """The roster is unusable (bad rows, unreadable file); nothing was changed. Not retried."""


def with_org(value: str | ObjectStoragePath, org: str) -> str | ObjectStoragePath:
    """``value`` with ``{organization_id}`` replaced by ``org`` (paths given as objects are kept)."""
    if isinstance(value, str):
        return value.replace(ORG_PLACEHOLDER, org)
    return value


def read_roster(
    source: Any, org: str, *, fmt: RosterFormat = "auto", conn_id: str | None = None
) -> tuple[list[RosterEntry], str]:
    """Read and validate the roster ``source`` (a path/URL, JSON text or a list of dicts) of ``org``.

    Returns the entries and a name for messages; raises :class:`MembershipRosterError` on any problem.
    """
    try:
        if isinstance(source, ObjectStoragePath) or (
            isinstance(source, str) and not source.lstrip().startswith("[")
        ):
            path = output_path(with_org(source, org), conn_id)
            try:
                data = path.read_bytes()
            except FileNotFoundError as error:
                raise MembershipRosterError(
                    f"The roster {path} does not exist; check source (and the "
                    f"{ORG_PLACEHOLDER} placeholder) for organization {org}"
                ) from error
            return parse_roster_bytes(data, source=str(path), fmt=fmt), str(path)
        entries = parse_roster(source)
        return entries, f"(a list of {len(entries)} rows)"
    except (RosterError, RosterReadError) as error:
        raise MembershipRosterError(str(error)) from error
    except ValueError as error:
        raise MembershipRosterError(f"Unusable roster source: {error}") from error


def report_location(
    report_path: str | ObjectStoragePath | None, org: str, conn_id: str | None
) -> ObjectStoragePath | None:
    """Where the report of ``org`` goes (None: no report)."""
    if report_path is None or (isinstance(report_path, str) and not report_path.strip()):
        return None
    return output_path(with_org(report_path, org), conn_id)


def write_report(path: ObjectStoragePath, report: dict[str, Any]) -> None:
    """Write the JSON report atomically (a failed try never leaves half a file)."""
    with atomic_write(path, binary=False) as handle:
        handle.write(report_json(report))
