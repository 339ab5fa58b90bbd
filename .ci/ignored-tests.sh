#!/usr/bin/env bash
# Run every test marked `#[ignore = "ci: ..."]`: tests that need something a newcomer's plain `cargo test` may lack
# (root, libfaketime) and so are listed as ignored there instead of skipping themselves and reporting `ok`. CI has
# what they need (.ci/interop-deps.sh), so here each must run and pass; a name that matches no test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

found=0
while IFS= read -r file; do
    # The fn that follows each `ci:` ignore attribute.
    while IFS= read -r name; do
        case "$file" in
            tests/*/*) bin=${file#tests/}; bin=${bin%%/*} ;;
            tests/*) bin=$(basename "$file" .rs) ;;
        esac
        echo "== ignored-tests: $bin::$name"
        out=$(cargo test --locked -q --test "$bin" -- --ignored --exact "$(
            # --exact needs the module path inside the test binary: tests/dir/mod.rs files are modules of dir.
            # (In `case`, `*` also matches `/`, so test the deeper shapes first.)
            case "$file" in
                tests/*/main.rs) echo "$name" ;;
                tests/*/*.rs) m=${file#tests/*/}; echo "${m%.rs}::$name" ;;
                *) echo "$name" ;;
            esac
        )" 2>&1) || { echo "$out"; exit 1; }
        echo "$out" | tail -n 3
        echo "$out" | grep -q "test result: ok. 1 passed" || {
            echo "ignored-tests: $bin::$name did not run exactly one passing test" >&2
            exit 1
        }
        found=$((found + 1))
    done < <(awk '/^[[:space:]]*#\[ignore = "ci: /{want=1; next} want && /fn [a-z0-9_]+\(/{match($0, /fn [a-z0-9_]+\(/); print substr($0, RSTART+3, RLENGTH-4); want=0}' "$file")
done < <(grep -rl --include='*.rs' '#\[ignore = "ci: ' tests)
echo "ignored-tests: $found run"
[ "$found" -gt 0 ]
