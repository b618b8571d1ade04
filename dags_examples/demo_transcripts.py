"""Run the nightly transcript export DAG against the sandbox for a few days and show the files.

``python -m dags_examples.demo_transcripts [--days 3] [--output DIR]`` starts the bundled sandbox
(no Xentree account needed), points ``xentree_default`` at it, runs
``dags_examples/xentree_transcript_export.py`` with ``dag.test()`` for each of the last ``days`` UTC
days, and prints the files written. It runs one day twice to show that a re-run writes the same
bytes. ``dag.test()`` needs an Airflow metadata database: the demo runs ``airflow db migrate`` first
(quick when already migrated) unless ``migrate=False``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dags_examples._demo import EXAMPLES_DIR, nightly_runs, prepare_airflow


def run_demo(
    days: int = 3,
    output: str | None = None,
    *,
    seed: int = 42,
    transcripts: int = 3000,
    migrate: bool = True,
    show: bool = True,
) -> list[dict[str, Any]]:
    """Export the last ``days`` days from a fresh sandbox with ``dag.test()``; return the files.

    :param days: how many UTC days (before today) to export, oldest first.
    :param output: base folder for the files (default: a new temporary folder).
    :param seed: sandbox data seed.
    :param transcripts: transcripts the sandbox holds (spread over the 28 days before today).
    :param migrate: run ``airflow db migrate`` first.
    :param show: print what happens.
    :return: ``[{"day", "path", "bytes", "sha256", "state"}]`` per run.
    """
    base = Path(output or tempfile.mkdtemp(prefix="xentree-demo-exports-")).resolve()
    os.environ["XENTREE_EXAMPLES_OUTPUT"] = str(base)
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES_DIR))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # keep the demo's output short
    prepare_airflow(migrate)

    from xentree_provider.testing import SandboxServer

    def say(text: str) -> None:
        if show:
            print(text, flush=True)

    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with SandboxServer(seed=seed, transcripts=transcripts, anchor=today.date().isoformat()) as sandbox:
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
        say(f"sandbox: {sandbox.url} ({transcripts} transcripts over the 28 days before {today.date()})")
        say(f"output:  {base}")

        from dags_examples.xentree_transcript_export import build_dag

        day_list = [today - timedelta(days=k) for k in range(days, 0, -1)]
        runs = nightly_runs(
            build_dag(str(base)),
            base,
            lambda day: f"transcripts/dt={day}/transcripts.jsonl.gz",
            day_list,
            say,
        )
    say("files written:")
    for path in sorted(base.rglob("*")):
        if path.is_file():
            say(f"  {path} ({path.stat().st_size} bytes)")
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m dags_examples.demo_transcripts", description=__doc__)
    parser.add_argument("--days", type=int, default=3, help="days to export (default: 3)")
    parser.add_argument("--output", default=None, help="base folder (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=42, help="sandbox data seed (default: 42)")
    parser.add_argument("--no-migrate", action="store_true", help="skip 'airflow db migrate'")
    args = parser.parse_args(argv)
    runs = run_demo(args.days, args.output, seed=args.seed, migrate=not args.no_migrate)
    ok = all(r["state"].endswith("success") for r in runs)
    same = runs[-1].get("sha256") == runs[-2].get("sha256")
    print(f"demo: {'ok' if ok else 'FAILED'}; re-run identical: {same}")
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
