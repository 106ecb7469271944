#!/usr/bin/env bash
# Creates tests/provider/.venv with the stand-in provider's Python packages. The Rust test
# crates/server/tests/provider_delivery.rs runs tests/provider/.venv/bin/python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$here/.venv/bin/python" -W ignore -c 'import os; os.environ["FHIR_SEQUENCE"] = "STU3"; import fhirstarter, uvicorn'
echo "stand-in provider environment ready in $here/.venv"
