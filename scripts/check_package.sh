#!/usr/bin/env bash
# The package outside an editable install: `pip install .` into a fresh virtual environment, then
# `harness models` from a folder that is not the project (the registry ships inside the package).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check torch==2.13.0
"$venv/bin/pip" install -q --disable-pip-version-check .
out=$(cd "$(mktemp -d)" && "$venv/bin/harness" models)
echo "$out" | tail -n 1
echo "$out" | grep -q "^potion-base-8M " || { echo "package check: the registry is missing from the installed package" >&2; exit 1; }
rm -rf "$(dirname "$venv")"
echo "package check: pip install . works and harness models runs outside the project"
