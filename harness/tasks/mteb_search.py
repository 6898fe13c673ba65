"""Full-corpus retrieval with mteb's own search, minus the heap pushes that cannot change a heap.

mteb's `SearchEncoderWrapper` searches a corpus chunk by chunk (`corpus_chunk_size` documents): it encodes the
chunk, scores it against every query, takes each query's `top_k + 1` best of the chunk with `torch.topk`, and
pushes every one of them, in Python, through that query's heap of the `top_k` best `(score, document id)` pairs.
With thousands of queries over millions of documents that loop is most of the cell: FEVER's 6,666 queries ×
1,001 candidates × 109 chunks are 730 million pushes.

`search_corpus` runs the same chunks through the same encoder calls, the same similarity and the same `torch.topk`,
and pushes the same candidates in the same order into the same heaps, leaving out only the pushes that are no-ops:
once a heap holds `top_k` pairs, a candidate scoring below the heap's smallest score leaves `heapq.heappushpop`
without effect, and that smallest score is the `top_k`-th best score of every candidate so far, which a running
`torch.topk` over the queries' best scores tracks without Python. A candidate that ties with it is pushed, as
mteb would. The heaps end identical, element for element, so the result (a dict per query, in heap order) and
every metric computed from it are mteb's, bit for bit; tests/test_mteb_search.py compares the two on real data
cut into many chunks. After the first chunks few candidates beat a full heap: about `top_k` × (1 + ln chunks)
pushes per query are left (FEVER: ~6,000 instead of 109,000).

The stages of successive chunks overlap: while a chunk is encoded, the next one's texts are prepared in one thread
and the chunk before is scored against the queries (similarity and `torch.topk`) in another, on the same number of
torch threads as the cell's own (a new thread takes torch's setting), so the scores are the same; its candidates go
into the heaps in chunk order, once this chunk is encoded. With thousands of queries the scoring is a large share of
a chunk's time (FEVER: 6,666 queries x 50,000 documents a chunk), and a static model's cell keeps torch on one thread.

Reranking (a split with `top_ranked` documents) is left to mteb's `SearchEncoderWrapper` unchanged.
"""

from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SEARCH_K_OFFSET = 1
"""Candidates per query and chunk beyond `top_k`, as `SearchEncoderWrapper._full_corpus_search` takes them."""


def column_values(dataset, name: str) -> list:
    """A `datasets.Dataset` column as a list, read from Arrow in one piece (`list(dataset[name])` reads it row by
    row: a third of a second per 50,000 ids)."""
    return dataset.select_columns([name]).with_format("arrow")[:][name].to_pylist()


def document_texts(corpus) -> tuple[list[str], list[str]]:
    """The ids and texts of a text corpus's documents as mteb's `create_dataloader` prepares them: mteb's own
    per-row function (`_corpus_to_dict`: title and text joined, stripped) applied to plain rows read from Arrow
    in one piece, without `Dataset.map`'s row formatting and Arrow writing around it (most of the preparation's
    time, which holds the interpreter while the documents before are encoded)."""
    from mteb._create_dataloaders import _corpus_to_dict

    names = [name for name in ("id", "title", "text") if name in corpus.column_names]
    table = corpus.select_columns(names).with_format("arrow")[:]
    columns = [table[name].to_pylist() for name in names]
    return columns[0], [_corpus_to_dict(dict(zip(names, row)))["text"] for row in zip(*columns)]


def text_loader(ids: list[str], texts: list[str], batch_size: int):
    """A loader of prepared texts, as `create_dataloader` returns one (the dataset's `text` column, mteb's collate
    function)."""
    import datasets
    from mteb._create_dataloaders import _custom_collate_fn
    from torch.utils.data import DataLoader

    return DataLoader(datasets.Dataset.from_dict({"id": ids, "text": texts}), batch_size=batch_size,
                      collate_fn=_custom_collate_fn, shuffle=False)


