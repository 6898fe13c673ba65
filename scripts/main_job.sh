#!/usr/bin/env bash
# The main job on the embedded offline default: the models that ship in PyPI packages, evaluated
# on every task whose data is in the local mirror (HARNESS_DATA_DIR, default ../shared/data),
# results into results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export HARNESS_OFFLINE=1
.venv/bin/harness run --available-only -m all-MiniLM-L6-v2 GloVe_6B_50d -t WordSim "$@"
