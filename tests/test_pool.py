"""Every core of one machine: a run's cells in worker processes give the same files as one after
another; a dying worker fails its cell alone; workers end with their parent; bad --jobs."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.cores import usable_cores
from harness.mirror import Mirrors
from harness.plan import observations
from harness.pool import PoolRunner, choose_jobs, transformer_threads
from harness.results import ResultStore
from harness.runner import Runner, evaluate_cell
from harness.spec import ModelSpec
from harness.tasks import Catalogue
from tests.conftest import STATIC_ENTRY

TASKS = ["BIOSSES", "STS17", "MEN", "SimLex", "bird"]


def _scores(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())["scores"]
            for p in sorted(root.rglob("*.json")) if p.name != "model_meta.json" and p.parent.name != "harness"}


def crash_on(task_name: str, evaluate_task, spec, task, encoder, mirrors):
    """The runner's evaluate, except that the worker process dies on `task_name` (as a segfault would)."""
    if task.spec.name == task_name:
        os._exit(1)
    return evaluate_task(spec, task, encoder, mirrors)


def failing_load(tally: str, spec, mirrors):
    """A model load that fails, and leaves a line in `tally` for each try."""
    with open(tally, "a") as out:
        out.write(f"{os.getpid()}\n")
    raise OSError(f"no weights for {spec.name}")


def test_a_model_that_fails_to_load_is_tried_once_per_worker(tmp_path, data_dir, registry):
    tasks = Catalogue().select(["MEN", "SimLex", "rel353", "Card660", "simverb", "muturk"])
    tally = tmp_path / "loads.txt"
    report = PoolRunner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir), progress=False, jobs=2,
                        loader=functools.partial(failing_load, str(tally))).run([registry.get("GloVe_6B_50d")], tasks)
    assert {c.status for c in report.cells} == {"failed"} and len(report.cells) == 6
    assert {c.error for c in report.cells} == {"model load failed: OSError: no weights for GloVe_6B_50d"}
    tries = tally.read_text().split()
    assert len(tries) == len(set(tries)) <= 2  # each worker tried once, not once per cell


def test_two_workers_write_the_same_scores_as_one_process(tmp_path, data_dir, registry):
    specs = registry.select(["GloVe_6B_50d", "all-MiniLM-L6-v2"])
    tasks = Catalogue().select(TASKS)
    mirrors = Mirrors(data_dir=data_dir)
    one = Runner(ResultStore(tmp_path / "one"), mirrors, progress=False).run(specs, tasks)
    two = PoolRunner(ResultStore(tmp_path / "two"), mirrors, progress=False, jobs=2).run(specs, tasks)
    assert {c.status for c in one.cells + two.cells} == {"done"}
    ones, twos = _scores(tmp_path / "one"), _scores(tmp_path / "two")
    assert ones.keys() == twos.keys()
    static = [k for k in ones if k.startswith("stanfordnlp__glove")]
    assert [twos[k] for k in static] == [ones[k] for k in static]  # one thread wherever a static cell runs
    for key in set(ones) - set(static):  # torch on 2 threads here, on 1 in each of two workers: last digits move
        (first,), (second,) = ones[key]["test"], twos[key]["test"]
        assert first["main_score"] == pytest.approx(second["main_score"], abs=1e-6), key
    assert [(c.model, c.task) for c in two.cells] == [(c.model, c.task) for c in one.cells]  # lines in grid order
    metas = sorted(p.relative_to(tmp_path / "two").as_posix() for p in (tmp_path / "two").rglob("model_meta.json"))
    assert len(metas) == 2
    # the cores each cell was given of its machine's: all of them one after another, a share beside another cell
    cores = {run: [(d["harness"]["cell_cores"], d["harness"]["machine_cores"]) for d in map(
        json.loads, map(Path.read_text, (tmp_path / run).glob("*/*/*.json"))) if "task_name" in d]
        for run in ("one", "two")}
    assert {given == machine == usable_cores() for given, machine in cores["one"]} == {True}
    assert any(given < machine for given, machine in cores["two"]) == (usable_cores() > 1)
    assert sorted(o.shared for o in observations(tmp_path / "two")) == sorted(g < m for g, m in cores["two"])


def test_a_static_models_classifier_scores_do_not_depend_on_the_runner(tmp_path, data_dir, registry):
    """A static cell runs on one thread in the harness's own process as in a worker: on more threads the
    BLAS sums of the classifier run in another order and GloVe's Banking77 accuracy moved in the 4th digit."""
    specs, tasks = [registry.get("GloVe_6B_50d")], Catalogue().select(["Banking77Classification"])
    mirrors = Mirrors(data_dir=data_dir)
    Runner(ResultStore(tmp_path / "one"), mirrors, progress=False).run(specs, tasks)
    PoolRunner(ResultStore(tmp_path / "two"), mirrors, progress=False, jobs=2).run(specs, tasks)
    assert _scores(tmp_path / "two") == _scores(tmp_path / "one") != {}
    threads = {json.loads(p.read_text())["harness"]["threads"] for p in tmp_path.rglob("Banking77Classification.json")}
    assert threads == {1}


