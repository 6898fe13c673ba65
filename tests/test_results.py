"""The results folder: atomic writes, refusal of non-finite numbers, completeness by the protocol's
metric, unreadable files, write failures, and a layout mteb's own ResultCache reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ResultsError
from harness.results import (
    ResultStore, TaskKey, Throughput, protocol_score, read_folder, read_json, read_throughputs, write_json_atomic,
)

ROOT = Path(__file__).resolve().parent.parent

MEN = TaskKey(name="MEN", split="test", subset="default", main_score="cosine_spearman")


def _doc(task="MEN", score=0.5, split="test", subset="default", metric="cosine_spearman"):
    return {"task_name": task, "scores": {split: [{"hf_subset": subset, "main_score": score, metric: score,
                                                   "languages": ["eng-Latn"]}]}}


def test_layout_is_mtebs(tmp_path):
    store = ResultStore(tmp_path)
    path = store.write("org/model", "rev1", "MEN", _doc())
    assert path == tmp_path / "org__model" / "rev1" / "MEN.json"
    assert json.loads(path.read_text())["scores"]["test"][0]["main_score"] == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_refused_and_old_file_kept(tmp_path, bad):
    store = ResultStore(tmp_path)
    path = store.write("org/model", "rev", "MEN", _doc(score=0.25))
    with pytest.raises(ResultsError, match=r"MEN.json.scores.test\[0\].main_score is not a finite number"):
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


def test_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    path = tmp_path / "X.json"
    write_json_atomic(path, {"a": 1})

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    with pytest.raises(ResultsError, match=rf"cannot write {path} \(No space left on device\); free some space"):
        write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["X.json"]


READ_ONLY_RUN = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def test_unwritable_results_folder_is_refused_up_front(tmp_path):
    """A results folder on a read-only file system (a read-only bind mount in a user namespace, which stops root
    too): `harness run` refuses it before it loads anything, in one line, with exit code 2."""
    cmd = ["unshare", "-rm", "sh", "-c", READ_ONLY_RUN, "sh", str(tmp_path), sys.executable, "-m", "harness.cli", "run",
           "--offline", "-m", "potion-base-8M", "-t", "STSBenchmark", "--results-dir", str(tmp_path / "results")]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"harness: error: results folder '{tmp_path}/results' is not writable (Read-only "
                                   "file system); fix its permissions or give another --results-dir")
    assert list(tmp_path.iterdir()) == []


def test_results_folder_under_a_file_is_refused_up_front(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsError, match=rf"results folder '{tmp_path}/file/results' is not writable"):
        ResultStore(tmp_path / "file" / "results").check_writable()


KILLED_MID_WRITE = """
import os, signal, sys
from harness.results import ResultStore
os.replace = lambda *_: os.kill(os.getpid(), signal.SIGKILL)  # killed after the write, before the rename
ResultStore(sys.argv[1]).write("o/m", "r", "MEN", {"task_name": "MEN"})
"""


def test_a_run_removes_what_a_killed_writer_left_and_nothing_else(tmp_path):
    """A writer killed in the middle of a write leaves its temporary file; the next run's check of the folder
    removes it, but not a live writer's (this process) nor another host's (a folder shared by shards)."""
    killed = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path)], cwd=ROOT)
    assert killed.wait() == -9
    folder = tmp_path / "o__m" / "r"
    left = [p.name for p in folder.glob(".*.tmp")]
    assert len(left) == 1 and left[0].startswith(".MEN.json.")
    live = folder / f".MEN.json.{os.uname().nodename}-{os.getpid()}-abc.tmp"
    other_host = folder / f".MEN.json.elsewhere.example-{killed.pid}-abc.tmp"  # same dead pid, another host
    live.write_text("")
    other_host.write_text("")
    ResultStore(tmp_path).check_writable()
    assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, other_host.name])


def test_completeness_needs_split_subset_and_the_protocol_metric(tmp_path):
    store = ResultStore(tmp_path)
    assert store.completed("o/m", "r", MEN) is None
    store.write("o/m", "r", "MEN", _doc(subset="en"))
    assert store.completed("o/m", "r", MEN) is None
    assert store.completed("o/m", "r", MEN.model_copy(update={"subset": "en"})).value == 0.5
    store.write("o/m", "r", "MEN", _doc(task="Other"))
    assert store.completed("o/m", "r", MEN) is None
    store.write("o/m", "r", "MEN", _doc(metric="pearson"))  # a main_score without the protocol's metric
    assert store.completed("o/m", "r", MEN) is None


def test_unreadable_file_is_named(tmp_path):
    path = tmp_path / "o__m" / "r" / "MEN.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ResultsError, match=rf"{path}: not valid JSON"):
        ResultStore(tmp_path).completed("o/m", "r", MEN)


def test_protocol_score_reads_the_metric_not_the_files_main_score():
    entry = {"hf_subset": "default", "accuracy": 0.69, "ap": 0.12, "main_score": 0.12}
    key = TaskKey(name="Toxic", split="test", subset="default", main_score="accuracy")
    found = protocol_score({"test": [entry]}, key)
    assert found.value == 0.69 and found.metric == "accuracy"
    assert "main_score 0.1200 is not accuracy" in found.note
    old = TaskKey(name="R", split="test", subset="default", main_score="map_at_1000", metric_aliases=("map",))
    assert protocol_score({"test": [{"map": 0.3, "main_score": 0.3}]}, old).metric == "map"
    assert protocol_score({"test": [{"accuracy": "high"}]}, key) is None
    assert protocol_score(None, key) is None


def test_undefined_metrics_become_null_and_are_listed():
    from harness.results import null_non_finite

    clean, places = null_non_finite({"test": [{"main_score": 0.8, "ap": float("nan"), "x": [1.0, float("inf")]}]})
    assert clean == {"test": [{"main_score": 0.8, "ap": None, "x": [1.0, None]}]}
    assert places == ["scores.test[0].ap", "scores.test[0].x[1]"]


def _throughput(speed=100.0) -> Throughput:
    return Throughput.model_validate({
        "model": {"name": "m", "id": "o/m", "revision": "r", "loader": "model2vec", "source": "mirror"},
        "sentences_per_second": speed, "min": speed, "max": speed, "repetitions": [speed] * 5, "warmup": 1,
        "corpus": {"name": "c"}, "protocol": {}, "hardware": {}})


def test_throughput_lives_where_mtebs_loader_does_not_look_and_old_place_is_still_read(tmp_path):
    store = ResultStore(tmp_path)
    legacy = tmp_path / "o__m" / "r" / "throughput.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(_throughput(50.0).model_dump_json())
    assert read_throughputs(tmp_path)["o/m"].sentences_per_second == 50.0
    store.write("o/m", "r", "MEN", _doc())  # the next write moves it out of the task files
    assert not legacy.exists() and (tmp_path / "o__m" / "r" / "harness" / "throughput.json").is_file()
    assert store.throughput("o/m", "r").sentences_per_second == 50.0
    path = store.write_throughput("o/m", "r", _throughput(80.0))
    assert path == tmp_path / "o__m" / "r" / "harness" / "throughput.json"
    assert read_throughputs(tmp_path)["o/m"].sentences_per_second == 80.0


def test_a_malformed_throughput_file_is_one_line(tmp_path):
    path = tmp_path / "o__m" / "r" / "harness" / "throughput.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"sentences_per_second": 1.0}))
    with pytest.raises(ResultsError, match=rf"{path}: not a throughput record \(field 'model'"):
        read_throughputs(tmp_path)
    problems: list[str] = []  # a report names it and goes on
    assert read_throughputs(tmp_path, problems=problems) == {}
    assert len(problems) == 1 and problems[0].startswith(f"{path}: not a throughput record")


def test_reader_merges_revisions_registry_first_and_external_last(tmp_path):
    def put(rev, value):
        path = tmp_path / "o__m" / rev / "MEN.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**_doc(score=value), "mteb_version": "2.0.0", "dataset_revision": "x",
                                    "evaluation_time": 1.0}))

    put("external", 0.1)
    put("aaa", 0.2)
    put("pinned", 0.3)
    reading = read_folder(tmp_path, {"MEN": MEN}, "published", {"o/m": "pinned"}.get)
    (record,) = reading.records
    assert record.value == 0.3 and record.origin == "published" and record.revision == "pinned"
    assert reading.notes == ["o__m MEN: pinned/MEN.json used; also in aaa, external (not used)"]
    (record,) = read_folder(tmp_path, {"MEN": MEN}, "published").records
    assert record.revision == "aaa"


def test_written_files_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "X.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "X.json").stat().st_mode & 0o777 == 0o644
