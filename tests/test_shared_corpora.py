"""A corpus two tasks share, encoded once per model (`harness.tasks.shared_corpora`): the kept embeddings are the
bytes the encoder gives, a second task takes them instead of encoding, and a damaged store costs only time."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from harness.mirror import Mirrors
from harness.results import ResultStore
from harness.runner import Runner
from harness.spec import ModelSpec
from harness.tasks import Catalogue
from harness.tasks import shared_corpora
from harness.tasks.shared_corpora import EmbeddingStore, model_key, store_for
from tests.conftest import STATIC_ENTRY


@pytest.fixture(scope="module")
def corpus(data_dir) -> list[str]:
    """SciFact's 5,183 documents, as mteb hands them to an encoder (title and text)."""
    rows = [json.loads(line) for line in _corpus_lines(data_dir)]
    return [f"{row['title']} {row['text']}".strip() for row in rows]


def _corpus_lines(data_dir):
    import gzip

    (path,) = (data_dir / "mteb" / "scifact").rglob("corpus.jsonl*")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from (line for line in handle if line.strip())


class Counting:
    """An encoder that counts the texts it is given."""

    def __init__(self, encoder):
        self.encoder, self.info, self.per_text, self.texts = encoder, encoder.info, encoder.per_text, 0

    def encode(self, texts):
        self.texts += len(texts)
        return self.encoder.encode(texts)


def test_kept_embeddings_are_the_encoder_s_bytes_in_any_order_and_mix(corpus, static_model, tmp_path):
    expected = static_model.encode(corpus)
    folder = tmp_path / "store"
    first = Counting(static_model)
    EmbeddingStore(folder, static_model.info.dim).encode(corpus[:3000], first.encode)
    assert first.texts == 3000
    order = np.random.default_rng(0).permutation(len(corpus))  # another corpus order, 2,183 texts new to the store
    second, store = Counting(static_model), EmbeddingStore(folder, static_model.info.dim)
    got = store.encode([corpus[i] for i in order], second.encode)
    kept = set(corpus[:3000])
    new = sum(text not in kept for text in corpus)
    assert second.texts == new and store.encoded == new and store.taken == len(corpus) - new
    assert got.dtype == np.float32 and got.tobytes() == expected[order].tobytes()
    third = Counting(static_model)  # everything kept now, by the two writers together
    assert EmbeddingStore(folder, static_model.info.dim).encode(corpus, third.encode).tobytes() == expected.tobytes()
    assert third.texts == 0


def test_a_damaged_segment_is_left_out_and_its_texts_encoded_again(corpus, static_model, tmp_path, caplog):
    folder, dim = tmp_path / "store", static_model.info.dim
    EmbeddingStore(folder, dim).encode(corpus[:1000], static_model.encode)
    EmbeddingStore(folder, dim).encode(corpus[1000:2000], static_model.encode)
    damaged = sorted(folder.glob("*.vectors.npy"))[0]
    damaged.write_bytes(damaged.read_bytes()[:4096])  # truncated
    counting, store = Counting(static_model), EmbeddingStore(folder, dim)
    with caplog.at_level(logging.WARNING, logger="harness"):
        got = store.encode(corpus[:2000], counting.encode)
    assert got.tobytes() == static_model.encode(corpus[:2000]).tobytes()
    assert counting.texts == 1000 and store.taken == 1000
    assert str(damaged.with_name(damaged.name.replace("vectors", "keys"))) in caplog.text