def search_corpus(*, task_corpus, corpus_chunk_size: int, query_ids: list[str], query_embeddings, task_metadata,
                  hf_split: str, hf_subset: str, top_k: int, encode_kwargs: dict, encode_fn, similarity_fn,
                  num_proc: int | None = None) -> dict[str, list[tuple[float, str]]]:
    """Each query's heap of its `top_k` best `(score, document id)` pairs over `task_corpus`, exactly as mteb's
    `chunked_full_corpus_search` leaves it."""
    import torch
    from mteb._create_dataloaders import create_dataloader
    from mteb.types import PromptType

    batch_size = encode_kwargs.get("batch_size", 32)
    text_only = task_metadata.get_modalities(PromptType.document) == ["text"]

    def prepare(start: int):
        """A chunk's document ids and a loader of its texts as mteb prepares them."""
        chunk = task_corpus.select(range(start, min(start + corpus_chunk_size, len(task_corpus))))
        if text_only:
            ids, texts = document_texts(chunk)
            return ids, text_loader(ids, texts, batch_size)
        return column_values(chunk, "id"), create_dataloader(
            chunk, task_metadata=task_metadata, prompt_type=PromptType.document, batch_size=batch_size,
            num_proc=num_proc)

    heaps: dict[str, list[tuple[float, str]]] = {qid: [] for qid in query_ids}
    best = None  # each query's best scores of all candidates so far, at most top_k, descending

    def score(embeddings):
        """A chunk's `top_k + 1` best candidates per query: mteb's similarity and `torch.topk`."""
        scores = torch.as_tensor(similarity_fn(query_embeddings, embeddings))
        return torch.topk(scores, min(top_k + SEARCH_K_OFFSET, scores.shape[1]), dim=1, largest=True)

    def push(values, positions, chunk_ids):
        """A scored chunk's candidates into the heaps, leaving out those that cannot change a full heap."""
        nonlocal best
        if best is not None and best.shape[1] == top_k:  # every heap is full: only a score >= its smallest counts
            # (a query id given twice shares one heap, as in mteb, whose smallest is no lower than either's)
            rows, cols = torch.nonzero(~(values < best[:, -1:]), as_tuple=True)  # NaN is kept, as a push would
        else:
            rows, cols = torch.nonzero(torch.ones_like(values, dtype=torch.bool), as_tuple=True)
        merged = values if best is None else torch.cat([best, values], dim=1)
        best = torch.topk(merged, min(top_k, merged.shape[1]), dim=1, largest=True).values
        # row-major order: query by query, each query's candidates in topk order, as mteb's loop goes
        for row, position, value in zip(rows.tolist(), positions[rows, cols].tolist(), values[rows, cols].tolist()):
            heap = heaps[query_ids[row]]
            if len(heap) < top_k:
                heapq.heappush(heap, (value, chunk_ids[position]))
            else:
                heapq.heappushpop(heap, (value, chunk_ids[position]))

    starts = range(0, len(task_corpus), corpus_chunk_size)
    # Three stages at once: the next chunk prepared, this chunk encoded, the chunk before scored against the queries
    # (torch on the cell's threads, as in this thread: the same scores), its candidates pushed in chunk order.
    with ThreadPoolExecutor(1, thread_name_prefix="next-chunk") as ahead, \
            ThreadPoolExecutor(1, thread_name_prefix="scoring") as scorer:
        coming = ahead.submit(prepare, starts[0]) if starts else None
        scoring = None  # the chunk before: its scoring and its document ids
        for number in range(len(starts)):
            chunk_ids, loader = coming.result()
            if number + 1 < len(starts):
                coming = ahead.submit(prepare, starts[number + 1])
            embeddings = encode_fn(loader, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                   prompt_type=PromptType.document, **encode_kwargs)
            if scoring is not None:
                push(*scoring[0].result(), scoring[1])
            scoring = scorer.submit(score, embeddings), chunk_ids
            del embeddings
        if scoring is not None:
            push(*scoring[0].result(), scoring[1])
    return heaps


class CorpusSearch:
    """mteb's `SearchProtocol` for an encoder: full-corpus search by `search_corpus`, reranking by mteb's
    `SearchEncoderWrapper`. The corpus is encoded while searching, chunk by chunk, as mteb does."""

    def __init__(self, model, corpus_chunk_size: int | None = None):
        from mteb.models.search_wrappers import SearchEncoderWrapper

        self.model = model
        self.wrapper = (SearchEncoderWrapper(model) if corpus_chunk_size is None
                        else SearchEncoderWrapper(model, corpus_chunk_size=corpus_chunk_size))
        self.mteb_model_meta = model.mteb_model_meta

    def index(self, corpus, *, task_metadata, hf_split: str, hf_subset: str, encode_kwargs: dict,
              num_proc: int | None = None, **kwargs: Any) -> None:
        self.wrapper.index(corpus, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                           encode_kwargs=encode_kwargs, num_proc=num_proc, **kwargs)

    def search(self, queries, *, task_metadata, hf_split: str, hf_subset: str, top_k: int, encode_kwargs: dict,
               top_ranked=None, num_proc: int | None = None, **kwargs: Any) -> dict[str, dict[str, float]]:
        from mteb._create_dataloaders import create_dataloader
        from mteb.types import PromptType

        if top_ranked is not None:
            return self.wrapper.search(queries, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                       top_k=top_k, encode_kwargs=encode_kwargs, top_ranked=top_ranked,
                                       num_proc=num_proc, **kwargs)
        corpus = self.wrapper.task_corpus
        if corpus is None:
            raise ValueError("Corpus must be indexed before searching.")
        loader = create_dataloader(queries, task_metadata=task_metadata, prompt_type=PromptType.query,
                                   num_proc=num_proc, **encode_kwargs)
        query_embeddings = self.model.encode(loader, task_metadata=task_metadata, hf_split=hf_split,
                                             hf_subset=hf_subset, prompt_type=PromptType.query, **encode_kwargs)
        heaps = search_corpus(task_corpus=corpus, corpus_chunk_size=self.wrapper.corpus_chunk_size,
                              query_ids=column_values(queries, "id"), query_embeddings=query_embeddings,
                              task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset, top_k=top_k,
                              encode_kwargs=encode_kwargs, encode_fn=self.model.encode,
                              similarity_fn=self.model.similarity, num_proc=num_proc)
        self.wrapper.task_corpus = None
        return {qid: {corpus_id: score for score, corpus_id in heap} for qid, heap in heaps.items()}