def test_a_dying_worker_fails_its_cell_alone(tmp_path, data_dir, static_model_dir):
    tasks = Catalogue().select(["MEN", "SimLex", "rel353", "Card660"])
    evaluate = functools.partial(crash_on, "SimLex", evaluate_cell)
    report = PoolRunner(ResultStore(tmp_path), Mirrors(data_dir=data_dir, model_dir=static_model_dir), progress=False,
                        jobs=2, evaluate=evaluate).run([ModelSpec(**STATIC_ENTRY)], tasks)
    status = {c.task: c.status for c in report.cells}
    assert status == {"MEN": "done", "SimLex": "failed", "rel353": "done", "Card660": "done"}
    (failed,) = report.by_status("failed")
    assert failed.error == "its worker process died (a crash, or killed for memory) each time it ran"
    assert not list(tmp_path.rglob("SimLex.json"))


def _workers(pid: int) -> set[int]:
    """The pool's worker processes among `pid`'s children: spawned multiprocessing children, not the resource
    tracker that multiprocessing also starts."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                found.add(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
@pytest.mark.parametrize("stop", ["SIGKILL to the parent", "Ctrl-C"])
def test_workers_end_when_the_parent_is_killed_and_a_rerun_resumes(stop, tmp_path, data_dir, static_model_args):
    """Killed (SIGKILL to the parent alone) or interrupted (Ctrl-C: SIGINT to the terminal's process group), a run
    with workers leaves no worker behind and only whole result files, and a rerun does only what is missing."""
    results = tmp_path / "r"
    folder = ResultStore(results).model_dir(STATIC_ENTRY["id"], STATIC_ENTRY["revision"])
    cmd = [sys.executable, "-m", "harness.cli", "run", "--no-progress", "--offline", "--jobs", "2", "--data-dir",
           str(data_dir), *static_model_args, "--results-dir", str(results), "-t", "WordSim", "Banking77Classification"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (folder.is_dir() and len(list(folder.glob("*.json"))) >= 3):
        time.sleep(0.1)
    workers = _workers(proc.pid)
    assert len(workers) == 2, "the pool's two workers are running"
    if stop == "Ctrl-C":
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
        assert proc.returncode == 130, err
        assert err.strip().splitlines()[-1] == "harness: interrupted; finished tasks are saved, rerun to resume"
    else:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.time() + 120  # a guard against a hang, not a measure: workers check every 0.5 s
    while time.time() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "workers outlived their parent"
    finished = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json") if p.name != "model_meta.json"}
    for path in folder.glob("*.json"):
        json.loads(path.read_text())  # every file there is whole
    if stop == "Ctrl-C":
        assert not list(folder.glob(".*.tmp"))  # an interrupted write is cleaned up by the writer itself
    # a parent killed in the middle of a write leaves its temporary file: the rerun removes it
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(folder.glob(".*.tmp"))
    assert f"{len(finished)} skipped" in rerun.stdout
    assert all((folder / name).stat().st_mtime_ns == mtime for name, mtime in finished.items())


def crash_once(marker: str, evaluate_task, spec, task, encoder, mirrors):
    """The runner's evaluate, except that the worker dies the first time it meets SimLex; each attempt at SimLex
    leaves its process id in `marker`."""
    if task.spec.name == "SimLex":
        first = not os.path.exists(marker)
        with open(marker, "a") as out:
            out.write(f"{os.getpid()}\n")
        if first:
            os._exit(1)
    return evaluate_task(spec, task, encoder, mirrors)


def test_a_cell_whose_worker_died_is_retried_once_in_a_fresh_worker(tmp_path, data_dir, static_model_dir):
    tasks = Catalogue().select(["MEN", "SimLex", "rel353"])
    marker = tmp_path / "simlex-attempts"
    mirrors, spec = Mirrors(data_dir=data_dir, model_dir=static_model_dir), ModelSpec(**STATIC_ENTRY)
    report = PoolRunner(ResultStore(tmp_path / "r"), mirrors, progress=False, jobs=2,
                        evaluate=functools.partial(crash_once, str(marker), evaluate_cell)).run([spec], tasks)
    assert {c.task: c.status for c in report.cells} == {"MEN": "done", "SimLex": "done", "rel353": "done"}
    first, second = marker.read_text().split()
    assert first != second  # the retry ran in another process
    one = Runner(ResultStore(tmp_path / "one"), mirrors, progress=False).run([spec], Catalogue().select(["SimLex"]))
    assert one.cells[0].status == "done"
    assert _scores(tmp_path / "r")[next(k for k in _scores(tmp_path / "r") if k.endswith("SimLex.json"))] == \
        next(iter(_scores(tmp_path / "one").values()))


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_is_one_line_exit_2(tmp_path, jobs, capsys):
    assert main(["run", "--results-dir", str(tmp_path), "-m", "GloVe_6B_50d", "-t", "MEN", "--jobs", jobs]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness: error: --jobs {jobs}: must be 1 or more (default: the {len(os.sched_getaffinity(0))} "
                   "usable cores)"]


def test_more_jobs_than_cores_is_lowered_with_a_warning(caplog):
    cores = len(os.sched_getaffinity(0))
    assert choose_jobs(cores + 5) == cores
    assert f"only {cores} usable cores" in caplog.text


def test_transformer_cells_share_the_cores():
    assert transformer_threads(cores=16, jobs=16, transformer_cells=29) == 1
    assert transformer_threads(cores=16, jobs=16, transformer_cells=2) == 8
    assert transformer_threads(cores=2, jobs=2, transformer_cells=1) == 2


def test_jobs_default_env_and_memory_cap(monkeypatch, caplog):
    """Workers: the usable cores by default; HARNESS_JOBS when set (a whole number, else one line naming it);
    --jobs over HARNESS_JOBS; more than the cores lowered to the cores; more than the memory holds lowered to what
    fits (the available memory is the machine's reading, set here to a small figure)."""
    from harness.errors import HarnessError
    from harness.pool import WORKER_MEMORY_GB, choose_jobs

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr("harness.pool.available_memory_gb", lambda: 1000.0)
    monkeypatch.delenv("HARNESS_JOBS")
    assert choose_jobs(None) == cores
    monkeypatch.setenv("HARNESS_JOBS", "1")
    assert choose_jobs(None) == 1 and choose_jobs(cores) == cores
    monkeypatch.setenv("HARNESS_JOBS", "two")
    with pytest.raises(HarnessError, match=r"^HARNESS_JOBS='two': expected a whole number$"):
        choose_jobs(None)
    monkeypatch.setenv("HARNESS_JOBS", "0")
    with pytest.raises(HarnessError, match=rf"^--jobs 0: must be 1 or more \(default: the {cores} usable cores\)$"):
        choose_jobs(None)
    caplog.clear()
    assert choose_jobs(cores + 3) == cores
    assert f"--jobs {cores + 3}: only {cores} usable cores; running {cores} workers" in caplog.text
    if cores > 1:
        monkeypatch.setattr("harness.pool.available_memory_gb", lambda: 1.2 * WORKER_MEMORY_GB)
        caplog.clear()
        assert choose_jobs(cores) == 1
        assert f"--jobs {cores}: {1.2 * WORKER_MEMORY_GB:.1f} GB of memory available" in caplog.text


def test_harness_jobs_invalid_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_JOBS", "many")
    assert main(["run", "--results-dir", str(tmp_path), "-m", "GloVe_6B_50d", "-t", "MEN"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "harness: error: HARNESS_JOBS='many': expected a whole number"]


def test_a_pool_is_worth_its_start_up_only_when_it_saves_more():
    from harness.pool import WORKER_START_S, here_is_faster

    assert here_is_faster([900.0], 2) and here_is_faster([None], 2)  # one cell: workers only add their start-up
    assert here_is_faster([1.0, 2.0, 3.0, 2.5], 2)  # 8.5 s here against 4.5 s + the start-up
    assert not here_is_faster([600.0, 500.0, 300.0], 2)
    assert not here_is_faster([1.0, None], 2) and not here_is_faster([], 2)  # unknown: the pool
    edge = [WORKER_START_S, WORKER_START_S]  # here: 2 x start; pool: start + start
    assert here_is_faster(edge, 2) and not here_is_faster([x + 0.1 for x in edge], 2)
    # cells that keep both cores busy alone: two at once take as long as one after the other, and the start-up more
    assert not here_is_faster([60.0, 60.0], 2, [1.0, 1.0], machine=2) and here_is_faster([60.0, 60.0], 2, [2.0, 2.0], 2)


def _default_run(tasks: list[str], asked: bool, tmp_path, data_dir, monkeypatch, capsys) -> tuple[list, str]:
    """`harness run` of GloVe 6B 50d on `tasks` on two usable cores, with --jobs 2 if `asked`: the cells dealt to
    workers (who do not run them) and what it printed."""
    monkeypatch.delenv("HARNESS_JOBS")
    monkeypatch.setattr("harness.pool.usable_cores", lambda: 2)
    monkeypatch.setattr("harness.pool.available_memory_gb", lambda: 1000.0)
    dealt = []
    monkeypatch.setattr(PoolRunner, "_run_pool", lambda self, pending, *rest: (dealt.extend(pending), ([], []))[1])
    code = main(["run", "--offline", "--no-progress", "--data-dir", str(data_dir), "--results-dir", str(tmp_path),
                 "-m", "GloVe_6B_50d", "-t", *tasks, *(["--jobs", "2"] if asked else [])])
    assert code == 0
    return dealt, capsys.readouterr().out


@pytest.mark.parametrize("asked", [False, True])
def test_a_default_run_of_short_cells_stays_in_this_process(asked, tmp_path, data_dir, monkeypatch, capsys):
    """Without --jobs, projected cells shorter than the workers' start-up run here (and say so); --jobs 2 still
    deals them to workers."""
    dealt, out = _default_run(["BIOSSES", "STS12"], asked, tmp_path, data_dir, monkeypatch, capsys)
    if asked:
        assert [c.task.spec.name for c in dealt] == ["STS12", "BIOSSES"] and "in this process" not in out
    else:
        assert not dealt and "running in this process, one cell after another: 2 cell(s) projected at" in out
        assert sorted(p.name for p in tmp_path.rglob("*.json") if p.name != "model_meta.json") == [
            "BIOSSES.json", "STS12.json"]


def test_a_default_run_of_one_cell_of_unknown_time_stays_in_this_process(tmp_path, data_dir, monkeypatch, capsys):
    """MEN has no projection (no size the plan knows, nothing measured): alone, it still runs here."""
    dealt, out = _default_run(["MEN"], False, tmp_path, data_dir, monkeypatch, capsys)
    assert not dealt and "1 of unknown time" in out
    assert "running in this process, one cell after another: one cell, to which workers would only add" in out
    assert [p.name for p in tmp_path.rglob("MEN.json")] == ["MEN.json"]


def timed(log: str, evaluate_task, spec, task, encoder, mirrors):
    """The runner's evaluate, leaving the cell's start and end (the system's monotonic clock) in `log`."""
    start = time.monotonic_ns()
    try:
        return evaluate_task(spec, task, encoder, mirrors)
    finally:
        with open(log, "a") as out:
            out.write(json.dumps([task.spec.name, start, time.monotonic_ns()]) + "\n")


def test_a_cell_waits_for_the_running_cell_that_keeps_its_corpus(tmp_path, data_dir, static_model_dir, monkeypatch):
    """Two workers, SciFact (seconds) and SimLex said to share a corpus: SimLex, dealt right after SciFact, starts
    only once SciFact has ended (it would take the kept embeddings), where otherwise the free worker takes it at once."""
    from harness.tasks import shared_corpora

    monkeypatch.setattr(shared_corpora, "SHARED_CORPORA", {"SciFact": "one", "SimLex": "one"})
    log = tmp_path / "times.jsonl"
    report = PoolRunner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir, model_dir=static_model_dir),
                        progress=False, jobs=2, evaluate=functools.partial(timed, str(log), evaluate_cell)).run(
        [ModelSpec(**STATIC_ENTRY)], Catalogue().select(["SciFact", "SimLex"]))
    assert [c.status for c in report.cells] == ["done", "done"]
    times = {name: (start, end) for name, start, end in map(json.loads, log.read_text().splitlines())}
    assert times["SimLex"][0] >= times["SciFact"][1]


def test_only_a_text_by_text_cell_of_the_same_model_waits_for_its_corpus_s_keeper():
    from harness.pool import next_ready
    from harness.registry import load_registry
    from harness.runner import Cell

    registry = load_registry()
    potion, potion2, minilm = (registry.get(n) for n in ("potion-base-8M", "potion-base-2M", "all-MiniLM-L6-v2"))
    tasks = {t.spec.name: t for t in Catalogue().select(["FEVER", "ClimateFEVER", "STS12"])}
    keeper = Cell(potion, tasks["FEVER"])
    queue = [Cell(potion, tasks["STS12"]), Cell(minilm, tasks["ClimateFEVER"]), Cell(potion, tasks["ClimateFEVER"])]
    assert next_ready(queue, [keeper]) == 1  # potion's ClimateFEVER waits; a transformer encodes its own
    assert next_ready(queue[::2], [keeper]) == 0
    assert next_ready(queue[2:], [keeper]) is None
    assert next_ready(queue[2:], [Cell(potion2, tasks["FEVER"])]) == 0 and next_ready(queue[2:], []) == 0
