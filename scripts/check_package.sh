#!/usr/bin/env bash
# The package outside an editable install: `pip install .` into a fresh virtual environment, then
# `harness models` from a folder that is not the project (the registry ships inside the package).
# The installer is the project venv's uv when scripts/install.sh put it there (the wheel is built by the same
# setuptools backend as pip's; uv's cache is warm from that install), else pip.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
venv=$tmp/venv
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check torch==2.13.0
if [ -x .venv/bin/uv ]; then
    installer="uv pip install ."
    .venv/bin/uv pip install -q --python "$venv/bin/python" . torch==2.13.0
else
    installer="pip install ."
    "$venv/bin/pip" install -q --disable-pip-version-check .
fi
mkdir "$tmp/elsewhere"
out=$(cd "$tmp/elsewhere" && "$venv/bin/harness" models)
echo "$out" | tail -n 1
echo "$out" | grep -q "^potion-base-8M " || { echo "package check: the registry is missing from the installed package" >&2; exit 1; }
rm -rf "$tmp"
echo "package check: $installer works and harness models runs outside the project"
