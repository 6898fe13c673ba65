"""Full-corpus retrieval with mteb's own search, minus the heap pushes that cannot change a heap.

mteb's `SearchEncoderWrapper` searches a corpus chunk by chunk (`corpus_chunk_size` documents): it encodes the
chunk, scores it against every query, takes each query's `top_k + 1` best of the chunk with `torch.topk`, and
pushes every one of them, in Python, through that query's heap of the `top_k` best `(score, document id)` pairs.
With thousands of queries over millions of documents that loop is most of the cell: FEVER's 6,666 queries ×
1,001 candidates × 109 chunks are 730 million pushes.

`search_corpus` runs the same chunks through the same encoder calls and the same similarity, and pushes the same
candidates in the same order into the same heaps, leaving out only the pushes that are no-ops: once a heap holds
`top_k` pairs, a candidate scoring below the heap's smallest score leaves `heapq.heappushpop` without effect, and
that smallest score is the `top_k`-th best score of every candidate so far, which a running `torch.topk` over the
queries' best scores tracks without Python. A candidate that ties with it is pushed, as mteb would. The heaps end
identical, element for element, so the result (a dict per query, in heap order) and every metric computed from it
are mteb's, bit for bit; tests/test_mteb_search.py compares the two on real data cut into many chunks. After the
first chunks few candidates beat a full heap: about `top_k` × (1 + ln chunks) pushes per query are left (FEVER:
~6,000 instead of 109,000).

For the same reason a chunk's `torch.topk` over every document is needed only where a comparison cannot stand in
for it (`chunk_candidates`): a query whose scores at or above that floor are distinct and not NaN gets the best
`top_k + 1` of them in order of score, which is the order `torch.topk` pushes them in; the scores below the floor
are no-ops it leaves out. Other queries (ties, whose order is topk's own; NaN) go through `torch.topk`, as does a
whole chunk while many scores still clear the floors. With thousands of queries that is most of the scoring's
time saved (HotpotQA: 7,405 queries x 50,000 documents a chunk: 3.4 s of topk, ~1 s of comparisons).

The stages of successive chunks overlap, each in its own thread: while a chunk is encoded, the next one's texts are
prepared, the chunk before is scored against the queries (similarity and candidates), on the same number of torch
threads as the cell's own (a new thread takes torch's setting), so the scores are the same, and the chunk before
that is pushed into the heaps, in chunk order. With thousands of queries the scoring and the pushes are a large
share of a chunk's time (FEVER: 6,666 queries x 50,000 documents a chunk), and a static model's cell keeps torch
on one thread.

Reranking (a split with `top_ranked` documents) is left to mteb's `SearchEncoderWrapper` unchanged.
"""

from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor
from typing import Any

SEARCH_K_OFFSET = 1
"""Candidates per query and chunk beyond `top_k`, as `SearchEncoderWrapper._full_corpus_search` takes them."""


CHUNKS_BEHIND = 2
"""Encoded chunks not yet pushed into the heaps beyond which the next chunk's encoding waits (their candidates are
held meanwhile: memory stays bounded)."""
PUSH_SLICE = 1 << 18
"""Candidates read into Python objects at a time to be pushed."""
CROWDED = 4
"""A chunk whose scores at or above the floors number more than 1/CROWDED of `torch.topk`'s output is left to it."""
ROW_BLOCK = 1024
"""Queries compared with their floor, or copied for `torch.topk`, at a time (a block of this many rows by the chunk's
documents)."""


