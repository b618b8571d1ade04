#!/usr/bin/env bash
# Lint, type-check, build the docs and run every test, failing fast: the first failing step stops the
# run and is named. Extra arguments go to pytest, e.g. ./scripts/test.sh -k provider_info -x
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=scripts/bootstrap.sh
. "$ROOT/scripts/bootstrap.sh"

# A throwaway Airflow home inside the repo (gitignored), unless the caller chose one.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow-test}"
mkdir -p "$AIRFLOW_HOME"

step() {
    local name="$1" rc=0 start=$SECONDS
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        if [ "$name" = pytest ] && [ "$rc" -eq 5 ]; then
            printf '\n*** FAILED at step "%s": no tests were collected (pytest exit 5)\n' "$name" >&2
        else
            printf '\n*** FAILED at step "%s" (exit %d): %s\n' "$name" "$rc" "$*" >&2
        fi
        exit "$rc"
    fi
    printf '==> %s: ok (%ds)\n' "$name" $((SECONDS - start))
}

pytest_args=()
if [ -n "${CI:-}" ]; then
    mkdir -p test-artifacts
    pytest_args+=(--junitxml=test-artifacts/junit.xml)
fi

step "ruff check" uv run --frozen ruff check .
step "ruff format" uv run --frozen ruff format --check .
step "mypy" uv run --frozen mypy
step "docs" uv run --frozen sphinx-build -W --keep-going -q -b html docs docs/_build/html
# The HTML report test drives a real headless Chromium (Debian's package); installed when missing.
step "chromium" bash "$ROOT/scripts/ensure_chromium.sh"
# The CeleryExecutor e2e test runs its own PostgreSQL and Redis (Debian's packages); installed when missing.
step "services" bash "$ROOT/scripts/ensure_services.sh"
step "pytest" uv run --frozen pytest ${pytest_args[@]+"${pytest_args[@]}"} "$@"
printf '\nAll steps passed: ruff check, ruff format, mypy, docs, pytest.\n'
