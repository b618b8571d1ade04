"""What redaction looks for: the built-in ``email`` and ``phone`` patterns, and custom regexes.

A pattern finds spans of text. The built-in ones are a regex for candidates plus checks in Python
(the phone pattern counts digits and refuses what reads as a date, a time, an IP address or a
grouped number); a custom pattern is a user's regex, compiled once when the task is built. Every
pattern says how its matches are normalized before hashing (e-mails lower-cased, phone numbers reduced
to their digits), so the same address or number gives the same hash however it was written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xentree_provider.api.errors import XentreeConfigError

__all__ = [
    "BUILTIN_PATTERNS",
    "CUSTOM_MASK",
    "TextPattern",
    "compile_patterns",
    "custom_pattern",
    "email_pattern",
    "phone_pattern",
]

#: The mask of a custom pattern's match (the built-in ones mask as ``[email]`` and ``[phone]``).
CUSTOM_MASK = "redacted"

# -- e-mail ------------------------------------------------------------------------------------------
# local@domain: the local part in the characters RFC 5322 allows unquoted (letters of any script too),
# not starting or ending with a dot; the domain one or more labels and a top-level domain of letters
# (or an IDN "xn--" label). Not preceded by a character that would make it part of a longer word.
_LOCAL_CHAR = r"[\w!#$%&'*+/=?^`{|}~-]"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_EMAIL = re.compile(
    rf"(?<![\w.!#$%&'*+/=?^`{{|}}~-])"
    rf"{_LOCAL_CHAR}+(?:\.{_LOCAL_CHAR}+)*"
    rf"@(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|[xX][nN]--[a-zA-Z0-9-]{{1,59}})"
    rf"(?![\w-]|\.[^\W_])"
)

# -- phone -------------------------------------------------------------------------------------------
# Candidates: an optional "+", then groups of digits (a group may stand in parentheses, as an area
# code or the "(0)" of "+44 (0)20"), one separator (space, no-break space, "-" or ".") between
# groups. Never inside a word, an id or a longer number (an area code in parentheses may follow a
# word: "me(555) 123-4567"), never followed by more of a date or time.
_SEPARATOR = "[ \u00a0.\\-]"
_MAX_GROUPS = 8  # more than a phone number has: a candidate stays short, the scan stays linear
_PHONE_CANDIDATE = re.compile(
    r"(?:(?<![\w+/.\-])\+?(?:\(\d{1,5}\)|\d{1,15})|(?<![\d)])\(\d{1,5}\))"
    rf"(?:{_SEPARATOR}?\(\d{{1,5}}\)|(?<=\))[ \u00a0]?\d{{1,15}}|{_SEPARATOR}\d{{1,15}}){{0,{_MAX_GROUPS}}}"
    r"(?![\w+]|[./:\-]\d)"
)
_GROUPS = re.compile(r"\d+")
_PHONE_DIGITS = {True: (8, 15), False: (10, 15)}  # (with "+" or "00", national): E.164 has at most 15
_NATIONAL_GROUP_MAX = 8
_MAX_PHONE_GROUPS = {True: 7, False: 5}  # +33 6 12 34 56 78; 06 12 34 56 78
_ISO_DATE = re.compile(r"(?<!\d)\d{4}[-.]\d\d[-.]\d\d(?!\d)|(?<!\d)\d\d[-.]\d\d[-.]\d{4}(?!\d)")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_THOUSANDS = re.compile(r"\d{1,3}(?:([ \u00a0.])\d{3})+")


@dataclass(frozen=True)
class TextPattern:
    """One thing to redact: its name (the key of its count), how to find it, how its mask reads.

    :param name: ``email``, ``phone`` or ``pattern_N`` for the N-th custom pattern.
    :param finder: yields the ``(start, end)`` spans of the matches in a text, left to right.
    :param mask: the word of the mask token, ``[mask]`` (and of the hash token, ``[mask:digest]``).
    :param normalize: what is hashed of a match (the match itself for custom patterns).
    :param source: the regex as given, for custom patterns (shown in errors and docs).
    """

    name: str
    finder: Callable[[str], Iterator[tuple[int, int]]] = field(repr=False)
    mask: str
    normalize: Callable[[str], str] = field(repr=False, default=lambda text: text)
    source: str | None = None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """The ``(start, end)`` spans of this pattern's matches in ``text``."""
        return self.finder(text)


def _email_spans(text: str) -> Iterator[tuple[int, int]]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield match.span()


def _plausible_phone(candidate: str) -> bool:
    """True if a phone candidate reads as a phone number rather than a date, address or quantity."""
    groups = _GROUPS.findall(candidate)
    digits = sum(len(group) for group in groups)
    international = candidate.startswith("+") or (candidate.startswith("00") and len(groups) > 1)
    low, high = _PHONE_DIGITS[international]
    if not low <= digits <= high:
        return False
    if len(groups) > _MAX_PHONE_GROUPS[international]:
        return False
    if candidate.startswith("+"):
        return True
    if len(groups) < 2 or max(len(group) for group in groups) > _NATIONAL_GROUP_MAX:
        return False  # one bare run of digits is an id, a count or an epoch as often as a phone
    if len(groups) >= 4 and not candidate.startswith(("0", "(")):
        return False  # 12 15 18 20 22 is a list of numbers; national forms of 4+ groups start with 0
    if sum(len(group) == 1 for group in groups) > 1:
        return False
    if _ISO_DATE.search(candidate) or _IPV4.fullmatch(candidate):
        return False
    if "(" not in candidate and _THOUSANDS.fullmatch(candidate):
        return False  # 1 000 000 000, 1.234.567.890
    dotted = "." in candidate
    return not (dotted and len(groups) < 3)  # 1234.567890 is a decimal number


