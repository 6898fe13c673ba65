"""`harness speed`: sentences per second on a fixed corpus, with a protocol written into the result.

Protocol: the corpus is embedded once as a warm-up, then `repeats` (≥ 5) timed times, each a single
`encode` call on the whole corpus through the same encoder the evaluations use (model2vec with
multiprocessing off, sentence-transformers with its default `encode` settings, as the published
figure did). The rate is corpus size / wall time; the median is reported with min and max.
The default corpus is real text available offline: the first 1,000 documents (title + abstract) of
the SciFact corpus in the data mirror. `throughput.json` lands next to the model's results.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.encoders import Encoder
from harness.errors import DataUnavailableError, HarnessError
from harness.mirror import Mirrors
from harness.runner import package_versions, torch_threads

DEFAULT_CORPUS = "scifact"
DEFAULT_SIZE = 1000
MIN_REPEATS = 5
THROUGHPUT_FILE = "throughput.json"


@dataclass(frozen=True)
class Corpus:
    name: str
    source: str
    texts: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        chars = [len(t) for t in self.texts]
        words = [len(t.split()) for t in self.texts]
        return {"name": self.name, "source": self.source, "count": len(self.texts),
                "mean_chars": statistics.fmean(chars), "mean_words": statistics.fmean(words)}


def load_corpus(spec: str, mirrors: Mirrors, size: int = DEFAULT_SIZE) -> Corpus:
    """`scifact` (first `size` SciFact documents from the data mirror) or a text file, one text a line."""
    if spec == "scifact":
        path = mirrors.dataset("mteb/scifact")
        if path is None:
            raise DataUnavailableError(f"speed corpus 'scifact': no folder {mirrors.data_dir or '<data-dir>'}/mteb/scifact; "
                                       "give --data-dir or --corpus FILE")
        texts = []
        with gzip.open(path / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                doc = json.loads(line)
                texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
                if len(texts) == size:
                    break
        return Corpus(f"scifact-{len(texts)}", str(path / "corpus.jsonl.gz"), tuple(texts))
    path = Path(spec)
    if not path.is_file():
        raise HarnessError(f"--corpus '{spec}' is neither 'scifact' nor a text file (one text per line)")
    texts = tuple(line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not texts:
        raise HarnessError(f"--corpus '{spec}' has no text lines")
    return Corpus(path.stem, str(path.resolve()), texts[:size] if size else texts)


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu or "unknown", "cores": os.cpu_count(), "torch_threads": torch_threads(),
            "platform": platform.platform(), "python": platform.python_version()}


def measure(encoder: Encoder, corpus: Corpus, repeats: int = MIN_REPEATS, progress: bool = True) -> dict[str, Any]:
    """Warm-up, then `repeats` timed passes; sentences/second per pass and their median/min/max."""
    from tqdm.auto import tqdm

    if repeats < MIN_REPEATS:
        raise HarnessError(f"--repeats {repeats}: at least {MIN_REPEATS} timed repetitions are needed")
    texts = list(corpus.texts)
    encoder.encode(texts)  # warm-up: caches, lazy initialisation, thread pools
    rates = []
    for _ in tqdm(range(repeats), desc=f"{encoder.info.name}: speed", disable=not progress, unit="rep"):
        start = time.perf_counter()
        encoder.encode(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    return {"sentences_per_second": statistics.median(rates), "min": min(rates), "max": max(rates),
            "repetitions": rates, "warmup": 1}


def throughput_record(encoder: Encoder, corpus: Corpus, result: dict[str, Any]) -> dict[str, Any]:
    info = encoder.info
    settings = ("model2vec StaticModel.encode(use_multiprocessing=False)" if info.loader == "model2vec"
                else "sentence-transformers encode() defaults" if info.loader in ("sentence-transformers", "word-vectors")
                else f"{info.loader} encoder")
    return {
        "model": {"name": info.name, "id": info.model_id, "revision": info.revision, "loader": info.loader,
                  "source": info.source.kind, "n_parameters": info.n_parameters, "dim": info.dim},
        **result,
        "corpus": corpus.describe(),
        "protocol": {"warmup_passes": 1, "timed_passes": len(result["repetitions"]), "statistic": "median",
                     "unit": "sentences per second: corpus size / wall time of one encode call", "encode": settings},
        "hardware": hardware(),
        "packages": package_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