def chunk_candidates(scores, k: int, floor):
    """Each row's candidates among `scores` as `torch.topk(scores, k, dim=1)` gives them (values, positions; in
    its order), except that scores below the row's `floor` may be left out (as -inf at position 0, after the
    others). With `floor` the `top_k`-th best score of every candidate so far (None: the heaps are not full, and
    this is `torch.topk`), what is left out are pushes that leave a full heap unchanged and values that cannot
    enter the best `top_k`.

    A row whose scores at or above its floor are none NaN and none equal to another needs no `torch.topk`: the `k`
    best of them in order of score are topk's, in its order. Any other row (a NaN, a tie, whose order is topk's
    own; a NaN floor) is taken by `torch.topk`, row by row the same as over the whole chunk. After the first chunks
    few scores clear the floor, and the comparison costs a fraction of `torch.topk` over every document (HotpotQA:
    7,405 queries by 50,000 documents a chunk, 1 s against 3.4 s); while many do, the whole chunk is topk's."""
    import torch

    if floor is None:
        return torch.topk(scores, k, dim=1, largest=True)
    rows, cols = [], []  # row-major, as torch.nonzero gives them
    for start in range(0, scores.shape[0], ROW_BLOCK):
        r, c = torch.nonzero(~(scores[start:start + ROW_BLOCK] < floor[start:start + ROW_BLOCK]), as_tuple=True)
        rows.append(r + start)
        cols.append(c)
    rows, cols = torch.cat(rows), torch.cat(cols)
    if rows.numel() * CROWDED > scores.shape[0] * k:  # the first chunks after the heaps fill: topk costs less
        return torch.topk(scores, k, dim=1, largest=True)
    counts = torch.bincount(rows, minlength=scores.shape[0])
    width = max(1, int(counts.max()) if rows.numel() else 0)
    rank = torch.arange(rows.numel()) - (torch.cumsum(counts, 0) - counts)[rows]
    found = torch.full((scores.shape[0], width), float("-inf"), dtype=scores.dtype)
    found[rows, rank] = scores[rows, cols]
    where = torch.zeros((scores.shape[0], width), dtype=torch.long)
    where[rows, rank] = cols
    found, order = torch.sort(found, dim=1, descending=True)  # each row's candidates best first, -inf after
    where = torch.gather(where, 1, order)
    tied = (found[:, 1:] == found[:, :-1]) & (found[:, 1:] > float("-inf"))
    ambiguous = torch.isnan(floor[:, 0]) | torch.isnan(found).any(dim=1) | tied.any(dim=1)
    values = torch.full((scores.shape[0], k), float("-inf"), dtype=scores.dtype)
    positions = torch.zeros((scores.shape[0], k), dtype=torch.long)
    values[:, :min(width, k)] = found[:, :k]
    positions[:, :min(width, k)] = where[:, :k]
    redo = torch.nonzero(ambiguous, as_tuple=True)[0]
    for start in range(0, redo.numel(), ROW_BLOCK):  # a block of rows copied at a time, not all of them at once
        block = redo[start:start + ROW_BLOCK]
        values[block], positions[block] = torch.topk(scores[block], k, dim=1, largest=True)
    return values, positions


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

    def floor_of(best):
        """Each query's `top_k`-th best score so far, once every heap is full (None before)."""
        return best[:, -1:] if best is not None and best.shape[1] == top_k else None

    def score(embeddings):
        """A chunk's candidates per query, as `torch.topk` of mteb's similarity gives its `top_k + 1` best, but for
        those below each query's `top_k`-th best score so far (`chunk_candidates`)."""
        scores = torch.as_tensor(similarity_fn(query_embeddings, embeddings))
        floor = floor_of(best)  # read once: the pushes of the chunks before may raise it meanwhile, never lower it
        return chunk_candidates(scores, min(top_k + SEARCH_K_OFFSET, scores.shape[1]), floor)

    def push(values, positions, chunk_ids):
        """A scored chunk's candidates into the heaps, leaving out those that cannot change a full heap."""
        nonlocal best
        floor = floor_of(best)
        if floor is not None:  # every heap is full: only a score >= its smallest counts
            # (a query id given twice shares one heap, as in mteb, whose smallest is no lower than either's)
            rows, cols = torch.nonzero(~(values < floor), as_tuple=True)  # NaN is kept, as a push would
        else:
            rows, cols = torch.nonzero(torch.ones_like(values, dtype=torch.bool), as_tuple=True)
        merged = values if best is None else torch.cat([best, values], dim=1)
        best = torch.topk(merged, min(top_k, merged.shape[1]), dim=1, largest=True).values
        # row-major order: query by query, each query's candidates in topk order, as mteb's loop goes; read into
        # Python a slice at a time (the first chunk's are every query's top_k + 1, beside the next chunk's scores)
        for start in range(0, rows.numel(), PUSH_SLICE):
            r, c = rows[start:start + PUSH_SLICE], cols[start:start + PUSH_SLICE]
            for row, position, value in zip(r.tolist(), positions[r, c].tolist(), values[r, c].tolist()):
                heap = heaps[query_ids[row]]
                if len(heap) < top_k:
                    heapq.heappush(heap, (value, chunk_ids[position]))
                else:
                    heapq.heappushpop(heap, (value, chunk_ids[position]))

    starts = range(0, len(task_corpus), corpus_chunk_size)
    # Four stages at once, each in its own thread: the next chunk prepared, this chunk encoded, the chunk before
    # scored against the queries (torch on the cell's threads, as in this thread: the same scores), and the chunk
    # before that pushed into the heaps (Python), the pushes in chunk order.
    with ThreadPoolExecutor(1, thread_name_prefix="next-chunk") as ahead, \
            ThreadPoolExecutor(1, thread_name_prefix="scoring") as scorer, \
            ThreadPoolExecutor(1, thread_name_prefix="pushing") as pusher:
        coming = ahead.submit(prepare, starts[0]) if starts else None
        behind: list = []  # the pushes not done yet, in chunk order (each waits for its chunk's scoring)
        for number in range(len(starts)):
            chunk_ids, loader = coming.result()
            if number + 1 < len(starts):
                coming = ahead.submit(prepare, starts[number + 1])
            embeddings = encode_fn(loader, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                   prompt_type=PromptType.document, **encode_kwargs)
            while len(behind) >= CHUNKS_BEHIND:  # bounded memory: a chunk's scores wait for at most this many
                behind.pop(0).result()
            scoring = scorer.submit(score, embeddings)
            behind.append(pusher.submit(lambda scoring=scoring, ids=chunk_ids: push(*scoring.result(), ids)))
            del embeddings, scoring
        for pushing in behind:
            pushing.result()
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
