"""Nightly export of the previous day's Xentree Live transcripts.

Every night, once the day has transcripts, the transcripts saved that day land as one gzipped JSON
Lines file per day, ``<base>/transcripts/dt=YYYY-MM-DD/transcripts.jsonl.gz``, ready for a warehouse
to load. A re-run of any day rewrites the same bytes. Days are cut by when a transcript was saved
(``window_field="created_at"``), so a session that starts at 23:50 and is saved at 00:30 lands in the
next day's file instead of in none: over consecutive nights every transcript is in exactly one file.
The files are an Airflow Asset (``file://<base>/transcripts``),
so a loading DAG can be scheduled on it.

``<base>`` is the environment variable ``XENTREE_EXAMPLES_OUTPUT`` (a local folder or a URL such as
``s3://bucket/xentree``), by default ``$AIRFLOW_HOME/xentree-exports``, so the demo needs no cloud
account. The connection is ``xentree_default``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from xentree_provider._compat import CronDataIntervalTimetable
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.sensors.live import XentreeTranscriptSensor

DAG_ID = "xentree_transcript_export"
#: The day a run covers, as rendered in the output path (a placeholder when the run has no interval).
DAY = (
    "{{ data_interval_start | ds if data_interval_start is defined and data_interval_start "
    "else 'no-interval' }}"
)


def output_base() -> str:
    """Where the example writes: ``$XENTREE_EXAMPLES_OUTPUT``, else ``$AIRFLOW_HOME/xentree-exports``."""
    configured = os.environ.get("XENTREE_EXAMPLES_OUTPUT", "").strip()
    if configured:
        return configured.rstrip("/")
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.path.join(home, "xentree-exports")


def build_dag(base: str | None = None, dag_id: str = DAG_ID) -> DAG:
    """The export DAG writing under ``base`` (default :func:`output_base`)."""
    base = (base or output_base()).rstrip("/")
    with DAG(
        dag_id=dag_id,
        description="Export yesterday's Xentree Live transcripts to JSON Lines",
        # A data-interval timetable: each run covers one whole UTC day, [00:00, next 00:00).
        # (In Airflow 3, schedule="@daily" would mean CronTriggerTimetable, whose runs cover no interval.)
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=3,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
        tags=["xentree", "example"],
    ) as dag:
        wait = XentreeTranscriptSensor(
            task_id="wait_for_transcripts",
            min_count=1,  # the day has sessions; raise it to what a normal day has
            mode="reschedule",  # or deferrable=True to wait in the triggerer
            poke_interval=timedelta(minutes=10),
            timeout=timedelta(hours=6),
            # A day without sessions is not an error: after the timeout the sensor is skipped and the
            # export still runs, writing the day's empty file.
            soft_fail=True,
        )
        export = XentreeTranscriptExportOperator(
            task_id="export_transcripts",
            # The window defaults to the run's data interval; the path names the day it covers. (A
            # manual run without a logical date has no interval: the task then fails at once, saying so.)
            output_path=base + "/transcripts/dt=" + DAY + "/transcripts.jsonl.gz",
            # By arrival: every transcript in exactly one day's file, however late it is saved (up to
            # max_arrival_lag after its session, 48 h by default). A run starting less than `settle`
            # (5 minutes) after midnight first waits in the triggerer, so saves in flight land.
            window_field="created_at",
            export_format="jsonl",
            compression="gzip",
            trigger_rule="none_failed",  # runs after the sensor succeeded or gave up on an empty day
        )
        wait >> export
    return dag


dag = build_dag()
