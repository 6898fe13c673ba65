"""Ray: the same results as a local run, lost workers, units and their resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.mirror import Mirrors
from harness.registry import Registry
from harness.results import ResultStore
from harness.runner import Cell, Runner
from harness.tasks import Catalogue

ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install '.[ray]'")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the fault-injecting functions below go to workers
# One Ray instance at a time on this machine: under `-n N` the module's tests go to one worker (--dist loadgroup)
pytestmark = pytest.mark.xdist_group("ray")

TASKS = ["WordSim", "BIOSSES", "STS12"]


def _crash(folder: str, name: str, times: int, results: Path | None = None, written: tuple[str, ...] = ()) -> None:
    """Exit this worker process, as a crash would, the first `times` times `name` comes up (counted in a file).
    It first waits until the driver has received what this attempt's unit yielded before: its model's metadata
    (`MetaCounting` counts them in `folder`) and the results of the tasks `written` (files under `results`) —
    like a real crash some time into the work, not one racing the unit's earlier messages."""
    marker = Path(folder) / f"crashed-{name}"
    crashed = int(marker.read_text()) if marker.exists() else 0
    if crashed < times:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(crashed + 1))
        metas = Path(folder) / "metas"

        def received() -> bool:
            if results is None:  # a crash in the model load: the unit has sent nothing yet
                return True
            return (metas.is_file() and len(metas.read_text()) > crashed
                    and all(next(results.rglob(f"{task}.json"), None) for task in written))

        deadline = time.monotonic() + 300
        while not received() and time.monotonic() < deadline:
            time.sleep(0.05)  # polls for what the driver writes; no fixed wait
        os._exit(1)


def meta_counting(folder: Path):
    """A RayRunner that counts the model metadata it receives (one per unit) in `folder`/metas, and runs one
    unit at a time (a cell takes both CPUs of the test cluster), so the n-th metadata is the n-th attempt's."""
    from harness.distributed import RayRunner

    class MetaCounting(RayRunner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, cpus_per_cell=2, **kwargs)

        def save_meta(self, spec, meta):
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / "metas").open("a") as tally:
                tally.write("m")
            super().save_meta(spec, meta)

    return MetaCounting


def crashing_evaluate(task_name: str, times: int, folder: Path, results: Path):
    """The runner's evaluate, but the worker dies on `task_name`'s first `times` attempts (once the driver has
    what the unit sent before: run it with `meta_counting(folder)`)."""
    from harness.runner import evaluate_cell

    finished = []

    def evaluate(spec, task, encoder, mirrors):
        if task.spec.name == task_name:
            _crash(str(folder), task_name, times, results, tuple(finished))
        outcome = evaluate_cell(spec, task, encoder, mirrors)
        finished.append(task.spec.name)
        return outcome

    return evaluate


