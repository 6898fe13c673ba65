"""The result store: atomic writes, refusal of non-finite numbers, completeness, unreadable files."""

from __future__ import annotations

import json

import pytest

from harness.errors import ResultsError
from harness.results import ResultStore, main_score_of, read_json, write_json_atomic


def _doc(task="MEN", score=0.5, split="test", subset="default"):
    return {"task_name": task, "scores": {split: [{"hf_subset": subset, "main_score": score}]}}


def test_layout_is_mtebs(tmp_path):
    store = ResultStore(tmp_path)
    path = store.write("org/model", "rev1", "MEN", _doc())
    assert path == tmp_path / "org__model" / "rev1" / "MEN.json"
    assert json.loads(path.read_text())["scores"]["test"][0]["main_score"] == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_and_old_file_kept(tmp_path, bad):
    store = ResultStore(tmp_path)
    path = store.write("org/model", "rev", "MEN", _doc(score=0.25))
    with pytest.raises(ResultsError, match=r"MEN.json.scores.test\[0\].main_score is"):
        store.write("org/model", "rev", "MEN", _doc(score=bad))
    assert read_json(path)["scores"]["test"][0]["main_score"] == 0.25
    assert [p.name for p in path.parent.iterdir()] == ["MEN.json"]


def test_interrupted_write_leaves_previous_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "X.json"
    write_json_atomic(path, {"a": 1})

    def boom(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["X.json"]


def test_completeness_needs_split_subset_and_finite_score(tmp_path):
    store = ResultStore(tmp_path)
    assert not store.is_complete("o/m", "r", "MEN", "test", "default")
    store.write("o/m", "r", "MEN", _doc(subset="en"))
    assert not store.is_complete("o/m", "r", "MEN", "test", "default")
    assert store.is_complete("o/m", "r", "MEN", "test", "en")
    store.write("o/m", "r", "MEN", _doc(task="Other"))
    assert not store.is_complete("o/m", "r", "MEN", "test", "default")


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "o__m" / "r" / "MEN.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ResultsError, match=rf"{path}: not valid JSON"):
        ResultStore(tmp_path).is_complete("o/m", "r", "MEN", "test", "default")


def test_main_score_of_ignores_missing_and_non_numbers():
    assert main_score_of(_doc(score="high"), "test", "default") is None
    assert main_score_of({"scores": None}, "test", "default") is None
    assert main_score_of(_doc(score=1), "test", "default") == 1.0


def test_undefined_metrics_become_null_and_are_listed():
    from harness.results import null_non_finite

    clean, places = null_non_finite({"test": [{"main_score": 0.8, "ap": float("nan"), "x": [1.0, float("inf")]}]})
    assert clean == {"test": [{"main_score": 0.8, "ap": None, "x": [1.0, None]}]}
    assert places == ["scores.test[0].ap", "scores.test[0].x[1]"]
