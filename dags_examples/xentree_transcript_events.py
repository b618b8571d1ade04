"""Event-driven export: whenever new Xentree Live transcripts are saved, export them.

The DAG is scheduled on an Asset watched by
:class:`~xentree_provider.triggers.new_transcripts.XentreeNewTranscriptsTrigger` (an ``AssetWatcher``
in the triggerer, polling the transcript list). Each run exports what was saved since the previous
run: :class:`~xentree_provider.operators.live_incremental.XentreeIncrementalTranscriptExportOperator`
keeps its watermark in the asset state store of its output Asset (Airflow 3.3+), so a run that fails
is caught up by the next one, and manual runs work too. One file per run:
``<base>/incremental/<run time>.jsonl``.

``<base>`` is ``$XENTREE_EXAMPLES_OUTPUT``, by default ``$AIRFLOW_HOME/xentree-exports``; the poll
interval is ``$XENTREE_EXAMPLES_POLL_SECONDS`` (default 60). The connection is ``xentree_default``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, AssetWatcher

from xentree_provider.operators.live_incremental import XentreeIncrementalTranscriptExportOperator
from xentree_provider.triggers.new_transcripts import XentreeNewTranscriptsTrigger

DAG_ID = "xentree_transcript_events"


def output_base() -> str:
    """``$XENTREE_EXAMPLES_OUTPUT``, else ``$AIRFLOW_HOME/xentree-exports`` (as the nightly example;
    repeated because a DAG file cannot import its neighbour by package name in every deployment)."""
    configured = os.environ.get("XENTREE_EXAMPLES_OUTPUT", "").strip()
    if configured:
        return configured.rstrip("/")
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.path.join(home, "xentree-exports")


def poll_seconds() -> float:
    """The watcher's poll interval: ``$XENTREE_EXAMPLES_POLL_SECONDS``, else 60."""
    return float(os.environ.get("XENTREE_EXAMPLES_POLL_SECONDS", "").strip() or 60)


def build_dag(base: str | None = None, dag_id: str = DAG_ID) -> DAG:
    """The event-driven export DAG writing under ``base`` (default :func:`output_base`)."""
    base = (base or output_base()).rstrip("/")
    folder = base if "://" in base else "file://" + base
    new_transcripts = Asset(
        name="xentree_new_transcripts",
        uri="xentree://live/transcripts",
        watchers=[
            AssetWatcher(
                name="xentree_new_transcripts_watcher",
                trigger=XentreeNewTranscriptsTrigger(conn_id="xentree_default", poke_interval=poll_seconds()),
            )
        ],
    )
    with DAG(
        dag_id=dag_id,
        description="Export Xentree Live transcripts as they are saved",
        schedule=[new_transcripts],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,  # runs one after another: each starts at the previous one's watermark
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        tags=["xentree", "example"],
    ) as dag:
        XentreeIncrementalTranscriptExportOperator(
            task_id="export_new_transcripts",
            output_path=base + "/incremental/{{ dag_run.run_after.strftime('%Y%m%dT%H%M%S%f') }}.jsonl",
            asset=folder + "/incremental",  # one Asset (and one watermark) for every run's file
            # Wait this long after the run starts (in the triggerer) for saves still in flight; the
            # default 5 minutes suits nightly runs, a shorter wait keeps event-driven runs prompt.
            settle=timedelta(seconds=20),
        )
    return dag


dag = build_dag()
