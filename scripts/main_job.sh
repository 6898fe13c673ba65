#!/usr/bin/env bash
# The main job on the embedded offline default: the models that ship in PyPI packages
# (all-MiniLM-L6-v2, GloVe 6B 50d) on every MTEB, PEARL and WordSim task whose data is in the local
# mirror (HARNESS_DATA_DIR, default ../shared/data), results into results/, tables into reports/.
# Tasks already in results/ are skipped (resume); pass --overwrite to recompute them.
set -euo pipefail
cd "$(dirname "$0")/.."
export HARNESS_OFFLINE=1
status=0
.venv/bin/harness run --available-only -m all-MiniLM-L6-v2 GloVe_6B_50d -t MTEB PEARL WordSim "$@" || status=$?
.venv/bin/harness report
exit $status
