"""Synthetic full-size stand-ins of the MTEB(eng, v1) datasets, laid out by the mirror rule, to time the harness.

Every dataset the harness runs gets a folder `<out>/<hub repo id>/` that mteb's own loader reads as it reads the
hub repo (configs, splits and columns of the task's type), so `harness run --data-dir <out>` evaluates the real
mteb tasks on it. Shapes come from mteb's descriptive statistics (`task.metadata.descriptive_stats`): rows per
split, labels and their counts, text lengths (min, mean, max), unique texts, relevant documents per query and
reranking candidates. Texts are random words of a fixed English vocabulary, so scores on them mean nothing; time
and memory do. `--fraction F` scales every count by F (at least MIN_ROWS rows, MIN_PER_LABEL per label) for quick
runs and for extrapolation. Output is deterministic for a seed: gzip'd JSON Lines without name and with mtime 0,
written in chunks, so memory stays bounded however large the dataset.

    .venv/bin/python bench/fullsize.py --out /tmp/fullsize [--fraction 0.01] [--seed 0] [--tasks NAME...]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from harness.plan import SPLIT_QUERIES
from harness.tasks.shared_corpora import SHARED_CORPORA

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_ROWS = 8
"""Fewest rows a scaled count keeps (documents, queries, pairs, texts, cluster set size), unless it has fewer."""
MIN_PER_LABEL = 2
"""Fewest rows each label keeps when scaled (classification, clustering, pair classification)."""
CHUNK = 4096
"""Rows built in memory at a time."""
CLUSTER_SETS = {
    "ArxivClusteringP2P": 31, "ArxivClusteringS2S": 31, "BiorxivClusteringP2P": 10, "BiorxivClusteringS2S": 10,
    "MedrxivClusteringP2P": 10, "MedrxivClusteringS2S": 10, "RedditClustering": 25, "RedditClusteringP2P": 10,
    "StackExchangeClustering": 25, "StackExchangeClusteringP2P": 10, "TwentyNewsgroupsClustering": 10,
}
"""Rows (cluster sets) of the v1 clustering datasets, each evaluated on its own. The statistics count only the
sentences of all sets together; these are the lengths of `v_measures` in published mteb results."""
DEFAULT_CLUSTER_SETS = 10
SUBQUERIES = {"MindSmallReranking": 32}
"""Queries that are subqueries of one impression: ids `<impression>_<k>`, same candidates and qrels, scored by
mteb's max_over_subqueries. The statistics count subqueries only, so this group size is assumed (a user's click
history of some 30 titles per impression)."""
SPLIT_SHAPES = {name: {"queries": queries} for name, queries in SPLIT_QUERIES.items()}
"""Counts of the split the harness evaluates where mteb's statistics describe another (`harness.plan.SPLIT_QUERIES`:
MSMARCO's test split, 43 queries, where the statistics are of its dev split's 6,980). (With the dev split's
queries, mteb's per-query merging of each corpus chunk's top 1,000 dominates the cell.)"""
# Tasks whose hub repos hold the same corpus (`SHARED_CORPORA`, the harness's own list): it is written once, in
# `<out>/_shared/<name>.jsonl.gz`, and each task's `corpus.jsonl.gz` links to it; a task whose corpus is larger
# (ClimateFEVER: 25 more documents) gets the rest in `corpus-extra.jsonl.gz`.
VOCABULARY = """
the of and to in is that for it as was with be by on not he this are or his from at which but have an they you
were her she there one all we their can has been if more when will would who so no time people year years
world new first way state school system work life family group part place case week company number point home
water room mother area money story fact month lot right study book eye job word business issue side kind head
house service friend father power hour game line end member law car city community name president team minute
idea kid body information back parent face others level office door health person art war history party result
change morning reason research girl guy moment air teacher force education foot boy age policy process music
market sense nation plan college interest death experience effect class control care field development role
effort rate heart drug show leader light voice wife police mind price report decision son view relationship
town road arm difference value building action model season society tax director position player record paper
space ground form event official matter center couple site project activity star table need court oil
situation cost industry figure street image phone data picture practice piece land product doctor wall patient
worker news test movie north love support technology step baby computer type attention film tree source
organization hair window evidence population energy protein cell gene analysis method network signal query
document cluster question answer search review claim science disease
""".split()
STREAM_WORDS = 200_000
"""Words in the seeded stream that texts are cut from (about 1.2 M characters)."""


def _key(*parts) -> int:
    """A stable 64-bit key for a tuple of names and numbers (Python's `hash` changes between processes)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "little")


def _mix(key: int, values: np.ndarray) -> np.ndarray:
    """splitmix64 of `values` under `key`: uint64 hashes, one per value, a pure function of both."""
    x = values.astype(np.uint64) + np.uint64((key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniform(key: int, values: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1), one per value, a pure function of key and value."""
    return (_mix(key, values) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def scale(n: int, fraction: float, floor: int = MIN_ROWS) -> int:
    """`n` times the fraction rounded half up, at least `floor` (all of `n` when it has fewer)."""
    return n if n <= floor else max(floor, int(n * fraction + 0.5))


@dataclass(frozen=True)
class Spread:
    """Values on [lo, hi] with mean `mean`: a Kumaraswamy(2, b) law (bounded, one mode, closed-form quantiles)."""

    lo: float
    mean: float
    hi: float
    b: float = field(init=False)

    def __post_init__(self):
        m = (self.mean - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.0
        object.__setattr__(self, "b", _kumaraswamy_b(m) if 0 < m < 1 else math.nan)

    def at(self, u: np.ndarray) -> np.ndarray:
        """The quantiles of `u` (uniform in [0, 1))."""
        if math.isnan(self.b):
            return np.full(len(u), self.mean, dtype=np.float64)
        u = np.clip(u, 0.0, np.nextafter(1.0, 0.0))  # a slice's point may round up to 1
        x = np.sqrt(-np.expm1(np.log1p(-u) / self.b))
        return self.lo + (self.hi - self.lo) * x

    def stratified(self, key: int, ids: np.ndarray, n: int) -> np.ndarray:
        """Values of items `ids` out of n: item j takes the quantile of a point in one of n equal slices of [0, 1),
        dealt out by an affine permutation of j, so that the n values have the law's mean even for a few hundred
        items. When the others can keep that mean, the first and last slices hold lo and hi themselves. A pure
        function of (key, j, n)."""
        step = key % n | 1
        while math.gcd(step, n) != 1:
            step += 2
        ids = ids.astype(np.uint64)
        rank = (ids * np.uint64(step) + np.uint64(key >> 40)) % np.uint64(n)
        inner = _inner(self, n)
        if inner is None:
            return self.at((rank + _uniform(key, ids)) / n)
        values = inner.at((np.maximum(rank, 1) - 1 + _uniform(key, ids)) / (n - 2))
        values[rank == 0], values[rank == n - 1] = self.lo, self.hi
        return values


@functools.lru_cache(maxsize=1024)
def _inner(spread: Spread, n: int) -> Spread | None:
    """The law of the n - 2 values between lo and hi that keeps the mean of all n; None when there is none."""
    if n <= 2:
        return None
    mean = (n * spread.mean - spread.lo - spread.hi) / (n - 2)
    return Spread(spread.lo, mean, spread.hi) if spread.lo < mean < spread.hi else None


def _kumaraswamy_b(m: float, a: float = 2.0) -> float:
    """The b of Kumaraswamy(a, b) whose mean is m, by bisection on log b (the mean falls as b grows)."""
    def log_mean(b: float) -> float:
        return math.log(b) + math.lgamma(1 + 1 / a) + math.lgamma(b) - math.lgamma(1 + 1 / a + b)

    lo, hi = math.log(1e-9), math.log(1e15)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if log_mean(math.exp(mid)) > math.log(m) else (lo, mid)
    return math.exp((lo + hi) / 2)


class Words:
    """A seeded stream of English words; a text is a cut of the stream that starts at a word."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(_key("words", seed))
        weights = 1 / (np.arange(len(VOCABULARY)) + 8.0)
        words = [VOCABULARY[i] for i in rng.choice(len(VOCABULARY), size=STREAM_WORDS, p=weights / weights.sum())]
        self.base = " ".join(words)
        self.stream = self.base + " " + self.base  # a cut of up to len(base) characters from any start fits
        self.starts = np.concatenate([[0], np.cumsum([len(w) + 1 for w in words])[:-1]]).astype(np.int64)


@dataclass
class TextColumn:
    """The texts of one column: row i holds unique text `i` for the first `unique` rows, then a repeat of one of
    them, so the column has the statistics' share of duplicates. Text j is a pure function of (key, j): a cut of
    the word stream whose length is `lengths.stratified` of j."""

    key: int
    unique: int
    lengths: Spread
    words: Words

    def texts(self, start: int, stop: int) -> list[str]:
        rows = np.arange(start, stop, dtype=np.uint64)
        unique = np.uint64(self.unique)
        ids = np.where(rows < unique, rows, _mix(self.key ^ 1, rows) % unique)
        lengths = np.rint(self.lengths.stratified(self.key, ids, self.unique)).astype(np.int64)
        lengths = np.clip(lengths, 0, len(self.words.base))
        starts = self.words.starts[(_mix(self.key ^ 2, ids) % np.uint64(len(self.words.starts))).astype(np.int64)]
        stream = self.words.stream
        texts = [stream[a:a + n] for a, n in zip(starts.tolist(), lengths.tolist())]
        # a cut that ends at a space takes the next word's first letter instead (mteb strips texts)
        return [t if not t.endswith(" ") else t[:-1] + stream[a + len(t)] for t, a in zip(texts, starts.tolist())]


def split_stats(task, split: str) -> dict:
    """mteb's statistics of one split of the task's subset. A task without statistics for `split` gets those of
    its only split (MSMARCO: `dev`, whose shape stands for the `test` split the harness runs)."""
    stats = task.metadata.descriptive_stats
    if not stats:
        raise ValueError(f"{task.metadata.name}: mteb ships no descriptive statistics")
    if split not in stats:
        if len(stats) != 1:
            raise ValueError(f"{task.metadata.name}: no statistics for split {split!r} (has {sorted(stats)})")
        split = next(iter(stats))
    per_subset = stats[split].get("hf_subset_descriptive_stats")
    return per_subset[task.hf_subsets[0]] if per_subset else stats[split]


def text_count(text_stats: dict) -> int:
    """Texts behind a text-statistics block (total length over mean length)."""
    return round(text_stats["total_text_length"] / text_stats["average_text_length"])


def label_counts(label_stats: dict, fraction: float) -> tuple[list, list[int]]:
    """Labels (ints when all are integers, as in the hub data) and their scaled counts."""
    labels = label_stats["labels"]
    numeric = all(k.lstrip("-").isdigit() for k in labels)
    values = [int(k) if numeric else k for k in labels]
    return values, [scale(v["count"], fraction, MIN_PER_LABEL) for v in labels.values()]


def allocate(total: int, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer counts, one per unit, between lo and hi, summing to `total` where the bounds allow."""
    hi = np.asarray(hi, dtype=np.int64)
    counts = np.minimum(np.broadcast_to(np.asarray(lo, dtype=np.int64), hi.shape), hi).copy()
    remaining = total - int(counts.sum())
    while remaining > 0:
        room = hi - counts
        open_ = np.flatnonzero(room > 0)
        if not len(open_):
            break
        add = np.minimum(rng.multinomial(remaining, np.full(len(open_), 1 / len(open_))), room[open_])
        counts[open_] += add
        remaining -= int(add.sum())
    return counts


def chunks(n: int, make: Callable[[int, int], list[dict]]) -> Iterator[list[dict]]:
    """Rows 0..n built `CHUNK` at a time by `make(start, stop)`."""
    for start in range(0, n, CHUNK):
        yield make(start, min(n, start + CHUNK))


def write_jsonl(path: Path, row_chunks: Iterable[list[dict]]) -> int:
    """A gzip'd JSON Lines file, reproducible byte for byte (no file name, mtime 0): the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz:
        for block in row_chunks:
            gz.write("".join(json.dumps(row) + "\n" for row in block).encode())
            rows += len(block)
    return rows


class Folder:
    """One generated dataset folder: its files, the configs its README declares, and what was written."""

    def __init__(self, out: Path, repo_id: str):
        self.out = out
        self.root = out / repo_id
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.configs: dict[str, dict[str, list[str]]] = {}
        self.rows: dict[str, int] = {}
        self.bytes = 0

    def declare(self, config: str, split: str, rel: str) -> None:
        self.configs.setdefault(config, {}).setdefault(split, []).append(rel)

    def write(self, config: str, split: str, rel: str, row_chunks: Iterable[list[dict]]) -> None:
        self.rows[rel] = write_jsonl(self.root / rel, row_chunks)
        self.bytes += (self.root / rel).stat().st_size
        self.declare(config, split, rel)

    def link(self, config: str, split: str, rel: str, target: Path, rows: int) -> None:
        """`rel` as a relative link to a file shared with other folders."""
        (self.root / rel).symlink_to(os.path.relpath(target, (self.root / rel).parent))
        self.rows[rel] = rows
        self.declare(config, split, rel)

    def finish(self, task_name: str, fraction: float, seed: int) -> None:
        configs = [{"config_name": name, "data_files": [{"split": split, "path": paths[0] if len(paths) == 1 else paths}
                                                        for split, paths in splits.items()]}
                   for name, splits in self.configs.items()]
        header = yaml.safe_dump({"configs": configs}, sort_keys=False)
        repo = self.root.relative_to(self.out).as_posix()
        (self.root / "README.md").write_text(
            f"---\n{header}---\n\n# {repo} (synthetic stand-in)\n\nSynthetic stand-in of `{repo}` for timing mteb's "
            f"{task_name}: shapes from mteb's descriptive statistics scaled by {fraction}, texts of random words "
            f"(seed {seed}). Scores on it mean nothing. Written by bench/fullsize.py.\n", encoding="utf-8")


@dataclass
class Context:
    """What a type's writer needs: the mteb task, its folder, the scale, the seed and the shared state."""

    task: object
    folder: Folder
    fraction: float
    seed: int
    words: Words
    shared: dict[str, tuple[Path, int]]
    """Shared corpora written by this run: name -> (file, rows)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Retrieval: `documents` and/or `queries` to write instead of the scaled statistics' (a benchmark's shape)."""

    @property
    def name(self) -> str:
        return self.task.metadata.name

    @property
    def subset(self) -> str:
        return self.task.hf_subsets[0]

    @property
    def config(self) -> str:
        return self.subset if self.task.metadata.is_multilingual else "default"

    def file(self, split: str) -> str:
        return f"{self.subset}/{split}.jsonl.gz" if self.task.metadata.is_multilingual else f"{split}.jsonl.gz"

    @property
    def extra(self) -> dict:
        """Columns every row carries: `lang` for tasks that mteb loads all subsets of at once and groups by it."""
        return {"lang": self.subset} if getattr(self.task, "fast_loading", False) else {}

    def stats(self, split: str = "test") -> dict:
        return split_stats(self.task, split)

    def rng(self, *parts) -> np.random.Generator:
        return np.random.default_rng(_key(self.seed, self.name, *parts))

    def text(self, text_stats: dict, rows: int) -> TextColumn:
        """A text column of `rows` rows shaped by `text_stats` (lengths, share of unique texts). Its key comes from
        the statistics, so columns with identical statistics (the texts of MTOPDomain and MTOPIntent, of
        MassiveIntent and MassiveScenario) get identical texts, as in the hub data."""
        unique = max(1, min(rows, scale(text_stats["unique_texts"], self.fraction)))
        lengths = Spread(text_stats["min_text_length"], text_stats["average_text_length"],
                         text_stats["max_text_length"])
        return TextColumn(_key(self.seed, json.dumps(text_stats, sort_keys=True)), unique, lengths, self.words)


def _labelled(ctx: Context, split: str, label_stats: dict, text_stats: dict) -> tuple[int, TextColumn, list]:
    """Rows, texts and the shuffled labels of a labelled split."""
    values, counts = label_counts(label_stats, ctx.fraction)
    n = sum(counts)
    order = ctx.rng(split, "labels").permutation(np.repeat(np.arange(len(values)), counts))
    return n, ctx.text(text_stats, n), [values[i] for i in order.tolist()]


def write_classification(ctx: Context) -> None:
    """`train` and `test` with `text` and `label` (the classifier is trained on `train`)."""
    for split in ("train", "test"):
        stats = ctx.stats(split)
        n, text, labels = _labelled(ctx, split, stats["label_statistics"], stats["text_statistics"])
        ctx.folder.write(ctx.config, split, ctx.file(split), chunks(n, lambda a, b: [
            {"text": t, "label": y, **ctx.extra} for t, y in zip(text.texts(a, b), labels[a:b])]))


def write_clustering(ctx: Context) -> None:
    """mteb's legacy clustering layout: `test` rows are cluster sets, each with lists `sentences` and `labels`."""
    stats = ctx.stats()
    n, text, labels = _labelled(ctx, "test", stats["label_statistics"], stats["text_statistics"])
    sets = max(1, min(CLUSTER_SETS.get(ctx.name, DEFAULT_CLUSTER_SETS), n // MIN_ROWS))
    bounds = np.linspace(0, n, sets + 1).round().astype(int).tolist()
    ctx.folder.write(ctx.config, "test", ctx.file("test"), (
        [{"sentences": text.texts(a, b), "labels": labels[a:b]}] for a, b in zip(bounds[:-1], bounds[1:])))


def write_pair_classification(ctx: Context) -> None:
    """The v1 layout: `test` is one row of lists `sent1`, `sent2`, `labels` (the tasks rename sent1/sent2)."""
    stats = ctx.stats()
    n, first, labels = _labelled(ctx, "test", stats["labels_statistics"], stats["text1_statistics"])
    second = ctx.text(stats["text2_statistics"], n)
    ctx.folder.write(ctx.config, "test", ctx.file("test"),
                     [[{"sent1": first.texts(0, n), "sent2": second.texts(0, n), "labels": labels}]])


def write_sts(ctx: Context) -> None:
    """`test` rows of `sentence1`, `sentence2` and a `score` spread like the statistics' scores."""
    stats = ctx.stats()
    n = scale(stats["num_samples"], ctx.fraction)
    first, second = ctx.text(stats["text1_statistics"], n), ctx.text(stats["text2_statistics"], n)
    label = stats["label_statistics"]
    spread = Spread(label["min_score"], label["avg_score"], label["max_score"])
    scores = np.round(spread.stratified(_key(ctx.seed, ctx.name, "scores"), np.arange(n), n), 3).tolist()
    ctx.folder.write(ctx.config, "test", ctx.file("test"), chunks(n, lambda a, b: [
        {"sentence1": s1, "sentence2": s2, "score": y, **ctx.extra}
        for s1, s2, y in zip(first.texts(a, b), second.texts(a, b), scores[a:b])]))


def write_summarization(ctx: Context) -> None:
    """SummEval's columns: `text`, lists `human_summaries` and `machine_summaries`, and a `relevance` per machine
    summary; summaries per text are the statistics' mean, the texts are scaled."""
    stats = ctx.stats()
    n = scale(stats["num_samples"], ctx.fraction)
    per_human = round(text_count(stats["human_summaries_statistics"]) / stats["num_samples"])
    per_machine = round(text_count(stats["machine_summaries_statistics"]) / stats["num_samples"])
    text = ctx.text(stats["text_statistics"], n)
    human = ctx.text(stats["human_summaries_statistics"], n * per_human)
    machine = ctx.text(stats["machine_summaries_statistics"], n * per_machine)
    score = stats["score_statistics"]
    spread = Spread(score["min_score"], score["avg_score"], score["max_score"])
    relevance = np.round(spread.stratified(_key(ctx.seed, ctx.name, "relevance"), np.arange(n * per_machine),
                                           n * per_machine), 4).tolist()
    ctx.folder.write(ctx.config, "test", ctx.file("test"), chunks(n, lambda a, b: [
        {"id": f"t{i}", "text": t, "human_summaries": human.texts(i * per_human, (i + 1) * per_human),
         "machine_summaries": machine.texts(i * per_machine, (i + 1) * per_machine),
         "relevance": relevance[i * per_machine:(i + 1) * per_machine]}
        for i, t in zip(range(a, b), text.texts(a, b))]))


def corpus_size(task, fraction: float) -> int:
    stats = split_stats(task, "test")
    return scale(stats.get("num_documents") or text_count(stats["documents_text_statistics"]), fraction)


def _corpus_rows(text: TextColumn, first_id: int, n: int) -> Iterator[list[dict]]:
    return chunks(n, lambda a, b: [{"_id": f"d{first_id + i}", "text": t}
                                   for i, t in zip(range(a, b), text.texts(a, b))])


def write_corpus(ctx: Context, docs: int) -> None:
    """The `corpus` config (`_id`, `text`): written here, or linked to the corpus the task shares with others."""
    docs_stats = ctx.stats()["documents_text_statistics"]
    name = SHARED_CORPORA.get(ctx.name)
    if name is None:
        ctx.folder.write("corpus", "corpus", "corpus.jsonl.gz", _corpus_rows(ctx.text(docs_stats, docs), 0, docs))
        return
    import mteb

    members = [mteb.get_task(t, eval_splits=["test"]) for t, shared in SHARED_CORPORA.items() if shared == name]
    smallest = min(members, key=lambda t: corpus_size(t, ctx.fraction))
    if name not in ctx.shared:
        base = corpus_size(smallest, ctx.fraction)
        path = ctx.folder.out / "_shared" / f"{name}.jsonl.gz"
        text = ctx.text(split_stats(smallest, "test")["documents_text_statistics"], base)
        ctx.shared[name] = path, write_jsonl(path, _corpus_rows(text, 0, base))
        ctx.folder.bytes += path.stat().st_size
    path, base = ctx.shared[name]
    ctx.folder.link("corpus", "corpus", "corpus.jsonl.gz", path, base)
    if docs > base:
        ctx.folder.write("corpus", "corpus", "corpus-extra.jsonl.gz",
                         _corpus_rows(ctx.text(docs_stats, docs), base, docs - base))


NOT_TEXT = frozenset({"_id", "id", "query-id", "corpus-id", "corpus-ids", "lang", "label", "labels"})
"""Columns of a stand-in that hold ids or labels (some strings), not texts."""


def standin_size(folder: Path) -> tuple[int, int]:
    """Texts and characters of a stand-in's evaluated data, counted in its files: every split its README declares
    but `train` (a classifier's training rows are not what mteb's statistics count), each text of a list counted (a
    pair of sentences is two texts, where mteb's statistics count one sample; the plan's fits go by characters).
    At a fraction this is the stand-in's true size, more than the fraction of the whole where the floors apply (at
    least 2 rows per label, 8 per split)."""
    header = yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---")[1])
    texts = chars = 0
    for config in header["configs"]:
        for entry in config["data_files"]:
            if entry["split"] == "train":
                continue
            for rel in [entry["path"]] if isinstance(entry["path"], str) else entry["path"]:
                with gzip.open(folder / rel, "rt", encoding="utf-8") as fh:
                    for line in fh:
                        for key, value in json.loads(line).items():
                            values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
                            strings = [] if key in NOT_TEXT else [v for v in values if isinstance(v, str)]
                            texts += len(strings)
                            chars += sum(map(len, strings))
    return texts, chars


def _judgements(ctx: Context, stats: dict, units: int, docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Judged documents and positives per query unit. Reranking judges all its candidates (positives 1, others
    0); retrieval lists only its positives, unless the statistics' min exceeds their mean (older statistics that
    counted 0-scored judgements too: Touche2020, SCIDOCS, TRECCOVID), where min..max is the number judged."""
    rng = ctx.rng("judgements")
    rel, top = stats["relevant_docs_statistics"], stats["top_ranked_statistics"]
    mean = rel["average_relevant_docs_per_query"]
    positives_total = round(mean * units)
    if top:
        judged = allocate(round(top["average_top_ranked_per_query"] * units), top["min_top_ranked_per_query"],
                          np.full(units, min(docs, top["max_top_ranked_per_query"])), rng)
        return judged, allocate(positives_total, 1, judged, rng)
    low, high = rel["min_relevant_docs_per_query"], rel["max_relevant_docs_per_query"]
    if low <= mean:
        positives = allocate(positives_total, low, np.full(units, min(docs, high)), rng)
        return positives, positives
    judged = np.minimum(rng.integers(low, high + 1, units), docs)
    return judged, allocate(positives_total, 1, judged, rng)


def _candidates(ctx: Context, judged: np.ndarray, positives: np.ndarray, docs: int,
                reranking: bool) -> Iterator[tuple[int, list[int], list[int]]]:
    """(unit, document ids, scores) per query unit; the same sequence on every call. Reranking candidates run
    through the corpus in turn (disjoint lists when the corpus is as large as all lists together, as in
    AskUbuntu, SciDocsRR and StackOverflow); retrieval judgements are random distinct documents."""
    rng = ctx.rng("candidates")
    offsets = np.concatenate([[0], np.cumsum(judged)[:-1]]) % max(docs, 1)
    for unit, (n, p, offset) in enumerate(zip(judged.tolist(), positives.tolist(), offsets.tolist())):
        ids = ((offset + np.arange(n)) % docs) if reranking else rng.choice(docs, n, replace=False)
        scores = np.zeros(n, dtype=np.int64)
        scores[rng.choice(n, p, replace=False)] = 1
        yield unit, ids.tolist(), scores.tolist()


def write_retrieval(ctx: Context) -> None:
    """The BEIR layout mteb's RetrievalDatasetLoader reads: `corpus`, `queries` (`_id`, `text`), `default` (qrels:
    `query-id`, `corpus-id`, `score`) and, for reranking, `top_ranked` (`query-id`, `corpus-ids`)."""
    stats = ctx.stats()
    docs = ctx.counts.get("documents") or corpus_size(ctx.task, ctx.fraction)
    queries = ctx.counts.get("queries") or scale(stats.get("num_queries") or text_count(stats["queries_text_statistics"]),
                                                  ctx.fraction)
    group = SUBQUERIES.get(ctx.name, 1)
    units = -(-queries // group)

    def query_ids(unit: int) -> list[str]:
        if group == 1:
            return [f"q{unit}"]
        return [f"q{unit}_{k}" for k in range(min(group, queries - unit * group))]

    write_corpus(ctx, docs)
    text = ctx.text(stats["queries_text_statistics"], queries)
    ctx.folder.write("queries", "queries", "queries.jsonl.gz", chunks(units, lambda a, b: [
        {"_id": qid, "text": t} for qid, t in zip(
            [q for unit in range(a, b) for q in query_ids(unit)], text.texts(a * group, min(queries, b * group)))]))
    judged, positives = _judgements(ctx, stats, units, docs)
    reranking = stats["top_ranked_statistics"] is not None
    ctx.folder.write("default", "test", "qrels/test.jsonl.gz", (
        [{"query-id": qid, "corpus-id": f"d{d}", "score": s} for qid in query_ids(unit) for d, s in zip(ids, scores)]
        for unit, ids, scores in _candidates(ctx, judged, positives, docs, reranking)))
    if reranking:
        ctx.folder.write("top_ranked", "test", "top_ranked/test.jsonl.gz", (
            [{"query-id": qid, "corpus-ids": [f"d{d}" for d in ids]} for qid in query_ids(unit)]
            for unit, ids, _ in _candidates(ctx, judged, positives, docs, reranking)))


WRITERS: dict[str, Callable[[Context], None]] = {
    "Classification": write_classification, "Clustering": write_clustering,
    "PairClassification": write_pair_classification, "Reranking": write_retrieval, "Retrieval": write_retrieval,
    "STS": write_sts, "Summarization": write_summarization,
}


def select_tasks(names: list[str] | None) -> list:
    """The harness's MTEB tasks (CQADupstack as its 12 subsets) named by `names` (task or aggregate names);
    all of them for None."""
    from harness.tasks.mteb_tasks import aggregates, mteb_tasks

    tasks = {t.spec.name: t for t in mteb_tasks()}
    if names is None:
        return list(tasks.values())
    wanted: list[str] = []
    for name in names:
        expanded = aggregates().get(name, [name])
        unknown = [n for n in expanded if n not in tasks]
        if unknown:
            raise ValueError(f"unknown MTEB(eng, v1) task {name!r} (`harness tasks` lists them)")
        wanted += [n for n in expanded if n not in wanted]
    return [tasks[n] for n in wanted]


def _check_out(out: Path) -> Path:
    out = Path(out).resolve()
    for protected in (PROJECT_ROOT, PROJECT_ROOT.parent / "shared"):
        if out.is_relative_to(protected.resolve()):
            raise ValueError(f"--out {out} lies inside {protected}; give a folder of its own (e.g. a temporary one)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def generate(tasks: list[str] | None, out: Path, fraction: float = 1.0, seed: int = 0,
             log: Callable[[str], None] | None = None, counts: dict[str, dict[str, int]] | None = None) -> list[dict]:
    """Write the stand-ins of `tasks` (None: all of MTEB(eng, v1)) under `out`: per task, its name, type, folder,
    rows per file, total rows, bytes written and seconds taken. `counts`: per retrieval task, `documents` and/or
    `queries` to write instead (e.g. a 1,000,000-passage MSMARCO with its test split's 43 queries)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], not {fraction}")
    out = _check_out(out)
    words, shared, written = Words(seed), {}, []
    for mteb_task in select_tasks(tasks):
        start = time.perf_counter()
        task = mteb_task.factory()
        folder = Folder(out, mteb_task.dataset_path)
        shape = {**SPLIT_SHAPES.get(task.metadata.name, {}), **(counts or {}).get(task.metadata.name, {})}
        WRITERS[task.metadata.type](Context(task, folder, fraction, seed, words, shared, shape))
        folder.finish(task.metadata.name, fraction, seed)
        record = {"task": task.metadata.name, "type": task.metadata.type, "path": str(folder.root),
                  "files": folder.rows, "rows": sum(folder.rows.values()), "bytes": folder.bytes,
                  "seconds": round(time.perf_counter() - start, 3)}
        written.append(record)
        if log:
            log(f"{record['task']:40s} {record['rows']:>12,} rows {record['bytes'] / 2**20:>10.1f} MiB "
                f"{record['seconds']:>8.1f} s")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (the data dir to pass on)")
    parser.add_argument("--fraction", type=float, default=1.0, help="scale of every count, in (0, 1]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", metavar="NAME", help="task names (default: all of MTEB(eng, v1))")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = generate(args.tasks, args.out, args.fraction, args.seed, log=print)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} tasks, {sum(r['rows'] for r in written):,} rows, "
          f"{sum(r['bytes'] for r in written) / 2**20:.1f} MiB in {time.perf_counter() - start:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
