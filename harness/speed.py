"""`harness speed`: sentences per second on a fixed corpus, with a protocol written into the result.

Protocol: the corpus is embedded once as a warm-up, then `repeats` (≥ 5) timed times, each a single
`encode` call on the whole corpus through the same encoder the evaluations use (model2vec with
multiprocessing off, sentence-transformers with its default `encode` settings, as the published
figure did). The rate is corpus size / wall time; the median is reported with min and max.
The default corpus is real text available offline: the first 1,000 documents (title + abstract) of
the SciFact corpus in the data mirror. The record lands in `<results>/<org__model>/<revision>/harness/throughput.json`.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.encoders import Encoder
from harness.data import resolve_dataset
from harness.errors import HarnessError
from harness.mirror import Mirrors
from harness.results import Throughput
from harness.runner import package_versions, torch_threads

DEFAULT_SIZE = 1000
MIN_REPEATS = 5


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


SCIFACT = "mteb/scifact"
SCIFACT_REVISION = "d56462d0e63a25450459c4f213e49ffdb866f7f9"
"""The revision mteb's SciFact task pins, for the corpus when it comes from the hub."""


def load_corpus(spec: str, mirrors: Mirrors, size: int = DEFAULT_SIZE) -> Corpus:
    """`scifact` (first `size` SciFact documents, from the data mirror or the hub) or a text file, one text a line."""
    if spec == "scifact":
        source = resolve_dataset(mirrors, SCIFACT, "speed corpus 'scifact'", SCIFACT_REVISION)
        texts = tuple(_scifact_texts(source, size))
        where = str(Path(source.location) / "corpus.jsonl.gz") if source.kind == "mirror" else source.describe()
        return Corpus(f"scifact-{len(texts)}", where, texts)
    path = Path(spec)
    if not path.is_file():
        raise HarnessError(f"--corpus '{spec}' is neither 'scifact' nor a text file (one text per line)")
    texts = tuple(line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not texts:
        raise HarnessError(f"--corpus '{spec}' has no text lines")
    return Corpus(path.stem, str(path.resolve()), texts[:size] if size else texts)


def _scifact_texts(source, size: int) -> list[str]:
    """Title + abstract of the first `size` SciFact documents."""
    if source.kind == "mirror":
        with gzip.open(Path(source.location) / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
            docs = [json.loads(line) for line, _ in zip(fh, range(size))]
    else:
        import datasets

        docs = datasets.load_dataset(SCIFACT, "corpus", split=f"corpus[:{size}]", revision=source.revision).to_list()
    return [f"{doc.get('title', '')} {doc['text']}".strip() for doc in docs]


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


def measure(encoder: Encoder, corpus: Corpus, repeats: int = MIN_REPEATS, progress: bool = True,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:
    """Warm-up, then `repeats` timed passes; sentences/second per pass and their median/min/max. `clock`
    (seconds, monotonic) times the passes."""
    from tqdm.auto import tqdm

    if repeats < MIN_REPEATS:
        raise HarnessError(f"--repeats {repeats}: at least {MIN_REPEATS} timed repetitions are needed")
    texts = list(corpus.texts)
    encoder.encode(texts)  # warm-up: caches, lazy initialisation, thread pools
    rates = []
    for _ in tqdm(range(repeats), desc=f"{encoder.info.name}: speed", disable=not progress, unit="rep"):
        start = clock()
        encoder.encode(texts)
        rates.append(len(texts) / (clock() - start))
    return {"sentences_per_second": statistics.median(rates), "min": min(rates), "max": max(rates),
            "repetitions": rates, "warmup": 1}


def throughput_record(encoder: Encoder, corpus: Corpus, result: dict[str, Any]) -> Throughput:
    """The typed record of one measurement: model, rates, corpus, protocol, hardware, versions."""
    info = encoder.info
    return Throughput.model_validate({
        "model": info.provenance(),
        **result,
        "corpus": corpus.describe(),
        "protocol": {"warmup_passes": 1, "timed_passes": len(result["repetitions"]), "statistic": "median",
                     "unit": "sentences per second: corpus size / wall time of one encode call",
                     "encode": info.settings},
        "hardware": hardware(),
        "packages": package_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


def measure_model(spec, store, mirrors: Mirrors, corpus: Corpus, repeats: int = MIN_REPEATS,
                  progress: bool = True) -> str:
    """Load a model, measure it on `corpus` and store the record; what was measured, in one line."""
    from harness.loaders import load_encoder

    encoder = load_encoder(spec, mirrors)
    record = throughput_record(encoder, corpus, measure(encoder, corpus, repeats, progress))
    path = store.write_throughput(spec.id, spec.revision, record)
    return (f"{record.sentences_per_second:.1f} sentences/s (median of {repeats}; min {record.min:.1f}, "
            f"max {record.max:.1f}) on {corpus.name} -> {path}")
