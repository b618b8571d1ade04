"""Sphinx configuration of the Xentree provider documentation.

Build: ``uv run sphinx-build -W --keep-going -b html docs docs/_build/html`` (``scripts/test.sh`` does).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the hooks, which import Airflow: keep Airflow away from ~/airflow while building.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "docs" / "_build" / "airflow-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from xentree_provider import __version__  # noqa: E402  (after sys.path is set)

project = "Xentree provider for Apache Airflow"
author = "Xentree provider team"
copyright = "Xentree provider team"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Unresolved cross-references (Airflow, requests, typing internals) are not errors.
nitpicky = False

autodoc_default_options = {
    # No "inherited-members": BaseHook's and BaseOperator's own API belongs to Airflow's docs.
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"Xentree provider {release}"
html_static_path: list[str] = []
