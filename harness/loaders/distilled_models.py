"""`distilled`: a static model built from a teacher by a recipe (harness.distill), cached by recipe,
then loaded as a model2vec model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.distill import RECIPE_FILE, build, cached_build, teacher_source, teacher_spec
from harness.encoders import ModelSource, model_needs
from harness.errors import ModelUnavailableError
from harness.loaders import LoaderKind
from harness.loaders.model2vec_models import FRAMEWORK, LIBRARY, SETTINGS, Model2VecEncoder, from_folder

if TYPE_CHECKING:
    from harness.mirror import Mirrors
    from harness.spec import ModelSpec


def load(spec: ModelSpec, mirrors: Mirrors) -> Model2VecEncoder:
    """The distilled model as an encoder, built first when the cache does not have this recipe."""
    folder = build(spec, mirrors)
    record = json.loads((folder / RECIPE_FILE).read_text())
    source = ModelSource("cache", str(folder), f"{record['teacher_revision']}+recipe:{record['key']}")
    return from_folder(spec, source, folder)


def offline(spec: ModelSpec, mirrors: Mirrors) -> str | None:
    if cached_build(spec) is not None:
        return "cache"
    try:
        teacher = teacher_source(spec, mirrors)
    except ModelUnavailableError:
        return None
    return f"teacher:{teacher.kind}" if teacher.kind != "hub" else None


def needs(spec: ModelSpec) -> list:
    """The teacher, as any model is fetched (the build itself is made on the machine that runs it)."""
    return model_needs(teacher_spec(spec))


def validate(spec: ModelSpec) -> None:
    if spec.teacher is None or spec.recipe is None:
        raise ValueError("a 'distilled' model needs both 'teacher' and 'recipe'")


LOADER = LoaderKind(name="distilled", load=load, libraries=("model2vec",), framework=FRAMEWORK, library=LIBRARY,
                    settings=SETTINGS, offline=offline, validate=validate, needs=needs,
                    per_text=Model2VecEncoder.per_text, runs_as="model2vec")
