#!/usr/bin/env bash
# The main job on the embedded offline default: the models that run without the hub — all-MiniLM-L6-v2
# and GloVe 6B 50d (PyPI packages) and the six MiniLM-teacher distillations (built here) — on every
# MTEB, PEARL and WordSim task whose data is in the local mirror (HARNESS_DATA_DIR, default
# ../shared/data); then the tables, the speeds and the plot. Results go to results/, tables and the
# figure to reports/. Finished tasks and measured speeds are skipped (resume); extra arguments go to
# `harness run` (e.g. --overwrite).
set -uo pipefail
cd "$(dirname "$0")/.."
export HARNESS_OFFLINE=1
models=(all-MiniLM-L6-v2 GloVe_6B_50d M2V_MiniLM_output M2V_MiniLM_output_nopca M2V_MiniLM_output_nozipf
        M2V_MiniLM_input_nozipf_nopca M2V_MiniLM_output_nozipf_nopca M2V_MiniLM_input)
status=0
.venv/bin/harness run --available-only -m "${models[@]}" -t MTEB PEARL WordSim "$@" || status=1
.venv/bin/harness speed -m "${models[@]}" || status=1
.venv/bin/harness report || status=1
.venv/bin/harness plot || status=1
exit $status
