"""PEARL: nine phrase tasks (arXiv 2401.10407), each scored exactly as the published evaluation did.

Data: the hub dataset `Lihuchen/pearl_benchmark` (one config per dataset; yago/umls also need its
`kb` config; umls's split is named `umls`), or its mirror folder `<data-dir>/Lihuchen/pearl_benchmark`.
The AutoFJ tables come from `<data-dir>/autofj/benchmark/` when present, else from the `autofj`
package (a dependency), which ships the same files.

| dataset | score (main_score, 0–1 scale except bird's r in [-1, 1]) |
|---|---|
| bird | Pearson r between (cos + 1) / 2 of the two terms and the relatedness score |
| turney | accuracy: argmax of dot(query, candidate) over [label, candidate_1..4] is the label |
| ppdb, ppdb_filtered | test accuracy of the probe of `harness.probe` on [emb(p1); emb(p2)] |
| yago, umls | accuracy: the nearest `kb` entity name (cosine) to each query is its label |
| conll, bc5cdr | NMI of KMeans(n_clusters = number of labels, random_state=0); empty entity → "NA" |
| autofj | accuracy of matching each right title to its nearest left title (cosine), mean over 50 tables |
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from harness.encoders import Encoder
from harness.errors import DataUnavailableError
from harness.mirror import Mirrors, is_offline
from harness.tasks import TaskOutcome, TaskSpec

log = logging.getLogger(__name__)

HUB_ID = "Lihuchen/pearl_benchmark"
HUB_REVISION = "main"
AUTOFJ_FOLDER = "autofj/benchmark"


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _encode_unique(encoder: Encoder, texts: Sequence[str]) -> Callable[[Sequence[str]], np.ndarray]:
    """Embed each distinct text once; return a look-up from texts to their rows."""
    vocab = list(dict.fromkeys(texts))
    emb = encoder.encode(vocab)
    index = {t: i for i, t in enumerate(vocab)}
    return lambda items: emb[[index[t] for t in items]]


def score_bird(encoder: Encoder, rows: list[dict]) -> dict[str, float]:
    from scipy.stats import pearsonr

    t1, t2 = [r["term1"] for r in rows], [r["term2"] for r in rows]
    emb = _encode_unique(encoder, t1 + t2)
    sim = ((_unit(emb(t1)) * _unit(emb(t2))).sum(1) + 1) / 2.0
    r = float(pearsonr(sim, [float(x["relatedness score"]) for x in rows]).statistic)
    return {"main_score": r, "pearson": r}


def score_turney(encoder: Encoder, rows: list[dict]) -> dict[str, float]:
    cols = ["query", "label", "candidate_1", "candidate_2", "candidate_3", "candidate_4"]
    emb = _encode_unique(encoder, [r[c] for r in rows for c in cols])
    correct = 0
    for r in rows:
        vecs = emb([r[c] for c in cols]).astype(np.float64)
        correct += int(np.argmax(vecs[1:] @ vecs[0]) == 0)
    acc = correct / len(rows)
    return {"main_score": acc, "accuracy": acc}


def score_ppdb(encoder: Encoder, rows: list[dict]) -> dict[str, float]:
    from harness.probe import run_probe

    p1, p2 = [r["phrase_1"] for r in rows], [r["phrase_2"] for r in rows]
    emb = _encode_unique(encoder, p1 + p2)
    features = np.concatenate([emb(p1), emb(p2)], axis=1).astype(np.float32)
    labels = np.array([1 if r["label"] == "pos" else 0 for r in rows], dtype=np.int64)
    result = run_probe(features, labels)
    return {"main_score": result.test_accuracy, "accuracy": result.test_accuracy,
            "epochs": result.epochs, "best_val_accuracy": result.best_val_accuracy}


def score_clustering(encoder: Encoder, rows: list[dict]) -> dict[str, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics.cluster import normalized_mutual_info_score

    phrases = [r["entity"] or "NA" for r in rows]
    labels = [r["label"] for r in rows]
    kmeans = KMeans(n_clusters=len(set(labels)), random_state=0).fit(encoder.encode(phrases))
    nmi = float(normalized_mutual_info_score(labels, kmeans.labels_))
    return {"main_score": nmi, "nmi": nmi}


def score_retrieval(encoder: Encoder, rows: list[dict], kb_names: list[str]) -> dict[str, float]:
    names = [n for n in kb_names if n is not None]
    kb = _unit(encoder.encode(names))
    queries = _unit(encoder.encode([r["query"] for r in rows]))
    hits = 0
    for start in range(0, len(queries), 1024):  # bounded memory for large knowledge bases
        best = np.argmax(queries[start:start + 1024] @ kb.T, axis=1)
        hits += sum(names[i] == r["label"] for i, r in zip(best, rows[start:start + 1024]))
    acc = hits / len(rows)
    return {"main_score": acc, "accuracy": acc}


def _read_titles(path: Path, column: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def autofj_tables(name: str, mirrors: Mirrors) -> tuple[list[str], list[str], list[tuple[str, str]], str]:
    """(left titles, right titles, ground-truth (left, right) pairs, source) of one AutoFJ table."""
    folder = mirrors.data_dir / AUTOFJ_FOLDER / name if mirrors.data_dir else None
    if folder is None or not folder.is_dir():
        import importlib.util

        found = importlib.util.find_spec("autofj")  # the package's data only: no need to import it
        if found is None or not found.submodule_search_locations:
            raise DataUnavailableError(f"PEARL autofj: no {AUTOFJ_FOLDER}/{name} in the data directory and the "
                                       "autofj package is missing (pip install autofj)")
        folder = Path(list(found.submodule_search_locations)[0]) / "benchmark" / name
        if not folder.is_dir():
            raise DataUnavailableError(f"PEARL autofj: table {name} not found in {folder.parent}")
    left = _read_titles(folder / "left.csv", "title")
    right = _read_titles(folder / "right.csv", "title")
    gt = list(zip(_read_titles(folder / "gt.csv", "title_l"), _read_titles(folder / "gt.csv", "title_r")))
    return left, right, gt, str(folder.parent)


def score_autofj(encoder: Encoder, rows: list[dict], mirrors: Mirrors) -> tuple[dict[str, float], str]:
    per_table, source = {}, ""
    for name in (r["Dataset"] for r in rows):
        left, right, gt, source = autofj_tables(name, mirrors)
        truth = {r: l for l, r in gt}  # right title -> left title (the last pair wins, as published)
        left_emb, right_emb = _unit(encoder.encode(left)), _unit(encoder.encode(right))
        correct = total = 0
        for i, r_title in enumerate(right):
            if r_title not in truth:
                continue
            correct += int(left[int(np.argmax(left_emb @ right_emb[i]))] == truth[r_title])
            total += 1
        per_table[name] = correct / total
    mean = float(np.mean(list(per_table.values())))
    return {"main_score": mean, "accuracy": mean, "per_table": per_table}, source


class PearlTask:
    """One PEARL dataset."""

    KINDS = {"bird": "relatedness", "turney": "similarity", "ppdb": "paraphrase", "ppdb_filtered": "paraphrase",
             "yago": "entity retrieval", "umls": "entity retrieval", "conll": "entity clustering",
             "bc5cdr": "entity clustering", "autofj": "fuzzy join"}

    def __init__(self, name: str):
        self.name = name
        main = {"bird": "pearson", "conll": "nmi", "bc5cdr": "nmi"}.get(name, "accuracy")
        self.spec = TaskSpec(name=name, benchmark="PEARL", group="PEARL", main_score=main,
                             description=f"PEARL {self.KINDS[name]} ({HUB_ID}, config {name})")
        self.split = "umls" if name == "umls" else "test"

    def _folder(self, mirrors: Mirrors) -> Path | None:
        return mirrors.dataset(HUB_ID)

    def _has_config(self, folder: Path, config: str) -> bool:
        readme = folder / "README.md"
        return readme.is_file() and f"config_name: {config}\n" in readme.read_text(encoding="utf-8")

    def missing_data(self, mirrors: Mirrors) -> str | None:
        folder = self._folder(mirrors)
        if folder is None:
            return f"no folder {mirrors.data_dir or '<data-dir> (none given)'}/{HUB_ID}"
        for config in ([self.name, "kb"] if self.name in ("yago", "umls") else [self.name]):
            if not self._has_config(folder, config):
                what = "knowledge base (config 'kb')" if config == "kb" else f"config '{config}'"
                return f"{what} missing from {folder}"
        return None

    def _load(self, config: str, split: str, mirrors: Mirrors) -> tuple[list[dict], str]:
        import datasets

        folder = self._folder(mirrors)
        if folder is not None:
            if not self._has_config(folder, config):
                what = "knowledge base (config 'kb')" if config == "kb" else f"config '{config}'"
                raise DataUnavailableError(f"PEARL {self.name}: {what} missing from {folder}; "
                                           f"complete it with `hf download --repo-type dataset {HUB_ID}`")
            source = str(folder)
        elif is_offline():
            looked = mirrors.data_dir / HUB_ID if mirrors.data_dir else f"<data-dir>/{HUB_ID} (no --data-dir given)"
            raise DataUnavailableError(f"PEARL {self.name}: no folder {looked} and offline; give --data-dir")
        else:
            source = f"hub:{HUB_ID}@{HUB_REVISION}"
        path = str(folder) if folder is not None else HUB_ID
        kwargs = {} if folder is not None else {"revision": HUB_REVISION}
        return datasets.load_dataset(path, config, split=split, **kwargs).to_list(), source

    def evaluate(self, encoder: Encoder, mirrors: Mirrors) -> TaskOutcome:
        if self.name in ("yago", "umls"):  # check the knowledge base first: it is what a mirror may lack
            kb, _ = self._load("kb", self.name, mirrors)
        rows, source = self._load(self.name, self.split, mirrors)
        extra: dict = {"config": self.name, "split": self.split, "n_rows": len(rows)}
        if self.name == "bird":
            score = score_bird(encoder, rows)
        elif self.name == "turney":
            score = score_turney(encoder, rows)
        elif self.name in ("ppdb", "ppdb_filtered"):
            score = score_ppdb(encoder, rows)
        elif self.name in ("conll", "bc5cdr"):
            score = score_clustering(encoder, rows)
        elif self.name in ("yago", "umls"):
            score = score_retrieval(encoder, rows, [r["entity_name"] for r in kb])
        else:
            score, extra["autofj_tables"] = score_autofj(encoder, rows, mirrors)
        entry = {"hf_subset": "default", "languages": list(self.spec.languages), **score}
        revision = "local-mirror" if not source.startswith("hub:") else HUB_REVISION
        return TaskOutcome(scores={"test": [entry]}, dataset_revision=revision, data_source=source, extra=extra)


PEARL_DATASETS = ("bird", "turney", "ppdb", "ppdb_filtered", "yago", "umls", "conll", "bc5cdr", "autofj")


def pearl_tasks() -> list[PearlTask]:
    return [PearlTask(name) for name in PEARL_DATASETS]
