"""Run the example pipelines against the bundled Xentree sandbox: no Xentree account needed.

``./scripts/demo.sh`` runs ``python -m dags_examples.run_demo``. Each part starts its own sandbox (a real
HTTP server speaking the Xentree API), points ``xentree_default`` at it and runs an example DAG with
``dag.test()``:

1. the hook: test the connection, read the profile, the Live quota and a few transcripts;
2. nightly transcript exports for the last three days (and one day again: same bytes);
3. nightly AI conversation exports, contact details masked, for the last three days (and one again);
4. the nightly organization membership sync (dry-run plan, then apply) over two organizations;
5. the weekly XEL learning report with a knowledge-base lookup, for two weeks.

Outputs go under ``--output`` (default ``$AIRFLOW_HOME/demo-output``); the end prints where they are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

PARTS = ("hook", "transcripts", "conversations", "membership", "reporting")


def _hook_part(output: Path) -> bool:
    from xentree_provider.hooks.xentree import XentreeHook
    from xentree_provider.testing import SandboxServer

    with SandboxServer() as sandbox:
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
        hook = XentreeHook()
        ok, message = hook.test_connection()
        print(f"test_connection: {'ok' if ok else 'FAILED'} - {message}")
        if not ok:
            return False
        me = hook.get_me()
        print(f"me: {me.get('full_name')} <{me.get('email')}>")
        print(f"live quota: {json.dumps(hook.get_live_quota(), sort_keys=True)}")
        for transcript in islice(hook.iter_transcripts(page_size=50), 3):
            print(f"transcript {transcript['id']}: started {transcript['session_started_at']}")
    return True


def _transcripts_part(output: Path) -> bool:
    from dags_examples.demo_transcripts import run_demo

    runs = run_demo(days=3, output=str(output / "exports"), migrate=False)
    identical = runs[-1].get("sha256") == runs[-2].get("sha256")
    print(f"re-run of {runs[-1]['day']} wrote identical bytes: {identical}")
    return identical and all(r["state"].endswith("success") for r in runs)


def _conversations_part(output: Path) -> bool:
    from datetime import datetime, timedelta, timezone

    from dags_examples._demo import nightly_runs, prepare_airflow
    from dags_examples.xentree_conversation_export import build_dag
    from xentree_provider.testing import SandboxServer

    prepare_airflow(False)
    base = output / "exports"
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=k) for k in range(3, 0, -1)]
    with SandboxServer(conversations=200, anchor=today.date().isoformat()) as sandbox:
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
        path = "conversations/dt={}/conversations.jsonl.gz".format
        runs = nightly_runs(build_dag(str(base)), base, path, days, print)
    identical = runs[-1].get("sha256") == runs[-2].get("sha256")
    print(f"re-run of {runs[-1]['day']} wrote identical bytes: {identical}")
    return identical and all(r["state"].endswith("success") for r in runs)


def _membership_part(output: Path) -> bool:
    from dags_examples.demo_membership import run_demo

    outcome = run_demo(report_dir=output / "membership", migrate=False)
    return str(outcome["state"]).endswith("success")


def _reporting_part(output: Path) -> bool:
    from dags_examples.demo_reporting import run_demo

    outcome = run_demo(report_dir=output / "learning-report", migrate=False)
    return all(str(run["state"]).endswith("success") for run in outcome["runs"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo parts; return the process exit code (1 if any part failed)."""
    parser = argparse.ArgumentParser(prog="python -m dags_examples.run_demo", description=__doc__)
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--output", default=None, help="output folder (default: $AIRFLOW_HOME/demo-output)")
    args = parser.parse_args(argv)

    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).resolve().parent))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # keep the demo's output readable
    airflow_home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    output = Path(args.output or airflow_home / "demo-output").resolve()
    output.mkdir(parents=True, exist_ok=True)

    from dags_examples._demo import migrate_airflow_db

    print(f"==> preparing the Airflow database in {airflow_home}", flush=True)
    migrate_airflow_db()
    parts: dict[str, Callable[[Path], bool]] = {
        "hook": _hook_part,
        "transcripts": _transcripts_part,
        "conversations": _conversations_part,
        "membership": _membership_part,
        "reporting": _reporting_part,
    }
    results: dict[str, Any] = {}
    for name in args.only or PARTS:
        print(f"\n==> {name}", flush=True)
        try:
            results[name] = "ok" if parts[name](output) else "FAILED"
        except Exception as error:  # report every part, then fail
            results[name] = f"FAILED ({type(error).__name__}: {error})"
        print(f"<== {name}: {results[name]}", flush=True)

    print("\nsummary:")
    for name, outcome in results.items():
        print(f"  {name:14} {outcome}")
    print(f"outputs: {output}")
    for path in sorted(output.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(output)} ({path.stat().st_size} bytes)")
    return 0 if all(outcome == "ok" for outcome in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
