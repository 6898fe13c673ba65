"""A corpus two tasks share, encoded once per model: its documents' embeddings kept on disk by text.

FEVER and ClimateFEVER search the same 5.4 million Wikipedia abstracts (ClimateFEVER's corpus is FEVER's and 25
documents more), and each would encode all of them. For an encoder whose embedding of a text does not depend on
the other texts of the call (`per_text = True`: model2vec and BPEmb average the text's own token vectors), the
documents one of these tasks encodes are kept under `<cache>/embeddings/<corpus>/<model key>/` and the other task
takes them from there: the bytes the encoder would give again, so every score is that of encoding anew
(tests/test_shared_corpora.py). An encoder without that property (a transformer, whose padded batches depend on
their neighbours) encodes as before.

- Keyed by text, the blake2b-128 digest of the text encoded: the two corpora need not hold the same documents or
  list them in the same order; a text not found is encoded and kept.
- The model key hashes the entry's id, revision, the commit read, loader, settings and dimension, and the model's
  embeddings of a few probe texts: a model that encodes differently (a distilled build of another machine) gets a
  folder of its own.
- On disk, one segment per encode call: `<name>.vectors.npy` (float32, rows × dim) and `<name>.keys.npy` (rows × 2
  uint64), each written under a temporary name and renamed, the keys last (a segment counts once its keys are
  there). Two runs at once (two workers) read each other's segments as they appear. Vectors are read through a
  memory map opened for the read and closed after it, so the process does not keep gigabytes of them resident.
- A segment that does not read whole is left out with a warning; a write that fails (a full disk) leaves the cell
  going on without keeping more. The folder can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.mirror import cache_home

log = logging.getLogger(__name__)

SHARED_CORPORA = {"FEVER": "fever-wikipedia", "ClimateFEVER": "fever-wikipedia"}
"""Tasks whose corpora are one corpus, by corpus name (mteb's ClimateFEVER: "The underlying corpus is the same as
FEVER"; its statistics: 5,416,593 documents to FEVER's 5,416,568, the same longest text)."""

KEYS, VECTORS = ".keys.npy", ".vectors.npy"


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """Each text's blake2b-128 digest as two uint64 words (rows × 2)."""
    digests = b"".join(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                       for text in texts)
    return np.frombuffer(digests, dtype=np.uint64).reshape(len(texts), 2).copy()


def model_key(encoder) -> str:
    """What identifies the embeddings an encoder gives: its provenance and its embeddings of the probe texts."""
    from harness.api import PROBE_TEXTS

    info = encoder.info
    digest = hashlib.sha256(json.dumps([info.model_id, info.revision, info.source.commit, info.loader,
                                        info.settings, info.dim]).encode())
    digest.update(np.ascontiguousarray(encoder.encode(list(PROBE_TEXTS)), dtype=np.float32).tobytes())
    return digest.hexdigest()[:20]


@dataclass
class Segment:
    path: Path
    """The segment's vectors file."""
    rows: int


class EmbeddingStore:
    """The kept embeddings of one corpus under one model, in `folder`."""

    def __init__(self, folder: Path, dim: int):
        self.folder = folder
        self.dim = dim
        self.segments: list[Segment] = []
        self.seen: set[str] = set()
        """Segment names indexed, left out, or written by this store."""
        self.first = np.empty(0, dtype=np.uint64)
        """The indexed keys' first words, sorted; `second` and `where` (segment, row) in the same order."""
        self.second = np.empty(0, dtype=np.uint64)
        self.where = np.empty((0, 2), dtype=np.int64)
        self.writable = True
        self.taken = 0
        self.encoded = 0

    def refresh(self) -> None:
        """Index the segments written since the last look (by another task, or another run at once)."""
        try:
            names = sorted(p.name[:-len(KEYS)] for p in self.folder.glob(f"*{KEYS}"))
        except OSError:
            return
        firsts, seconds, wheres = [self.first], [self.second], [self.where]
        for name in names:
            if name in self.seen:
                continue
            self.seen.add(name)
            keys_path, vectors_path = self.folder / f"{name}{KEYS}", self.folder / f"{name}{VECTORS}"
            try:
                keys = np.load(keys_path)
                vectors = np.load(vectors_path, mmap_mode="r")
                if keys.dtype != np.uint64 or keys.ndim != 2 or keys.shape[1] != 2 or vectors.shape != (len(keys), self.dim):
                    raise ValueError(f"keys {keys.shape}, vectors {vectors.shape}, dimension {self.dim}")
                del vectors
            except (OSError, ValueError) as exc:
                log.warning("kept embeddings: segment '%s' left out (%s); delete it to stop this warning",
                            keys_path, exc)
                continue
            number = len(self.segments)
            self.segments.append(Segment(vectors_path, len(keys)))
            firsts.append(keys[:, 0])
            seconds.append(keys[:, 1])
            wheres.append(np.stack([np.full(len(keys), number), np.arange(len(keys))], axis=1))
        if len(firsts) > 1:
            first, second, where = np.concatenate(firsts), np.concatenate(seconds), np.concatenate(wheres)
            order = np.argsort(first, kind="stable")
            self.first, self.second, self.where = first[order], second[order], where[order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's (segment, row), or (-1, -1) where it is not kept."""
        found = np.full((len(keys), 2), -1, dtype=np.int64)
        if len(self.first) and len(keys):
            at = np.minimum(np.searchsorted(self.first, keys[:, 0]), len(self.first) - 1)
            hit = (self.first[at] == keys[:, 0]) & (self.second[at] == keys[:, 1])
            found[hit] = self.where[at[hit]]
        return found

    def encode(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """`encode(texts)`, the kept texts read from the store, the others encoded and kept."""
        keys = text_keys(texts)
        self.refresh()
        found = self.find(keys)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for number in np.unique(found[:, 0][found[:, 0] >= 0]):
            rows = np.flatnonzero(found[:, 0] == number)
            vectors = np.load(self.segments[number].path, mmap_mode="r")
            out[rows] = vectors[found[rows, 1]]
            del vectors
        missing = np.flatnonzero(found[:, 0] < 0)
        if len(missing):
            new = encode([texts[i] for i in missing])
            out[missing] = new
            self.keep(keys[missing], out[missing])
        self.taken += len(texts) - len(missing)
        self.encoded += len(missing)
        return out

    def keep(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write one segment (vectors first, keys last, each renamed into place)."""
        if not self.writable:
            return
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.seen.add(name)
        written = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for suffix, array in ((VECTORS, vectors), (KEYS, keys)):
                final = self.folder / f"{name}{suffix}"
                temporary = final.with_name(f".{final.name}.tmp")
                written.append(temporary)
                with open(temporary, "wb") as handle:
                    np.save(handle, np.ascontiguousarray(array))
                os.replace(temporary, final)
                written.append(final)
        except OSError as exc:
            self.writable = False
            for path in written:
                path.unlink(missing_ok=True)
            log.warning("kept embeddings: cannot write in '%s' (%s); this cell goes on without keeping them",
                        self.folder, exc)

    def summary(self) -> dict:
        """What the result file records: the corpus's store and how many texts it gave and took."""
        return {"store": str(self.folder), "taken": self.taken, "encoded": self.encoded}


def waits_for(cell, running: Iterable) -> bool:
    """Whether a runner cell should not start yet: a running cell of the same model encodes the corpus it shares,
    and its loader kind encodes text by text. Once that cell ends, it takes the kept embeddings; started beside it,
    it would encode the same documents at the same time (two encodings, two peaks of memory)."""
    corpus = SHARED_CORPORA.get(cell.task.spec.name)
    if corpus is None:
        return False
    from harness.loaders import loader_kind

    return loader_kind(cell.spec.loader).per_text and any(
        other.spec.name == cell.spec.name and SHARED_CORPORA.get(other.task.spec.name) == corpus for other in running)


def store_for(task_name: str, encoder) -> tuple[str, EmbeddingStore] | None:
    """The corpus name and store of a task that shares its corpus, for an encoder that encodes text by text;
    else None."""
    corpus = SHARED_CORPORA.get(task_name)
    if corpus is None or not getattr(encoder, "per_text", False):
        return None
    return corpus, EmbeddingStore(cache_home() / "embeddings" / corpus / model_key(encoder), encoder.info.dim)
