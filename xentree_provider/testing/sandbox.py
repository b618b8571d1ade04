"""Command line entry point: ``python -m xentree_provider.testing.sandbox --port 8765``.

Starts the Xentree sandbox on a loopback address, prints a machine-readable ready line
(``XENTREE_SANDBOX_READY http://127.0.0.1:PORT``) and the Airflow connections to use, then serves
until interrupted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from collections.abc import Sequence
from typing import Any

from xentree_provider.testing.config import SandboxConfig, parse_faults
from xentree_provider.testing.readiness import READY_PREFIX as READY_PREFIX  # kept importable from here
from xentree_provider.testing.readiness import ready_line
from xentree_provider.testing.seed import DEMO_KEY_NAME


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI argument parser."""
    defaults = SandboxConfig()
    parser = argparse.ArgumentParser(
        prog="python -m xentree_provider.testing.sandbox",
        description="Run the Xentree sandbox: a local server speaking the Xentree REST API contract.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (loopback only unless --allow-remote)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback address")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--transcripts", type=int, default=defaults.transcripts)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--anchor", default=None, help="YYYY-MM-DD; data ends just before this UTC midnight")
    parser.add_argument("--members-per-org", type=int, default=defaults.members_per_org)
    parser.add_argument(
        "--organizations",
        type=int,
        default=defaults.organizations,
        help="organizations to seed: Acme Learning, Globex, Initech, then generated ones",
    )
    parser.add_argument("--directory-members", type=int, default=defaults.directory_members)
    parser.add_argument("--list-shape", choices=("array", "envelope", "page"), default=defaults.list_shape)
    parser.add_argument("--envelope-key", choices=("items", "data", "results"), default=defaults.envelope_key)
    parser.add_argument(
        "--timestamp-style", choices=("z", "offset", "fractional"), default=defaults.timestamp_style
    )
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime, help="seconds")
    parser.add_argument("--refresh-lifetime", type=float, default=defaults.refresh_lifetime, help="seconds")
    parser.add_argument("--no-rotate-refresh", action="store_true", help="keep the refresh token on refresh")
    parser.add_argument(
        "--token-response", choices=("refresh", "expires_in"), default=defaults.token_response
    )
    parser.add_argument("--retry-after", choices=("seconds", "date", "none"), default=defaults.retry_after)
    parser.add_argument("--live-quota-seconds", type=int, default=defaults.live_quota_seconds)
    parser.add_argument("--faults", default="", help="e.g. latency_ms=10,error_rate=0.1,rate_limit_rps=50")
    parser.add_argument(
        "--config-json", default=None, help="a full SandboxConfig as JSON (overrides the flags)"
    )
    parser.add_argument("--log-level", default="warning")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """Build the :class:`SandboxConfig` the parsed arguments describe."""
    if args.config_json:
        return SandboxConfig.from_dict(json.loads(args.config_json))
    return SandboxConfig(
        seed=args.seed,
        transcripts=args.transcripts,
        days=args.days,
        anchor=args.anchor,
        members_per_org=args.members_per_org,
        organizations=args.organizations,
        directory_members=args.directory_members,
        list_shape=args.list_shape,
        envelope_key=args.envelope_key,
        timestamp_style=args.timestamp_style,
        token_lifetime=args.token_lifetime,
        refresh_lifetime=args.refresh_lifetime,
        rotate_refresh=not args.no_rotate_refresh,
        token_response=args.token_response,
        retry_after=args.retry_after,
        live_quota_seconds=args.live_quota_seconds,
        faults=parse_faults(args.faults),
    )


def connection_banner(url: str, credentials: dict[str, Any]) -> str:
    """Return the human-readable lines telling how to point Airflow at the sandbox."""
    login = {
        "conn_type": "xentree",
        "host": url,
        "login": credentials["email"],
        "password": credentials["password"],
    }
    demo_key = credentials["api_keys"][DEMO_KEY_NAME]["key"]
    key = {"conn_type": "xentree", "host": url, "extra": {"api_key": demo_key}}
    return "\n".join(
        [
            f"Xentree sandbox serving {url}  (admin: {url}/__sandbox/credentials, Ctrl-C to stop)",
            "# user login:",
            f"export AIRFLOW_CONN_XENTREE_DEFAULT='{json.dumps(login)}'",
            "# or API key (every scope, every demo organization):",
            f"export AIRFLOW_CONN_XENTREE_DEFAULT='{json.dumps(key)}'",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until interrupted; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        parser.error(f"refusing to bind non-loopback host {args.host!r}; pass --allow-remote to do it anyway")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    from xentree_provider.testing.app import bind_socket, build_server, world_credentials

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown_host}:{port}"

    def on_ready() -> None:
        print(ready_line(url), flush=True)
        print(connection_banner(url, world_credentials(server.config.app)), flush=True)

    server = build_server(config, on_ready=on_ready, log_level=args.log_level)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
