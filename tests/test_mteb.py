"""MTEB through mteb: the catalogue per the protocol, the mirror rule, real offline runs, mock groups."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from harness.cli import main
from harness.errors import DataUnavailableError
from harness.mirror import Mirrors
from harness.registry import ModelSpec
from harness.results import ResultStore
from harness.runner import Runner
from harness.tasks import Catalogue
from harness.tasks.mteb_tasks import MtebEncoder, MtebTask, with_local_data
from tests.conftest import STATIC_ENTRY

PROTOCOL_COUNTS = {"Classification": 12, "Clustering": 11, "PairClassification": 3, "Reranking": 4,
                   "Retrieval": 15, "STS": 10, "Summarization": 1}


def offline_tasks(mirrors) -> list[str]:
    """The MTEB tasks the data mirror can serve: the list follows the data, not a copy of it."""
    return [n for n in Catalogue().groups["MTEB"] if Catalogue().tasks[n].missing_data(mirrors) is None]


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue()


def _datasets(names):
    """Dataset count of the protocol: the CQADupstack subsets count once."""
    return len({"CQADupstack" if n.startswith("CQADupstack") else n for n in names})


def test_mteb_groups_follow_the_protocol(catalogue):
    for group, n in PROTOCOL_COUNTS.items():
        assert _datasets(catalogue.groups[group]) == n, group
    assert _datasets(catalogue.groups["MTEB"]) == 56
    assert len(catalogue.groups["MTEB"]) == 67
    assert len(catalogue.groups["CQADupstackRetrieval"]) == 12
    assert set(catalogue.groups["CQADupstackRetrieval"]) <= set(catalogue.groups["Retrieval"])


def test_split_is_test_and_subset_is_english(catalogue):
    tasks = catalogue.tasks
    assert all(tasks[n].spec.split == "test" for n in catalogue.groups["MTEB"])
    subsets = {n: tasks[n].spec.subset for n in catalogue.groups["MTEB"]}
    assert subsets["AmazonCounterfactualClassification"] == "en"
    assert subsets["STS17"] == "en-en" and subsets["STS22"] == "en"
    assert subsets["MassiveIntentClassification"] == "en"
    assert subsets["STSBenchmark"] == "default"
    msmarco = tasks["MSMARCO"].factory()
    assert msmarco.eval_splits == ["test"]  # mteb's own default for MSMARCO is dev
    counterfactual = tasks["AmazonCounterfactualClassification"].factory()
    assert counterfactual.hf_subsets == ["en"]


def test_mirror_rule_replaces_the_path_on_a_copy(catalogue, tmp_path):
    for name in catalogue.groups["CQADupstackRetrieval"]:
        (tmp_path / catalogue.tasks[name].dataset_path).mkdir(parents=True)
    mirrors = Mirrors(data_dir=tmp_path)
    for name in catalogue.groups["CQADupstackRetrieval"]:
        mteb_task = catalogue.tasks[name]
        task, source = with_local_data(mteb_task.factory(), mirrors)
        assert task.metadata.dataset["path"] == source.location == str(tmp_path / mteb_task.dataset_path)
        assert type(task).metadata.dataset["path"] == mteb_task.dataset_path  # class metadata untouched
        assert mteb_task.factory().metadata.dataset["path"] == mteb_task.dataset_path


def test_missing_data_offline_names_task_and_folder(catalogue, tmp_path):
    with pytest.raises(DataUnavailableError, match=rf"MTEB STS17: no folder {tmp_path}/mteb/sts17-crosslingual-sts"):
        catalogue.tasks["STS17"].evaluate(None, Mirrors(data_dir=tmp_path))


def test_stsbenchmark_score_matches_an_independent_computation(catalogue, static_model, mirrors):
    outcome = catalogue.tasks["STSBenchmark"].evaluate(static_model, mirrors)
    entry = outcome.scores["test"][0]
    assert entry["hf_subset"] == "default" and outcome.data.location.endswith("mteb/stsbenchmark-sts")
    with gzip.open(mirrors.data_dir / "mteb/stsbenchmark-sts/test.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    a = static_model.encode([r["sentence1"] for r in rows])
    b = static_model.encode([r["sentence2"] for r in rows])
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    expected = spearmanr(cos, [r["score"] for r in rows]).statistic
    assert entry["main_score"] == pytest.approx(expected, abs=1e-6)
    assert {"cosine_pearson", "manhattan_spearman", "euclidean_spearman"} <= set(entry)  # mteb's full output


def test_offline_mteb_run_writes_every_available_task(tmp_path, data_dir, mirrors, static_model_args, capsys):
    results = tmp_path / "results"
    code = main(["run", "--no-progress", "--offline", "--available-only", "--data-dir", str(data_dir),
                 *static_model_args, "--results-dir", str(results), "-t", "MTEB"])
    assert code == 0
    folder = results / "local__m2v-minilm-64" / "test"
    available = offline_tasks(mirrors)
    served = {data_dir / Catalogue().tasks[name].dataset_path for name in available}
    assert served == {p for p in (data_dir / "mteb").iterdir() if p.is_dir()}  # every dataset folder is evaluated
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted([*available, "model_meta"])
    assert [p.name for p in results.iterdir()] == ["local__m2v-minilm-64"]  # no extra nesting or unnamed model
    for name in available:
        doc = json.loads((folder / f"{name}.json").read_text())
        (entry,) = doc["scores"]["test"]
        assert doc["task_name"] == name and 0 < entry["main_score"] < 1
        assert doc["harness"]["data"]["source"] == str(data_dir / doc["harness"]["data"]["hub_path"])
    scifact = json.loads((folder / "SciFact.json").read_text())["scores"]["test"][0]
    assert {"ndcg_at_10", "map_at_100", "recall_at_1000"} <= set(scifact)
    assert f"summary: {len(available)} done" in capsys.readouterr().out


def test_unavailable_tasks_are_named(tmp_path, data_dir, mirrors, static_model_args, capsys):
    missing = [n for n in ("STS22", "SummEval") if n not in offline_tasks(mirrors)]
    if not missing:
        pytest.skip("the data mirror has every task this test needs to be missing")
    code = main(["run", "--no-progress", "--offline", "--data-dir", str(data_dir), *static_model_args,
                 "--results-dir", str(tmp_path), "-t", *missing, "BIOSSES"])
    assert code == 1
    captured = capsys.readouterr()
    folder = Catalogue().tasks[missing[0]].dataset_path
    assert (f"unavailable: m2v-minilm-64 / {missing[0]}: MTEB {missing[0]}: no folder {data_dir}/{folder};"
            " offline") in captured.err
    assert "[done] m2v-minilm-64 / BIOSSES" in captured.out


def test_broken_mirror_folder_fails_that_task_only(tmp_path, data_dir, static_model):
    broken = tmp_path / "data"
    (broken / "mteb" / "biosses-sts").mkdir(parents=True)  # present but empty
    (broken / "mteb" / "sts12-sts").symlink_to(data_dir / "mteb" / "sts12-sts")
    tasks = Catalogue().select(["BIOSSES", "STS12"])
    runner = Runner(ResultStore(tmp_path / "r"), Mirrors(data_dir=broken), loader=lambda s, m: static_model,
                    progress=False)
    report = runner.run([ModelSpec(**STATIC_ENTRY)], tasks)
    assert [c.status for c in report.cells] == ["failed", "done"]
    assert report.cells[0].error


@pytest.mark.parametrize("module, mock", [("clustering", "MockClusteringTask"), ("reranking", "MockRerankingTask"),
                                           ("summarization", "MockSummarizationTask")])
def test_groups_without_offline_data_run_on_mtebs_mock_tasks(module, mock, tmp_path, static_model, static_model_dir,
                                                             monkeypatch):
    """A group with no offline data (mteb's mock task of it) scores what mteb itself gives the same model
    through mteb's own model2vec wrapper."""
    import importlib
    import warnings

    import mteb
    from mteb.models.model_implementations.model2vec_models import Model2VecModel

    mocks = importlib.import_module(f"mteb.mocks.mock_tasks.{module}")
    for var in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var)  # mock tasks hold their data in memory: no mirror needed
    task = MtebTask.from_factory(getattr(mocks, mock), on_hub=False)
    spec = ModelSpec(**STATIC_ENTRY)
    report = Runner(ResultStore(tmp_path), Mirrors(), loader=lambda s, m: static_model, progress=False).run([spec], [task])
    (cell,) = report.cells
    assert cell.status == "done", cell.error
    doc = json.loads((tmp_path / "local__m2v-minilm-64" / "test" / f"{mock}.json").read_text())
    assert doc["harness"]["task"]["group"] == task.spec.group
    assert doc["scores"]["test"][0]["main_score"] == cell.score
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = Model2VecModel(str(static_model_dir / "local" / "m2v-minilm-64"))
    result = mteb.evaluate(theirs, getattr(mocks, mock)(), cache=None, show_progress_bar=False)
    assert cell.score == pytest.approx(result.task_results[0].scores["test"][0]["main_score"], abs=1e-6)


