"""Run the Xentree demo against the bundled sandbox: no Xentree account needed.

``./scripts/demo.sh`` runs ``python -m dags_examples.run_demo``. It starts the sandbox server, points the
``xentree_default`` connection at it through ``AIRFLOW_CONN_XENTREE_DEFAULT`` and drives the hook:
test the connection, read the profile and the live quota, and page through transcripts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from itertools import islice
from typing import Any

PAGE_SIZE = 50  # the API's default page size (see docs/connections.md)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value


def _show(title: str, value: Any) -> None:
    print(f"{title}: {json.dumps(_jsonable(value), default=str, sort_keys=True)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m dags_examples.run_demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=42, help="sandbox data seed (default: 42)")
    parser.add_argument("--pages", type=int, default=3, help="transcript pages to read (default: 3)")
    args = parser.parse_args(argv)

    # Imported here so that the DAG processor parsing this folder never pays for them.
    from xentree_provider.hooks.xentree import XentreeHook
    from xentree_provider.testing import SandboxServer

    with SandboxServer(seed=args.seed) as sandbox:
        print(f"sandbox: {sandbox.url} (seed {args.seed})")
        os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
        hook = XentreeHook()

        ok, message = hook.test_connection()
        print(f"test_connection: {'ok' if ok else 'FAILED'} - {message}")
        if not ok:
            return 1
        _show("me", hook.get_me())
        _show("live quota", hook.get_live_quota())

        limit = args.pages * PAGE_SIZE
        count = sum(1 for _ in islice(hook.iter_transcripts(page_size=PAGE_SIZE), limit))
        print(f"transcripts: {count} read (up to {args.pages} pages of {PAGE_SIZE})")
    print("demo: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