def test_a_store_that_cannot_be_written_leaves_the_encoding_as_it_is(corpus, static_model, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    store = EmbeddingStore(blocker / "store", static_model.info.dim)
    with caplog.at_level(logging.WARNING, logger="harness"):
        got = store.encode(corpus[:500], static_model.encode)
        again = store.encode(corpus[500:800], static_model.encode)
    assert got.tobytes() == static_model.encode(corpus[:500]).tobytes()
    assert again.tobytes() == static_model.encode(corpus[500:800]).tobytes()
    assert not store.writable and caplog.text.count("cannot write") == 1 and str(blocker / "store") in caplog.text


def test_the_model_key_follows_the_embeddings_not_only_the_name(static_model):
    class Shifted:
        """The same entry (id, revision, settings) whose vectors differ: a model rebuilt differently."""

        info, per_text = static_model.info, True

        def encode(self, texts):
            return static_model.encode(texts) + np.float32(1e-3)

    assert model_key(static_model) == model_key(static_model)
    assert model_key(Shifted()) != model_key(static_model)


def test_only_a_shared_corpus_and_a_text_by_text_encoder_get_a_store(static_model, glove):
    assert store_for("FEVER", static_model)[0] == store_for("ClimateFEVER", static_model)[0] == "fever-wikipedia"
    assert store_for("FEVER", static_model)[1].folder == store_for("ClimateFEVER", static_model)[1].folder
    assert store_for("SciFact", static_model) is None
    assert store_for("FEVER", glove) is None  # sentence-transformers: padded batches
    from harness.loaders import loader_kind  # what the plan reads without loading a model: the same

    assert [loader_kind(m.info.loader).per_text for m in (static_model, glove)] == [True, False]


def test_a_second_task_on_the_corpus_takes_its_embeddings_and_scores_the_same(tmp_path, data_dir, static_model,
                                                                              monkeypatch):
    monkeypatch.setitem(shared_corpora.SHARED_CORPORA, "SciFact", "scifact-corpus")
    spec, (task,) = ModelSpec(**STATIC_ENTRY), Catalogue().select(["SciFact"])
    files, counts = [], []
    for run in ("first", "second"):
        counting = Counting(static_model)
        report = Runner(ResultStore(tmp_path / run), Mirrors(data_dir=data_dir), loader=lambda s, m: counting,
                        progress=False).run([spec], [task])
        assert [c.status for c in report.cells] == ["done"]
        (path,) = (tmp_path / run).rglob("SciFact.json")
        files.append(json.loads(path.read_text()))
        counts.append(counting.texts)
    kept = [doc["harness"]["data"]["shared_corpus"] for doc in files]
    assert kept[0]["name"] == "scifact-corpus" and kept[0]["taken"] == 0 and kept[0]["encoded"] == 5183
    assert kept[1]["taken"] == 5183 and kept[1]["encoded"] == 0
    assert counts[0] - counts[1] == 5183  # the second run encoded its queries only
    assert files[1]["scores"] == files[0]["scores"]


def test_a_pool_starts_the_second_task_on_a_corpus_as_soon_as_the_first_ends():
    """Dealt longest first, ClimateFEVER keeps its place after FEVER (not after every other cell): held while its
    model's FEVER runs, it is the next cell started once that FEVER ends."""
    from harness.pool import largest_first, next_ready
    from harness.registry import load_registry
    from harness.runner import Cell

    registry = load_registry()
    names = ["SciFact", "FEVER", "HotpotQA", "ClimateFEVER", "STS12"]
    tasks = {task.spec.name: task for task in Catalogue().select(names)}
    seconds = {"SciFact": 5.0, "FEVER": 1555.0, "HotpotQA": 1275.0, "ClimateFEVER": 1524.0, "STS12": 1.0}
    cells = [Cell(registry.get(model), tasks[name]) for model in ("potion-base-8M", "potion-base-2M") for name in names]
    order = largest_first(cells, lambda c: seconds[c.task.spec.name])
    assert [(c.spec.name, c.task.spec.name) for c in order[:4]] == [
        ("potion-base-8M", "FEVER"), ("potion-base-2M", "FEVER"), ("potion-base-8M", "ClimateFEVER"),
        ("potion-base-2M", "ClimateFEVER")]
    assert largest_first(cells, None) == cells  # no projection: grid order

    def started(queue: list, running: list) -> Cell:  # what the pool starts next (its queue holds the next cell last)
        index = next_ready(list(reversed(queue)), running)
        return None if index is None else list(reversed(queue))[index]

    fever8, fever2, climate8, climate2 = order[:4]
    rest = order[2:]
    assert started(rest, [fever8, fever2]).task.spec.name == "HotpotQA"  # both ClimateFEVERs held
    hotpot = started(rest, [fever8, fever2])
    rest = [c for c in rest if c is not hotpot]
    assert started(rest, [fever2, hotpot]) is climate8  # potion-base-8M's FEVER has ended: its ClimateFEVER next
    assert started([c for c in rest if c is not climate8], [hotpot, climate8]) is climate2
