"""`model2vec`: a `model2vec.StaticModel` (multiprocessing off: deterministic, and as the published speeds)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from harness.cores import cell_cores
from harness.encoders import EncoderInfo, as_float32, download, resolve_source, source_offline
from harness.loaders import LoaderKind, make_info

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec

FRAMEWORK = "NumPy"
"""What mteb's own ModelMeta of model2vec models says."""
LIBRARY = "Model2Vec"
SETTINGS = "model2vec StaticModel.encode(use_multiprocessing=False)"
"""How speeds are measured (on one core, as the published speeds); evaluations encode inputs over
PARALLEL_THRESHOLD texts on the cell's cores (model2vec's threads: the same embeddings)."""
PARALLEL_THRESHOLD = 10_000


class Model2VecEncoder:
    """A model2vec `StaticModel`."""

    per_text = True
    """A text's embedding is the mean of its own token vectors, whatever else the call holds."""

    def __init__(self, model, info: EncoderInfo):
        self.model = model
        self.info = info

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of `texts`; a large input on the cell's cores (`harness.cores`) through model2vec's own
        threaded encode, whose batches are those of a sequential call (the same embeddings, bit for bit)."""
        parallel = cell_cores() > 1 and len(texts) > PARALLEL_THRESHOLD
        before = os.environ.get("TOKENIZERS_PARALLELISM")
        try:
            out = self.model.encode(list(texts), use_multiprocessing=parallel, show_progress_bar=False,
                                    multiprocessing_threshold=PARALLEL_THRESHOLD)
        finally:  # model2vec switches the tokenizer's own threads off for its threaded encode; later calls keep them
            if before is None:
                os.environ.pop("TOKENIZERS_PARALLELISM", None)
            else:
                os.environ["TOKENIZERS_PARALLELISM"] = before
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
                    offline=source_offline,
                    per_text=Model2VecEncoder.per_text)
