#!/usr/bin/env bash
# Runs every test suite against real components: the Rust workspace tests (the server on
# ephemeral loopback ports, SQLite in temporary directories), the independent Python
# conformance suite, the browser test of the consent pages in Debian's chromium, and the
# provider delivery tests. Each suite prints its own closing "passed/failed" line; the script
# exits non-zero when any suite fails.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
run() {
    local name=$1
    shift
    echo "==> $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

cargo build --workspace --all-targets || exit 1
export TROVE_BIN="$PWD/target/debug/trove"

# crates/server/tests/provider_delivery.rs runs the stand-in provider from this environment.
run "provider environment" tests/provider/setup.sh
run "cargo tests" cargo test --workspace --no-fail-fast
run "tests/conformance" tests/conformance/run.sh
run "tests/browser" tests/browser/run.sh

if [ ${#failed[@]} -gt 0 ]; then
    echo "failed suites: ${failed[*]}"
    exit 1
fi
echo "all suites passed"
