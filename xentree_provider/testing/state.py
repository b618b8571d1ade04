"""Mutable run-time state of the sandbox: issued tokens, counters and the fault RNG (pure Python)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from xentree_provider.testing.config import FaultConfig, SandboxConfig
from xentree_provider.testing.seed import World, random_token

#: With random fault rates, the most faults one request (method, path, query) gets in a row.
MAX_CONSECUTIVE_FAULTS = 3


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_jwt(payload: dict[str, Any], secret: bytes) -> str:
    """Encode ``payload`` as an HS256 JWT."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def decode_jwt(token: str, secret: bytes) -> dict[str, Any] | None:
    """Return the payload of an HS256 JWT whose signature checks out, else ``None`` (expiry not checked)."""
    try:
        header, body, signature = token.split(".")
        expected = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


@dataclass
class RefreshRecord:
    """An issued refresh token."""

    token: str
    user_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class AccessRecord:
    """An issued access token (keyed by its ``jti``)."""

    token: str
    user_id: str
    expires_at: float
    refresh_token: str | None
    revoked: bool = False


class TokenStore:
    """Issues, checks and revokes access/refresh tokens; remembers every token ever issued."""

    def __init__(self, config: SandboxConfig, secret: bytes) -> None:
        self.config = config
        self.secret = secret
        self.rng = random.Random(f"{config.seed}:tokens")
        self.access: dict[str, AccessRecord] = {}
        self.refresh: dict[str, RefreshRecord] = {}
        self.issued: list[str] = []

    def issue_access(self, user_id: str, refresh_token: str | None) -> str:
        """Issue a signed access token for ``user_id``."""
        now = time.time()
        jti = random_token(self.rng, 12)
        lifetime = self.config.token_lifetime
        payload: dict[str, Any] = {
            "sub": user_id,
            "iat": int(now),
            # whole seconds stay integers (never shorter than the lifetime); 1.5 s stays fractional
            "exp": math.ceil(now + lifetime) if lifetime == int(lifetime) else round(now + lifetime, 3),
            "jti": jti,
            "type": "access",
        }
        token = encode_jwt(payload, self.secret)
        self.access[jti] = AccessRecord(token, user_id, float(payload["exp"]), refresh_token)
        self.issued.append(token)
        return token

    def issue_refresh(self, user_id: str) -> str:
        """Issue an opaque refresh token for ``user_id``."""
        token = "xrt_" + random_token(self.rng, 32)
        self.refresh[token] = RefreshRecord(token, user_id, time.time() + self.config.refresh_lifetime)
        self.issued.append(token)
        return token

    def check_access(self, token: str) -> tuple[AccessRecord | None, str]:
        """Return ``(record, "")`` for a live access token, else ``(None, reason)``."""
        payload = decode_jwt(token, self.secret)
        if payload is None:
            return None, "Malformed or invalid token"
        record = self.access.get(str(payload.get("jti")))
        if record is None or record.token != token:
            return None, "Unknown token"
        if record.revoked:
            return None, "Token has been revoked"
        if time.time() >= record.expires_at:
            return None, "Token has expired"
        return record, ""

    def check_refresh(self, token: str) -> tuple[RefreshRecord | None, str]:
        """Return ``(record, "")`` for a live refresh token, else ``(None, reason)``."""
        record = self.refresh.get(token)
        if record is None:
            return None, "Unknown refresh token"
        if record.revoked:
            return None, "Refresh token has been revoked"
        if time.time() >= record.expires_at:
            return None, "Refresh token has expired"
        return record, ""

    def revoke_access(self, record: AccessRecord) -> None:
        """Revoke an access token and the refresh token it was issued with."""
        record.revoked = True
        if record.refresh_token and record.refresh_token in self.refresh:
            self.refresh[record.refresh_token].revoked = True

    def revoke_all(self) -> int:
        """Revoke every access and refresh token; return how many were live."""
        count = 0
        records: list[AccessRecord | RefreshRecord] = [*self.access.values(), *self.refresh.values()]
        for rec in records:
            if not rec.revoked:
                rec.revoked = True
                count += 1
        return count


