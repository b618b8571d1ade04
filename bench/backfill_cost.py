"""List requests to export a recent day and a day near the oldest end of a long history.

    uv run python bench/backfill_cost.py            # 50,000 transcripts over 365 days
    uv run python bench/backfill_cost.py --quick    # 10,000 over 120 days

The transcript list is newest first with no date filter, so a scan reaches an old day only by reading
every newer page. The exporter searches for the window's boundary instead (when the server honours
``offset``). For each window field it counts the list requests (sandbox counters) of selecting a day
one day back and a day near the oldest end, and prints their ratio; goal old/recent <= 3 + 2 (a
small constant for the probes). For comparison it prints what a scan from the top costs (the sandbox
with ``ignore_offset`` and page-style lists, where the exporter falls back to scanning).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime, timedelta, timezone

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # before Airflow is imported
ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
LIST = "GET /api/live/transcripts"
GOAL = 3.0
SMALL_CONSTANT = 2.0


def list_requests(sandbox: object, window_field: str, start: datetime) -> tuple[int, int]:
    """List requests and transcripts selected for the day starting at ``start``."""
    from xentree_provider.hooks.xentree import XentreeHook
    from xentree_provider.transcripts.exporter import TranscriptExporter
    from xentree_provider.transcripts.selection import Selection, TimeWindow

    sandbox.reset_counters()  # type: ignore[attr-defined]
    hook = XentreeHook()
    try:
        selection = Selection(TimeWindow(start, start + timedelta(days=1)), window_field)
        ids = TranscriptExporter(hook, selection, page_size=200).select()
    finally:
        hook.close()
    return int(sandbox.counters()["requests"].get(LIST, 0)), len(ids)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transcripts", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--quick", action="store_true", help="10,000 transcripts over 120 days")
    args = parser.parse_args()
    if args.quick:
        args.transcripts, args.days = 10_000, 120

    from xentree_provider.testing import SandboxServer

    logging.disable(logging.INFO)
    recent = ANCHOR - timedelta(days=1)
    old = ANCHOR - timedelta(days=args.days - 1)
    config = {"transcripts": args.transcripts, "days": args.days, "anchor": ANCHOR.date().isoformat()}
    missed = False
    with SandboxServer(**config, late_share=0.1, late_hours=24) as sandbox:
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
        print(f"sandbox: {args.transcripts} transcripts over {args.days} days (10% saved 1-24 h late)")
        print(f"recent day {recent.date()}, old day {old.date()}; list requests (page size 200)")
        for field in ("created_at", "session_started_at"):
            recent_cost, recent_count = list_requests(sandbox, field, recent)
            old_cost, old_count = list_requests(sandbox, field, old)
            ratio = old_cost / recent_cost
            ok = ratio <= GOAL + SMALL_CONSTANT
            missed |= not ok
            print(
                f"  {field:<19} recent {recent_cost:>3} ({recent_count} transcripts)  old {old_cost:>3} "
                f"({old_count} transcripts)  old/recent {ratio:4.2f}  goal <= {GOAL:.0f} + "
                f"{SMALL_CONSTANT:.0f}: {'ok' if ok else 'MISSED'}"
            )
        sandbox.reset(**config, late_share=0.1, late_hours=24, list_shape="page", ignore_offset=True)
        scan_cost, _ = list_requests(sandbox, "created_at", old)
        print(f"  a scan from the top (server ignoring offset): old day {scan_cost} list requests")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
