"""MTEB tasks through mteb's public API: the 56 datasets of `MTEB(eng, v1)`, per the protocol.

- The task list comes from mteb itself (`mteb.get_benchmark("MTEB(eng, v1)")`); the aggregate
  CQADupstackRetrieval is run as its 12 subset tasks (the tables average them into one dataset).
- Split `test` for every task (MSMARCO included, whose mteb default is `dev`); the English subset
  only, as the benchmark selects it (`en`, `en-en`, `default`).
- Data: when `<data-dir>/<dataset path>` exists, the task's metadata is replaced by a copy whose
  `dataset.path` is that folder (the class-level metadata is never mutated); mteb's own
  `load_data`/`dataset_transform` then run unchanged.
- Evaluation: `mteb.evaluate` on our encoder wrapped in `MtebEncoder`, which carries a `ModelMeta`
  named after the registry id and revision. mteb writes nothing itself (`cache=None`); its full
  `TaskResult` goes into the harness's result store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.data import DataSource, content_keyed_cache, resolve_dataset
from harness.encoders import Encoder, EncoderInfo
from harness.mirror import Mirrors
from harness.tasks import TaskFamily, TaskOutcome, TaskSpec
from harness.tasks.mteb_search import CorpusSearch, column_values
from harness.tasks.shared_corpora import EmbeddingStore, store_for

BENCHMARK = "MTEB(eng, v1)"
SPLIT = "test"
GROUPS = ("Classification", "Clustering", "PairClassification", "Reranking", "Retrieval", "STS", "Summarization")
METRIC_ALIASES = {"map_at_1000": ("map",), "max_over_subqueries_map_at_1000": ("map",)}
"""mteb 2 renamed Reranking's main metric; files of mteb 1.x and earlier call it `map`."""


def mteb_model_meta(info: EncoderInfo):
    """A `ModelMeta` for a harness encoder: named by registry id and revision, cosine similarity."""
    from mteb.models import ModelMeta

    return ModelMeta(
        loader=None, name=info.model_id, revision=info.revision, release_date=None, languages=None,
        n_parameters=info.n_parameters, memory_usage_mb=None, max_tokens=None, embed_dim=info.dim,
        license=None, open_weights=True, public_training_code=None, public_training_data=None,
        framework=[info.framework] if info.framework else [], similarity_fn_name="cosine", use_instructions=False, training_datasets=None,
    )


def input_texts(inputs) -> list[str]:
    """The texts of one mteb `encode` call, in order. mteb hands over a DataLoader over a `datasets.Dataset` whose
    `text` column holds the final texts (its collate function passes strings through unchanged): read in order, the
    column is taken from Arrow in one piece instead of row by row through the loader (a million passages: seconds
    instead of minutes). Any other loader is read batch by batch."""
    import datasets
    from torch.utils.data import SequentialSampler

    dataset = getattr(inputs, "dataset", None)
    if (isinstance(dataset, datasets.Dataset) and "text" in dataset.column_names
            and isinstance(getattr(inputs, "sampler", None), SequentialSampler)):
        return column_values(dataset, "text")
    return [text for batch in inputs for text in batch["text"]]


class MtebEncoder:
    """mteb's encoder protocol over a harness `Encoder`: all texts of a call are embedded in one go."""

    def __init__(self, encoder: Encoder, documents: EmbeddingStore | None = None):
        self.encoder = encoder
        self.documents = documents
        """Where the documents of a corpus shared with another task are kept (`harness.tasks.shared_corpora`)."""
        self.mteb_model_meta = mteb_model_meta(encoder.info)

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str, prompt_type=None, **kwargs) -> np.ndarray:
        from mteb.types import PromptType

        if self.documents is not None and prompt_type == PromptType.document:
            return self.documents.encode(input_texts(inputs), self.encoder.encode)
        return self.encoder.encode(input_texts(inputs))

    def index(self, corpus, **kwargs) -> None:
        """mteb's `SearchProtocol`: a retrieval task searches through `CorpusSearch` (mteb's own search with fewer
        heap pushes, the same result)."""
        self.corpus_search = CorpusSearch(self)
        self.corpus_search.index(corpus, **kwargs)

    def search(self, queries, **kwargs) -> dict[str, dict[str, float]]:
        return self.corpus_search.search(queries, **kwargs)

    def similarity(self, embeddings1, embeddings2):
        from mteb.similarity_functions import cos_sim

        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(embeddings1, embeddings2)


def with_local_data(task, mirrors: Mirrors, on_hub: bool = True) -> tuple[Any, DataSource]:
    """`task` reading from `<data-dir>/<dataset path>` when that folder exists (else from the hub, at the
    commit its revision names), and where it reads from."""
    dataset = task.metadata.dataset
    source = resolve_dataset(mirrors, dataset["path"], f"MTEB {task.metadata.name}", dataset.get("revision"), on_hub)
    if source.kind == "mirror":
        task.metadata = task.metadata.model_copy(update={"dataset": {**dataset, "path": source.location}})
    elif source.commit and source.commit != dataset.get("revision"):  # read the commit the revision named
        task.metadata = task.metadata.model_copy(update={"dataset": {**dataset, "revision": source.commit}})
    return task, source


