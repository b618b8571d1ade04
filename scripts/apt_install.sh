#!/usr/bin/env bash
# Sourced by the ensure_*.sh scripts: installs Debian packages that a group of tests needs.
#
#   apt_install TAG CONSEQUENCE PACKAGE...
#
# TAG prefixes every message; CONSEQUENCE ends the ones that say the install was not possible ("the
# browser test will be skipped"). Needs root or passwordless sudo. Never fails: when the install is not
# possible it says why and returns 1, and the tests skip themselves saying the same. Packages do not start
# their system-wide servers (policy-rc.d 101): the tests start their own.

apt_install() {
    local tag="$1" consequence="$2"
    shift 2
    local packages=("$@") sudo="" log policy=/usr/sbin/policy-rc.d made_policy="" rc=0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$tag: ${packages[*]} missing and apt-get is not available here; $consequence." >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
            sudo="sudo -n"
        else
            echo "$tag: ${packages[*]} missing and installing needs root (no passwordless sudo); $consequence." >&2
            return 1
        fi
    fi
    echo "$tag: installing Debian's ${packages[*]} (one time)..." >&2
    log="$(mktemp)"
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
    fi
    if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" \
            >>"$log" 2>&1; then
        echo "$tag: installed ${packages[*]}" >&2
    else
        echo "$tag: installing ${packages[*]} failed; $consequence. Last lines of apt-get output:" >&2
        tail -n 5 "$log" >&2
        rc=1
    fi
    [ -n "$made_policy" ] && $sudo rm -f "$policy"
    rm -f "$log"
    return "$rc"
}
