"""PEARL: nine phrase tasks (arXiv 2401.10407), each scored exactly as the published evaluation did.

Data: the hub dataset `Lihuchen/pearl_benchmark` (one config per dataset; yago/umls also need its
`kb` config; umls's split is named `umls`), or its mirror folder `<data-dir>/Lihuchen/pearl_benchmark`.
The AutoFJ tables come from `<data-dir>/autofj/benchmark/` when present, else from the `autofj`
package (a dependency), which ships the same files.

| dataset | score (main_score, 0–1 scale except bird's r in [-1, 1]) |
|---|---|
| bird | Pearson r between (cos + 1) / 2 of the two terms and the relatedness score |
| turney | accuracy: argmax of dot(query, candidate) over [label, candidate_1..4] is the label |
| ppdb, ppdb_filtered | test accuracy of the probe of `harness.probe` on [emb(p1); emb(p2)] (seed 42; further seeds give the spread) |
| yago, umls | accuracy: the nearest `kb` entity name (cosine) to each query is its label |
| conll, bc5cdr | NMI of KMeans(n_clusters = number of labels, random_state=0); empty entity → "NA" |
| autofj | accuracy of matching each right title to its nearest left title (cosine), mean over 50 tables |
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.data import DataSource, content_keyed_cache, resolve_dataset
from harness.encoders import Encoder
from harness.errors import DataUnavailableError, HarnessError
from harness.mirror import Mirrors, shown_path
from harness.tasks import TaskFamily, TaskOutcome, TaskSpec

HUB_ID = "Lihuchen/pearl_benchmark"
HUB_REVISION = "main"
AUTOFJ_FOLDER = "autofj/benchmark"
DEFAULT_PROBE_SEEDS = 0
"""ppdb/ppdb_filtered: further probe seeds besides the protocol's, for the seed spread in the result. Each
costs one more training of the probe, the slowest step of a static model's run (~25 s for a 256-d model
on ppdb), so it is asked for (`--probe-seeds K`; the main job uses 4) rather than on by default."""


@dataclass
class Inputs:
    """What a scorer may need besides the encoder and the dataset's rows; `extra` collects provenance."""

    mirrors: Mirrors
    kb_names: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def probe_seeds() -> int:
    """Further probe seeds for ppdb's seed spread: HARNESS_PROBE_SEEDS (`harness run --probe-seeds`)."""
    value = os.environ.get("HARNESS_PROBE_SEEDS", str(DEFAULT_PROBE_SEEDS))
    try:
        return max(0, int(value))
    except ValueError:
        raise HarnessError(f"HARNESS_PROBE_SEEDS={value!r}: expected a whole number of further seeds") from None


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


