"""Every documented public name imports from its documented path.

Two sources: the names users' DAGs rely on (pinned here, so moving code inside the package can never
break them), and whatever the docs and the README name (autodoc directives and ``from ... import``
lines in code blocks), read from the docs themselves.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PINNED: dict[str, tuple[str, ...]] = {
    "xentree_provider.hooks.xentree": ("XentreeHook",),
    "xentree_provider.hooks.xentree_async": ("XentreeAsyncHook",),
    "xentree_provider.hooks.connection_form": ("CONN_TYPE", "DEFAULT_CONN_ID", "DEFAULT_HOST"),
    "xentree_provider.operators.live": (
        "CSV_COLUMNS",
        "EXPORT_FORMATS",
        "TranscriptExporter",
        "XentreeEmptyWindowError",
        "XentreeTranscriptExportOperator",
        "canonical_transcript",
        "export_window",
    ),
    "xentree_provider.operators.organizations": (
        "MembershipDriftError",
        "MembershipGuardError",
        "MembershipRosterError",
        "MembershipSyncError",
        "XentreeOrgMembershipSyncOperator",
    ),
    "xentree_provider.operators.english": ("XentreeXELProgressReportOperator", "resolve_report_days"),
    "xentree_provider.operators.knowledge": (
        "XentreeEmptyResultError",
        "XentreeKnowledgeSearchOperator",
        "XentreeRagQueryOperator",
    ),
    "xentree_provider.operators.live_incremental": ("XentreeIncrementalTranscriptExportOperator",),
    "xentree_provider.triggers.new_transcripts": ("XentreeNewTranscriptsTrigger",),
    "xentree_provider.operators.conversations": (
        "DEFAULT_MAX_PROMPT_CHARS",
        "XentreeConversationExportOperator",
        "XentreeEmptyWindowError",
        "XentreeGenerateResponseOperator",
    ),
    "xentree_provider.sensors.base": ("XentreeConditionSensor",),
    "xentree_provider.sensors.live": ("XentreeTranscriptSensor",),
    "xentree_provider.sensors.english": ("XentreeXELProgressSensor",),
    "xentree_provider.triggers.condition": ("XentreeConditionTrigger", "error_from_event", "error_to_event"),
    "xentree_provider.triggers.conditions": (
        "AsyncCondition",
        "get_condition",
        "register_condition",
        "registered_conditions",
        "transcripts_in_window",
    ),
    "xentree_provider.triggers.xel_conditions": (
        "XEL_PROGRESS_CONDITION",
        "ProgressMean",
        "progress_outcome",
        "xel_progress_reached",
    ),
    "xentree_provider.links.xentree": (
        "XentreeLink",
        "XentreeOrganizationLink",
        "XentreeTranscriptLink",
        "XentreeXelLink",
        "web_url",
    ),
    "xentree_provider.api.errors": (
        "XentreeAuthError",
        "XentreeMaybeAppliedError",
        "XentreeConfigError",
        "XentreeConflictError",
        "XentreeConnectionError",
        "XentreeError",
        "XentreeNotFoundError",
        "XentreePermissionError",
        "XentreeQuotaExceededError",
        "XentreeRateLimitError",
        "XentreeResponseError",
        "XentreeServerError",
        "XentreeTimeoutError",
        "XentreeValidationError",
        "error_from_response",
    ),
    "xentree_provider.testing": (
        "FaultConfig",
        "SandboxConfig",
        "SandboxError",
        "SandboxServer",
        "parse_faults",
    ),
    "xentree_provider.testing.airflow_cluster": (
        "AirflowCluster",
        "ClusterError",
        "fast_config",
        "free_port",
    ),
    "xentree_provider.testing.server": ("SandboxError", "SandboxServer"),
    "xentree_provider.testing.config": ("FaultConfig", "SandboxConfig", "parse_faults"),
}

AUTODOC = re.compile(r"\.\.\s+auto(module|class|function|exception|data)::\s*([\w.]+)")
FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(xentree_provider[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([\w \t,]+)$)", re.MULTILINE
)
CODE_BLOCK = re.compile(r"```(?:python|py)\n(.*?)```", re.DOTALL)


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _documented() -> set[tuple[str, str | None]]:
    """``(module, name)`` pairs the docs name; name None for a whole module."""
    found: set[tuple[str, str | None]] = set()
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        for kind, dotted in AUTODOC.findall(text):
            if kind == "module":
                found.add((dotted, None))
            else:
                module, _, name = dotted.rpartition(".")
                found.add((module, name))
        for block in CODE_BLOCK.findall(text):
            for module, grouped, inline in FROM_IMPORT.findall(block):
                for item in (grouped or inline).split(","):
                    name = item.split(" as ")[0].strip()
                    if name:
                        found.add((module, name))
    return found


def _cases() -> list[tuple[str, str | None]]:
    pinned = {(module, name) for module, names in PINNED.items() for name in names}
    return sorted(pinned | _documented(), key=lambda case: (case[0], case[1] or ""))


def test_the_docs_are_read() -> None:
    documented = _documented()
    assert ("xentree_provider.hooks.xentree", "XentreeHook") in documented
    assert any(name is None for _, name in documented)


@pytest.mark.parametrize(("module", "name"), _cases(), ids=lambda value: value or "<module>")
def test_public_name_imports_from_its_documented_path(module: str, name: str | None) -> None:
    imported = importlib.import_module(module)
    if name is not None:
        assert hasattr(imported, name), f"{module} has no {name}; users import it from there"