def crashing_loader(times: int, folder: Path):
    """The runner's loader, but the worker dies in its first `times` model loads."""
    from harness.loaders import load_encoder

    def loader(spec, mirrors):
        _crash(str(folder), "@load", times)
        return load_encoder(spec, mirrors)

    return loader


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance in this process for the module; the environment Ray changes (its token
    authentication switch, among others) is put back afterwards."""
    environment = dict(os.environ)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    os.environ.clear()
    os.environ.update(environment)


@pytest.fixture(scope="module")
def grid(registry, static_model_dir, static_registry):
    from harness.registry import read_registry_file

    reg = Registry([*registry, *read_registry_file(static_registry)])
    return reg.select(["GloVe_6B_50d", "m2v-minilm-64"]), Catalogue().select(TASKS)


@pytest.fixture
def static_mirrors(data_dir, static_model_dir):
    return Mirrors(data_dir=data_dir, model_dir=static_model_dir)


def _docs(root):
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())
            for p in sorted(root.rglob("*.json")) if p.name != "model_meta.json"}


def _scores(root):
    return {name: doc["scores"] for name, doc in _docs(root).items()}


def _fresh(spec, test: str, **update):
    """The same model under a name of the test's own, so that no worker has it loaded yet (Ray keeps its workers,
    and their last model, across the tests of a module, in any order)."""
    return spec.model_copy(update={"name": f"{spec.name}-{test}", **update})


def test_ray_grid_gives_the_same_scores_as_a_local_run(tmp_path, ray_cluster, grid, static_mirrors):
    from harness.distributed import RayRunner

    specs, tasks = grid
    local = Runner(ResultStore(tmp_path / "local"), static_mirrors, progress=False).run(specs, tasks)
    distributed = RayRunner(ResultStore(tmp_path / "ray"), static_mirrors, progress=False).run(specs, tasks)
    assert all(c.status == "done" for c in local.cells + distributed.cells)
    assert len(distributed.cells) == 18
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local")
    assert sorted(p.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").rglob("model_meta.json")) \
        == sorted(p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local").rglob("model_meta.json"))
    # a static model's cell reserves one CPU, and torch ran on one thread
    assert {doc["harness"]["threads"] for doc in _docs(tmp_path / "ray").values()} == {1}
    again = RayRunner(ResultStore(tmp_path / "ray"), static_mirrors, progress=False).run(specs, tasks)
    assert {c.status for c in again.cells} == {"skipped"}  # complete cells are not submitted


def _static(specs):
    """The grid's small model2vec model: a worker that starts loads it in well under a second (GloVe's loader
    imports sentence-transformers first, ~6 s of one core here)."""
    return [next(spec for spec in specs if spec.loader == "model2vec")]


def test_a_killed_worker_is_retried_and_every_result_written_once(tmp_path, ray_cluster, grid, static_mirrors):
    specs, tasks = grid
    report = meta_counting(tmp_path / "markers")(ResultStore(tmp_path / "r"), static_mirrors, progress=False,
                       evaluate=crashing_evaluate("MEN", 1, tmp_path / "markers", tmp_path / "r")).run(_static(specs),
                                                                                                         tasks)
    assert (tmp_path / "markers" / "crashed-MEN").read_text() == "1"  # the first attempt really died
    assert [c.status for c in report.cells].count("done") == len(tasks)
    names = [c.task for c in report.cells]
    assert sorted(names) == sorted(t.spec.name for t in tasks)  # each cell reported exactly once
    assert len(list((tmp_path / "r").rglob("MEN.json"))) == 1


def test_a_cell_that_always_kills_its_worker_fails_alone(tmp_path, ray_cluster, grid, static_mirrors):
    specs, tasks = grid
    report = meta_counting(tmp_path / "markers")(ResultStore(tmp_path / "r"), static_mirrors, progress=False, retries=1,
                       evaluate=crashing_evaluate("MEN", 99, tmp_path / "markers", tmp_path / "r")).run(_static(specs),
                                                                                                          tasks)
    assert (tmp_path / "markers" / "crashed-MEN").read_text() == "2"  # first attempt + one retry
    status = {c.task: c.status for c in report.cells}
    assert status.pop("MEN") == "failed" and set(status.values()) == {"done"} and len(status) == len(tasks) - 1
    assert "worker lost on each of 2 attempts" in next(c.error for c in report.cells if c.task == "MEN")
    assert not list((tmp_path / "r").rglob("MEN.json"))


def test_a_worker_that_dies_loading_the_model_is_charged_to_the_model(tmp_path, ray_cluster, grid, static_mirrors):
    from harness.distributed import RayRunner

    specs, _ = grid
    heavy = _fresh(specs[1], "dies-loading", family="transformer")  # 2 CPUs a unit here: both cells in one unit
    report = RayRunner(ResultStore(tmp_path / "r"), static_mirrors, progress=False, retries=1,
                       loader=crashing_loader(99, tmp_path / "markers")).run(
        [heavy], Catalogue().select(["MEN", "rel353"]))
    assert (tmp_path / "markers" / "crashed-@load").read_text() == "2"  # first attempt + one retry, then no more
    assert [c.status for c in report.cells] == ["failed", "failed"]
    assert all(c.error.startswith("model load: worker lost on each of 2 attempts") for c in report.cells)


def _raising_unit(spec, task_names, mirrors, env, loader, evaluate):
    from pathlib import Path

    with Path(env["HARNESS_TEST_CALLS"]).open("a") as calls:  # units run at once: append, do not rewrite
        calls.write("x")
    raise RuntimeError("boom in the unit")
    yield  # a generator function


def test_a_unit_that_raises_fails_its_cells_once_without_retries(tmp_path, ray_cluster, grid, static_mirrors,
                                                                monkeypatch):
    from harness.distributed import FORWARDED_ENV, RayRunner, plan_units

    class Raising(RayRunner):
        unit_body = staticmethod(_raising_unit)

    specs, tasks = grid
    monkeypatch.setattr("harness.distributed.FORWARDED_ENV", (*FORWARDED_ENV, "HARNESS_TEST_CALLS"))
    monkeypatch.setenv("HARNESS_TEST_CALLS", str(tmp_path / "calls"))
    report = Raising(ResultStore(tmp_path / "r"), static_mirrors, progress=False).run(specs[:1], tasks)
    assert {c.status for c in report.cells} == {"failed"} and len(report.cells) == len(tasks)
    assert all("boom in the unit" in c.error for c in report.cells)
    units = plan_units([Cell(specs[0], t) for t in tasks], lambda spec: 2)
    assert len((tmp_path / "calls").read_text()) == len(units)  # each unit ran once: no retry


def test_units_keep_a_model_on_as_few_workers_as_the_slots_allow(grid):
    from harness.distributed import plan_units

    specs, tasks = grid
    cells = [Cell(s, t) for s in specs for t in tasks]
    for slots, expected in ((1, 2), (2, 2), (4, 4), (100, len(cells))):
        units = plan_units(cells, lambda spec: slots)
        assert len(units) == expected, slots
        assert all(len({c.spec.name for c in unit}) == 1 for unit in units)  # one model per unit
        assert sorted(c.key for unit in units for c in unit) == sorted(c.key for c in cells)
    assert [len(u) for u in plan_units(cells[:9], lambda spec: 2)] == [5, 4]  # one model over two slots: even split
    heavy = specs[1].model_copy(update={"family": "transformer"})  # a transformer's cells cost more: more slots
    mixed = [*cells[:9], *(Cell(heavy, t) for t in tasks)]
    units = plan_units(mixed, lambda spec: 2)
    assert [(u[0].spec.family, len(u)) for u in units] == [("transformer", 5), ("transformer", 4), ("static", 9)]
    units = plan_units(mixed, lambda spec: 1 if spec.family == "transformer" else 2)  # one 2-CPU unit at a time
    assert [(u[0].spec.family, len(u)) for u in units] == [("transformer", 9), ("static", 9)]


def test_unit_resources_follow_the_nodes(grid):
    from harness.distributed import fit_count, unit_resources

    specs, _ = grid
    static, heavy = specs[0], specs[1].model_copy(update={"family": "transformer"})
    options = dict(cpus_per_cell=1, cpus_per_transformer=4, gpus_per_transformer=1)
    this_machine = [{"CPU": 2.0}]
    assert unit_resources(heavy, this_machine, **options) == {"num_cpus": 2, "num_gpus": 0}  # 4 asked, 2 there
    assert unit_resources(static, this_machine, **options) == {"num_cpus": 1, "num_gpus": 0}
    three_nodes = [{"CPU": 6.0}] * 3
    need = unit_resources(heavy, three_nodes, **options)
    assert need == {"num_cpus": 4, "num_gpus": 0} and fit_count(need, three_nodes) == 3  # not 18 // 4
    gpu_cluster = [{"CPU": 8.0, "GPU": 1.0}, {"CPU": 32.0}]
    need = unit_resources(heavy, gpu_cluster, **options)
    assert need == {"num_cpus": 1, "num_gpus": 1} and fit_count(need, gpu_cluster) == 1
    assert unit_resources(heavy, gpu_cluster, **{**options, "cpus_per_cell": 16}) == {"num_cpus": 8, "num_gpus": 1}
    assert unit_resources(static, gpu_cluster, **options) == {"num_cpus": 1, "num_gpus": 0}
    need = unit_resources(heavy, gpu_cluster, **{**options, "gpus_per_transformer": 2})
    assert need == {"num_cpus": 1, "num_gpus": 2} and fit_count(need, gpu_cluster) == 0  # warned about, then waits


def test_ray_address_is_the_option_then_ray_address_then_a_new_local_instance(monkeypatch):
    from harness.distributed import ray_address

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert (ray_address(None), ray_address("auto"), ray_address("10.0.0.1:6379")) == ("local", "auto", "10.0.0.1:6379")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")
    assert (ray_address(None), ray_address("auto")) == ("10.0.0.2:6379", "auto")


def test_a_transformer_unit_runs_torch_on_the_cpus_of_the_node(tmp_path, ray_cluster, grid, static_mirrors):
    from harness.distributed import RayRunner

    specs, _ = grid
    heavy = _fresh(specs[1], "torch-cpus", family="transformer")  # runs like a transformer cell: no GPU here, so 2 CPUs
    report = RayRunner(ResultStore(tmp_path), static_mirrors, progress=False).run([heavy], Catalogue().select(["MEN"]))
    assert [c.status for c in report.cells] == ["done"]
    [doc] = _docs(tmp_path).values()
    assert doc["harness"]["threads"] == 2


def test_warm_up_tasks_run_on_as_many_workers_as_fit(tmp_path, ray_cluster, grid):
    from harness.distributed import RayRunner

    specs, _ = grid
    runner = RayRunner(ResultStore(tmp_path), Mirrors())
    runner.start(specs, warm=5)
    try:
        assert len(runner._warming) == 2  # 2 CPUs here, 1 per worker
        assert ray.get(runner._warming, timeout=120) == [None, None]
    finally:
        runner.close()
    assert ray.is_initialized()  # a session the runner did not open stays open


def test_cli_ray_run_writes_what_a_local_run_writes(tmp_path, ray_cluster, data_dir, static_model_args, capsys):
    args = ["--no-progress", "--offline", "--data-dir", str(data_dir),
            *static_model_args, "-t", "MEN", "BIOSSES"]
    assert main(["run", *args, "--results-dir", str(tmp_path / "local")]) == 0
    assert main(["run", *args, "--results-dir", str(tmp_path / "ray"), "--ray"]) == 0
    assert "running 1 model(s) x 2 task(s) Ray (local instance)" in capsys.readouterr().out
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local") and len(_scores(tmp_path / "ray")) == 2


def test_the_command_releases_the_ray_session_it_opened(tmp_path, data_dir, static_model_args, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # the command starts its own local instance
    base = ["run", "--no-progress", "--offline", "--data-dir", str(data_dir), "--results-dir", str(tmp_path),
            *static_model_args]
    runs = [[*base, "-t", "NoSuchTask", "--ray"],  # fails after Ray started: released all the same
            [*base, "-t", "MEN", "--ray", "nohost"],  # Ray cannot connect: a one-line error
            [*base, "-t", "MEN", "--ray"]]
    code = ("import ray; from harness.cli import main\n"
            f"for argv in {runs!r}:\n"
            "    rc = main(argv); print('rc', rc, 'initialized', ray.is_initialized())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    states = [line for line in done.stdout.splitlines() if line.startswith("rc ")]
    assert states == ["rc 2 initialized False", "rc 2 initialized False", "rc 0 initialized False"], \
        done.stdout[-2000:] + done.stderr[-2000:]
    assert "harness: error: --ray nohost: cannot connect to Ray (ValueError: Invalid address format: nohost)" in done.stderr
    assert len(_scores(tmp_path)) == 1


def test_ray_resource_options_are_checked_before_ray_starts(capsys):
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--ray", "--ray-cpus-per-cell", "0"]) == 2
    assert "--ray-cpus-per-cell 0.0: must be above 0" in capsys.readouterr().err


HEAD_ENV = {"RAY_AUTH_MODE": "disabled"}
"""The test cluster on 127.0.0.1 runs without Ray's token authentication (its token would live in a HOME
that each test replaces); the cluster and the commands that join it say so alike."""


@pytest.fixture(scope="module")
def ray_head():
    """A cluster as `ray start --head` makes one (2 CPUs, on 127.0.0.1 at a free port), its address; stopped with
    the module (its own process group, killed whole, so no other Ray instance on the machine is touched)."""
    import shutil
    import socket
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must stay under 108 bytes
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, **HEAD_ENV}
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--temp-dir", temp,
                             "--disable-usage-stats"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    address = f"127.0.0.1:{port}"
    status = None
    for _ in range(120):  # until the cluster answers (each try waits on Ray's own client)
        status = subprocess.run([str(ray_cli), "status", "--address", address], capture_output=True, text=True,
                                env=env)
        if status.returncode == 0 and "CPU" in status.stdout or head.poll() is not None:
            break
    assert head.poll() is None and status.returncode == 0, (status.stdout + status.stderr)[-2000:]
    yield address
    os.killpg(head.pid, 9)  # the whole cluster at once (SIGTERM makes `ray start --block` take ~33 s to stop it)
    head.wait(timeout=60)
    shutil.rmtree(temp, ignore_errors=True)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **HEAD_ENV, **(env or {})}, timeout=900,
                          cwd=Path(__file__).resolve().parent.parent)


def test_cli_runs_on_a_cluster_by_address_and_auto_with_the_resource_options(tmp_path, ray_head, data_dir):
    """`--ray ADDRESS` and `--ray auto` (RAY_ADDRESS) reach a cluster of `ray start`; a transformer cell runs torch
    on `--ray-cpus-per-transformer` CPUs; on as many threads as a local run, the scores are the local run's."""
    common = ["run", "--no-progress", "--offline", "--data-dir", str(data_dir), "-m", "all-MiniLM-L6-v2", "-t",
              "BIOSSES", "--ray-gpus-per-transformer", "0.5", "--ray-retries", "0"]
    by_address = _cli(*common, "--results-dir", str(tmp_path / "one"), "--ray", ray_head, "--ray-cpus-per-transformer",
                      "1")
    assert by_address.returncode == 0, by_address.stderr[-2000:]
    assert f"Ray {ray_head}" in by_address.stdout
    auto = _cli(*common, "--results-dir", str(tmp_path / "two"), "--ray", "auto", "--ray-cpus-per-transformer", "2",
                env={"RAY_ADDRESS": ray_head})
    assert auto.returncode == 0, auto.stderr[-2000:]
    assert "Ray auto" in auto.stdout
    local = _cli(*common[:-4], "--results-dir", str(tmp_path / "local"), "--jobs", "1")
    assert local.returncode == 0, local.stderr[-2000:]
    threads = {name: {doc["harness"]["threads"] for doc in _docs(tmp_path / name).values()} for name in ("one", "two")}
    assert threads == {"one": {1}, "two": {2}}
    local_threads = {doc["harness"]["threads"] for doc in _docs(tmp_path / "local").values()}
    same = "two" if local_threads == {2} else "one"
    assert _scores(tmp_path / same) == _scores(tmp_path / "local") != {}
    one, local = (next(iter(_scores(tmp_path / name).values()))["test"][0] for name in ("one", "local"))
    assert one["main_score"] == pytest.approx(local["main_score"], abs=1e-6)  # torch on 1 thread sums in another order


@pytest.mark.parametrize("option, value, why", [("--ray-cpus-per-transformer", "0", "must be above 0"),
                                                ("--ray-gpus-per-transformer", "-1", "must be at least 0"),
                                                ("--ray-retries", "-1", "must be at least 0")])
def test_ray_options_out_of_range_are_one_line_exit_2(option, value, why, capsys):
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--ray", option, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: {option} {float(value) if 'retries' not in option else int(value)}: {why}")
