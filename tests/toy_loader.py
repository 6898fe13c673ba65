"""A loader kind that lives outside the package: one file, found through HARNESS_PLUGINS.

`toy-hash`: each word hashed into one of `dim` buckets, a text is the normalised count vector."""

from __future__ import annotations

import hashlib

import numpy as np

from harness.encoders import ModelSource
from harness.loaders import LoaderKind, make_info


class HashEncoder:
    def __init__(self, info):
        self.info = info

    def encode(self, texts):
        out = np.zeros((len(texts), self.info.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.info.dim] += 1.0
        return out


def load(spec, mirrors):
    dim = int(spec.loader_kwargs.get("dim", 64))
    source = ModelSource("package", __name__, spec.revision)
    return HashEncoder(make_info(spec, source, dim, 0))


def validate(spec):
    if "dim" not in spec.loader_kwargs:
        raise ValueError("a 'toy-hash' model needs loader_kwargs {'dim'}")


LOADER = LoaderKind(name="toy-hash", load=load, libraries=(), framework="NumPy", library="toy",
                    settings="hashed words", offline=lambda spec, mirrors: "package", validate=validate)
