#!/usr/bin/env bash
# Run the example pipelines against the bundled Xentree sandbox (no Xentree account needed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"

# A throwaway Airflow home inside the repo (gitignored), unless the caller chose one.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow-demo}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
mkdir -p "$AIRFLOW_HOME"

printf '==> demo: uv run python -m dags_examples.run_demo %s\n' "$*"
exec uv run --frozen python -m dags_examples.run_demo "$@"
