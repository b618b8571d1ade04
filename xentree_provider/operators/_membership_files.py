"""The membership sync's files: the roster read and the report written through ``ObjectStoragePath``.

Airflow-side I/O of ``XentreeOrgMembershipSyncOperator`` (object storage, connections); the parsing
and the report's content live in ``xentree_provider.membership``.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import ObjectStoragePath

from xentree_provider._compat import AirflowFailException
from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider.membership.grace import GraceState, grace_from_report
from xentree_provider.membership.report import report_json
from xentree_provider.membership.roster import (
    RosterEntry,
    RosterError,
    RosterFormat,
    RosterReadError,
    parse_roster,
    parse_roster_bytes,
)

__all__ = [
    "ORG_PLACEHOLDER",
    "MembershipRosterError",
    "audit_location",
    "previous_grace",
    "read_json",
    "read_roster",
    "report_location",
    "with_org",
    "write_report",
    "write_text",
]

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
    write_text(path, report_json(report))


def write_text(path: ObjectStoragePath, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, binary=False) as handle:
        handle.write(text)


def audit_location(report: ObjectStoragePath) -> ObjectStoragePath:
    """The audit log beside ``report``: ``<name>.audit.jsonl`` (``.json`` dropped)."""
    return report.parent / (report.name.removesuffix(".json") + ".audit.jsonl")


def read_json(path: ObjectStoragePath) -> tuple[Any, str | None]:
    """The parsed JSON at ``path``, or ``(None, why not)`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"there is no previous report at {path}"
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return None, f"the previous report {path} is unreadable ({type(error).__name__}: {error})"


def _newest_report(folder: ObjectStoragePath, name: str) -> ObjectStoragePath | None:
    """The last report called ``name`` in ``folder`` or its subfolders, in path order (dates sort)."""
    found = [folder / name] if (folder / name).exists() else []
    if folder.is_dir():
        found += [sub / name for sub in folder.iterdir() if sub.is_dir() and (sub / name).exists()]
    return max(found, key=str) if found else None


def previous_grace(
    previous: str | ObjectStoragePath | None,
    report: ObjectStoragePath | None,
    org: str,
    conn_id: str | None,
) -> GraceState:
    """The missing-run counts of the previous run's report (restarted, with the reason, if unusable).

    ``previous`` is a report file (``.json``) or a folder searched for the newest report named like
    this run's; None means this run's own ``report`` location (read before it is overwritten).
    """
    if previous is None or (isinstance(previous, str) and not previous.strip()):
        if report is None:
            return GraceState.restart("no report_path or previous_report_path is set")
        location = report
    else:
        location = output_path(with_org(previous, org), conn_id)
        if not location.name.endswith(".json"):
            if report is None:
                return GraceState.restart(
                    "previous_report_path is a folder but no report_path names the file"
                )
            newest = _newest_report(location, report.name)
            if newest is None:
                return GraceState.restart(f"there is no previous report {report.name} in {location}")
            location = newest
    data, problem = read_json(location)
    if problem is not None:
        return GraceState.restart(problem, str(location))
    return grace_from_report(data, location=str(location), organization_id=org)
