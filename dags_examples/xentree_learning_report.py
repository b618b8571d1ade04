"""Weekly Xentree English report: how each team progressed last week, plus a knowledge-base lookup.

Every Monday at 00:00 UTC the DAG covers the week that just ended (Monday to Sunday, UTC days):

1. ``organization_report`` reads the organization's member progress directory and writes
   ``progress.csv``, ``progress.json`` and a self-contained ``report.html`` under
   ``<report_dir>/<week start>/``, compared with the previous week's report when there is one;
2. ``knowledge_lookup`` searches the knowledge base for each topic in ``topics`` (one mapped task per
   topic) to point the learning managers at the relevant handbook pages;
3. ``summary`` puts the headline figures and the top hits together (a hand-off for an e-mail or chat
   notification).

Params: ``report_dir`` (local folder or object-storage URL), ``organization_id`` (empty: the
connection's extra ``organization_id``) and ``topics``. The connection is ``xentree_default`` (an
organization admin or team manager login, or an API key with ``xel:read`` and ``rag:read``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from xentree_provider._compat import CronDataIntervalTimetable
from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.operators.knowledge import XentreeKnowledgeSearchOperator

REPORT_DIR = os.environ.get(
    "XENTREE_LEARNING_REPORT_DIR", str(Path(tempfile.gettempdir()) / "xentree-learning-reports")
)
#: What downstream DAGs schedule on; each run's event lists the files it wrote (the folder is a run param,
#: so the Asset is named rather than derived from the path).
REPORT_ASSET = Asset(
    name="xentree_learning_report", uri=Path(REPORT_DIR).as_uri() if "://" not in REPORT_DIR else REPORT_DIR
)
TOPICS = ["learning path", "pronunciation", "business email"]
# A manual run without a logical date has no interval: the paths get a placeholder and the report task
# fails at once, saying to trigger the run with a logical date.
_HAS_INTERVAL = "data_interval_start is defined and data_interval_start"
WEEK_START = "{{ data_interval_start | ds if " + _HAS_INTERVAL + " else 'no-interval' }}"
PREVIOUS_WEEK_START = (
    "{{ macros.ds_add(data_interval_start | ds, -7) if " + _HAS_INTERVAL + " else 'no-interval' }}"
)


@dag(
    dag_id="xentree_learning_report",
    # A data-interval timetable: each run covers the week before it (Monday 00:00 to Monday 00:00 UTC).
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "report_dir": Param(REPORT_DIR, type="string", description="folder or URL the reports go under"),
        "organization_id": Param("", type="string", description="empty: the connection's organization"),
        "topics": Param(TOPICS, type="array", description="knowledge-base topics to look up"),
    },
    tags=["xentree", "example"],
    doc_md=__doc__,
)
def xentree_learning_report() -> None:
    """Organization progress report for last week, plus knowledge-base hits for the week's topics."""
    report = XentreeXELProgressReportOperator(
        task_id="organization_report",
        scope="organization",
        organization_id="{{ params.organization_id }}",
        output_path="{{ params.report_dir }}/" + WEEK_START,
        previous_report_path="{{ params.report_dir }}/" + PREVIOUS_WEEK_START,
        asset=REPORT_ASSET,
    )

    @task
    def topics(params: dict[str, Any] | None = None) -> list[str]:
        """The topics to look up (from the run's params)."""
        return [str(topic) for topic in (params or {}).get("topics") or []]

    # One mapped task per topic; each one's hits are its own XCom (labelled by the topic in the UI).
    hits = XentreeKnowledgeSearchOperator.partial(
        task_id="knowledge_lookup",
        limit=3,
        max_results=3,
        map_index_template="{{ task.query }}",
    ).expand(query=topics())

    @task
    def summary(report: dict[str, Any], lookups: list[dict[str, Any]]) -> dict[str, Any]:
        """Headline figures and the best hit per topic: small enough for a notification."""
        # Index by position: plain iteration of mapped results probes one past the end, which the
        # Task SDK logs as a "not found" error.
        found_per_topic = [lookups[i] for i in range(len(lookups))]
        return {
            "report": report["html"],
            "members": report["members"],
            "average_progress": report["average_progress"],
            "active_share": report["active_share"],
            "reading": {
                found["query"]: [hit.get("source") for hit in found["results"]] for found in found_per_topic
            },
        }

    summary(report.output, hits.output)


xentree_learning_report()
