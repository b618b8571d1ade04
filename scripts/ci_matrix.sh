#!/usr/bin/env bash
# The compatibility matrix: the built package on every Airflow 3 minor it claims, installed as a user
# installs it. Builds the sdist and the wheel once; then, per leg, a clean venv with that Python and the
# latest release of that Airflow minor, the wheel and the test tools (resolved fresh: not from uv.lock,
# not the repo's .venv), and runs the unit, integration and dag.test() end-to-end tests from the
# unpacked sdist. Tests that need the real scheduler or a browser (markers `cluster`, `browser`) stay on
# the main leg (./scripts/test.sh). Prints a table at the end; exits non-zero if any leg failed.
#
#   bash scripts/ci_matrix.sh                      # every leg
#   XENTREE_MATRIX="3.2:3.12" bash scripts/ci_matrix.sh -k compat   # one leg; extra args go to pytest
#
# Knobs: XENTREE_MATRIX ("airflow:python ..." pairs), XENTREE_PYTHONS (where to look for interpreters,
# default: pyenv's versions, then PATH), XENTREE_MATRIX_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LEGS="${XENTREE_MATRIX:-3.1:3.10 3.2:3.12 3.3:3.13}"
# The test tools of the legs (what tests/ imports beyond the package and Airflow), unpinned on purpose.
# pytz: DuckDB needs it to hand TIMESTAMPTZ values to Python (the parquet tests read them back); the
# locked main leg has it through other packages, a clean venv does not.
TEST_DEPS=(pytest pytest-timeout hypothesis jsonschema duckdb pytz apache-airflow-providers-openlineage)
# Airflow 3.2.2 breaks with fastapi 0.137+ and svcs 26+ (its own missing upper bounds); the same pins
# users need (docs/deployment.md, "Supported versions").
declare -A LEG_PINS=(["3.2"]="fastapi<0.137 svcs<26")
MARKERS="not cluster and not browser"

log() { printf '[matrix] %s\n' "$*" >&2; }
die() {
    printf '[matrix] ERROR: %s\n' "$*" >&2
    exit 2
}

find_uv() {
    if [ -x "$ROOT/.tools/uv/bin/uv" ]; then
        printf '%s\n' "$ROOT/.tools/uv/bin/uv"
    elif command -v uv >/dev/null 2>&1; then
        command -v uv
    else
        # bootstrap.sh installs the pinned uv (and the dev .venv, which the legs do not use).
        bash "$ROOT/scripts/bootstrap.sh" >&2
        printf '%s\n' "$ROOT/.tools/uv/bin/uv"
    fi
}

# The newest interpreter of Python $1 (e.g. 3.12): pyenv's versions first, then pythonX.Y on PATH.
find_python() {
    local want="$1" dir candidate
    for dir in ${XENTREE_PYTHONS:-${PYENV_ROOT:-$HOME/.pyenv}/versions}; do
        candidate="$(find "$dir" -maxdepth 1 -name "$want.*" 2>/dev/null | sort -V | tail -n 1)"
        if [ -n "$candidate" ] && [ -x "$candidate/bin/python" ]; then
            printf '%s\n' "$candidate/bin/python"
            return 0
        fi
    done
    command -v "python$want" 2>/dev/null
}