def score_bird(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    from scipy.stats import pearsonr

    t1, t2 = [r["term1"] for r in rows], [r["term2"] for r in rows]
    emb = _encode_unique(encoder, t1 + t2)
    sim = ((_unit(emb(t1)) * _unit(emb(t2))).sum(1) + 1) / 2.0
    r = float(pearsonr(sim, [float(x["relatedness score"]) for x in rows]).statistic)
    return {"main_score": r, "pearson": r}


def score_turney(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    cols = ["query", "label", "candidate_1", "candidate_2", "candidate_3", "candidate_4"]
    emb = _encode_unique(encoder, [r[c] for r in rows for c in cols])
    correct = 0
    for r in rows:
        vecs = emb([r[c] for c in cols]).astype(np.float64)
        correct += int(np.argmax(vecs[1:] @ vecs[0]) == 0)
    acc = correct / len(rows)
    return {"main_score": acc, "accuracy": acc}


def score_ppdb(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    from harness.probe import DTYPE, run_with_spread

    p1, p2 = [r["phrase_1"] for r in rows], [r["phrase_2"] for r in rows]
    emb = _encode_unique(encoder, p1 + p2)
    features = np.concatenate([emb(p1), emb(p2)], axis=1).astype(np.float32)
    labels = np.array([1 if r["label"] == "pos" else 0 for r in rows], dtype=np.int64)
    result, spread = run_with_spread(features, labels, probe_seeds())
    inputs.extra["probe"] = {"dtype": DTYPE, "threads": 1, "deterministic": True, "seed": result.seed}
    return {"main_score": result.test_accuracy, "accuracy": result.test_accuracy, "epochs": result.epochs,
            "best_val_accuracy": result.best_val_accuracy, **({"seed_spread": spread} if spread else {})}


def score_clustering(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics.cluster import normalized_mutual_info_score

    phrases = [r["entity"] or "NA" for r in rows]
    labels = [r["label"] for r in rows]
    kmeans = KMeans(n_clusters=len(set(labels)), random_state=0).fit(encoder.encode(phrases))
    nmi = float(normalized_mutual_info_score(labels, kmeans.labels_))
    return {"main_score": nmi, "nmi": nmi}


def score_retrieval(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    names = [n for n in inputs.kb_names if n is not None]
    kb = _unit(encoder.encode(names))
    queries = _unit(encoder.encode([r["query"] for r in rows]))
    hits = 0
    for start in range(0, len(queries), 1024):  # bounded memory for large knowledge bases
        best = np.argmax(queries[start:start + 1024] @ kb.T, axis=1)
        hits += sum(names[i] == r["label"] for i, r in zip(best, rows[start:start + 1024]))
    acc = hits / len(rows)
    return {"main_score": acc, "accuracy": acc}


def autofj_package_folder(why: str = "") -> Path:
    """The `benchmark` folder of the installed autofj package (its data only: the package is not imported)."""
    import importlib.util

    found = importlib.util.find_spec("autofj")
    if found is None or not found.submodule_search_locations:
        raise DataUnavailableError(f"PEARL autofj: {why}the autofj package is missing (pip install autofj)")
    return Path(list(found.submodule_search_locations)[0]) / "benchmark"


def _read_titles(path: Path, column: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def autofj_tables(name: str, mirrors: Mirrors) -> tuple[list[str], list[str], list[tuple[str, str]], str]:
    """(left titles, right titles, ground-truth (left, right) pairs, source) of one AutoFJ table."""
    folder = mirrors.data_dir / AUTOFJ_FOLDER / name if mirrors.data_dir else None
    if folder is None or not folder.is_dir():
        folder = autofj_package_folder(f"no {AUTOFJ_FOLDER}/{name} in the data directory and ") / name
        if not folder.is_dir():
            raise DataUnavailableError(f"PEARL autofj: table {name} not found in {folder.parent}")
    left = _read_titles(folder / "left.csv", "title")
    right = _read_titles(folder / "right.csv", "title")
    gt = list(zip(_read_titles(folder / "gt.csv", "title_l"), _read_titles(folder / "gt.csv", "title_r")))
    return left, right, gt, str(folder.parent)


def score_autofj(encoder: Encoder, rows: list[dict], inputs: Inputs) -> dict:
    per_table = {}
    for name in (r["Dataset"] for r in rows):
        left, right, gt, inputs.extra["autofj_tables"] = autofj_tables(name, inputs.mirrors)
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
    return {"main_score": mean, "accuracy": mean, "per_table": per_table}


@dataclass(frozen=True)
class PearlDataset:
    kind: str
    metric: str
    """The field of the score the tables read (main_score)."""
    score: Callable[[Encoder, list[dict], Inputs], dict]
    split: str = "test"
    needs_kb: bool = False


DATASETS: dict[str, PearlDataset] = {
    "bird": PearlDataset("relatedness", "pearson", score_bird),
    "turney": PearlDataset("similarity", "accuracy", score_turney),
    "ppdb": PearlDataset("paraphrase", "accuracy", score_ppdb),
    "ppdb_filtered": PearlDataset("paraphrase", "accuracy", score_ppdb),
    "yago": PearlDataset("entity retrieval", "accuracy", score_retrieval, needs_kb=True),
    "umls": PearlDataset("entity retrieval", "accuracy", score_retrieval, split="umls", needs_kb=True),
    "conll": PearlDataset("entity clustering", "nmi", score_clustering),
    "bc5cdr": PearlDataset("entity clustering", "nmi", score_clustering),
    "autofj": PearlDataset("fuzzy join", "accuracy", score_autofj),
}
"""The nine PEARL datasets: what each measures, its metric, its scorer and where its rows are."""


class PearlTask:
    """One PEARL dataset."""

    def __init__(self, name: str):
        self.name = name
        self.dataset = DATASETS[name]
        self.spec = TaskSpec(name=name, benchmark="PEARL", group="PEARL", main_score=self.dataset.metric,
                             description=f"PEARL {self.dataset.kind} ({HUB_ID}, config {name})")

    def _configs(self) -> list[str]:
        return [self.name, "kb"] if self.dataset.needs_kb else [self.name]

    def missing_data(self, mirrors: Mirrors) -> str | None:
        folder = mirrors.dataset(HUB_ID)
        if folder is None:
            return f"no folder {mirrors.data_dir or '<data-dir> (none given)'}/{HUB_ID}"
        for config in self._configs():
            if not _has_config(folder, config):
                return f"{_config_label(config)} missing from {shown_path(folder)}"
        return None

    def needs(self) -> list:
        """PEARL's repository at the commit `main` names (its `kb` config included), and for autofj the
        AutoFJ tables of the installed autofj package."""
        from harness.fetch import HubRepo, PackageFolder

        out = [HubRepo("data", HUB_ID, HUB_REVISION, "dataset")]
        if self.name == "autofj":
            import importlib.metadata

            version = f"autofj=={importlib.metadata.version('autofj')}"
            out.append(PackageFolder("data", AUTOFJ_FOLDER, autofj_package_folder(), version))
        return out

    def _load(self, source: DataSource, config: str, split: str) -> list[dict]:
        import datasets

        if source.kind == "mirror":
            if not _has_config(Path(source.location), config):
                raise DataUnavailableError(f"PEARL {self.name}: {_config_label(config)} missing from "
                                           f"{source.location}; complete it with "
                                           f"`hf download --repo-type dataset {HUB_ID}`")
            with content_keyed_cache(source):
                return datasets.load_dataset(source.location, config, split=split).to_list()
        return datasets.load_dataset(HUB_ID, config, split=split, revision=source.commit).to_list()

    def evaluate(self, encoder: Encoder, mirrors: Mirrors) -> TaskOutcome:
        source = resolve_dataset(mirrors, HUB_ID, f"PEARL {self.name}", HUB_REVISION)
        inputs = Inputs(mirrors)
        if self.dataset.needs_kb:  # the knowledge base first: it is what a mirror may lack
            inputs.kb_names = [r["entity_name"] for r in self._load(source, "kb", self.name)]
        rows = self._load(source, self.name, self.dataset.split)
        score = self.dataset.score(encoder, rows, inputs)
        entry = {"hf_subset": "default", "languages": list(self.spec.languages), **score}
        revision = source.commit or ("local-mirror" if source.kind == "mirror" else HUB_REVISION)
        extra = {"config": self.name, "split": self.dataset.split, "n_rows": len(rows), **inputs.extra}
        return TaskOutcome(scores={"test": [entry]}, dataset_revision=revision, data=source, extra=extra)


def _has_config(folder: Path, config: str) -> bool:
    readme = folder / "README.md"
    return readme.is_file() and f"config_name: {config}\n" in readme.read_text(encoding="utf-8")


def _config_label(config: str) -> str:
    return "knowledge base (config 'kb')" if config == "kb" else f"config '{config}'"


def pearl_tasks() -> list[PearlTask]:
    return [PearlTask(name) for name in DATASETS]


FAMILY = TaskFamily(name="PEARL", tasks=pearl_tasks, columns={"PEARL": "Pearl"}, in_average_all=True, order=20)
