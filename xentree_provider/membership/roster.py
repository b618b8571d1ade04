"""Reading and validating an organization roster (the desired membership); pure Python, no Airflow.

A roster is a sequence of rows with the columns ``email``, ``role`` and optionally ``team_id``, given as
CSV text with a header, a JSON array of objects, JSON lines, or a list of dicts (an upstream task's
XCom). Every problem is collected with its location (``line N`` of the file, or ``item N`` of a list)
so one run reports all of them; :func:`parse_roster` raises :class:`RosterError` when there is any.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from xentree_provider.api.errors import XentreeConfigError

__all__ = [
    "ROLES",
    "RosterEntry",
    "RosterError",
    "RosterFormat",
    "RosterProblem",
    "RosterReadError",
    "detect_format",
    "email_problem",
    "normalize_email",
    "parse_roster",
    "parse_roster_bytes",
    "parse_roster_records",
    "parse_roster_table",
    "parse_roster_text",
    "protected_patterns",
]

#: The organization roles, highest first.
ROLES: tuple[str, ...] = ("owner", "admin", "manager", "member")
COLUMNS: tuple[str, ...] = ("email", "role", "team_id")
REQUIRED_COLUMNS: tuple[str, ...] = ("email", "role")
RosterFormat = Literal["auto", "csv", "json", "jsonl"]
_MAX_PROBLEMS_IN_MESSAGE = 25


def normalize_email(value: str) -> str:
    """The comparison key of an e-mail address: trimmed and lower-cased."""
    return value.strip().lower()


# Characters that render as nothing (Unicode's Default_Ignorable_Code_Point, plus blank look-alikes).
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-")
_MAX_LOCAL = 64
_MAX_DOMAIN = 253
_MAX_LABEL = 63


def _invisible(char: str) -> bool:
    code = ord(char)
    if unicodedata.category(char) in ("Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp", "Zs"):
        return True
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def email_problem(value: str) -> str | None:
    """Why ``value`` (already trimmed) is not one bare e-mail address (an addr-spec), or None if it is.

    Accepted: exactly one ``@`` between a dot-atom local part (ASCII ``atext`` or non-ASCII letters)
    and a domain of two or more dot-separated labels (letters, digits, inner hyphens; IDN allowed).
    Refused, with the reason: whitespace, control, format (Cf) and other invisible characters, display
    names and angle brackets, lists of addresses, ``mailto:``, quoted local parts, IP literals.
    """
    for index, char in enumerate(value):
        if _invisible(char) and not char.isspace():
            name = unicodedata.name(char, "unnamed")
            return f"it contains the invisible character U+{ord(char):04X} ({name}) at character {index + 1}"
    if value.lower().startswith("mailto:"):
        return "it starts with 'mailto:'; give the bare address"
    if "<" in value or ">" in value or '"' in value:
        return "it has a display name, quotes or angle brackets; give the bare address (name@example.com)"
    if "," in value or ";" in value:
        return "it lists several addresses; give one address per row"
    for index, char in enumerate(value):
        if char.isspace():
            return f"it contains whitespace (U+{ord(char):04X}) at character {index + 1}"
    if value.count("@") != 1:
        found = value.count("@")
        return "it has no '@'" if not found else f"it has {found} '@' signs; an address has exactly one"
    local, domain = value.split("@")
    if not local:
        return "the part before '@' is empty"
    if not domain:
        return "the domain after '@' is empty"
    if len(local) > _MAX_LOCAL:
        return f"the part before '@' is longer than {_MAX_LOCAL} characters"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "the part before '@' starts or ends with a dot, or has two dots in a row"
    bad = sorted({c for c in local if c != "." and c not in _ATEXT and (c.isascii() or not c.isalnum())})
    if bad:
        return f"the part before '@' contains {', '.join(repr(c) for c in bad)}"
    return _domain_problem(domain)


def _domain_problem(domain: str) -> str | None:
    if domain.startswith("["):
        return "IP-address domains ([...]) are not accepted; give a domain name"
    if len(domain) > _MAX_DOMAIN:
        return f"the domain is longer than {_MAX_DOMAIN} characters"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"the domain {domain!r} has no dot (expected a domain such as example.com)"
    for label in labels:
        if not label:
            return f"the domain {domain!r} has an empty label (a leading, trailing or double dot)"
        if len(label) > _MAX_LABEL:
            return f"the domain label {label[:20]!r}... is longer than {_MAX_LABEL} characters"
        if label.startswith("-") or label.endswith("-"):
            return f"the domain label {label!r} starts or ends with a hyphen"
        if any(c != "-" and not c.isalnum() for c in label):
            return f"the domain label {label!r} may only hold letters, digits and hyphens"
    if labels[-1].isdigit():
        return f"the domain {domain!r} ends in a number; give a domain name"
    return None


@dataclass(frozen=True)
class RosterEntry:
    """One desired member.

    :param email: the e-mail as given, trimmed (sent to Xentree when the member is added).
    :param role: one of :data:`ROLES`.
    :param team_id: the team to put the member in; None leaves the member's team as it is.
    :param location: where the row came from (``line 3``, ``item 2``), for messages.
    """

    email: str
    role: str
    team_id: str | None
    location: str

    @property
    def key(self) -> str:
        """The e-mail's comparison key."""
        return normalize_email(self.email)


