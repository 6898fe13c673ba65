"""`model2vec`: a `model2vec.StaticModel` (multiprocessing off: deterministic, and as the published speeds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.encoders import EncoderInfo, as_float32, download, make_info, resolve_source, source_offline
from harness.loaders import LoaderKind

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec

FRAMEWORK = "NumPy"
"""What mteb's own ModelMeta of model2vec models says."""
LIBRARY = "Model2Vec"
SETTINGS = "model2vec StaticModel.encode(use_multiprocessing=False)"


class Model2VecEncoder:
    """A model2vec `StaticModel`."""

    def __init__(self, model, info: EncoderInfo):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model.encode(list(texts), use_multiprocessing=False, show_progress_bar=False)
        return as_float32(out, len(texts), self.info.dim)


def from_folder(spec: ModelSpec, source, folder) -> Model2VecEncoder:
    """A model2vec model saved in `folder`, as the encoder of `spec` loaded from `source`."""
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(str(folder))
    info = make_info(spec, source, model.embedding.shape[1], int(model.embedding.size))
    return Model2VecEncoder(model, info)


def load(spec: ModelSpec, mirrors: Mirrors) -> Model2VecEncoder:
    folder, source = download(resolve_source(spec, mirrors))
    return from_folder(spec, source, folder)


LOADER = LoaderKind(name="model2vec", load=load, libraries=("model2vec",), framework=FRAMEWORK, library=LIBRARY, settings=SETTINGS,
                    offline=source_offline)