def test_adapter_carries_model_meta(static_model):
    meta = MtebEncoder(static_model).mteb_model_meta
    assert (meta.name, meta.revision, meta.embed_dim) == ("local/m2v-minilm-64", "test", 64)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_interrupted_run_resumes_without_redoing_finished_tasks(
    signal_name, tmp_path, data_dir, static_model_args
):
    import signal
    import subprocess
    import sys
    import time

    results = tmp_path / "results"
    folder = results / "local__m2v-minilm-64" / "test"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--no-progress", "--offline", "--data-dir", str(data_dir),
           *static_model_args, "--results-dir", str(results),
           "-t", "BIOSSES", "STS13", "STS12", "SICK-R", "STS14", "STS15", "STS16"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (folder / "BIOSSES.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=120)
    if signal_name == "SIGINT":
        assert proc.returncode == 130 and "interrupted; finished tasks are saved" in err, err[-3000:]
    else:
        assert proc.returncode == -signal.SIGKILL
    finished = {p.stem: p.stat().st_mtime_ns for p in folder.glob("*.json") if p.stem != "model_meta"}
    assert "BIOSSES" in finished and len(finished) < 7
    for path in folder.glob("*.json"):
        json.loads(path.read_text())  # every file there is whole

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"summary: {7 - len(finished)} done, {len(finished)} skipped" in rerun.stdout
    for name, mtime in finished.items():
        assert (folder / f"{name}.json").stat().st_mtime_ns == mtime
    assert len(list(folder.glob("*.json"))) == 8


def test_a_ctrl_c_a_library_turned_into_its_own_error_still_stops_the_run():
    """pyarrow cancels a long read on SIGINT with `ArrowCancelled` (an Exception carrying the signal), and datasets
    wraps errors of dataset preparation in its own: a cell failing that way is an interrupt, not a failed cell."""
    import signal

    import pyarrow.lib

    from harness.runner import interrupted

    cancelled = pyarrow.lib.ArrowCancelled("Operation cancelled", signum=signal.SIGINT)
    wrapped = RuntimeError("An error occurred while generating the dataset")
    wrapped.__cause__ = cancelled
    from_ctrl_c = ValueError("while reading")
    from_ctrl_c.__context__ = KeyboardInterrupt()
    assert interrupted(cancelled) and interrupted(wrapped) and interrupted(from_ctrl_c)
    other = RuntimeError("a real failure")
    other.__cause__ = pyarrow.lib.ArrowCancelled("Operation cancelled", signum=signal.SIGTERM)
    assert not interrupted(other) and not interrupted(ValueError("bad data"))


def test_a_cell_whose_library_cancelled_it_on_ctrl_c_raises_the_interrupt():
    """The runner's cell: an error from a Ctrl-C (here pyarrow's, wrapped by the data library) is raised as the
    KeyboardInterrupt the CLI turns into "interrupted; finished tasks are saved"; any other error is a failed cell.
    (A stand-in task: a real SIGINT landing inside a pyarrow read cannot be timed in a test.)"""
    import signal
    import types

    import pyarrow.lib

    from harness.registry import load_registry
    from harness.runner import evaluate_cell
    from harness.tasks import Catalogue

    spec = load_registry().get("potion-base-8M")
    real = Catalogue().tasks["BIOSSES"]

    def failing(error):
        def evaluate(encoder, mirrors):
            raise error
        return types.SimpleNamespace(spec=real.spec, evaluate=evaluate)

    wrapped = RuntimeError("An error occurred while generating the dataset")
    wrapped.__cause__ = pyarrow.lib.ArrowCancelled("Operation cancelled", signum=signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        evaluate_cell(spec, failing(wrapped), None, Mirrors())
    outcome = evaluate_cell(spec, failing(RuntimeError("a real failure")), None, Mirrors())
    assert outcome.status == "failed" and "a real failure" in outcome.error
