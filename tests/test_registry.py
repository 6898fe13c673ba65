"""The model registry: the shipped file, validation of each field, overrides and name look-up."""

from __future__ import annotations

import pytest
import yaml

from harness.errors import RegistryError
from harness.registry import load_registry, read_registry_file

PUBLISHED = [
    "all-MiniLM-L6-v2", "potion-base-32M", "potion-base-8M", "potion-retrieval-32M", "potion-base-4M",
    "static-retrieval-mrl-en-v1", "static-similarity-mrl-multilingual-v1", "M2V_base_output", "potion-base-2M",
    "GloVe_300d", "BPEmb_50k_300d", "M2V_base_output_nopca", "M2V_base_output_nozipf",
    "M2V_base_input_nozipf_nopca", "M2V_base_output_nozipf_nopca", "M2V_base_input",
    "M2V_bert_output_nozipf_nopca",
]

VALID = {
    "name": "my-model", "id": "org/my-model", "revision": "abc123", "loader": "model2vec",
    "params_m": 1.5, "family": "static", "link": "https://example.org/my-model",
}


def _write(tmp_path, entries, name="reg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"models": entries}))
    return path


def test_shipped_registry_has_every_published_model_and_the_offline_ones(registry):
    names = [spec.name for spec in registry]
    assert set(PUBLISHED) <= set(names)
    assert {"GloVe_6B_50d", "all-MiniLM-L6-v2"} <= set(names)
    assert len(names) == len(set(names))


def test_published_names_match_the_reference_tables(registry):
    from harness.summary import published_table

    for table in ("main", "retrieval", "ablation"):
        for model in published_table(table).index:
            assert model in registry, f"harness/reference/{table}.csv: {model} missing from the registry"
            assert table in registry.get(model).tables, f"{model}: 'tables' lacks {table}"


def test_ablation_entries_carry_teacher_and_recipe(registry):
    spec = registry.get("M2V_base_input_nozipf_nopca")
    assert spec.loader == "distilled"
    assert spec.teacher == "BAAI/bge-base-en-v1.5"
    assert (spec.recipe.embeddings, spec.recipe.pca_dims, spec.recipe.zipf) == ("input", None, False)
    assert registry.get("M2V_bert_output_nozipf_nopca").teacher == "google-bert/bert-base-uncased"


@pytest.mark.parametrize(
    "change, culprit",
    [
        ({"params_m": -1}, "params_m"),
        ({"params_m": "many"}, "params_m"),
        ({"loader": "onnx"}, "loader"),
        ({"family": "hybrid"}, "family"),
        ({"id": "no-slash"}, "id"),
        ({"link": "example.org"}, "link"),
        ({"revision": ""}, "revision"),
        ({"tables": ["leaderboard"]}, "tables"),
        ({"colour": "blue"}, "colour"),
        ({"package": "some-pkg"}, "package"),
        ({"package": "p", "package_path": "not a path"}, "package_path"),
        ({"loader": "distilled", "teacher": "org/t"}, "recipe"),
        ({"loader": "distilled", "teacher": "org/t", "recipe": {"embeddings": "output", "pca_dims": 0, "zipf": True}}, "pca_dims"),
        ({"loader": "bpemb", "loader_kwargs": {"lang": "en"}}, "loader_kwargs"),
    ],
)
def test_each_malformed_field_is_named(tmp_path, change, culprit):
    path = _write(tmp_path, [{**VALID, **change}])
    with pytest.raises(RegistryError) as err:
        read_registry_file(path)
    message = str(err.value)
    assert str(path) in message and "my-model" in message and culprit in message
    assert "\n" not in message


def test_missing_field_is_named(tmp_path):
    entry = {k: v for k, v in VALID.items() if k != "revision"}
    with pytest.raises(RegistryError, match=r"model 'my-model' field 'revision': Field required"):
        read_registry_file(_write(tmp_path, [entry]))


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("models: [\n  {name: a,\n", r"line \d+: invalid YAML"),
        ("models:\n  - name: a\n    name: b\n", r"duplicate key 'name'"),
        ("- name: a\n", r"one key 'models'"),
        ("models:\n  - just a string\n", r"entry #1 is not a mapping"),
    ],
)
def test_malformed_files(tmp_path, text, pattern):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError, match=pattern):
        read_registry_file(path)


def test_duplicate_names_in_one_file(tmp_path):
    with pytest.raises(RegistryError, match="defined twice"):
        read_registry_file(_write(tmp_path, [VALID, VALID]))


def test_missing_registry_file_is_named(tmp_path):
    with pytest.raises(RegistryError, match="nothere.yaml: cannot read"):
        load_registry([tmp_path / "nothere.yaml"])


def test_unknown_model_gets_did_you_mean(registry):
    with pytest.raises(RegistryError, match=r"unknown model 'potion-base-8m'; did you mean 'potion-base-8M'"):
        registry.get("potion-base-8m")
    with pytest.raises(RegistryError, match=r"did you mean 'all-MiniLM-L6-v2'"):
        registry.get("all-MiniLM-L6")
    with pytest.raises(RegistryError, match=r"unknown model 'zzzz' \("):
        registry.get("zzzz")


def test_extra_registry_adds_and_overrides(tmp_path):
    override = {**VALID, "name": "potion-base-8M", "id": "me/potion-fork", "params_m": 8.0}
    path = _write(tmp_path, [VALID, override])
    registry = load_registry([path])
    assert registry.get("my-model").id == "org/my-model"
    assert registry.get("potion-base-8M").id == "me/potion-fork"
    assert len(registry) == len(load_registry()) + 1

