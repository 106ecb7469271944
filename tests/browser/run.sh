#!/usr/bin/env bash
# Drives Debian's chromium through chromedriver over Trove's consent pages.
#
# Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian packages chromium and
# chromium-driver). Uses $TROVE_BIN when set; otherwise builds trove with cargo and uses
# target/debug/trove. The Python environment lives in tests/browser/.venv (git-ignored) and is
# rebuilt when requirements.txt changes. Prints one line per check and a closing
# "N passed, N failed" line, and exits non-zero when a check fails.
set -euo pipefail

suite_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$suite_dir/../.." && pwd)"
venv="$suite_dir/.venv"
stamp="$venv/requirements.sha256"
python="${PYTHON:-python3}"

for tool in /usr/bin/chromium /usr/bin/chromedriver; do
    if [[ ! -x "$tool" ]]; then
        echo "missing $tool: install the Debian packages chromium and chromium-driver" >&2
        exit 1
    fi
done

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

# Selenium must use the given chromedriver and never download one.
export SE_OFFLINE=true
exec "$venv/bin/python" "$suite_dir/consent_test.py" "$@"
