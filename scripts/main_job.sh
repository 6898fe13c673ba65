#!/usr/bin/env bash
# The main job on the offline default: the models that run without the hub — potion-base-8M (model
# mirror, HARNESS_MODEL_DIR, default ../shared/models), all-MiniLM-L6-v2 and GloVe 6B 50d (PyPI
# packages) and the six MiniLM-teacher distillations (built here) — on every MTEB, PEARL and WordSim
# task whose data is in the local mirror (HARNESS_DATA_DIR, default ../shared/data); then their
# speeds, the tables and leaderboard page (next to the published per-task results of the data
# mirror's mteb-results/), the plot and a screenshot of the page. Results go to results/; tables,
# page and figure to reports/. Finished tasks and measured speeds are skipped (resume); extra
# arguments go to `harness run` (e.g. --overwrite). The probe's seed spread uses 4 further seeds.
# A smaller job (the same steps): MAIN_JOB_MODELS and MAIN_JOB_TASKS (space-separated names), MAIN_JOB_RESULTS and
# MAIN_JOB_REPORTS (folders, default results/ and reports/), MAIN_JOB_PROBE_SEEDS (further probe seeds, default 4).
set -uo pipefail
cd "$(dirname "$0")/.."
export HARNESS_OFFLINE=1
start=$(date +%s)
default_models="potion-base-8M all-MiniLM-L6-v2 GloVe_6B_50d M2V_MiniLM_output M2V_MiniLM_output_nopca
    M2V_MiniLM_output_nozipf M2V_MiniLM_input_nozipf_nopca M2V_MiniLM_output_nozipf_nopca M2V_MiniLM_input"
read -r -a models <<< "$(echo ${MAIN_JOB_MODELS:-$default_models})"
read -r -a tasks <<< "${MAIN_JOB_TASKS:-MTEB PEARL WordSim}"
results=${MAIN_JOB_RESULTS:-results}
reports=${MAIN_JOB_REPORTS:-reports}
status=0
.venv/bin/harness run --available-only --probe-seeds "${MAIN_JOB_PROBE_SEEDS:-4}" -m "${models[@]}" -t "${tasks[@]}" --results-dir "$results" "$@" \
    || status=1
.venv/bin/harness speed -m "${models[@]}" --results-dir "$results" || status=1
.venv/bin/harness report --results-dir "$results" --out "$reports" || status=1
.venv/bin/harness plot --results-dir "$results" --out "$reports" || status=1
.venv/bin/python scripts/screenshot_page.py "$reports/index.html" || status=1
echo "main job: $(( $(date +%s) - start )) s (exit status $status)"
exit $status
