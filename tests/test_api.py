"""The Python API (`harness.evaluate`, `report`, `compare`, `tasks`, `models`): a model held in memory scores what
the command line writes for the same model saved to disk; a duck-typed encoder scores what mteb gives it; the
report's tables are the CSV files `harness report` writes; bad input raises one exception naming the culprit."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harness
from harness.cli import main
from harness.errors import HarnessError, UnknownTaskError

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["WordSim", "bird", "turney"]


class HashingEncoder:
    """A duck-typed encoder (only `encode`): character-trigram counts hashed into 64 dimensions."""

    def encode(self, texts):
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                out[row, int.from_bytes(padded[i:i + 3].encode()[:4].ljust(4, b"x"), "little") % 64] += 1.0
        return out


def _scores_on_disk(results: Path) -> dict[str, float]:
    return {p.stem: json.loads(p.read_text())["scores"] for p in results.rglob("*.json")
            if p.stem != "model_meta" and p.parent.name != "harness"}


def test_an_in_memory_static_model_scores_what_the_cli_writes_for_it_saved(tmp_path, data_dir, static_model_dir,
                                                                          static_model_args):
    from model2vec import StaticModel

    from tests.conftest import STATIC_ENTRY

    model = StaticModel.from_pretrained(str(static_model_dir / STATIC_ENTRY["id"]))  # the saved model, in memory
    assert main(["run", "--no-progress", "--offline", *static_model_args, "-t", *SMALL, "--data-dir", str(data_dir),
                 "--results-dir", str(tmp_path / "cli")]) == 0
    on_disk = _scores_on_disk(tmp_path / "cli")

    name = STATIC_ENTRY["name"]
    frame = harness.evaluate(model, SMALL, name=name, offline=True, data_dir=data_dir, progress=False,
                             results_dir=tmp_path / "api")
    assert list(frame.columns)[:6] == ["model", "task", "group", "metric", "score", "seconds"]
    assert set(frame["status"]) == {"done"} and sorted(frame["task"]) == sorted(on_disk)
    assert _scores_on_disk(tmp_path / "api") == on_disk
    for row in frame.itertuples():
        assert row.score == on_disk[row.task]["test"][0]["main_score"]
        assert row.data_source == "mirror" and len(row.data_fingerprint) == 64
    meta = json.loads(next((tmp_path / "api").rglob("model_meta.json")).read_text())
    assert meta["name"] == f"in-memory/{name}" and meta["revision"].startswith("sha256-")
    doc = json.loads(next((tmp_path / "api").rglob("bird.json")).read_text())
    assert doc["harness"]["model"]["source"] == "memory" and "sha256 of weights" in doc["harness"]["model"][
        "source_revision"]

    again = harness.evaluate(model, SMALL, name=name, offline=True, data_dir=data_dir, progress=False,
                             results_dir=tmp_path / "api")
    assert set(again["status"]) == {"skipped"}  # same weights, same revision: resumed
    assert list(again["score"]) == list(frame["score"])


def test_a_duck_typed_encoder_scores_what_mteb_gives_it(data_dir):
    import mteb
    from mteb.models import ModelMeta
    from mteb.similarity_functions import cos_sim, pairwise_cos_sim

    frame = harness.evaluate(HashingEncoder(), "STSBenchmark", offline=True, data_dir=data_dir, progress=False)
    (row,) = frame.itertuples()
    assert row.status == "done" and row.metric == "cosine_spearman" and row.data_source == "mirror"

    class Theirs:  # mteb's encoder protocol over the same object, written here
        mteb_model_meta = ModelMeta(
            loader=None, name="test/hashing", revision="1", release_date=None, languages=None, n_parameters=None,
            memory_usage_mb=None, max_tokens=None, embed_dim=64, license=None, open_weights=True,
            public_training_code=None, public_training_data=None, framework=["NumPy"], similarity_fn_name="cosine",
            use_instructions=False, training_datasets=None)

        def encode(self, inputs, **kwargs):
            return HashingEncoder().encode([text for batch in inputs for text in batch["text"]])

        def similarity(self, a, b):
            return cos_sim(a, b)

        def similarity_pairwise(self, a, b):
            return pairwise_cos_sim(a, b)

    task = mteb.get_task("STSBenchmark", eval_splits=["test"])
    task.metadata = task.metadata.model_copy(update={"dataset": {**task.metadata.dataset,
                                                                  "path": str(data_dir / "mteb" / "stsbenchmark-sts")}})
    result = mteb.evaluate(Theirs(), task, cache=None, show_progress_bar=False)
    assert row.score == pytest.approx(result.task_results[0].scores["test"][0]["main_score"], abs=1e-12)


def test_report_returns_the_tables_harness_report_writes(data_dir, tmp_path):
    tables = harness.report(ROOT / "results", data_dir=data_dir)
    assert {"main", "per_task", "partial", "throughput", "agreement"} <= set(tables)
    written = pd.read_csv(ROOT / "reports" / "main_table.csv", na_values="N/A", keep_default_na=False)
    pd.testing.assert_frame_equal(tables["main"], written)
    with pytest.raises(HarnessError, match="nope"):
        harness.report(tmp_path / "nope", published="none")


def test_compare_tasks_and_models_as_dataframes(data_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    frame = harness.compare("potion-base-8M", "all-MiniLM-L6-v2", tmp_path / "empty",
                            str(data_dir / "mteb-results"))
    published = frame.set_index("source").loc["published per-task"]
    assert published["n"] == 56 and published["mean"] < 0 and published["low"] <= published["mean"] <= published["high"]
    with pytest.raises(HarnessError, match="did you mean 'GloVe_6B_50d'"):
        harness.compare("GloVe_6B_50", "potion-base-8M", tmp_path / "empty", "none")
    catalogue = harness.tasks(data_dir=data_dir)
    assert len(catalogue) == len(set(catalogue["task"])) and {"STSBenchmark", "bird", "MEN"} <= set(catalogue["task"])
    assert catalogue.set_index("task").loc["STSBenchmark", "local"] and \
        not catalogue.set_index("task").loc["MSMARCO", "local"]
    registry = harness.models().set_index("name")
    assert registry.loc["potion-base-8M", "id"] == "minishlab/potion-base-8M"
    assert registry.loc["GloVe_6B_50d", "offline"] == "package"


class NoEncode:
    pass


class WrongShape:
    def encode(self, texts):
        return np.zeros((len(texts) + 1, 8))


class NotFinite:
    def encode(self, texts):
        out = np.ones((len(texts), 8))
        out[0, 0] = np.nan
        return out


@pytest.mark.parametrize("model, message", [
    (NoEncode(), r"model 'NoEncode' has no encode\(\) method"),
    (WrongShape(), r"model 'WrongShape': encode\(\) of 3 texts returned shape \(4, 8\); expected \(3, dim\)"),
    (NotFinite(), r"model 'NotFinite': encode\(\) returned non-finite values \(NaN or inf\) for 1 of 3 texts"),
])
def test_bad_models_raise_one_error_naming_them_and_write_nothing(model, message, tmp_path, data_dir):
    with pytest.raises(HarnessError, match=message):
        harness.evaluate(model, "MEN", results_dir=tmp_path / "r", data_dir=data_dir, offline=True)
    assert not (tmp_path / "r").exists()


def test_unknown_task_and_options_raise_without_writing(tmp_path, data_dir, monkeypatch):
    with pytest.raises(UnknownTaskError, match="unknown task or group 'STSBenchmrk'; did you mean 'STSBenchmark'"):
        harness.evaluate(HashingEncoder(), ["MEN", "STSBenchmrk"], results_dir=tmp_path / "r", data_dir=data_dir)
    with pytest.raises(HarnessError, match="is held in memory: it runs in this process"):
        harness.evaluate(HashingEncoder(), "MEN", jobs=2, results_dir=tmp_path / "r", data_dir=data_dir)
    with pytest.raises(HarnessError, match="--probe-seeds -1: must be 0 or more"):
        harness.evaluate("GloVe_6B_50d", "ppdb", probe_seeds=-1, results_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    monkeypatch.delenv("HARNESS_OFFLINE")
    frame = harness.evaluate("GloVe_6B_50d", "MEN", offline=True, probe_seeds=3, data_dir=data_dir, progress=False)
    assert frame.loc[0, "status"] == "done" and math.isfinite(frame.loc[0, "score"])
    assert "HARNESS_OFFLINE" not in os.environ and "HARNESS_PROBE_SEEDS" not in os.environ  # restored
