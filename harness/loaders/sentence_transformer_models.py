"""`sentence-transformers`: a `SentenceTransformer` with its default `encode` settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.encoders import EncoderInfo, as_float32, download, resolve_source, source_offline
from harness.loaders import LoaderKind, make_info

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec

FRAMEWORK = "Sentence Transformers"
LIBRARY = "Sentence Transformers"
SETTINGS = "sentence-transformers encode() defaults"


class SentenceTransformerEncoder:
    """A `SentenceTransformer` model."""

    def __init__(self, model, info: EncoderInfo):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return as_float32(out, len(texts), self.info.dim)


def wrap(spec: ModelSpec, source, model) -> SentenceTransformerEncoder:
    """A loaded `SentenceTransformer` as the encoder of `spec`."""
    n_params = sum(p.numel() for p in model.parameters())
    info = make_info(spec, source, model.get_embedding_dimension(), n_params)
    return SentenceTransformerEncoder(model, info)


def load(spec: ModelSpec, mirrors: Mirrors) -> SentenceTransformerEncoder:
    from sentence_transformers import SentenceTransformer

    folder, source = download(resolve_source(spec, mirrors))
    return wrap(spec, source, SentenceTransformer(str(folder)))


LOADER = LoaderKind(name="sentence-transformers", load=load, libraries=("sentence_transformers",),
                    framework=FRAMEWORK, library=LIBRARY, settings=SETTINGS, offline=source_offline)
