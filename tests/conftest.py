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
    """Tests never reach the network; variables set by the code under test are restored afterwards."""
    for var in _OFFLINE_VARS:
        monkeypatch.setenv(var, "1")
    monkeypatch.delenv("HARNESS_MODEL_DIR", raising=False)


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
    from harness.encoders import load_encoder

    return load_encoder(registry.get("GloVe_6B_50d"), Mirrors())


@pytest.fixture(scope="session")
def minilm(registry):
    """all-MiniLM-L6-v2 from its PyPI package (loaded once per test session)."""
    from harness.encoders import load_encoder

    return load_encoder(registry.get("all-MiniLM-L6-v2"), Mirrors())
