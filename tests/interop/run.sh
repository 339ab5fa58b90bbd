#!/usr/bin/env bash
# Run the interop suite (issues 3, 18 and 19) alone: install Dovecot and Postfix and unpack Courier, Exim and
# OpenSMTPD when missing, then run the ignored tests of tests/interop.rs and tests/interop_mta.rs against them, two at a time. Extra arguments go to the test binary (e.g. a test name filter).
# Needs root: it installs packages and starts private Postfix and Dovecot instances on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Each test stops its servers when it ends, also when it fails; only a killed test binary leaves some behind.
# Stop those: directories named popfetch-interop-PID-* whose test process PID is gone.
cleanup_leftovers() {
    local d pid
    for d in "${TMPDIR:-/tmp}"/popfetch-interop-*; do
        [ -f "$d/env" ] || continue
        if [ -f "$d/exim.conf" ] || [ -f "$d/smtpd.conf" ]; then
            pid=${d##*/popfetch-interop-}
            pid=${pid%%-*}
            kill -0 "$pid" 2>/dev/null || tests/interop/mtas.sh stop "$d" || true
            continue
        fi
        pid=${d##*/popfetch-interop-}
        pid=${pid%%-*}
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "interop: stopping leftover servers in $d"
            [ ! -d "$d/courier" ] || tests/interop/courier.sh stop "$d/courier" || true
            tests/interop/servers.sh stop "$d" || true
        fi
    done
}
trap cleanup_leftovers EXIT
cleanup_leftovers

.ci/interop-deps.sh
start=$(date +%s)
cargo test -q --test interop -- --ignored --test-threads=2 "$@"
cargo test -q --test interop_mta -- --ignored --test-threads=2 "$@"
echo "interop suite: $(($(date +%s) - start)) s"
