"""What redaction looks for: the built-in ``email`` and ``phone`` patterns, and custom regexes.

A pattern finds spans of text. The built-in ones are a regex for candidates plus checks in Python
(the phone pattern counts digits and refuses what reads as a date, a time, an IP address or a
grouped number); a custom pattern is a user's regex, compiled once when the task is built. Every
pattern says how its matches are normalized before hashing (e-mails lower-cased, phone numbers reduced
to their digits), so the same address or number gives the same hash however it was written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xentree_provider.api.errors import XentreeConfigError

__all__ = [
    "BUILTIN_PATTERNS",
    "CUSTOM_MASK",
    "REGEX_PREFIX",
    "TextPattern",
    "compile_patterns",
    "custom_pattern",
    "email_pattern",
    "phone_pattern",
]

#: The mask of a custom pattern's match (the built-in ones mask as ``[email]`` and ``[phone]``).
CUSTOM_MASK = "redacted"

# -- e-mail ------------------------------------------------------------------------------------------
# local@domain. The local part: RFC 5322 atext (ASCII letters, digits and !$%'*+=^_`{|}~-) except
# "/", "?", "#" and "&", which in chat text delimit URLs ("https://a.com/?e=j@x.com") far more often
# than they appear in an address, plus the letters of scripts below U+2000 (Latin, Greek, Cyrillic,
# Hebrew, Arabic, Indic, ...: "jöhn@exämple.de"). Letters of the scripts written without spaces
# between words (CJK, kana, Hangul) are never part of an address, so "メールはtaro@example.jpです"
# keeps its sentence; a local part written only in them is not recognised. Dots as in a dot-atom.
# The domain: labels of ASCII letters, digits and "-" (and the same letters), a top-level domain
# of letters or an IDN "xn--" label. What follows the address is not looked at ("_", "-" or a digit
# after the top-level domain still ends it): over-redacting a character is the safe side.
_ATEXT = r"A-Za-z0-9!$%'*+=^_`{|}~\-"
_LETTER = r"(?=[^\W\d_])[\u00c0-\u1fff]"
_LOCAL_CHAR = rf"(?:[{_ATEXT}]|{_LETTER})"
_DOMAIN_CHAR = rf"(?:[A-Za-z0-9]|{_LETTER})"
_LABEL = rf"{_DOMAIN_CHAR}(?:(?:{_DOMAIN_CHAR}|-){{0,61}}{_DOMAIN_CHAR})?"
_EMAIL = re.compile(
    # not inside a longer local part ("a.b@": start at "a"), but after ".." or "..." ("or..j@x.io")
    rf"(?<!{_LOCAL_CHAR})(?<!{_LOCAL_CHAR}\.)"
    rf"{_LOCAL_CHAR}+(?:\.{_LOCAL_CHAR}+)*"
    rf"@(?:{_LABEL}\.)+(?:[xX][nN]--[a-zA-Z0-9-]{{1,59}}|(?:[A-Za-z]|{_LETTER}){{2,63}})"
)

# -- phone -------------------------------------------------------------------------------------------
# Candidates: an optional "+", then groups of digits (a group may stand in parentheses, as an area
# code or the "(0)" of "+44 (0)20"), one separator (a space, a no-break space, "-", ".", a hyphen
# or dash such as U+2011 or the en dash) between groups, and an optional extension ("x12",
# " ext. 12"). Never inside an ASCII word, an id or a longer number (letters of other scripts may
# touch it: "电话+86 138 0013 8000谢谢"; an area code in parentheses may follow a word:
# "me(555) 123-4567"; "." after a letter may precede it: "Tel.030 12345678"), never followed by
# more of a date or time. Two numbers may be joined by "/".
_SEPARATOR = "[ \u00a0\u202f.\\-\u2010-\u2013]"
_SPACES = " \u00a0\u202f"
_MAX_GROUPS = 8  # more than a phone number has: a candidate stays short, the scan stays linear
_EXTENSION = re.compile(r"[ \u00a0]?(?i:x|ext\.?|extension)[ \u00a0]?\d{1,6}(?![A-Za-z0-9_])")


def _phone_regex(before: str) -> re.Pattern[str]:
    """The candidate regex, starting with the lookbehind ``before``."""
    return re.compile(
        rf"(?:{before}\+?(?:\(\d{{1,5}}\)|\d{{1,15}})|(?<![\d)])\(\d{{1,5}}\))"
        rf"(?:{_SEPARATOR}?\(\d{{1,5}}\)|(?<=\))[ \u00a0]?\d{{1,15}}|{_SEPARATOR}\d{{1,15}})"
        rf"{{0,{_MAX_GROUPS}}}"
        rf"(?:(?={_EXTENSION.pattern})|(?![A-Za-z0-9_+]|[.:\-\u2010-\u2013]\d))"
    )


#: Where a number may start in running text.
_PHONE_CANDIDATE = _phone_regex(r"(?<![A-Za-z0-9_+/\-\u2010-\u2013])(?<![0-9]\.)")
#: A number starting exactly here (a later group of a candidate that failed, or after "/").
_PHONE_AT = _phone_regex("")
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


def _plausible_phone(candidate: str, groups: Sequence[str] | None = None) -> bool:
    """True if a phone candidate reads as a phone number rather than a date, address or quantity.

    :param groups: the candidate's digit groups, when the caller has them already.
    """
    if groups is None:
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
    nanp = groups[0] == "1" and digits == 11  # 1-800-555-1234: the North American trunk prefix
    if len(groups) >= 4 and not (nanp or candidate.startswith(("0", "("))):
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
    """The phone numbers of ``text``, left to right, in time linear in its length.

    A candidate that is no phone number is retried from its next group (after any separator, not
    inside a date), so each group starts at most one candidate of at most ``_MAX_GROUPS + 1`` groups.
    """
    if len(text) - len(text.translate(_DIGITS)) < _PHONE_DIGITS[True][0]:
        return  # too few digits for any phone number (most chat text): skip the scan
    position = 0
    anchored: int | None = None  # a start that needs no lookbehind: a retried group, or after "/"
    groups: list[tuple[int, int]] = []
    while True:
        match = _PHONE_AT.match(text, anchored) if anchored is not None else None
        if match is None:
            match = _PHONE_CANDIDATE.search(text, position)
            if match is None:
                return
        anchored = None
        start, end = match.span()
        # a retried candidate shares all but one of its groups with the last: parse only the rest
        groups = [group for group in groups if start <= group[0] and group[1] <= end]
        parsed = groups[-1][1] if groups else start
        groups.extend(group.span() for group in _GROUPS.finditer(text, parsed, end))
        found = _longest_phone(text, start, end, groups)
        if found is not None:
            extension = _EXTENSION.match(text, found)
            found = extension.end() if extension else found
            yield start, found
            position = found
            if text.startswith("/", found):
                anchored = found + 1  # 555-123-4567/555-987-6543
        else:
            anchored = _next_group(text, start, end, groups)
            position = end


def _longest_phone(text: str, start: int, end: int, groups: Sequence[tuple[int, int]]) -> int | None:
    """The end of the longest plausible phone number in the candidate ``text[start:end]``.

    A candidate may run two numbers together ("555-123-4567 555-987-6543"): it is cut only where a
    space separates two groups, never inside a group joined by "-" or "." (a date, an id). Prefixes
    with too few or too many digits or groups are refused before any check, so a candidate costs at
    most a few checks whatever it holds.

    :param groups: the ``(start, end)`` of each digit group of the candidate.
    """
    digits = 0
    for group_start, group_end in groups:
        digits += group_end - group_start
    plus, zeros = text.startswith("+", start), text.startswith("00", start)
    for count in range(len(groups), 0, -1):
        if digits < _PHONE_DIGITS[True][0]:
            return None  # shorter prefixes have fewer digits still
        group_start, group_end = groups[count - 1]
        cut = end
        if count < len(groups):
            in_parentheses = text[group_start - 1] == "(" and text[group_end] == ")"
            cut = group_end + 1 if in_parentheses else group_end
        international = plus or (zeros and count > 1)
        low, high = _PHONE_DIGITS[international]
        if (
            (cut == end or text[cut] in _SPACES)
            and low <= digits <= high
            and count <= _MAX_PHONE_GROUPS[international]
            and _plausible_phone(text[start:cut], [text[a:b] for a, b in groups[:count]])
        ):
            return cut
        digits -= group_end - group_start
    return None


def _next_group(text: str, start: int, end: int, groups: Sequence[tuple[int, int]]) -> int | None:
    """Where to retry after the candidate ``text[start:end]`` failed: its next group that is not in a
    date and that starts enough digits for a number (judged on the groups known, when they suffice)."""
    dates = [date.span() for date in _ISO_DATE.finditer(text, start, end)] if len(groups) >= 3 else []
    window = _MAX_PHONE_GROUPS[True]
    for index in range(1, len(groups)):
        group_start = groups[index][0]
        if any(date_start <= group_start < date_end for date_start, date_end in dates):
            continue
        if (
            index + window <= len(groups)
            and _digit_count(groups[index : index + window]) < _PHONE_DIGITS[True][0]
        ):
            continue  # the longest number that could start here has too few digits
        return group_start - 1 if text[group_start - 1] == "(" else group_start
    return None


def _digit_count(groups: Sequence[tuple[int, int]]) -> int:
    return sum(group_end - group_start for group_start, group_end in groups)


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


#: The prefix that marks an entry of ``redact`` as a regex, even when it reads like a built-in name.
REGEX_PREFIX = "re:"
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9 _-]*")


def _builtin_lookalike(entry: str) -> str | None:
    """The built-in name a plain-word entry was probably meant to be (``Email``, ``emails``,
    ``phone_number``), or None for entries that are not such a word."""
    if not _WORD.fullmatch(entry):
        return None
    word = entry.lower()
    for name in BUILTIN_PATTERNS:
        if word.startswith(name) or word.endswith(name):
            return name
    close = difflib.get_close_matches(word, list(BUILTIN_PATTERNS), n=1, cutoff=0.6)
    return close[0] if close else None


def custom_pattern(source: str, name: str, *, where: str | None = None) -> TextPattern:
    """A user's regex as a pattern named ``name``; refuses what does not compile or can match nothing.

    :param where: names the entry in errors (default ``redact: <name>``), e.g. ``redact[1] (pattern_1)``.
    :raises XentreeConfigError: naming the pattern and what is wrong with it.
    """
    where = where or f"redact: {name}"
    if not isinstance(source, str) or not source:
        raise XentreeConfigError(
            f"{where} must be a non-empty regex string, got {source!r}; or one of "
            f"{', '.join(sorted(BUILTIN_PATTERNS))}"
        )
    try:
        compiled = re.compile(source)
    except re.error as error:
        raise XentreeConfigError(f"{where} {source!r} is not a valid regex: {error}") from None
    if compiled.search("") is not None or _shortest_match(source, compiled.flags) == 0:
        raise XentreeConfigError(
            f"{where} {source!r} matches the empty string, so it would redact between every "
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
    A string is one pattern; None or an empty list is no redaction. A plain word that is or looks
    like a built-in name (``"Email"``, ``"emails"``, ``"phone_number"``) is refused, since as a regex
    it would match only that word and silently redact nothing; write ``"re:<regex>"`` for a regex
    that really is such a word (``"re:phone_number"``).

    :raises XentreeConfigError: on a bad regex, one that matches the empty string, a repeat, or a
        misspelt built-in name (suggesting the name).
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
    for index, entry in enumerate(redact):
        if entry in seen:
            raise XentreeConfigError(f"redact lists {entry!r} twice; give each pattern once")
        if isinstance(entry, str):
            seen.add(entry)
        if isinstance(entry, str) and entry in BUILTIN_PATTERNS:
            patterns.append(BUILTIN_PATTERNS[entry]())
            continue
        custom += 1
        name = f"pattern_{custom}"
        where = f"redact[{index}] ({name})"
        if isinstance(entry, str) and entry.startswith(REGEX_PREFIX):
            entry = entry[len(REGEX_PREFIX) :]
        elif isinstance(entry, str) and (meant := _builtin_lookalike(entry)) is not None:
            raise XentreeConfigError(
                f"{where} {entry!r} looks like the built-in pattern {meant!r} misspelt: as a regex it "
                f"would match only that word. Write {meant!r} for the built-in pattern, or "
                f"{REGEX_PREFIX + entry!r} if you mean the regex"
            )
        patterns.append(custom_pattern(entry, name, where=where))
    return tuple(patterns)
