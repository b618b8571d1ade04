"""Configuration of the Xentree sandbox: data size, response variants and fault knobs.

Pure standard library: importing this module never pulls in FastAPI, uvicorn or Airflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from xentree_provider.api.timestamps import parse_timestamp

ListShape = Literal["array", "envelope", "page"]
EnvelopeKey = Literal["items", "data", "results"]
TimestampStyle = Literal["z", "offset", "fractional"]
TokenResponseStyle = Literal["refresh", "expires_in"]
RetryAfterStyle = Literal["seconds", "date", "none"]
ResetPhase = Literal["before", "after"]
ConversationUpdates = Literal["each_message", "frozen"]

#: The most organizations a sandbox seeds (``SandboxConfig.organizations``).
MAX_ORGANIZATIONS = 99
_RATES = ("error_rate", "reset_rate", "html_error_rate", "malformed_json_rate", "truncated_json_rate")


def _check_choice(name: str, value: object, literal: Any) -> None:
    choices = get_args(literal)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _unknown_keys(cls: type, data: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")


@dataclass
class FaultConfig:
    """Fault injection knobs; every rate is a share of API requests between 0 and 1."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500, 502, 503)
    reset_rate: float = 0.0
    reset_phase: ResetPhase = "before"
    rate_limit_rps: float | None = None
    rate_limit_burst: int = 10
    html_error_rate: float = 0.0
    malformed_json_rate: float = 0.0
    truncated_json_rate: float = 0.0
    fault_routes: list[str] | None = None

    def __post_init__(self) -> None:
        self.latency_ms = float(self.latency_ms)
        self.error_codes = tuple(int(c) for c in self.error_codes)
        if self.fault_routes is not None:
            self.fault_routes = [str(p) for p in self.fault_routes]
        if self.rate_limit_rps is not None:
            self.rate_limit_rps = float(self.rate_limit_rps)
        self.rate_limit_burst = int(self.rate_limit_burst)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` when a knob is out of range."""
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        total = 0.0
        for name in _RATES:
            value = float(getattr(self, name))
            setattr(self, name, value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
            total += value
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {total:.3f}; they must not exceed 1")
        if not self.error_codes or any(not 400 <= c <= 599 for c in self.error_codes):
            raise ValueError("error_codes must be a non-empty list of 4xx/5xx statuses")
        _check_choice("reset_phase", self.reset_phase, ResetPhase)
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("rate_limit_rps must be > 0 (or None to disable)")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be >= 1")

    @property
    def total_rate(self) -> float:
        """The share of requests that get some fault (the rates are exclusive, so they add up)."""
        return sum(float(getattr(self, name)) for name in _RATES)

    @property
    def active(self) -> bool:
        """Whether any fault (latency, rate limit or a random fault) is switched on."""
        return bool(self.latency_ms or self.rate_limit_rps or any(getattr(self, name) for name in _RATES))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        data = dataclasses.asdict(self)
        data["error_codes"] = list(self.error_codes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FaultConfig:
        """Build from a dict such as :meth:`to_dict` returns; unknown keys raise ``ValueError``."""
        data = dict(data or {})
        _unknown_keys(cls, data)
        if "error_codes" in data:
            data["error_codes"] = tuple(data["error_codes"])
        return cls(**data)

    def merged(self, overrides: dict[str, Any]) -> FaultConfig:
        """Return a copy with ``overrides`` applied."""
        return FaultConfig.from_dict({**self.to_dict(), **overrides})


@dataclass
class SandboxConfig:
    """Everything that shapes the sandbox: seed, data sizes, response variants and faults."""

    seed: int = 42
    transcripts: int = 3000
    days: int = 28
    anchor: str | None = None
    members_per_org: int = 40
    organizations: int = 3
    """How many organizations: the named three (Acme Learning, Globex, Initech) first, then generated
    ones (``org04``, ``org05``...), each owned by the primary user, with ``members_per_org`` members."""
    directory_members: int = 250
    list_shape: ListShape = "array"
    envelope_key: EnvelopeKey = "items"
    timestamp_style: TimestampStyle = "z"
    token_lifetime: float = 900.0
    refresh_lifetime: float = 86400.0
    rotate_refresh: bool = True
    token_response: TokenResponseStyle = "refresh"  # noqa: S105 - a variant name, not a secret
    retry_after: RetryAfterStyle = "seconds"
    live_quota_seconds: int = 36000
    late_share: float = 0.0
    """Share of seeded transcripts saved hours after their session (late arrivals), 0..1."""
    late_hours: float = 30.0
    """The longest delay of a late arrival, in hours (each is 1 h to this, uniformly)."""
    clock: str | None = None
    """The server's clock (ISO datetime): transcripts and conversation messages saved after it are
    invisible, and those saved through the API are stamped with it. None: the real clock, no limit."""
    conversations: int = 25
    """Seeded AI conversations; about half are picked up again on later days (messages across days)."""
    conversation_updates: ConversationUpdates = "each_message"
    """How a conversation's ``updated_at`` moves: ``each_message`` (its latest message), or ``frozen``
    (always its ``created_at``: a server the contract allows, since it does not pin the field)."""
    ignore_offset: bool = False
    """Ignore the ``offset`` query parameter of lists (a server that pages only with ``page``)."""
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if isinstance(self.faults, dict):
            self.faults = FaultConfig.from_dict(cast(dict[str, Any], self.faults))
        self.token_lifetime = float(self.token_lifetime)
        self.refresh_lifetime = float(self.refresh_lifetime)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` when a setting is out of range."""
        if self.transcripts < 0:
            raise ValueError("transcripts must be >= 0")
        if self.conversations < 0:
            raise ValueError("conversations must be >= 0")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.members_per_org < 2:
            raise ValueError("members_per_org must be >= 2")
        if not 1 <= self.organizations <= MAX_ORGANIZATIONS:
            raise ValueError(f"organizations must be between 1 and {MAX_ORGANIZATIONS}")
        if self.directory_members < 0:
            raise ValueError("directory_members must be >= 0")
        if self.token_lifetime <= 0 or self.refresh_lifetime <= 0:
            raise ValueError("token lifetimes must be > 0")
        if self.live_quota_seconds < 0:
            raise ValueError("live_quota_seconds must be >= 0")
        if not 0.0 <= self.late_share <= 1.0:
            raise ValueError("late_share must be between 0 and 1")
        if not self.late_hours >= 1.0:
            raise ValueError("late_hours must be >= 1")
        self.clock_us()
        _check_choice("list_shape", self.list_shape, ListShape)
        _check_choice("envelope_key", self.envelope_key, EnvelopeKey)
        _check_choice("timestamp_style", self.timestamp_style, TimestampStyle)
        _check_choice("token_response", self.token_response, TokenResponseStyle)
        _check_choice("retry_after", self.retry_after, RetryAfterStyle)
        _check_choice("conversation_updates", self.conversation_updates, ConversationUpdates)
        self.anchor_datetime()

    def anchor_datetime(self) -> dt.datetime:
        """Return the anchor as an aware UTC datetime at 00:00 (today when ``anchor`` is None)."""
        if self.anchor is None:
            day = dt.datetime.now(dt.timezone.utc).date()
        else:
            try:
                day = dt.date.fromisoformat(str(self.anchor)[:10])
            except ValueError as exc:
                raise ValueError(f"anchor must be an ISO date (YYYY-MM-DD), got {self.anchor!r}") from exc
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)

    def clock_us(self) -> int | None:
        """The server clock in microseconds since the epoch, or None when it is not set."""
        if self.clock in (None, ""):
            return None
        try:
            moment = parse_timestamp(str(self.clock))
        except ValueError as exc:
            raise ValueError(f"clock must be an ISO datetime, got {self.clock!r}") from exc
        return int(moment.timestamp()) * 1_000_000 + moment.microsecond

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        data = dataclasses.asdict(self)
        data["faults"] = self.faults.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SandboxConfig:
        """Build from a dict such as :meth:`to_dict` returns; unknown keys raise ``ValueError``."""
        data = dict(data or {})
        _unknown_keys(cls, data)
        if "faults" in data and not isinstance(data["faults"], FaultConfig):
            data["faults"] = FaultConfig.from_dict(data["faults"])
        return cls(**data)

    def merged(self, overrides: dict[str, Any] | None) -> SandboxConfig:
        """Return a copy with ``overrides`` applied; a ``faults`` dict is merged field by field."""
        overrides = dict(overrides or {})
        base = self.to_dict()
        faults = overrides.pop("faults", None)
        if isinstance(faults, FaultConfig):
            faults = faults.to_dict()
        if faults is not None:
            base["faults"] = {**base["faults"], **faults}
        base.update(overrides)
        return SandboxConfig.from_dict(base)


def _parse_scalar(key: str, raw: str) -> Any:
    text = raw.strip()
    if key == "error_codes":
        return tuple(int(part) for part in text.replace("|", ";").split(";") if part.strip())
    if key == "fault_routes":
        return [part.strip() for part in text.replace("|", ";").split(";") if part.strip()]
    if key == "reset_phase":
        return text
    if key == "rate_limit_rps" and text.lower() in ("", "none", "off"):
        return None
    if key == "rate_limit_burst":
        return int(text)
    return float(text)


def parse_faults(spec: str | None, base: FaultConfig | None = None) -> FaultConfig:
    """Parse a compact fault string such as ``latency_ms=10,error_rate=0.1,rate_limit_rps=50``.

    Lists (``error_codes``, ``fault_routes``) separate their items with ``;`` or ``|``, e.g.
    ``error_codes=500;503,fault_routes=/api/live;/api/organizations``.
    """
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(FaultConfig)}
    for item in (spec or "").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"fault item {item!r} is not key=value")
        key, raw = (part.strip() for part in item.split("=", 1))
        if key not in known:
            raise ValueError(f"unknown fault knob {key!r}; known: {', '.join(sorted(known))}")
        try:
            values[key] = _parse_scalar(key, raw)
        except ValueError as exc:
            raise ValueError(f"bad value for {key}: {raw!r}") from exc
    return (base or FaultConfig()).merged(values)
