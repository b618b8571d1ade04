#!/usr/bin/env bash
# Make sure a headless Chromium is available for the browser tests (tests/integration/test_report_browser.py,
# tests/e2e/test_ui_browser.py).
#
# Idempotent and quiet when Chromium is already installed. Otherwise installs Debian's `chromium` package
# (scripts/apt_install.sh). Always exits 0: when the install is not possible it prints why, and the
# browser test skips itself saying the same.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

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
if apt_install ensure_chromium "the browser test will be skipped" chromium && ! find_chromium >/dev/null; then
    echo "ensure_chromium: apt-get succeeded but no chromium binary was found on PATH; the browser test will be skipped." >&2
fi
exit 0
