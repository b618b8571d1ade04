#!/usr/bin/env bash
# Set up the development environment of airflow-provider-xentree, idempotently:
#   1. find Python 3.11+,
#   2. find uv, or install the pinned uv from PyPI into .tools/uv (never system-wide),
#   3. check that uv.lock matches pyproject.toml, then `uv sync --frozen` into .venv.
#
# Run it:     bash scripts/bootstrap.sh
# Source it:  . scripts/bootstrap.sh   (as scripts/test.sh and scripts/demo.sh do) - the same, and
#             puts the uv it used first on PATH of the sourcing script only.
# Knobs: XENTREE_PYTHON=/path/to/python3.x picks the interpreter.
set -euo pipefail

XENTREE_UV_VERSION="0.13.9"
XENTREE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_xt_log() { printf '[bootstrap] %s\n' "$*" >&2; }
_xt_die() {
    printf '[bootstrap] ERROR: %s\n' "$*" >&2
    exit 1
}

# Print the absolute path of the first Python >= 3.11 found.
_xt_find_python() {
    local candidate exe
    for candidate in "${XENTREE_PYTHON:-}" python3.11 python3 python3.12 python3.13 \
        /usr/local/bin/python3 /usr/bin/python3.11 /usr/bin/python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        exe="$("$candidate" -c 'import sys; assert sys.version_info >= (3, 11); print(sys.executable)' \
            2>/dev/null)" || continue
        [ -n "$exe" ] && { printf '%s\n' "$exe"; return 0; }
    done
    return 1
}

# Install the pinned uv into .tools/uv (uv is one static binary shipped in a PyPI wheel).
_xt_install_uv() {
    local python="$1" tools="$XENTREE_ROOT/.tools" staging
    mkdir -p "$tools"
    staging="$(mktemp -d "$tools/uv.install.XXXXXX")"
    # --target keeps the install inside the repo: no root site-packages, no --user site, and it is
    # allowed on Debian's externally-managed Python (PEP 668) with any pip >= 19.
    if "$python" -m pip --version >/dev/null 2>&1; then
        _xt_log "installing uv==$XENTREE_UV_VERSION from PyPI into .tools/uv (pip --target)"
        if PIP_USER=0 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
            "$python" -m pip install --quiet --no-input --target "$staging" "uv==$XENTREE_UV_VERSION"; then
            rm -rf "$tools/uv"
            mv "$staging" "$tools/uv"
            return 0
        fi
        _xt_log "pip --target failed; trying a tool venv"
    fi
    rm -rf "$staging"
    # No usable pip: a small venv brings its own (needs ensurepip, Debian package python3-venv).
    _xt_log "installing uv==$XENTREE_UV_VERSION from PyPI into the tool venv .tools/uv"
    rm -rf "$tools/uv"
    if ! "$python" -m venv "$tools/uv" >/dev/null 2>&1; then
        rm -rf "$tools/uv"
        _xt_die "$python has neither pip nor venv; install one (Debian: apt-get install python3-pip python3-venv) and rerun"
    fi
    PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$tools/uv/bin/python" -m pip install --quiet --no-input "uv==$XENTREE_UV_VERSION" ||
        { rm -rf "$tools/uv"; _xt_die "could not install uv==$XENTREE_UV_VERSION from PyPI"; }
}

_xt_bootstrap() {
    local python uv uv_version sync_args=()

    python="$(_xt_find_python)" || _xt_die "Python 3.11+ not found (tried XENTREE_PYTHON, python3.11, python3, python3.12, python3.13)"
    _xt_log "python: $python ($("$python" -c 'import platform; print(platform.python_version())'))"

    if [ -x "$XENTREE_ROOT/.tools/uv/bin/uv" ]; then
        uv="$XENTREE_ROOT/.tools/uv/bin/uv"
    elif command -v uv >/dev/null 2>&1; then
        uv="$(command -v uv)"
    else
        _xt_install_uv "$python"
        uv="$XENTREE_ROOT/.tools/uv/bin/uv"
    fi
    uv_version="$("$uv" --version 2>/dev/null)" || _xt_die "$uv does not run; delete .tools/ and rerun"
    _xt_log "uv: $uv ($uv_version)"
    case "$uv_version" in
        "uv $XENTREE_UV_VERSION"*) ;;
        *) _xt_log "note: uv.lock was made with uv $XENTREE_UV_VERSION; continuing with $uv_version" ;;
    esac

    cd "$XENTREE_ROOT"
    # A fresh .venv is made with the Python found above; an existing one is kept as it is.
    if [ ! -x "$XENTREE_ROOT/.venv/bin/python" ]; then
        sync_args+=(--python "$python")
    fi
    # `uv sync --frozen` installs uv.lock as it is, without checking it against pyproject.toml:
    # check first, so that an outdated lock fails here rather than installing stale dependencies.
    if ! UV_PYTHON_DOWNLOADS=never "$uv" lock --check --quiet --python "$python"; then
        _xt_die "uv.lock is out of date with pyproject.toml (or could not be checked, see above). Run 'uv lock' and commit uv.lock."
    fi
    _xt_log "uv sync --frozen (.venv)"
    UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --quiet ${sync_args[@]+"${sync_args[@]}"} ||
        _xt_die "uv sync --frozen failed (see above)"
    _xt_log "ready: .venv ($("$XENTREE_ROOT/.venv/bin/python" -c 'import platform; print(platform.python_version())'))"

    XENTREE_UV="$uv"
}

_xt_bootstrap
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: let the calling script run `uv ...` (only that process and its children see this).
    PATH="$(dirname "$XENTREE_UV"):$PATH"
    export PATH
fi
