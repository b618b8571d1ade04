#!/usr/bin/env bash
# Make sure PostgreSQL and Redis binaries are available for the CeleryExecutor end-to-end test
# (tests/e2e/test_celery_postgres.py). The test starts and stops the servers itself, on loopback, in
# temporary folders; this script only installs Debian's `postgresql` and `redis-server` packages when
# they are missing (needs root, or passwordless sudo). Idempotent and quiet when both are there.
# Always exits 0: when the install is not possible it says why, and the test skips itself saying the same.
set -u

have_postgres() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_redis() { command -v redis-server >/dev/null 2>&1; }

packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
[ "${#packages[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_services: ${packages[*]} missing and apt-get is not available; the Celery test will be skipped." >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure_services: ${packages[*]} missing and installing needs root; the Celery test will be skipped." >&2
        exit 0
    fi
fi

echo "ensure_services: installing Debian's ${packages[*]} (one time)..." >&2
log="$(mktemp)"
# policy-rc.d 101: the packages must not start their system-wide servers; the test starts its own.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && made_policy=1
fi
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" \
        >>"$log" 2>&1; then
    echo "ensure_services: installed ${packages[*]}" >&2
else
    echo "ensure_services: installing ${packages[*]} failed; the Celery test will be skipped. Last lines:" >&2
    tail -n 5 "$log" >&2
fi
[ -n "$made_policy" ] && $SUDO rm -f "$policy"
rm -f "$log"
exit 0
