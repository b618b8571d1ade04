"""Client settings built from an Airflow connection's fields, with clear errors for bad values.

Pure: takes the host, login, password and extras as plain values so the same code serves the sync
hook, the async hook and the sandbox's own tools.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.extra_names import name_as_given, with_current_names
from xentree_provider.api.retry import RetryPolicy
from xentree_provider.api.tokens import DEFAULT_REFRESH_LEAD

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "KNOWN_EXTRAS",
    "RANGES",
    "ClientSettings",
    "NumberRange",
    "check_credential",
    "is_loopback_host",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://my.xentree.com"
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_MAX_RETRIES = 20
DEFAULT_RETRY_MAX_WAIT = 60.0
DEFAULT_RETRY_BUDGET = 120.0
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
KNOWN_EXTRAS = frozenset(
    {
        "api_key",
        "organization_id",
        "timeout",
        "verify",
        "max_retries",
        "retry_max_wait",
        "token_refresh_lead",  # the old name of refresh_lead_seconds
        "refresh_lead_seconds",
        "allow_insecure_http",
        "retry_budget_seconds",
        "request_deadline",
        "max_response_bytes",
        "max_requests_per_second",
    }
)
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^\[\]:@]+)(:[^:]*)?")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def is_loopback_host(hostname: str | None) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if not hostname:
        return False
    if hostname.lower() in ("localhost", "localhost.localdomain") or hostname.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise XentreeConfigError(f"connection extra {name!r} must be true or false, got {value!r}")


@dataclass(frozen=True)
class NumberRange:
    """The values a numeric setting accepts, for validation and for the error message."""

    minimum: float
    maximum: float
    unit: str = "seconds"
    whole: bool = False

    def describe(self) -> str:
        """``"0 to 3600 seconds"``, ``"whole numbers from 0 to 100"``."""
        span = f"{self.minimum:g} to {self.maximum:g}"
        return f"whole numbers from {span}" if self.whole else f"{span} {self.unit}".rstrip()


TIMEOUT_RANGE = NumberRange(0.001, 3600.0)
RANGES: dict[str, NumberRange] = {
    "timeout": TIMEOUT_RANGE,
    "max_retries": NumberRange(0, 100, unit="", whole=True),
    "retry_max_wait": NumberRange(0.0, 3600.0),
    "retry_budget_seconds": NumberRange(0.0, 86400.0),
    "request_deadline": NumberRange(0.001, 86400.0),
    "token_refresh_lead": NumberRange(0.0, 86400.0),  # the old name of refresh_lead_seconds
    "refresh_lead_seconds": NumberRange(0.0, 86400.0),
    "max_response_bytes": NumberRange(1024, 2**40, unit="bytes", whole=True),
    "max_requests_per_second": NumberRange(0.01, 100_000.0, unit="requests per second"),
}


def _as_number(name: str, value: Any, limits: NumberRange | None = None) -> float:
    """``value`` as a finite number within ``limits`` (by default the range known for ``name``)."""
    limits = limits or RANGES[name]
    problem: str | None = None
    try:
        if isinstance(value, bool):  # float(True) is 1.0: a switch is not a number
            raise TypeError(value)
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number, problem = math.nan, "must be a number"
    if problem is None and not math.isfinite(number):
        problem = "must be a finite number"
    elif problem is None and number < limits.minimum:
        problem = f"must be at least {limits.minimum:g}"
    elif problem is None and number > limits.maximum:
        problem = f"must be at most {limits.maximum:g}"
    elif problem is None and limits.whole and number != int(number):
        problem = "must be a whole number"
    if problem is not None:
        raise XentreeConfigError(
            f"connection extra {name!r} {problem} (accepted: {limits.describe()}), got {value!r}"
        )
    return number


def _as_int(name: str, value: Any) -> int:
    return int(_as_number(name, value))


def parse_timeout(value: Any) -> tuple[float, float]:
    """Read a timeout as one number (both), ``"connect,read"``, or a two-item list."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parts: list[Any] = [value, value]
    elif isinstance(value, str):
        parts = [p for p in value.replace(";", ",").split(",") if p.strip()]
        if len(parts) == 1:
            parts = parts * 2
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = []
    if len(parts) != 2:
        raise XentreeConfigError(
            f"connection extra 'timeout' must be seconds (e.g. 30) or 'connect,read' (e.g. '10,60'), "
            f"got {value!r}"
        )
    connect, read = (_as_number("timeout", p) for p in parts)
    return connect, read


