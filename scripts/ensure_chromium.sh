#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (tests/integration/test_report_browser.py,
# tests/e2e/test_ui_browser.py).
#
# Idempotent and quiet when Chromium is already installed. Otherwise installs Debian's `chromium` package
# with apt-get (needs root, or passwordless sudo). Always exits 0: when the install is not possible it
# prints why, and the browser test skips itself saying the same.
set -u

find_chromium() {
    local name
    for name in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if [ -n "${XENTREE_CHROMIUM:-}" ] && [ -x "${XENTREE_CHROMIUM}" ]; then
    exit 0
fi
if find_chromium >/dev/null; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: Chromium is missing and apt-get is not available here; the browser test will be skipped." >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure_chromium: Chromium is missing and installing it needs root (no passwordless sudo); the browser test will be skipped." >&2
        exit 0
    fi
fi

echo "ensure_chromium: installing Debian's chromium package (one time)..." >&2
log="$(mktemp)"
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
    && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1; then
    if path="$(find_chromium)"; then
        echo "ensure_chromium: installed $path" >&2
    else
        echo "ensure_chromium: apt-get succeeded but no chromium binary was found on PATH; the browser test will be skipped." >&2
    fi
else
    echo "ensure_chromium: installing chromium failed; the browser test will be skipped. Last lines of apt-get output:" >&2
    tail -n 5 "$log" >&2
fi
rm -f "$log"
exit 0