class MtebTask:
    """One MTEB dataset (or one CQADupstack subset), evaluated by mteb."""

    def __init__(self, spec: TaskSpec, dataset_path: str, factory: Callable[[], Any], aggregate: str | None = None,
                 on_hub: bool = True):
        self.spec = spec
        self.dataset_path = dataset_path
        self.factory = factory
        self.aggregate = aggregate
        """Name of the aggregate the task belongs to (CQADupstackRetrieval), if any."""
        self.on_hub = on_hub
        """Whether mteb reads its data from the hub repo `dataset_path` (not so for tasks holding their data)."""

    @classmethod
    def from_factory(cls, factory: Callable[[], Any], on_hub: bool = True) -> MtebTask:
        """A task for any mteb task class or factory; metadata read from it. `on_hub=False` for a task that
        holds its data itself (e.g. mteb's mock tasks): no hub commit is resolved or recorded for it."""
        task = factory()
        return cls(_spec(task), task.metadata.dataset["path"], factory, on_hub=on_hub)

    def missing_data(self, mirrors: Mirrors) -> str | None:
        if mirrors.dataset(self.dataset_path) is not None:
            return None
        return f"no folder {mirrors.data_dir or '<data-dir> (none given)'}/{self.dataset_path}"

    def needs(self) -> list:
        """The task's dataset repository at the revision mteb pins for it (nothing for a task holding its data)."""
        from harness.fetch import HubRepo

        if not self.on_hub:
            return []
        return [HubRepo("data", self.dataset_path, self.factory().metadata.dataset["revision"], "dataset")]

    def evaluate(self, encoder: Encoder, mirrors: Mirrors) -> TaskOutcome:
        import mteb

        task, source = with_local_data(self.factory(), mirrors, self.on_hub)
        corpus, documents = store_for(self.spec.name, encoder) or (None, None)
        with content_keyed_cache(source):
            result = mteb.evaluate(MtebEncoder(encoder, documents), task, cache=None, overwrite_strategy="always",
                                   show_progress_bar=False, raise_error=True)
        (task_result,) = result.task_results
        doc = task_result.to_dict()
        return TaskOutcome(
            scores=doc["scores"],
            dataset_revision=doc.get("dataset_revision") or "",
            data=source,
            extra={"hub_path": self.dataset_path, "mteb_evaluation_time": doc.get("evaluation_time"),
                   **({"aggregate": self.aggregate} if self.aggregate else {}),
                   **({"shared_corpus": {"name": corpus, **documents.summary()}} if documents else {})},
        )


def _get_task(name: str, subset: str):
    import mteb

    return mteb.get_task(name, eval_splits=[SPLIT], hf_subsets=[subset])


def _make_factory(name: str, subset: str) -> Callable[[], Any]:
    """The mteb task with the protocol's split and subset (a partial, so that a task travels to workers)."""
    return functools.partial(_get_task, name, subset)


AGGREGATE_DATASETS = {"CQADupstackRetrieval": "CQADupstack"}
"""mteb's aggregate tasks of MTEB(eng, v1) and the one protocol dataset each stands for."""


def _spec(task, aggregate: str | None = None) -> TaskSpec:
    meta = task.metadata
    (subset,) = task.hf_subsets
    langs = meta.eval_langs[subset] if isinstance(meta.eval_langs, dict) else meta.eval_langs
    note = f"part of {aggregate}; " if aggregate else ""
    own_split = task.eval_splits[0] if len(task.eval_splits) == 1 and task.eval_splits[0] != SPLIT else None
    return TaskSpec(name=meta.name, benchmark="MTEB", group=meta.type, main_score=meta.main_score,
                    split=SPLIT, subset=subset, languages=tuple(langs),
                    description=f"{note}{meta.dataset['path']} [{subset}]",
                    metric_aliases=METRIC_ALIASES.get(meta.main_score, ()), benchmark_split=own_split,
                    dataset=AGGREGATE_DATASETS.get(aggregate, aggregate), aggregate_file=aggregate)


@functools.lru_cache(maxsize=1)
def mteb_tasks() -> tuple[MtebTask, ...]:
    """The tasks of MTEB(eng, v1), CQADupstack expanded into its 12 subsets, ordered by group."""
    import mteb

    out: list[MtebTask] = []
    for task in mteb.get_benchmark(BENCHMARK).tasks:
        subtasks = getattr(task.metadata, "tasks", None)
        if subtasks:  # an aggregate task: its parts are the datasets that get run and stored
            for sub in subtasks:
                out.append(MtebTask(_spec(sub, task.metadata.name), sub.metadata.dataset["path"],
                                    _make_factory(sub.metadata.name, sub.hf_subsets[0]), task.metadata.name))
        else:
            subset = task.hf_subsets[0]
            out.append(MtebTask(_spec(task), task.metadata.dataset["path"], _make_factory(task.metadata.name, subset)))
    out.sort(key=lambda t: (GROUPS.index(t.spec.group), t.spec.name))
    return tuple(out)


def aggregates() -> dict[str, list[str]]:
    """Aggregate name → the task names it stands for (CQADupstackRetrieval → its 12 subsets)."""
    groups: dict[str, list[str]] = {}
    for task in mteb_tasks():
        if task.aggregate:
            groups.setdefault(task.aggregate, []).append(task.spec.name)
    return groups


FAMILY = TaskFamily(
    name="MTEB", tasks=mteb_tasks, aliases=aggregates, average="Avg (MTEB)", in_average_all=True, order=10,
    columns={"Classification": "Class", "Clustering": "Clust", "PairClassification": "PairClass",
             "Reranking": "Rank", "Retrieval": "Ret", "STS": "STS", "Summarization": "Sum"})