def normalise_base_url(host: str | None, port: int | None = None) -> str:
    """Return the API base URL: default host, ``https://`` added when no scheme, no trailing slash.

    Credentials in the host (``https://user:pw@host``) are refused without being repeated anywhere.
    """
    text = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in text:
        text = "https://" + text
    # Any "@" after the scheme: a base URL never needs one, and a password holding "/", "?" or "#"
    # would hide the "@" from a check of the authority alone (and then be echoed by later errors).
    if "@" in text.split("://", 1)[-1]:
        raise XentreeConfigError(
            "connection host must not contain credentials (user:password@ before the host name): remove "
            "them, and put the e-mail and password in the connection's login and password fields, or an "
            "API key in the extra 'api_key'"
        )
    if any(unicodedata.category(char)[0] in "CZ" for char in text):
        raise XentreeConfigError("connection host must not contain spaces, control or invisible characters")
    try:
        parts = urlsplit(text)
        hostname = parts.hostname
    except ValueError as error:
        raise XentreeConfigError(f"connection host {host!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise XentreeConfigError(f"connection host must be an http(s) URL, got scheme {parts.scheme!r}")
    if not hostname:
        raise XentreeConfigError(f"connection host {host!r} has no host name")
    if not _NETLOC.fullmatch(parts.netloc):
        raise XentreeConfigError(
            f"connection host {host!r} is not a valid URL: write a host name or [IPv6 address], then "
            "optionally :port"
        )
    try:
        host_port = parts.port
    except ValueError:
        raise XentreeConfigError(
            f"connection host {host!r} has an invalid port: give a number from 1 to 65535"
        ) from None
    if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
        raise XentreeConfigError(f"connection port must be a number from 1 to 65535, got {port!r}")
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if parts.query or parts.fragment:
        raise XentreeConfigError("connection host must not contain a query string or fragment")
    return f"{parts.scheme}://{netloc}{path}"


def check_credential(
    field_name: str, value: str, *, spaces_allowed: bool = False, ascii_only: bool = False
) -> None:
    """Refuse control, invisible and (unless allowed) space characters in a credential, naming the
    field and the first offending character's position, never the value.

    ``ascii_only`` is for credentials sent in an HTTP header (the API key), where anything but ASCII
    cannot be encoded.
    """
    for position, char in enumerate(value, start=1):
        category = unicodedata.category(char)
        if char == " " and spaces_allowed:
            continue
        if ascii_only and not char.isascii():
            raise XentreeConfigError(
                f"{field_name} contains a character that is not ASCII (U+{ord(char):04X}) at position "
                f"{position}: API keys are ASCII only; retype or copy it again"
            )
        if category[0] in "CZ":  # Cc control, Cf format (U+200B...), Co/Cs/Cn, Zs/Zl/Zp spaces
            kind = "a space" if category[0] == "Z" else "a control or invisible character"
            raise XentreeConfigError(
                f"{field_name} contains {kind} (U+{ord(char):04X}, {unicodedata.name(char, category)}) at "
                f"position {position}: retype it without copying hidden characters"
            )


def _verify(value: Any) -> bool | str:
    """TLS verification: a boolean, or the path of a CA bundle file (or directory) that must exist."""
    if not (isinstance(value, str) and value.strip().lower() not in _TRUE | _FALSE):
        return _as_bool("verify", value)
    path = os.path.expanduser(value.strip())
    if not os.path.exists(path):
        raise XentreeConfigError(
            f"connection extra 'verify' names a CA bundle {value!r} that does not exist on this machine; "
            "give the path of a PEM file (or directory) readable by the workers, or true/false"
        )
    return path


def _parse_extra(extra: Mapping[str, Any] | str | None) -> dict[str, Any]:
    if extra is None or extra == "":
        return {}
    if isinstance(extra, str):
        try:
            loaded = json.loads(extra)
        except json.JSONDecodeError as error:
            raise XentreeConfigError(f"connection extra is not valid JSON: {error.msg}") from None
        extra = loaded
    if not isinstance(extra, Mapping):
        raise XentreeConfigError("connection extra must be a JSON object")
    # Airflow 2-style prefixed names ("extra__xentree__api_key") are accepted too.
    return {str(k).removeprefix("extra__xentree__"): v for k, v in extra.items()}


@dataclass(frozen=True)
class ClientSettings:
    """Everything the HTTP clients need, validated. Secrets are kept out of ``repr``."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify: bool | str = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    token_refresh_lead: float = DEFAULT_REFRESH_LEAD
    organization_id: str | None = None
    allow_insecure_http: bool = False
    #: Seconds one request may take in all (connect and every read); None: derived from ``timeout``.
    request_deadline: float | None = None
    #: The largest response body accepted (decoded), in bytes.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    #: The most requests one hook starts per second, across its threads; None: no cap.
    max_requests_per_second: float | None = None

    @property
    def deadline(self) -> float:
        """The total deadline of one request: ``request_deadline``, else connect + twice the read timeout."""
        if self.request_deadline is not None:
            return self.request_deadline
        connect, read = self.timeout
        return connect + 2 * read

    @property
    def auth_mode(self) -> str:
        """``"api_key"`` or ``"login"``."""
        return "api_key" if self.api_key else "login"

    def organization(self, org_id: str | None, conn_id: str) -> str:
        """``org_id`` if given, else the connection's ``organization_id``; a clear error if neither."""
        resolved = org_id or self.organization_id
        if not resolved:
            raise XentreeConfigError(
                "no organization given: pass organization_id, or set the extra 'organization_id' on "
                f"connection {conn_id!r}"
            )
        return resolved

    def secrets(self) -> list[str]:
        """The secret values in these settings (to register with a secrets masker)."""
        return [s for s in (self.api_key, self.password) if s]

    @classmethod
    def from_connection(
        cls,
        *,
        host: str | None,
        login: str | None,
        password: str | None,
        extra: Mapping[str, Any] | str | None,
        port: int | None = None,
        conn_id: str = "xentree_default",
        overrides: Mapping[str, Any] | None = None,
    ) -> ClientSettings:
        """Build settings from connection fields; ``overrides`` (from the hook) win over the extras."""
        given_extras = _parse_extra(extra)
        extras = with_current_names(given_extras, conn_id)
        unknown = sorted(set(extras) - KNOWN_EXTRAS)
        if unknown:
            log.warning(
                "Connection %r has unknown extra field(s) %s; known fields are %s",
                conn_id,
                ", ".join(unknown),
                ", ".join(sorted(KNOWN_EXTRAS)),
            )
        # The UI saves fields left empty as null or "": that means "not set", so the default applies.
        merged = {
            **{k: v for k, v in extras.items() if v not in (None, "")},
            **{k: v for k, v in with_current_names(overrides or {}, conn_id).items() if v is not None},
        }

        api_key = merged.get("api_key") or None
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise XentreeConfigError(f"connection {conn_id!r}: extra 'api_key' must be a non-empty string")
        if api_key is not None:
            api_key = api_key.strip()
            check_credential(f"connection {conn_id!r}: extra 'api_key'", api_key, ascii_only=True)
        if api_key is None and not (login and password):
            raise XentreeConfigError(
                f"connection {conn_id!r} has no credentials: set the extra 'api_key', "
                "or both login (the account e-mail) and password"
            )
        if api_key is None:
            check_credential(f"connection {conn_id!r}: the login", str(login))
            check_credential(f"connection {conn_id!r}: the password", str(password), spaces_allowed=True)

        base_url = normalise_base_url(host, port)
        allow_insecure = _as_bool("allow_insecure_http", merged.get("allow_insecure_http", False))
        hostname = urlsplit(base_url).hostname
        if base_url.startswith("http://") and not is_loopback_host(hostname) and not allow_insecure:
            raise XentreeConfigError(
                f"connection {conn_id!r} points at plain http:// on {hostname!r}: credentials would be sent "
                "unencrypted. Use https://, or set the extra 'allow_insecure_http' to true if you really "
                "mean it."
            )

        timeout = (
            parse_timeout(merged["timeout"]) if merged.get("timeout") not in (None, "") else DEFAULT_TIMEOUT
        )
        verify = _verify(merged.get("verify", True))
        max_retries = _as_int("max_retries", merged.get("max_retries", DEFAULT_MAX_RETRIES))
        retry = RetryPolicy(
            max_attempts=max_retries + 1,
            max_wait=_as_number("retry_max_wait", merged.get("retry_max_wait", DEFAULT_RETRY_MAX_WAIT)),
            budget=_as_number(
                "retry_budget_seconds", merged.get("retry_budget_seconds", DEFAULT_RETRY_BUDGET)
            ),
        )
        lead_name = name_as_given("refresh_lead_seconds", given_extras, overrides or {})
        lead = _as_number(lead_name, merged.get("refresh_lead_seconds", DEFAULT_REFRESH_LEAD))
        deadline = merged.get("request_deadline")
        max_bytes = merged.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
        rps = merged.get("max_requests_per_second")
        org = merged.get("organization_id")
        return cls(
            base_url=base_url,
            api_key=api_key,
            login=None if api_key else login,
            password=None if api_key else password,
            timeout=timeout,
            verify=verify,
            retry=retry,
            token_refresh_lead=lead,
            organization_id=str(org) if org not in (None, "") else None,
            allow_insecure_http=allow_insecure,
            request_deadline=None if deadline is None else _as_number("request_deadline", deadline),
            max_response_bytes=_as_int("max_response_bytes", max_bytes),
            max_requests_per_second=None if rps is None else _as_number("max_requests_per_second", rps),
        )