_DIGITS = str.maketrans("", "", "0123456789")


def _phone_spans(text: str) -> Iterator[tuple[int, int]]:
    if len(text) - len(text.translate(_DIGITS)) < _PHONE_DIGITS[True][0]:
        return  # too few digits for any phone number (most chat text): skip the scan
    position = 0
    while True:
        match = _PHONE_CANDIDATE.search(text, position)
        if match is None:
            return
        start, end = match.span()
        found = _longest_phone(text, start, end) if end - start >= _PHONE_DIGITS[True][0] else None
        if found is not None:
            yield start, found
            position = found
        else:  # a number may start at a later group ("12 15 18 20 22 555-123-4567")
            space = re.search(r"\d[ \u00a0]", text[start:end])
            position = start + space.end() if space else end


def _longest_phone(text: str, start: int, end: int) -> int | None:
    """The end of the longest plausible phone number in ``text[start:end]`` starting at ``start``.

    A candidate may run two numbers together ("555-123-4567 555-987-6543"): it is cut only where a
    space separates two groups, never inside a group joined by "-" or "." (a date, an id).
    """
    candidate = text[start:end]
    if _plausible_phone(candidate):
        return end
    for cut in range(len(candidate) - 1, 0, -1):
        at_space = candidate[cut] in " \u00a0" and candidate[cut - 1].isdigit()
        if at_space and _plausible_phone(candidate[:cut]):
            return start + cut
    return None


def _email_key(match: str) -> str:
    return match.lower()


def _phone_key(match: str) -> str:
    digits = "".join(_GROUPS.findall(match))
    if match.startswith("+"):
        return "+" + digits
    if match.startswith("00"):
        return "+" + digits[2:]
    return digits


def email_pattern() -> TextPattern:
    """The built-in ``email`` pattern: ``local@domain.tld``, hashed lower-cased."""
    return TextPattern("email", _email_spans, "email", _email_key)


def phone_pattern() -> TextPattern:
    """The built-in ``phone`` pattern: international (``+CC``/``00CC``) and national numbers with
    separators, hashed as their digits (``+`` and the country code for international forms)."""
    return TextPattern("phone", _phone_spans, "phone", _phone_key)


#: The patterns named by a word in ``redact``.
BUILTIN_PATTERNS: dict[str, Callable[[], TextPattern]] = {"email": email_pattern, "phone": phone_pattern}


def _shortest_match(source: str, flags: int) -> int | None:
    """The fewest characters the regex can match (``(?=x)`` and ``a?`` can match none), if known."""
    try:
        parsed = _regex_parser().parse(source, flags)
        low, _ = parsed.getwidth()
    except Exception:  # the parser is CPython's internal; without it the search("") check stands alone
        return None
    return int(low)


def _regex_parser() -> Any:
    try:
        import re._parser as parser  # type: ignore[import-not-found,unused-ignore]  # Python 3.11+
    except ImportError:  # Python 3.10
        import sre_parse as parser
    return parser


def custom_pattern(source: str, name: str) -> TextPattern:
    """A user's regex as a pattern named ``name``; refuses what does not compile or can match nothing.

    :raises XentreeConfigError: naming the pattern and what is wrong with it.
    """
    if not isinstance(source, str) or not source:
        raise XentreeConfigError(
            f"redact: {name} must be a non-empty regex string, got {source!r}; or one of "
            f"{', '.join(sorted(BUILTIN_PATTERNS))}"
        )
    try:
        compiled = re.compile(source)
    except re.error as error:
        raise XentreeConfigError(f"redact: {name} {source!r} is not a valid regex: {error}") from None
    if compiled.search("") is not None or _shortest_match(source, compiled.flags) == 0:
        raise XentreeConfigError(
            f"redact: {name} {source!r} matches the empty string, so it would redact between every "
            "character; make it match at least one character (e.g. use + instead of *)"
        )

    def spans(text: str) -> Iterator[tuple[int, int]]:
        for match in compiled.finditer(text):
            if match.end() > match.start():  # a lookaround may still match empty somewhere
                yield match.span()

    return TextPattern(name, spans, CUSTOM_MASK, source=source)


def compile_patterns(redact: Sequence[str] | str | None) -> tuple[TextPattern, ...]:
    """The patterns of a ``redact`` argument: built-in names and custom regexes, in the given order.

    Custom regexes are named ``pattern_1``, ``pattern_2``, ... in their order among the custom ones.
    A string is one pattern; None or an empty list is no redaction.

    :raises XentreeConfigError: on a bad regex, one that matches the empty string, or a repeat.
    """
    if redact is None:
        return ()
    if isinstance(redact, str):
        redact = [redact]
    if not isinstance(redact, Sequence):
        raise XentreeConfigError(
            f"redact must be a list of pattern names and regexes, got {type(redact).__name__}"
        )
    patterns: list[TextPattern] = []
    seen: set[str] = set()
    custom = 0
    for entry in redact:
        if entry in seen:
            raise XentreeConfigError(f"redact lists {entry!r} twice; give each pattern once")
        if isinstance(entry, str):
            seen.add(entry)
        if isinstance(entry, str) and entry in BUILTIN_PATTERNS:
            patterns.append(BUILTIN_PATTERNS[entry]())
            continue
        custom += 1
        patterns.append(custom_pattern(entry, f"pattern_{custom}"))
    return tuple(patterns)
