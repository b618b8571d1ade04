#!/usr/bin/env bash
# Make sure PostgreSQL and Redis binaries are available for the CeleryExecutor end-to-end test
# (tests/e2e/test_celery_postgres.py). The test starts and stops the servers itself, on loopback, in
# temporary folders; this script only installs Debian's `postgresql` and `redis-server` packages when
# they are missing (scripts/apt_install.sh). Idempotent and quiet when both are there.
# Always exits 0: when the install is not possible it says why, and the test skips itself saying the same.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

have_postgres() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
have_redis() { command -v redis-server >/dev/null 2>&1; }

packages=()
have_postgres || packages+=(postgresql)
have_redis || packages+=(redis-server)
[ "${#packages[@]}" -eq 0 ] && exit 0
apt_install ensure_services "the Celery test will be skipped" "${packages[@]}" || true
exit 0
