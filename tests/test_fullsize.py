"""bench/fullsize.py: synthetic stand-ins shaped by mteb's own statistics, laid out so that the harness runs the
real mteb tasks on them. Expected counts are computed here from the statistics files themselves."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import sys
from collections import Counter
from pathlib import Path

import mteb
import pytest

from harness.mirror import Mirrors
from harness.results import ResultStore
from harness.runner import Runner
from harness.tasks import Catalogue
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))  # bench/ is a folder of scripts, not a package: its modules import by name
import fullsize  # noqa: E402

FRACTION = 0.001
TASKS = ["FEVER", "ClimateFEVER", "TwentyNewsgroupsClustering", "AskUbuntuDupQuestions", "SummEval",
         "Banking77Classification"]
STATS = Path(mteb.__file__).parent / "descriptive_stats"


def stats(kind: str, name: str, split: str = "test") -> dict:
    return json.loads((STATS / kind / f"{name}.json").read_text())[split]


def scaled(n: int, floor: int, fraction: float = FRACTION) -> int:
    return n if n <= floor else max(floor, math.floor(n * fraction + 0.5))


def rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fullsize")
    written = fullsize.generate(TASKS, out, FRACTION, seed=0)
    assert [r["task"] for r in written] == TASKS
    return out


def test_classification_and_clustering_keep_the_label_counts(generated):
    for split in ("train", "test"):
        want = {int(k): scaled(v["count"], 2) for k, v in
                stats("Classification", "Banking77Classification", split)["label_statistics"]["labels"].items()}
        got = rows(generated / "mteb/banking77" / f"{split}.jsonl.gz")
        assert Counter(r["label"] for r in got) == want and all(isinstance(r["text"], str) for r in got)
    labels = stats("Clustering", "TwentyNewsgroupsClustering")["label_statistics"]["labels"]
    sets = rows(generated / "mteb/twentynewsgroups-clustering/test.jsonl.gz")
    want = {int(k): scaled(v["count"], 2) for k, v in labels.items()}
    assert Counter(y for s in sets for y in s["labels"]) == want
    assert len(sets) == min(10, sum(want.values()) // 8) and all(len(s["sentences"]) == len(s["labels"]) for s in sets)


def test_retrieval_and_reranking_follow_the_statistics(generated):
    fever = stats("Retrieval", "FEVER")
    queries, docs = scaled(fever["num_queries"], 8), scaled(fever["num_documents"], 8)
    corpus = rows(generated / "mteb/fever/corpus.jsonl.gz")
    assert len(corpus) == docs and len(rows(generated / "mteb/fever/queries.jsonl.gz")) == queries
    lengths = [len(d["text"]) for d in corpus]
    text = fever["documents_text_statistics"]
    assert (min(lengths), max(lengths)) == (text["min_text_length"], text["max_text_length"])
    assert sum(lengths) / len(lengths) == pytest.approx(text["average_text_length"], rel=0.01)
    qrels = rows(generated / "mteb/fever/qrels/test.jsonl.gz")
    relevant = fever["relevant_docs_statistics"]
    assert len(qrels) == round(relevant["average_relevant_docs_per_query"] * queries)
    per_query = Counter(q["query-id"] for q in qrels)
    assert len(per_query) == queries and max(per_query.values()) <= relevant["max_relevant_docs_per_query"]

    ubuntu = stats("Reranking", "AskUbuntuDupQuestions")
    queries, docs = scaled(ubuntu["num_queries"], 8), scaled(ubuntu["num_documents"], 8)
    folder = generated / "mteb/AskUbuntuDupQuestions"
    assert len(rows(folder / "corpus.jsonl.gz")) == docs and len(rows(folder / "queries.jsonl.gz")) == queries
    top = rows(folder / "top_ranked/test.jsonl.gz")
    assert len(top) == queries and {len(t["corpus-ids"]) for t in top} == {min(docs, 20)}
    qrels = rows(folder / "qrels/test.jsonl.gz")  # every candidate judged, the positives with 1
    assert len(qrels) == sum(len(t["corpus-ids"]) for t in top)
    assert sum(q["score"] for q in qrels) == round(ubuntu["relevant_docs_statistics"]["average_relevant_docs_per_query"]
                                                   * queries)


def test_a_stand_in_s_size_is_counted_in_the_texts_it_evaluates(generated):
    """A fraction's stand-in is more than the fraction of the whole where the floors apply (Banking77: 2 rows for
    each of its 77 labels); its size is counted in its files: the evaluated split's texts, not the classifier's
    training rows, not ids, not (string) labels, not judgements."""
    banking = rows(generated / "mteb/banking77/test.jsonl.gz")
    assert fullsize.standin_size(generated / "mteb/banking77") == (len(banking), sum(len(r["text"]) for r in banking))
    assert len(banking) > 10 * round(stats("Classification", "Banking77Classification")["num_samples"] * FRACTION)
    sets = rows(generated / "mteb/twentynewsgroups-clustering/test.jsonl.gz")
    sentences = [t for s in sets for t in s["sentences"]]
    assert fullsize.standin_size(generated / "mteb/twentynewsgroups-clustering") == (
        len(sentences), sum(map(len, sentences)))
    fever = [r["text"] for name in ("corpus", "queries") for r in rows(generated / f"mteb/fever/{name}.jsonl.gz")]
    assert fullsize.standin_size(generated / "mteb/fever") == (len(fever), sum(map(len, fever)))


def test_summarization_has_summeval_columns(generated):
    summeval = stats("Summarization", "SummEval")
    got = rows(generated / "mteb/summeval/test.jsonl.gz")
    human = round(summeval["human_summaries_statistics"]["total_text_length"]
                  / summeval["human_summaries_statistics"]["average_text_length"] / summeval["num_samples"])
    assert len(got) == scaled(summeval["num_samples"], 8) and human == 11
    for row in got:
        assert len(row["human_summaries"]) == human and len(row["machine_summaries"]) == len(row["relevance"]) == 16
        assert all(1 <= r <= 5 for r in row["relevance"])


def test_fever_and_climatefever_share_one_corpus_file(generated, tmp_path):
    shared = generated / "_shared" / "fever-wikipedia.jsonl.gz"
    for repo in ("mteb/fever", "mteb/climate-fever"):
        link = generated / repo / "corpus.jsonl.gz"
        assert link.is_symlink() and link.resolve() == shared.resolve()
        assert "corpus.jsonl.gz" in (generated / repo / "README.md").read_text()
    assert not [p for repo in ("mteb/fever", "mteb/climate-fever") for p in (generated / repo).rglob("*")
                if p.is_file() and not p.is_symlink() and "corpus" in p.name]

    # alone, ClimateFEVER still writes the shared corpus, plus its own 25 more documents (scaled)
    fraction = 0.02
    fullsize.generate(["ClimateFEVER"], tmp_path, fraction)
    base = scaled(stats("Retrieval", "FEVER")["num_documents"], 8, fraction)
    extra = scaled(stats("Retrieval", "ClimateFEVER")["num_documents"], 8, fraction) - base
    assert len(rows(tmp_path / "_shared/fever-wikipedia.jsonl.gz")) == base and extra == 1
    assert [r["_id"] for r in rows(tmp_path / "mteb/climate-fever/corpus-extra.jsonl.gz")] == [f"d{base}"]
    assert not (tmp_path / "mteb" / "fever").exists()


def test_the_same_seed_writes_the_same_bytes(generated, tmp_path):
    fullsize.generate(TASKS, tmp_path / "again", FRACTION, seed=0)
    assert digests(tmp_path / "again") == digests(generated)
    fullsize.generate(["SummEval"], tmp_path / "other", FRACTION, seed=1)
    summeval = "mteb/summeval/test.jsonl.gz"
    assert digests(tmp_path / "other")[summeval] != digests(generated)[summeval]


def test_output_never_goes_into_the_repository():
    with pytest.raises(ValueError, match="lies inside"):
        fullsize.generate(["SummEval"], ROOT / "results" / "fullsize", FRACTION)


def test_the_harness_runs_mteb_on_every_type(generated, glove, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    runner = Runner(ResultStore(tmp_path / "results"), Mirrors(data_dir=generated), loader=lambda spec, m: glove,
                    progress=False)
    report = runner.run([registry.get("GloVe_6B_50d")], Catalogue().select(TASKS))
    for cell in report.cells:
        assert cell.status == "done", f"{cell.task}: {cell.error}"
        assert math.isfinite(cell.score)
    assert [c.task for c in report.cells] == TASKS
