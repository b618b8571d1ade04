"""Rosters from a database: ``source_sql`` run on ``source_conn_id`` through common-sql's ``DbApiHook``.

Any Airflow SQL connection whose provider gives a ``DbApiHook`` works (Postgres, MySQL, Snowflake, ...).
A ``sqlite`` connection works even without the SQLite provider: the file is opened read-only with the
standard library. Rows are validated like CSV rows (``row N`` in messages).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

from xentree_provider.membership.roster import RosterEntry, RosterError, parse_roster_table
from xentree_provider.operators._membership_files import MembershipRosterError

__all__ = ["read_sql_roster"]


class _ReadOnlySqliteHook(DbApiHook):
    """A SQLite file (the connection's host, else its schema) opened read-only."""

    conn_name_attr = "sqlite_conn_id"
    default_conn_name = "sqlite_default"
    conn_type = "sqlite"
    hook_name = "SQLite (read-only roster)"

    def get_conn(self) -> sqlite3.Connection:
        """A read-only ``sqlite3`` connection to the file the Airflow connection names."""
        connection = self.get_connection(getattr(self, self.conn_name_attr))
        path = connection.host or connection.schema
        if not path:
            raise MembershipRosterError(
                f"the sqlite connection {connection.conn_id!r} names no database file "
                "(set its host to the file's path)"
            )
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _sql_hook(conn_id: str) -> DbApiHook:
    connection = BaseHook.get_connection(conn_id)
    try:
        hook = connection.get_hook()  # type: ignore[no-untyped-call]
    except Exception:
        if connection.conn_type != "sqlite":
            raise
        hook = _ReadOnlySqliteHook(sqlite_conn_id=conn_id)
    if not isinstance(hook, DbApiHook):
        raise MembershipRosterError(
            f"source_conn_id {conn_id!r} is a {connection.conn_type!r} connection, not a SQL database "
            "(its hook is no DbApiHook); give a database connection for source_sql"
        )
    return hook


def read_sql_roster(sql: str, conn_id: str | None) -> tuple[list[RosterEntry], str]:
    """Run ``sql`` on ``conn_id`` and validate the rows (columns email, role, optional team_id)."""
    if not conn_id:
        raise MembershipRosterError("source_sql needs source_conn_id: the Airflow connection of the database")
    if not sql.strip():
        raise MembershipRosterError("source_sql is empty: give the query that selects email, role, team_id")
    name = f"the query on connection {conn_id!r}"
    hook = _sql_hook(conn_id)
    try:
        with closing(hook.get_conn()) as connection:
            cursor: Any = connection.cursor()
            try:
                cursor.execute(sql)
                columns = [str(column[0]) for column in cursor.description or ()]
                rows = cursor.fetchall()
            finally:
                cursor.close()
    except Exception as error:
        # A query the database refuses cannot pass on a retry; a database that is down may.
        refused = type(error).__name__ in ("ProgrammingError", "DataError", "NotSupportedError")
        local = isinstance(error, sqlite3.Error) and "locked" not in str(error)
        if refused or local:
            raise MembershipRosterError(f"{name} failed: {error}; fix source_sql") from error
        raise
    try:
        return parse_roster_table(columns, rows, source=name), name
    except RosterError as error:
        raise MembershipRosterError(str(error)) from error
