"""WordSim: seven word-similarity datasets; score = Spearman of cosine similarity vs gold.

Data: `<data-dir>/wordsim/<file>` when the data directory has it; otherwise the files are fetched
from the pinned commit of MinishLab/evaluation (MIT), or from `HARNESS_WORDSIM_URL` when set, checked
against their sha256 and cached in `~/.cache/harness/wordsim/<commit>/` (env `HARNESS_CACHE_DIR` moves
the cache).

Parsing (MinishLab/evaluation's recipe): split each stripped line on TAB, replace `_` by a space in
every field, then word1 = col[index1], word2 = col[index2], gold = float(col[target]).
A word that embeds to a zero vector (e.g. no known word in a word-vector model) has cosine 0 with
everything, as in mteb's STS evaluator.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from harness.data import DataSource, fingerprint, resolve_dataset
from harness.encoders import Encoder
from harness.errors import CorruptDataError, DataUnavailableError
from harness.mirror import Mirrors, cache_home
from harness.tasks import TaskFamily, TaskOutcome, TaskSpec

UPSTREAM_COMMIT = "1625b10b77843ea1a81d84abea5f926d714d92d8"
UPSTREAM_BASE = "https://raw.githubusercontent.com/MinishLab/evaluation/{commit}/evaluation/wordsim/data/"
URL_VARIABLE = "HARNESS_WORDSIM_URL"
"""Where the files are fetched from instead (a folder URL; `{commit}` is replaced by the pinned commit),
e.g. a copy on an internal server; every file is still checked against its pinned sha256."""
FETCH_TIMEOUT_S = 30
FOLDER = "wordsim"
"""The data mirror's folder of the raw WordSim files (not a hub repo: MinishLab/evaluation on GitHub)."""


@dataclass(frozen=True)
class WordSimDataset:
    name: str
    file: str
    index1: int
    index2: int
    target: int
    sha256: str
    rows: int


