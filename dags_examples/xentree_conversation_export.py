"""Nightly export of the previous day's Xentree AI conversations, contact details masked.

Every night the messages saved that day land as one gzipped JSON Lines file per day,
``<base>/conversations/dt=YYYY-MM-DD/conversations.jsonl.gz``: one line per conversation that had
messages that day, with just those messages. Days are cut by when each message was saved, so over
consecutive nights every message is in exactly one file, and a re-run of a day writes the same bytes.
E-mail addresses and phone numbers in titles and messages are masked (``[email]``, ``[phone]``);
the counts are in the task's XCom and on the Asset event. The files are an Airflow Asset
(``file://<base>/conversations``), so a loading DAG can be scheduled on it.

``<base>`` is the environment variable ``XENTREE_EXAMPLES_OUTPUT`` (a local folder or a URL such as
``s3://bucket/xentree``), by default ``$AIRFLOW_HOME/xentree-exports``. The connection is
``xentree_default`` (with an API key: scope ``conversations:read``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from xentree_provider._compat import CronDataIntervalTimetable
from xentree_provider.operators.conversations import XentreeConversationExportOperator

DAG_ID = "xentree_conversation_export"
#: The day a run covers, as rendered in the output path (a placeholder when the run has no interval).
DAY = (
    "{{ data_interval_start | ds if data_interval_start is defined and data_interval_start "
    "else 'no-interval' }}"
)


def output_base() -> str:
    """``$XENTREE_EXAMPLES_OUTPUT``, else ``$AIRFLOW_HOME/xentree-exports`` (as the other examples: a DAG
    file cannot import its neighbour by package name in every deployment)."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return os.environ.get("XENTREE_EXAMPLES_OUTPUT", "").strip().rstrip("/") or os.path.join(
        home, "xentree-exports"
    )


def build_dag(base: str | None = None, dag_id: str = DAG_ID) -> DAG:
    """The export DAG writing under ``base`` (default :func:`output_base`)."""
    base = (base or output_base()).rstrip("/")
    with DAG(
        dag_id=dag_id,
        description="Export yesterday's Xentree AI conversations to JSON Lines, contact details masked",
        # Each run covers one whole UTC day, [00:00, next 00:00) (see the transcript export example).
        schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=3,
        default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=5)},
        tags=["xentree", "example"],
        doc_md=__doc__,
    ) as dag:
        XentreeConversationExportOperator(
            task_id="export_conversations",
            # The window defaults to the run's data interval (by each message's created_at); a run
            # starting less than `settle` (5 minutes) after midnight first waits in the triggerer.
            output_path=base + "/conversations/dt=" + DAY + "/conversations.jsonl.gz",
            export_format="jsonl",
            compression="gzip",
            redact=["email", "phone"],  # pattern-based masking; redaction="hash" keeps them joinable
        )
    return dag


dag = build_dag()
