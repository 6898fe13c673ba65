"""`bpemb`: BPEmb subword vectors (the `bpemb` package), averaged over the pieces of each text
(a zero vector for empty text). From `<model-dir>/<id>` (a sentencepiece `*.model` and a
`*.d<dim>.w2v.bin`), else bpemb's own download cache, else a download (never offline)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.encoders import EncoderInfo, ModelSource
from harness.errors import ModelUnavailableError
from harness.loaders import LoaderKind, make_info
from harness.mirror import is_offline

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec

FRAMEWORK = "NumPy"
SETTINGS = "bpemb: mean of the BPE pieces' vectors"


class BPEmbEncoder:
    """BPEmb subword vectors, averaged over the pieces of each text."""

    per_text = True
    """A text's embedding depends on that text alone."""

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


def _settings(spec: ModelSpec) -> tuple[str, int, int]:
    kw = spec.loader_kwargs
    return str(kw["lang"]), int(kw["vs"]), int(kw["dim"])


def bpemb_cache(spec: ModelSpec) -> tuple[Path, bool]:
    """bpemb's own download cache for this entry, and whether both its files are there."""
    lang, vs, dim = _settings(spec)
    cache = Path.home() / ".cache" / "bpemb" / lang
    files = (cache / f"{lang}.wiki.bpe.vs{vs}.model", cache / f"{lang}.wiki.bpe.vs{vs}.d{dim}.w2v.bin")
    return cache, all(f.is_file() for f in files)


def _from_mirror(spec: ModelSpec, local: Path):
    from bpemb import BPEmb

    lang, vs, dim = _settings(spec)
    models, embs = sorted(local.glob("*.model")), sorted(local.glob(f"*.d{dim}.w2v.bin"))
    if not models or not embs:
        raise ModelUnavailableError(f"model '{spec.name}': '{local}' needs a sentencepiece *.model and a "
                                    f"*.d{dim}.w2v.bin file")
    return BPEmb(lang=lang, vs=vs, dim=dim, model_file=models[0], emb_file=embs[0])


def _from_cache_or_download(spec: ModelSpec):
    from bpemb import BPEmb

    lang, vs, dim = _settings(spec)
    cache, cached = bpemb_cache(spec)
    if not cached and is_offline():
        raise ModelUnavailableError(
            f"model '{spec.name}' is not available offline: no '{cache}' cache and no --model-dir copy "
            f"at <model-dir>/{spec.id} (needs {lang}.wiki.bpe.vs{vs}.model and .d{dim}.w2v.bin)")
    try:
        return BPEmb(lang=lang, vs=vs, dim=dim), ModelSource("mirror" if cached else "hub", str(cache), spec.revision)
    except Exception as exc:
        raise ModelUnavailableError(f"model '{spec.name}': BPEmb download failed ({type(exc).__name__}); "
                                    "use --model-dir") from exc


def load(spec: ModelSpec, mirrors: Mirrors) -> BPEmbEncoder:
    try:
        import bpemb  # noqa: F401
    except ImportError:
        raise ModelUnavailableError(f"model '{spec.name}' needs the bpemb package: pip install '.[bpemb]'") from None
    local = mirrors.model(spec.id)
    if local is not None:
        bp, source = _from_mirror(spec, local), ModelSource("mirror", str(local), spec.revision)
    else:
        bp, source = _from_cache_or_download(spec)
    info = make_info(spec, source, _settings(spec)[2], int(np.asarray(bp.vectors).size))
    return BPEmbEncoder(bp, info)


def offline(spec: ModelSpec, mirrors: Mirrors) -> str | None:
    if mirrors.model(spec.id) is not None:
        return "mirror"
    return "cache" if bpemb_cache(spec)[1] else None


@dataclass(frozen=True)
class BPEmbFiles:
    """An entry's two BPEmb files (sentencepiece model, vectors), fetched by the bpemb package from its own
    server (a `harness.fetch` need; BPEmb publishes no checksums, so the check is that both are there)."""

    folder: str
    revision: str
    lang: str
    vs: int
    dim: int
    side: str = "models"

    def kind(self) -> str:
        return "bpemb"

    def origin(self) -> str:
        from bpemb import BPEmb

        return BPEmb.base_url

    def resolve(self) -> str:
        return self.revision

    def contents(self) -> tuple[str, ...]:
        return ("*",)

    def _names(self) -> tuple[str, str]:
        return f"{self.lang}.wiki.bpe.vs{self.vs}.model", f"{self.lang}.wiki.bpe.vs{self.vs}.d{self.dim}.w2v.bin"

    def sizes(self, commit: str) -> dict[str, int | None]:
        return dict.fromkeys(self._names())

    def fill(self, staging: Path, commit: str) -> None:
        from bpemb import BPEmb

        download = staging / ".bpemb"
        BPEmb(lang=self.lang, vs=self.vs, dim=self.dim, cache_dir=download)
        for name in self._names():
            os.replace(download / self.lang / name, staging / name)
        shutil.rmtree(download, ignore_errors=True)

    def problems(self, staging: Path, commit: str) -> list[str]:
        return [f"{name}: missing" for name in self._names() if not (staging / name).is_file()]


def needs(spec: ModelSpec) -> list:
    lang, vs, dim = _settings(spec)
    return [BPEmbFiles(spec.id, spec.revision, lang, vs, dim)]


def validate(spec: ModelSpec) -> None:
    missing = {"lang", "vs", "dim"} - set(spec.loader_kwargs)
    if missing:
        raise ValueError(f"a 'bpemb' model needs loader_kwargs {sorted(missing)}")


LIBRARY = "BPEmb"
LOADER = LoaderKind(name="bpemb", load=load, libraries=("bpemb",), framework=FRAMEWORK, library=LIBRARY,
                    settings=SETTINGS, offline=offline, validate=validate, needs=needs,
                    per_text=BPEmbEncoder.per_text)