@dataclass(frozen=True)
class RosterProblem:
    """A row the sync refuses: where it is and what is wrong."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class RosterError(XentreeConfigError):
    """The roster has problems; nothing was changed. ``problems`` lists every one with its location."""

    def __init__(self, source: str, problems: Sequence[RosterProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:_MAX_PROBLEMS_IN_MESSAGE])
        more = len(self.problems) - _MAX_PROBLEMS_IN_MESSAGE
        if more > 0:
            shown += f"\n  ... and {more} more"
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"The roster {source} has {len(self.problems)} {noun}; fix them and re-run "
            f"(no membership was changed):\n{shown}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (RosterError, (self.source, self.problems))


class RosterReadError(XentreeConfigError):
    """The roster file cannot be read as text (not gzip, not UTF-8); nothing was changed."""


def detect_format(name: str, text: str) -> Literal["csv", "json", "jsonl"]:
    """Guess a roster's format from its file name, then from its first non-blank character."""
    lowered = name.lower().removesuffix(".gz")
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".json"):
        return "json" if text.lstrip().startswith("[") else "jsonl"
    first = text.lstrip()[:1]
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    return "csv"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _csv_rows(text: str, problems: list[RosterProblem]) -> Iterator[tuple[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    start = 1
    try:
        for row in reader:
            line = start
            start = reader.line_num + 1
            if not row or all(not cell.strip() for cell in row):
                continue  # blank lines are allowed anywhere
            if header is None:
                header = [cell.strip().lower().lstrip("\ufeff") for cell in row]
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    problems.append(
                        RosterProblem(
                            f"line {line}",
                            f"the header has no {' and no '.join(repr(c) for c in missing)} column "
                            f"(found {', '.join(repr(c) for c in header)}); the first line must name the "
                            f"columns email, role and optionally team_id",
                        )
                    )
                    return
                duplicated = sorted({c for c in header if c and header.count(c) > 1})
                if duplicated:
                    problems.append(
                        RosterProblem(
                            f"line {line}", f"the header repeats {', '.join(map(repr, duplicated))}"
                        )
                    )
                    return
                continue
            if len(row) != len(header):
                yield (
                    f"line {line}",
                    ValueError(f"has {len(row)} fields but the header has {len(header)}"),
                )
                continue
            yield f"line {line}", dict(zip(header, row, strict=True))
    except csv.Error as error:
        problems.append(RosterProblem(f"line {reader.line_num}", f"is not valid CSV: {error}"))
        return
    if header is None:
        problems.append(RosterProblem("line 1", "the file is empty: expected a header and rows"))


def _json_array_rows(text: str, problems: list[RosterProblem]) -> Iterator[tuple[str, Any]]:
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i].isspace():
            i += 1
        return i

    index = skip(0)
    if not text.startswith("[", index):
        problems.append(RosterProblem(f"line {_line_of(text, index)}", "expected a JSON array of objects"))
        return
    index = skip(index + 1)
    if text.startswith("]", index):
        index += 1
    else:
        while True:
            line = _line_of(text, index)
            try:
                value, index = decoder.raw_decode(text, index)
            except json.JSONDecodeError as error:
                problems.append(RosterProblem(f"line {error.lineno}", f"is not valid JSON: {error.msg}"))
                return
            yield f"line {line}", value
            index = skip(index)
            if text.startswith(",", index):
                index = skip(index + 1)
                continue
            if text.startswith("]", index):
                index += 1
                break
            where = f"line {_line_of(text, index)}"
            problems.append(RosterProblem(where, "expected ',' or ']' in the JSON array"))
            return
    if text[index:].strip():
        problems.append(
            RosterProblem(f"line {_line_of(text, skip(index))}", "unexpected text after the array")
        )


def _json_lines_rows(text: str, problems: list[RosterProblem]) -> Iterator[tuple[str, Any]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            yield f"line {number}", ValueError(f"is not valid JSON: {error.msg}")
            continue
        yield f"line {number}", value


def _check_rows(rows: Iterable[tuple[str, Any]], problems: list[RosterProblem]) -> list[RosterEntry]:
    entries: list[RosterEntry] = []
    seen: dict[str, str] = {}
    for location, row in rows:
        if isinstance(row, ValueError):
            problems.append(RosterProblem(location, str(row)))
            continue
        if not isinstance(row, Mapping):
            problems.append(
                RosterProblem(location, f"expected an object with email and role, got {type(row).__name__}")
            )
            continue
        fields = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        wrong = [
            k
            for k in ("email", "role", "team_id")
            if fields.get(k) is not None and not isinstance(fields[k], str)
        ]
        if wrong:
            problems.append(RosterProblem(location, f"{', '.join(wrong)} must be text"))
            continue
        email = (fields.get("email") or "").strip()
        role = (fields.get("role") or "").strip().lower()
        team_id = (fields.get("team_id") or "").strip() or None
        bad = False
        if not email:
            problems.append(RosterProblem(location, "email is empty"))
            bad = True
        elif (why := email_problem(email)) is not None:
            problems.append(RosterProblem(location, f"email {email!r} is not an e-mail address: {why}"))
            bad = True
        if not role:
            problems.append(RosterProblem(location, f"role is empty (one of {', '.join(ROLES)})"))
            bad = True
        elif role not in ROLES:
            problems.append(
                RosterProblem(location, f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
            )
            bad = True
        if not email:
            continue
        key = normalize_email(email)
        if key in seen:
            problems.append(RosterProblem(location, f"duplicate email {email!r} (first at {seen[key]})"))
            continue
        seen[key] = location
        if not bad:
            entries.append(RosterEntry(email=email, role=role, team_id=team_id, location=location))
    return entries


def parse_roster_text(text: str, *, source: str, fmt: RosterFormat = "auto") -> list[RosterEntry]:
    """Parse roster text (CSV with header, JSON array or JSON lines); raise RosterError on any problem."""
    if fmt not in ("auto", "csv", "json", "jsonl"):
        raise XentreeConfigError(f"source_format must be auto, csv, json or jsonl, got {fmt!r}")
    kind = detect_format(source, text) if fmt == "auto" else fmt
    text = text.removeprefix("\ufeff")
    problems: list[RosterProblem] = []
    if kind == "csv":
        rows = _csv_rows(text, problems)
    elif kind == "json":
        rows = _json_array_rows(text, problems)
    else:
        rows = _json_lines_rows(text, problems)
    entries = _check_rows(rows, problems)
    if problems:
        raise RosterError(source, problems)
    return entries


def parse_roster_records(records: Sequence[Any], *, source: str = "the given list") -> list[RosterEntry]:
    """Validate a list of dicts (for example an upstream task's XCom); raise RosterError on any problem."""
    problems: list[RosterProblem] = []
    entries = _check_rows(((f"item {i}", row) for i, row in enumerate(records, start=1)), problems)
    if problems:
        raise RosterError(source, problems)
    return entries


def parse_roster_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, source: str
) -> list[RosterEntry]:
    """Validate query results (column names and row tuples, as from a DB-API cursor), ``row N`` each.

    The columns need ``email`` and ``role`` (any case), ``team_id`` is optional; whole-number team ids
    are taken as text. Every bad row is reported as for a CSV file; raise RosterError on any problem.
    """
    names = [str(c).strip().lower() for c in columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ", ".join(repr(c) for c in names) or "none"
        problem = RosterProblem(
            "the query",
            f"returns no {' and no '.join(repr(c) for c in missing)} column (found {found}); select "
            "the columns email, role and optionally team_id (use AS to rename)",
        )
        raise RosterError(source, [problem])

    def records() -> Iterator[tuple[str, Any]]:
        for number, row in enumerate(rows, start=1):
            record = dict(zip(names, row, strict=False))
            team = record.get("team_id")
            if isinstance(team, int) and not isinstance(team, bool):
                record["team_id"] = str(team)
            yield f"row {number}", record

    problems: list[RosterProblem] = []
    entries = _check_rows(records(), problems)
    if problems:
        raise RosterError(source, problems)
    return entries


def parse_roster(source: Any, *, fmt: RosterFormat = "auto", name: str | None = None) -> list[RosterEntry]:
    """Validate an in-memory roster: a list of dicts, or JSON text of an array (a rendered template)."""
    if isinstance(source, str):
        if not source.lstrip().startswith("["):
            raise XentreeConfigError(f"expected roster text to be a JSON array, got {source[:40]!r}")
        return parse_roster_text(source, source=name or "(inline JSON)", fmt="json")
    if isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)):
        return parse_roster_records(source, source=name or f"(a list of {len(source)} rows)")
    raise XentreeConfigError(
        f"source must be a path/URL, JSON text or a list of dicts, got {type(source).__name__}"
    )


def parse_roster_bytes(data: bytes, *, source: str, fmt: RosterFormat = "auto") -> list[RosterEntry]:
    """Parse a roster file's bytes (gzip-compressed when ``source`` ends in ``.gz``; UTF-8, BOM allowed)."""
    if source.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise RosterReadError(f"The roster {source} is not a readable gzip file: {error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RosterReadError(f"The roster {source} is not UTF-8 text: {error}") from None
    return parse_roster_text(text, source=source, fmt=fmt)


def protected_patterns(value: str | Iterable[str]) -> list[str]:
    """The ``protected`` e-mail patterns as a clean list (a string may separate them by ``,`` or ``;``)."""
    items = value.replace(";", ",").split(",") if isinstance(value, str) else value
    return [str(p).strip() for p in items if str(p).strip()]