class Counters:
    """Request/response/fault counters exposed at ``/__sandbox/counters``.

    ``writes`` counts successful writes per route; ``member_changes`` counts each membership change
    as the server applied it, per ``"<organization id> <e-mail> <operation>"`` (``add``, ``role``,
    ``update``, ``move``, ``remove``), including a change whose response never reached the client.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.logins = 0
        self.login_failures = 0
        self.refreshes = 0
        self.refresh_rejected = 0
        self.tokens_issued = 0
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self.member_changes: Counter[str] = Counter()
        self.auth_failures: Counter[str] = Counter()

    def member_changed(self, org_id: str, email: str, operation: str) -> None:
        """Count one membership change applied to ``email`` in the organization ``org_id``."""
        self.member_changes[f"{org_id} {email} {operation}"] += 1

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able snapshot."""
        return {
            "logins": self.logins,
            "login_failures": self.login_failures,
            "refreshes": self.refreshes,
            "refresh_rejected": self.refresh_rejected,
            "tokens_issued": self.tokens_issued,
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "responses": dict(self.responses),
            "faults": dict(self.faults),
            "writes": dict(self.writes),
            "member_changes": dict(self.member_changes),
            "auth_failures": dict(self.auth_failures),
        }


class SandboxState:
    """Everything the running sandbox holds: config, data world, tokens, counters, fault state."""

    def __init__(self, config: SandboxConfig) -> None:
        self.base_config = config
        self.started_at = time.time()
        self.counters = Counters()
        self.request_seq = 0
        self.load(config)

    def load(self, config: SandboxConfig) -> None:
        """(Re)build data, tokens and fault state from ``config``; counters are zeroed too."""
        config = config.merged({})  # private copy: run-time fault changes never touch the caller's
        self.config = config
        self.world = World(config)
        self.tokens = TokenStore(config, self.world.jwt_secret)
        self.counters.reset()
        self.set_faults(config.faults)

    def set_faults(self, faults: FaultConfig) -> None:
        """Replace the fault configuration and restart the fault schedule and token bucket."""
        self.config.faults = faults
        self.fault_occurrences: Counter[str] = Counter()
        self.fault_streaks: Counter[str] = Counter()
        self.bucket_tokens = float(faults.rate_limit_burst)
        self.bucket_time = time.monotonic()

    def fault_draw(self, request: str) -> tuple[random.Random, bool]:
        """The fault dice of this occurrence of ``request`` (method, path and query), and whether a fault
        may be injected at all.

        Each occurrence of the same request has its own seeded dice (seed, request, how many times it was
        seen), so which requests fail depends only on the seed and each request's own history: not on
        what other requests (token refreshes, other tasks, background threads) ran in between or how fast.
        With random rates (total under 1) one request never fails more than
        ``MAX_CONSECUTIVE_FAULTS`` times in a row, so a client with that many retries always gets
        through, however the machine's load shifts its timing; a total rate of 1 fails every request.
        """
        occurrence = self.fault_occurrences[request]
        self.fault_occurrences[request] += 1
        dice = random.Random(f"{self.config.seed}:faults:{request}:{occurrence}")
        random_rates = self.config.faults.total_rate < 1.0 - 1e-9
        capped = random_rates and self.fault_streaks[request] >= MAX_CONSECUTIVE_FAULTS
        return dice, not capped

    def record_fault(self, request: str, injected: bool) -> None:
        """Note whether this occurrence of ``request`` got a fault (for the consecutive-fault cap)."""
        self.fault_streaks[request] = self.fault_streaks[request] + 1 if injected else 0

    def take_rate_token(self) -> float:
        """Take one token from the bucket; return 0 when allowed, else the seconds until one is free."""
        faults = self.config.faults
        rps = faults.rate_limit_rps
        if not rps:
            return 0.0
        now = time.monotonic()
        self.bucket_tokens = min(
            float(faults.rate_limit_burst), self.bucket_tokens + (now - self.bucket_time) * rps
        )
        self.bucket_time = now
        if self.bucket_tokens >= 1.0:
            self.bucket_tokens -= 1.0
            return 0.0
        return (1.0 - self.bucket_tokens) / rps

    def next_request_id(self) -> str:
        """Return a fresh request id."""
        self.request_seq += 1
        return f"req_{self.config.seed:x}_{self.request_seq:08d}"