DATASETS: tuple[WordSimDataset, ...] = (
    WordSimDataset("RareWord", "rw.txt", 0, 1, 2, "f38941b02b85cf20e9d857ab4ee06ee0dfcb1c9ce0df6c546f1134fc5e625dae", 2034),
    WordSimDataset("MEN", "men.txt", 0, 1, 2, "333e0095b3369a75cd77911a4235bec00778010c909bd2b4fde8ad8c77ad05d8", 3000),
    WordSimDataset("SimLex", "simLex.txt", 1, 2, 3, "0509d7a3bef4f405899b711394c976472397137c5394a65492e65083acc38c5a", 999),
    WordSimDataset("rel353", "rel353.txt", 1, 2, 3, "766f4c1444eca97597dc21b876781852f0c43d9956536b4aaf8903b64e7212aa", 252),
    WordSimDataset("simverb", "simverb_3500.txt", 2, 3, 1, "5b370781f5c7fa550a8f2869ecc2a21c652d349419aed6b931f7d9c42791e771", 3500),
    WordSimDataset("muturk", "mturk_771.txt", 1, 2, 3, "5a618bbce02a8eadcbc0a5e0f4134bb6a033f8bf2204cfbf5223570d7041ef12", 771),
    WordSimDataset("Card660", "card_660.txt", 0, 1, 2, "0cfae4d9ee596c4dd745a138f49c99e74c31a8e171bc4108b62d243607a6c1a8", 660),
)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_pairs(text: str, ds: WordSimDataset, origin: str) -> tuple[list[str], list[str], np.ndarray]:
    """Word pairs and gold scores of one file's text, by the dataset's column recipe."""
    words1, words2, gold = [], [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        cols = [c.replace("_", " ") for c in line.split("\t")]
        try:
            words1.append(cols[ds.index1])
            words2.append(cols[ds.index2])
            gold.append(float(cols[ds.target]))
        except (IndexError, ValueError):
            raise CorruptDataError(
                f"{origin}:{lineno}: WordSim {ds.name} line does not have word/word/score in columns "
                f"{ds.index1}/{ds.index2}/{ds.target}; restore the original file"
            ) from None
    return words1, words2, np.asarray(gold, dtype=np.float64)


def upstream_url(file: str) -> str:
    """The address of one WordSim file: under HARNESS_WORDSIM_URL when set, else the pinned upstream commit."""
    base = os.environ.get(URL_VARIABLE) or UPSTREAM_BASE
    return base.format(commit=UPSTREAM_COMMIT).rstrip("/") + "/" + file


def _fetch(ds: WordSimDataset) -> tuple[bytes, str]:
    """The upstream file (cached), sha256-checked."""
    cached = cache_home() / "wordsim" / UPSTREAM_COMMIT / ds.file
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == ds.sha256:
            return data, str(cached)
    url = upstream_url(ds.file)
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DataUnavailableError(
            f"WordSim {ds.name}: cannot fetch {url} ({getattr(exc, 'reason', exc)}); "
            "give --data-dir with a wordsim/ folder"
        ) from None
    if _sha256(data) != ds.sha256:
        raise DataUnavailableError(f"WordSim {ds.name}: {url} has sha256 {_sha256(data)}, expected {ds.sha256}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, cached)
    return data, url


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity; a zero row has similarity 0."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    denom = na * nb
    dots = np.einsum("ij,ij->i", a, b)
    return np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)


class WordSimTask:
    """One WordSim dataset."""

    def __init__(self, dataset: WordSimDataset):
        self.dataset = dataset
        self.spec = TaskSpec(
            name=dataset.name,
            benchmark="WordSim",
            group="WordSim",
            main_score="cosine_spearman",
            description=f"Word similarity, {dataset.rows} pairs ({dataset.file})",
        )

    def missing_data(self, mirrors: Mirrors) -> str | None:
        folder = mirrors.dataset(FOLDER)
        if folder is not None and (folder / self.dataset.file).is_file():
            return None
        return f"no file {mirrors.data_dir or '<data-dir> (none given)'}/{FOLDER}/{self.dataset.file}"

    def needs(self) -> list:
        """The dataset's file from the pinned upstream commit (or HARNESS_WORDSIM_URL), with its sha256."""
        from harness.fetch import UrlFiles

        ds = self.dataset
        return [UrlFiles("data", FOLDER, UPSTREAM_COMMIT, ((ds.file, upstream_url(ds.file), ds.sha256),))]

    def load(self, mirrors: Mirrors) -> tuple[list[str], list[str], np.ndarray, DataSource, str]:
        """(words1, words2, gold, source, sha256) from the mirror or the pinned upstream commit."""
        ds = self.dataset
        source = resolve_dataset(mirrors, FOLDER, f"WordSim {ds.name}", UPSTREAM_COMMIT, on_hub=False)
        if source.kind == "mirror":
            path = Path(source.location) / ds.file
            if not path.is_file():
                raise DataUnavailableError(f"WordSim {ds.name}: no file {path}; restore it from {FOLDER}/ of the mirror")
            data, origin = path.read_bytes(), str(path)
            source = DataSource("mirror", origin, UPSTREAM_COMMIT, fingerprint(path, mirrors.data_dir), source.commit)
        else:
            data, origin = _fetch(ds)
            source = DataSource("hub", origin, UPSTREAM_COMMIT, commit=UPSTREAM_COMMIT)
        words1, words2, gold = parse_pairs(data.decode("utf-8"), ds, origin)
        if len(gold) < 2:
            raise CorruptDataError(f"{origin}: WordSim {ds.name} has {len(gold)} word pair(s), a correlation needs "
                                   "at least 2; restore the original file")
        return words1, words2, gold, source, _sha256(data)

    def evaluate(self, encoder: Encoder, mirrors: Mirrors) -> TaskOutcome:
        words1, words2, gold, source, digest = self.load(mirrors)
        vocab = sorted(set(words1) | set(words2))
        index = {w: i for i, w in enumerate(vocab)}
        emb = encoder.encode(vocab)
        e1 = emb[[index[w] for w in words1]]
        e2 = emb[[index[w] for w in words2]]
        cos = cosine_rows(e1, e2)
        spearman = float(spearmanr(cos, gold).statistic)
        pearson = float(pearsonr(cos, gold).statistic)
        zero_words = int((np.linalg.norm(emb, axis=1) == 0).sum())
        score = {
            "hf_subset": "default",
            "languages": list(self.spec.languages),
            "main_score": spearman,
            "cosine_spearman": spearman,
            "cosine_pearson": pearson,
            "n_pairs": len(gold),
            "n_words": len(vocab),
            "n_zero_vector_words": zero_words,
        }
        revision = UPSTREAM_COMMIT if digest == self.dataset.sha256 else f"sha256:{digest}"
        return TaskOutcome(
            scores={"test": [score]},
            dataset_revision=revision,
            data=source,
            extra={"file": self.dataset.file, "sha256": digest, "matches_pinned_sha256": digest == self.dataset.sha256},
        )


def wordsim_tasks() -> list[WordSimTask]:
    return [WordSimTask(ds) for ds in DATASETS]


FAMILY = TaskFamily(name="WordSim", tasks=wordsim_tasks, in_average_all=True, order=30)
