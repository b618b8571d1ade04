"""Client settings built from an Airflow connection's fields, with clear errors for bad values.

Pure: takes the host, login, password and extras as plain values so the same code serves the sync
hook, the async hook and the sandbox's own tools.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.extra_names import name_as_given, with_current_names
from xentree_provider.api.retry import RetryPolicy
from xentree_provider.api.tokens import DEFAULT_REFRESH_LEAD

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "KNOWN_EXTRAS", "ClientSettings", "is_loopback_host"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://my.xentree.com"
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_MAX_WAIT = 60.0
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
    }
)
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


def _as_number(name: str, value: Any, *, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise XentreeConfigError(f"connection extra {name!r} must be a number, got {value!r}") from None
    if number < minimum:
        raise XentreeConfigError(f"connection extra {name!r} must be at least {minimum:g}, got {value!r}")
    return number


def _as_int(name: str, value: Any) -> int:
    number = _as_number(name, value)
    if number != int(number):
        raise XentreeConfigError(f"connection extra {name!r} must be a whole number, got {value!r}")
    return int(number)


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
    connect, read = (_as_number("timeout", p, minimum=0.001) for p in parts)
    return connect, read


def normalise_base_url(host: str | None, port: int | None = None) -> str:
    """Return the API base URL: default host, ``https://`` added when no scheme, no trailing slash."""
    text = (host or "").strip() or DEFAULT_BASE_URL
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise XentreeConfigError(f"connection host must be an http(s) URL, got scheme {parts.scheme!r}")
    if not parts.hostname:
        raise XentreeConfigError(f"connection host {host!r} has no host name")
    try:
        host_port = parts.port
    except ValueError:
        raise XentreeConfigError(
            f"connection host {host!r} has an invalid port: give a number from 1 to 65535"
        ) from None
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    if parts.query or parts.fragment:
        raise XentreeConfigError("connection host must not contain a query string or fragment")
    return f"{parts.scheme}://{netloc}{path}"


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
        if api_key is None and not (login and password):
            raise XentreeConfigError(
                f"connection {conn_id!r} has no credentials: set the extra 'api_key', "
                "or both login (the account e-mail) and password"
            )

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
        verify_raw = merged.get("verify", True)
        verify: bool | str
        if isinstance(verify_raw, str) and verify_raw.strip().lower() not in _TRUE | _FALSE:
            verify = verify_raw  # a CA bundle path
        else:
            verify = _as_bool("verify", verify_raw)
        max_retries = _as_int("max_retries", merged.get("max_retries", DEFAULT_MAX_RETRIES))
        retry = RetryPolicy(
            max_attempts=max_retries + 1,
            max_wait=_as_number("retry_max_wait", merged.get("retry_max_wait", DEFAULT_RETRY_MAX_WAIT)),
        )
        lead_name = name_as_given("refresh_lead_seconds", given_extras, overrides or {})
        lead = _as_number(lead_name, merged.get("refresh_lead_seconds", DEFAULT_REFRESH_LEAD))
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
        )
