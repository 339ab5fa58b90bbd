#!/usr/bin/env bash
# Bounded fuzzing of popfetch's pure parsers (issue 6): build every cargo-fuzz target under fuzz/ once, run each
# for FUZZ_SECONDS (default 60) from the committed seeds (fuzz/seeds/TARGET, never written to) plus a throwaway
# corpus, and fail on any crash, timeout or out-of-memory. Crashing inputs stay in fuzz/artifacts/TARGET/ and are
# printed as base64 so the CI log alone reproduces them.
#
# Stable Rust only: cargo-fuzz runs with `-s none` (no sanitizer; libFuzzer's coverage still works).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
secs=${FUZZ_SECONDS:-60}
t0=$SECONDS

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
# fuzz/Cargo.lock pins the fuzz build. When main gained a dependency since it was last committed, cargo adds
# just that (existing pins stay); say so instead of failing, since the fuzz run itself is still meaningful.
if ! cargo metadata --locked --format-version 1 >/dev/null 2>&1; then
  cargo metadata --format-version 1 >/dev/null
  echo "note: fuzz/Cargo.lock was stale (popfetch's dependencies changed); commit the updated file"
fi

echo "== building fuzz targets"
b0=$SECONDS
cargo fuzz build -s none
echo "fuzz build: $((SECONDS - b0)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in $(cargo fuzz list); do
  mkdir -p "$work/$t" "$work/artifacts/$t"
  log="$work/$t.log"
  rc=0
  cargo fuzz run -s none "$t" "$work/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1 || rc=$?
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$stats")
  done_line=$(grep -E '^Done [0-9]+ runs' "$log" || true)
  if [[ $rc -eq 0 && -n $done_line ]]; then
    runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1 runs in \2 s/p' <<<"$done_line")
    echo "fuzz $t: ok, $runs, cov ${cov:-?}, corpus $(find "$work/$t" -type f | wc -l) new inputs"
  else
    echo "fuzz $t: FAILED (exit $rc)"
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -n 40 || tail -n 40 "$log"
    for a in "$work/artifacts/$t"/*; do
      [[ -f $a ]] || continue
      mkdir -p "artifacts/$t"
      cp "$a" "artifacts/$t/"
      a="artifacts/$t/$(basename "$a")"
      echo "  input fuzz/$a (base64): $(head -c 4096 "$a" | base64 -w0)"
      echo "  reproduce: (cd fuzz && cargo fuzz run -s none $t $a)"
    done
    failed+=("$t")
  fi
done

echo "fuzz total: $((SECONDS - t0)) s"
n=$(cargo fuzz list | wc -l)
echo "fuzz: $((n - ${#failed[@]})) passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
