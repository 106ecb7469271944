#!/usr/bin/env bash
# Run the conformance suite against a real `trove serve`.
#
# Uses $TROVE_BIN when set; otherwise runs `cargo build -p trove-cli` and uses
# target/debug/trove. The Python environment lives in tests/conformance/.venv (git-ignored) and
# is rebuilt when requirements.txt changes. Arguments go to suite.py (for example --keep).
set -euo pipefail

suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$suite_dir/../.." && pwd)"
venv="$suite_dir/.venv"
stamp="$venv/requirements.sha256"

python="${PYTHON:-python3}"
wanted_hash="$(sha256sum "$suite_dir/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted_hash" ]]; then
    echo "creating the Python environment in $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$suite_dir/requirements.txt"
    echo "$wanted_hash" > "$stamp"
fi

if [[ -z "${TROVE_BIN:-}" ]]; then
    echo "building trove with cargo build -p trove-cli" >&2
    (cd "$repo_root" && cargo build --quiet -p trove-cli)
    export TROVE_BIN="$repo_root/target/debug/trove"
fi

exec "$venv/bin/python" "$suite_dir/suite.py" "$@"
