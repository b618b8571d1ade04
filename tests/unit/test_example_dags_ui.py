"""The example DAGs as a user meets them in Airflow's UI: Trigger enabled with the defaults, documented,
owned by a team, mapped tasks labelled by what they work on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAG_IDS = {
    "xentree_conversation_export",
    "xentree_learning_report",
    "xentree_org_membership_sync",
    "xentree_transcript_export",
}


@pytest.fixture(scope="module")
def example_dags() -> dict[str, Any]:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags_examples"))
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dags) >= EXAMPLE_DAG_IDS
    return {dag_id: bag.dags[dag_id] for dag_id in EXAMPLE_DAG_IDS}


def _required_in_trigger_form(schema: dict[str, Any]) -> bool:
    """The Airflow 3 UI's rule: a param is required unless its schema's type allows null."""
    declared = schema.get("type")
    if not declared:
        return False
    return not (isinstance(declared, list) and "null" in declared)


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_trigger_is_enabled_with_the_defaults(example_dags: dict[str, Any], dag_id: str) -> None:
    dag = example_dags[dag_id]
    for name, param in dag.params.items():
        param = dag.params.get_param(name)
        # The form sends an empty text field as null: a required param needs a real default.
        if _required_in_trigger_form(param.schema):
            assert param.value not in (None, ""), f"{dag_id}: param {name!r} is required but has no default"
        param.resolve()  # the default passes the param's own schema
    dag.params.validate()


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_documented_and_owned_by_a_team(example_dags: dict[str, Any], dag_id: str) -> None:
    dag = example_dags[dag_id]
    assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no doc_md"
    owners = {task.owner for task in dag.tasks}
    assert "airflow" not in owners, f"{dag_id}: tasks owned by the default 'airflow' user"


def test_mapped_membership_tasks_are_labelled_by_organization(example_dags: dict[str, Any]) -> None:
    dag = example_dags["xentree_org_membership_sync"]
    for task_id in ("sync.plan", "sync.apply"):
        assert "organization_id" in (dag.get_task(task_id).map_index_template or ""), task_id
