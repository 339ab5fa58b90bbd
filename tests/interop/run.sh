#!/usr/bin/env bash
# Run the interop suite (issue 3) alone: install Dovecot and Postfix when missing, then run the ignored tests of
# tests/interop.rs against them. Extra arguments go to the test binary (e.g. a test name filter).
# Needs root: it installs packages and starts private Postfix and Dovecot instances.
set -euo pipefail
cd "$(dirname "$0")/../.."
.ci/interop-deps.sh
start=$(date +%s)
cargo test --test interop -- --ignored --test-threads=2 "$@"
echo "interop suite: $(($(date +%s) - start)) s (including the build)"
