"""Distilled static models: built from a teacher by a registry recipe, cached on disk by recipe.

- `output` embeddings: `model2vec.distill.distill` (every token passed through the teacher), with
  `pca_dims` and `sif_coefficient` (1e-4 with Zipf weighting, None without).
- `input` embeddings: the teacher's own input token-embedding matrix, post-processed the same way
  (model2vec's `apply_pca`, then the Zipf/SIF weights of `compute_weights`), with the teacher's tokenizer.

Both are saved as float32 model2vec models in `<cache>/distilled/<name>-<key>/`, where the key is a
hash of the teacher, its revision and the recipe: a changed recipe builds a new model, an unchanged
one reloads the cached build. The cache is `HARNESS_CACHE_DIR` (default `~/.cache/harness`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.encoders import ModelSource, download, resolve_source
from harness.errors import HarnessError
from harness.mirror import Mirrors, cache_home

if TYPE_CHECKING:
    from harness.spec import ModelSpec

log = logging.getLogger(__name__)

SIF_COEFFICIENT = 1e-4
RECIPE_FILE = "harness_recipe.json"


def cache_root() -> Path:
    return cache_home() / "distilled"


def _check(spec: ModelSpec) -> None:
    if spec.teacher is None or spec.recipe is None:
        raise HarnessError(f"model '{spec.name}' has no teacher/recipe: it cannot be distilled")


def recipe_key(spec: ModelSpec) -> str:
    """Hash of what determines the build: teacher, teacher revision, recipe, SIF coefficient."""
    _check(spec)
    payload = {"teacher": spec.teacher, "revision": spec.revision, "recipe": spec.recipe.model_dump(),
               "sif_coefficient": SIF_COEFFICIENT}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def build_folder(spec: ModelSpec) -> Path:
    return cache_root() / f"{spec.name}-{recipe_key(spec)}"


def cached_build(spec: ModelSpec) -> Path | None:
    folder = build_folder(spec)
    return folder if (folder / RECIPE_FILE).is_file() else None


def teacher_spec(spec: ModelSpec) -> ModelSpec:
    """The teacher as an entry of its own (its package is the entry's `teacher_package`, which the registry
    takes from an entry with the teacher's id); its revision is the distilled entry's."""
    return spec.model_copy(update={"id": spec.teacher, "package": spec.teacher_package,
                                   "package_path": spec.teacher_package_path})


def teacher_source(spec: ModelSpec, mirrors: Mirrors) -> ModelSource:
    """The teacher through the same mirror → package → hub order as any model."""
    return resolve_source(teacher_spec(spec), mirrors)


def _input_embedding_model(teacher: Path, pca_dims: int | None, zipf: bool):
    from model2vec import StaticModel
    from model2vec.distill.inference import apply_pca, compute_weights
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer = Tokenizer.from_file(str(teacher / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    weights = AutoModel.from_pretrained(str(teacher)).get_input_embeddings().weight
    vectors = weights.detach().float().numpy()[: tokenizer.get_vocab_size()]
    vectors = apply_pca(vectors, pca_dims)
    vectors = vectors * compute_weights(len(vectors), SIF_COEFFICIENT if zipf else None)[:, None]
    config = {"model_type": "model2vec", "architectures": ["StaticModel"], "tokenizer_name": teacher.name,
              "apply_pca": pca_dims, "sif_coefficient": SIF_COEFFICIENT if zipf else None,
              "hidden_dim": vectors.shape[1], "seq_length": 1000000, "normalize": True, "pooling": "mean"}
    return StaticModel(vectors=vectors.astype(np.float32), tokenizer=tokenizer, config=config, normalize=True,
                       base_model_name=teacher.name)


def build(spec: ModelSpec, mirrors: Mirrors, force: bool = False) -> Path:
    """Build (or find in the cache) the model of a distilled entry; returns its folder. Processes that
    need the same build at once (workers of one run) take turns: one builds, the others find it built."""
    _check(spec)
    if not force and (folder := cached_build(spec)) is not None:
        return folder
    final = build_folder(spec)
    final.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(final):
        if not force and (folder := cached_build(spec)) is not None:
            return folder
        folder, source = download(teacher_source(spec, mirrors))
        model = _distill(spec, folder)
        _save_atomically(spec, model, source, final)
    return final


@contextlib.contextmanager
def _build_lock(final: Path):
    """An exclusive lock on the build of `final`, held across processes."""
    import fcntl

    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _distill(spec: ModelSpec, teacher: Path):
    recipe = spec.recipe
    log.info("distilling %s from %s (%s embeddings, PCA %s, Zipf %s)", spec.name, teacher, recipe.embeddings,
             recipe.pca_dims, recipe.zipf)
    if recipe.embeddings == "output":
        from model2vec.distill import distill

        return distill(model_name=str(teacher), pca_dims=recipe.pca_dims,
                       sif_coefficient=SIF_COEFFICIENT if recipe.zipf else None, quantize_to="float32")
    return _input_embedding_model(teacher, recipe.pca_dims, recipe.zipf)


def _save_atomically(spec: ModelSpec, model, source: ModelSource, final: Path) -> None:
    """The model and its recipe record into `final`, through a temporary folder."""
    recipe = spec.recipe
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        model.save_pretrained(tmp)
        record = {"name": spec.name, "teacher": spec.teacher, "teacher_source": source.kind,
                  "teacher_location": source.location, "teacher_revision": source.revision,
                  "teacher_commit": source.commit,
                  "recipe": recipe.model_dump(), "sif_coefficient": SIF_COEFFICIENT if recipe.zipf else None,
                  "key": recipe_key(spec), "shape": list(model.embedding.shape)}
        (tmp / RECIPE_FILE).write_text(json.dumps(record, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