UV="$(find_uv)"
export UV_PYTHON_DOWNLOADS=never
TIMEFORMAT="%R %U %S"  # for `time`: wall, user and system seconds
# Not named after the package: tests look for "xentree" in Airflow's output, and paths would match.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ci-matrix.XXXXXX")"
cleanup() {
    if [ -z "${XENTREE_MATRIX_KEEP:-}" ]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

start=$SECONDS
"$UV" build --quiet --out-dir "$WORK/dist" "$ROOT" || die "uv build failed"
WHEEL="$(ls "$WORK"/dist/*.whl)"
SDIST="$(ls "$WORK"/dist/*.tar.gz)"
mkdir -p "$WORK/sdist"
tar -xzf "$SDIST" -C "$WORK/sdist"
SRC="$(ls -d "$WORK"/sdist/*/)"
SRC="${SRC%/}"
# The contract the route tests read lies beside the checkout (as in CI and on developers' machines).
if [ -d "$ROOT/../shared" ]; then ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/sdist/shared"; fi
# The tests import dags_examples (the stories they run); only that goes on sys.path, never the sources.
mkdir -p "$WORK/examples-path"
ln -s "$SRC/dags_examples" "$WORK/examples-path/dags_examples"
log "built $(basename "$WHEEL") and $(basename "$SDIST") ($((SECONDS - start))s)"
# What a user and a packager get: the license in both, the tests and scripts in the sdist.
python3 - "$WHEEL" <<'PY' || die "the wheel does not declare and ship LICENSE (License-File)"
import sys
import zipfile

wheel = zipfile.ZipFile(sys.argv[1])
metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
assert "License-File: LICENSE" in wheel.read(metadata).decode().splitlines()
assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
PY
for part in LICENSE PKG-INFO tests/conftest.py scripts/test.sh dags_examples; do
    [ -e "$SRC/$part" ] || die "the sdist lacks $part"
done

ARTIFACTS="$ROOT/test-artifacts"
mkdir -p "$ARTIFACTS"
# One leg: writes its table row to $WORK/rows/<n> and its output to $WORK/logs/<n>.log.
run_leg() {
    local index="$1" leg="$2"
    shift 2
    local airflow_minor="${leg%%:*}" python_minor="${leg##*:}"
    local name="airflow-$airflow_minor-py$python_minor"
    local leg_dir="$WORK/$name" leg_start=$SECONDS
    local result=failed counts="-" airflow_version="-" cpu="-" python python_version rc pins=()
    log "=== $name"
    python="$(find_python "$python_minor")" || python=""
    read -r -a pins <<<"${LEG_PINS[$airflow_minor]:-}"
    if [ -z "$python" ]; then
        log "no Python $python_minor found"
        result="no python"
    elif ! "$UV" venv --quiet --python "$python" "$leg_dir/venv" ||
        ! VIRTUAL_ENV="$leg_dir/venv" "$UV" pip install --quiet "$WHEEL[parquet]" \
            "apache-airflow==$airflow_minor.*" ${pins[@]+"${pins[@]}"} "${TEST_DEPS[@]}"; then
        log "could not install the wheel with Airflow $airflow_minor on Python $python_minor"
        result="install failed"
    else
        airflow_version="$("$leg_dir/venv/bin/python" -c 'import airflow; print(airflow.__version__)' 2>/dev/null |
            tail -n 1)"
        python_version="$("$leg_dir/venv/bin/python" -c 'import platform; print(platform.python_version())')"
        python_minor="$python_version"
        log "$name: Airflow $airflow_version, Python $python_version, install $((SECONDS - leg_start))s"
        mkdir -p "$leg_dir/home"
        rc=0
        # bin/pytest (not python -m pytest): the working directory must not go on sys.path, so that
        # xentree_provider is the installed wheel; tests/conftest.py checks it. `time` adds the CPU
        # seconds (tests and the servers they start), the figure that carries over to another machine.
        { time (cd "$SRC" && env AIRFLOW_HOME="$leg_dir/home" PYTHONPATH="$WORK/examples-path" \
            XENTREE_EXPECT_INSTALLED_IN="$leg_dir/venv" \
            "$leg_dir/venv/bin/pytest" -p no:cacheprovider -q -m "$MARKERS" \
            --junitxml="$ARTIFACTS/matrix-$name.xml" "$@" 2>&1); } 2>"$leg_dir/time" || rc=$?
        cpu="$(tail -n 1 "$leg_dir/time" | awk '{printf "%d", $2 + $3}' 2>/dev/null || echo "-")"
        counts="$("$leg_dir/venv/bin/python" - "$ARTIFACTS/matrix-$name.xml" <<'EOF' 2>/dev/null || echo "-"
import sys
import xml.etree.ElementTree as ET

suite = ET.parse(sys.argv[1]).getroot()
suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
total, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(f"{total - failures - errors - skipped} passed, {failures} failed, {errors} errors, {skipped} skipped")
EOF
)"
        if [ "$rc" -eq 0 ]; then result=ok; fi
    fi
    printf '%s\n' "$name|$airflow_version|$python_minor|$result|$counts|$((SECONDS - leg_start))|$cpu" \
        >"$WORK/rows/$index"
    if [ -z "${XENTREE_MATRIX_KEEP:-}" ]; then rm -rf "$leg_dir"; fi
}

# Legs run JOBS at a time. Default: all of them. A leg keeps a core busy only about half its wall time
# (it mostly waits on Airflow's task starts and on servers), so on CI's 2 cores three legs at once take
# about as long as the slowest one; one after another they took 15 + 15 + 9 minutes.
JOBS="${XENTREE_MATRIX_JOBS:-3}"
mkdir -p "$WORK/rows" "$WORK/logs"
index=0
for leg in $LEGS; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    index=$((index + 1))
    run_leg "$index" "$leg" "$@" >"$WORK/logs/$index.log" 2>&1 &
done
wait || true
failed=0
rows=()
for n in $(seq 1 "$index"); do
    printf '\n----- %s -----\n' "$(cut -d'|' -f1 "$WORK/rows/$n" 2>/dev/null || echo "leg $n")"
    cat "$WORK/logs/$n.log"
    row_text="$(cat "$WORK/rows/$n" 2>/dev/null || echo "leg $n|-|-|crashed|-|-|-")"
    rows+=("$row_text")
    case "$row_text" in *"|ok|"*) ;; *) failed=1 ;; esac
done

printf '\nCompatibility matrix (built wheel, clean venvs; markers: %s)\n\n' "$MARKERS"
row() { printf '| %-20s | %-8s | %-7s | %-14s | %-46s | %7s | %7s |\n' "$@"; }
row leg Airflow Python result tests seconds "cpu s"
row -------------------- -------- ------- -------------- ---------------------------------------------- \
    ------- -------
if [ -n "${XENTREE_MAIN_LEG:-}" ]; then  # .ci/run: "result|seconds" of ./scripts/test.sh
    row "main (test.sh)" "locked" "3.11" "${XENTREE_MAIN_LEG%%|*}" "lint, types, docs, every test" \
        "${XENTREE_MAIN_LEG##*|}" "-"
fi
for r in "${rows[@]}"; do
    IFS='|' read -r c1 c2 c3 c4 c5 c6 c7 <<<"$r"
    row "$c1" "$c2" "$c3" "$c4" "$c5" "$c6" "$c7"
done
printf '\nmatrix total: %ds\n' $((SECONDS - start))
exit "$failed"
