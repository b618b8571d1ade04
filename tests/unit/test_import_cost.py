"""DAG-parse cost: importing the operators, sensors and triggers pulls in no HTTP client or hook."""

from __future__ import annotations

import subprocess
import sys

from xentree_provider.provider_info import OPERATOR_MODULES, SENSOR_MODULES, TRIGGER_MODULES

HEAVY = ("requests", "urllib3", "xentree_provider.hooks.xentree", "xentree_provider.api.transport", "fastapi")


def test_parse_time_imports_are_light() -> None:
    modules = [
        *OPERATOR_MODULES,
        *SENSOR_MODULES,
        *TRIGGER_MODULES,
        "dags_examples.xentree_transcript_export",
    ]
    code = (
        "import sys\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
