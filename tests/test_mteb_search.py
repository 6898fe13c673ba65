"""The harness's full-corpus search (`harness.tasks.mteb_search`) against mteb's own `SearchEncoderWrapper`:
the same result, element for element and in the same order, on real data cut into many chunks."""

from __future__ import annotations

import datasets
import mteb
import pytest
from mteb.models.search_wrappers import SearchEncoderWrapper

from harness.tasks.mteb_search import CorpusSearch
from harness.tasks.mteb_tasks import MtebEncoder, with_local_data


@pytest.fixture(scope="module")
def scifact(mirrors):
    task, _ = with_local_data(mteb.get_task("SciFact", eval_splits=["test"]), mirrors)
    task.load_data()
    return task, task.dataset["default"]["test"]


def _search(searcher, task, split, top_k: int, queries=None):
    common = dict(task_metadata=task.metadata, hf_split="test", hf_subset="default", encode_kwargs={"batch_size": 32})
    searcher.index(split["corpus"], **common, num_proc=None)
    return searcher.search(queries if queries is not None else split["queries"], **common, top_k=top_k,
                           top_ranked=None, num_proc=None)


def _as_lists(result: dict[str, dict[str, float]]) -> list:
    return [(qid, list(docs.items())) for qid, docs in result.items()]


@pytest.mark.parametrize("top_k, chunk", [(1000, 400), (10, 250), (3, 5183)])
def test_the_search_gives_mteb_s_result_in_mteb_s_order(scifact, glove, top_k, chunk):
    task, split = scifact
    model = MtebEncoder(glove)
    expected = _search(SearchEncoderWrapper(model, corpus_chunk_size=chunk), task, split, top_k)
    got = _search(CorpusSearch(model, corpus_chunk_size=chunk), task, split, top_k)
    assert len(got) == 300 and all(len(docs) == min(top_k, 5183) for docs in got.values())
    assert _as_lists(got) == _as_lists(expected)


def test_ties_and_a_query_given_twice_end_as_in_mteb(scifact, glove):
    """Every document three times (ties at every heap boundary) and a query id twice (one shared heap)."""
    task, split = scifact
    corpus = split["corpus"]
    tripled = datasets.concatenate_datasets([corpus, corpus, corpus])
    tripled = tripled.add_column("n", list(range(len(tripled)))).map(
        lambda row: {"id": f"{row['id']}-{row['n'] % 3}"}).remove_columns("n")
    queries = split["queries"].select(range(40))
    queries = datasets.concatenate_datasets([queries, queries.select([0])])
    model = MtebEncoder(glove)
    doubled = {**split, "corpus": tripled}
    expected = _search(SearchEncoderWrapper(model, corpus_chunk_size=700), task, doubled, 7, queries)
    got = _search(CorpusSearch(model, corpus_chunk_size=700), task, doubled, 7, queries)
    assert len(got) == 40
    assert _as_lists(got) == _as_lists(expected)


def test_document_texts_are_those_mteb_s_loader_prepares(scifact):
    """A corpus's texts as `document_texts` reads them equal the `text` column of mteb's `create_dataloader` for
    documents: SciFact's real titled corpus, and rows with an empty, blank or missing title and padded texts."""
    from mteb._create_dataloaders import create_dataloader
    from mteb.types import PromptType

    from harness.tasks.mteb_search import document_texts, text_loader

    task, split = scifact
    odd = datasets.Dataset.from_dict({
        "id": ["a", "b", "c", "d", "e"], "title": ["", "\t", "  T ", "T\u2003", "x"],
        "text": ["  body ", "\x1cbody\x1c", "body", "\u2003 b\n", ""]})
    for corpus in (split["corpus"], odd, odd.remove_columns("title")):
        expected = create_dataloader(corpus, task_metadata=task.metadata, prompt_type=PromptType.document).dataset
        ids, texts = document_texts(corpus)
        assert ids == expected["id"] and texts == expected["text"]
        loaded = [text for batch in text_loader(ids, texts, 32) for text in batch["text"]]
        assert loaded == texts
    assert document_texts(odd)[1] == ["body", "body", "T  body", "T\u2003 \u2003 b", "x"]


@pytest.mark.parametrize("crowded", [0, None])
def test_chunk_candidates_are_topk_s_above_each_floor_in_topk_s_order(monkeypatch, crowded):
    """Rows of every kind: clear ones (distinct scores above the floor, fewer or more than k), ties above the floor,
    NaN scores, a NaN floor, none above; k from 1 to the whole chunk. What a row keeps at or above its floor is
    `torch.topk`'s, in its order; the rest is -inf or the row is topk's own; the best `top_k` merged with it are
    unchanged; and only the rows that are not clear go through topk. `crowded` 0: no chunk is left to topk whole."""
    import torch

    from harness.tasks import mteb_search
    from harness.tasks.mteb_search import chunk_candidates

    if crowded is not None:
        monkeypatch.setattr(mteb_search, "CROWDED", crowded)

    real_topk = torch.topk
    generator = torch.Generator().manual_seed(7)
    scores = torch.round(torch.rand(64, 300, generator=generator) * 200) / 200  # ties in most rows' tops
    scores[:16] = torch.rand(16, 300, generator=generator)  # distinct scores
    scores[5, 17] = scores[5, 230] = scores[5, 4] = float("nan")
    for k in (1, 5, 40, 300):
        expected = torch.topk(scores, k, dim=1, largest=True)
        top_k = max(1, k - 1)
        best = torch.sort(torch.rand(64, top_k, generator=generator) * 0.1 + 0.9, dim=1, descending=True).values
        best[8] = 0.0  # every score clears the floor: more candidates than k (unless k is the whole chunk)
        best[9] = 2.0  # none does
        best[10, -1] = float("nan")
        floor = best[:, -1:]
        taken = []  # rows given to torch.topk
        monkeypatch.setattr(torch, "topk", lambda rows, *a, **kw: taken.append(len(rows)) or real_topk(rows, *a, **kw))
        values, positions = chunk_candidates(scores, k, floor)
        monkeypatch.setattr(torch, "topk", real_topk)
        clear = 0
        for row in range(64):
            kept = ~(expected.values[row] < floor[row])
            want = list(zip(expected.values[row][kept].nan_to_num(7.0).tolist(), expected.indices[row][kept].tolist()))
            mine = ~(values[row] < floor[row])
            got = list(zip(values[row][mine].nan_to_num(7.0).tolist(), positions[row][mine].tolist()))
            assert got == want, (k, row)
            assert torch.all(values[row][~mine] == float("-inf")) or (  # left out, or the row is topk's own
                torch.equal(values[row].nan_to_num(7.0), expected.values[row].nan_to_num(7.0))
                and torch.equal(positions[row], expected.indices[row]))
            above = scores[row][~(scores[row] < floor[row])]
            clear += int(len(set(above.tolist())) == len(above) and not torch.isnan(above).any()
                         and not torch.isnan(floor[row]).any())
        assert sum(taken) == 64 - clear or (crowded is None and taken == [64]), (k, taken)  # [64]: the whole chunk
        assert 0 < clear < 64
        merged = torch.topk(torch.cat([best, values], dim=1), top_k, dim=1).values
        assert torch.equal(merged.nan_to_num(7.0), torch.topk(torch.cat([best, expected.values], dim=1), top_k,
                                                               dim=1).values.nan_to_num(7.0))
    values, positions = chunk_candidates(scores, 40, None)
    expected = torch.topk(scores, 40, dim=1)
    assert torch.equal(values.nan_to_num(7.0), expected.values.nan_to_num(7.0)) and torch.equal(positions,
                                                                                                  expected.indices)
