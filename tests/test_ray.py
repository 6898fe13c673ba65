"""Ray: the same scores as a local run, a worker killed mid-cell, and deterministic shards."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.mirror import Mirrors
from harness.registry import Registry
from harness.results import ResultStore
from harness.runner import Cell, Runner, select_shard
from harness.tasks import Catalogue

ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install '.[ray]'")

TASKS = ["WordSim", "BIOSSES", "STS12"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def grid(registry, static_model_dir, static_registry):
    from harness.registry import read_registry_file

    reg = Registry([*registry, *read_registry_file(static_registry)])
    return reg.select(["GloVe_6B_50d", "m2v-minilm-64"]), Catalogue().select(TASKS)


def _scores(root):
    return {p.relative_to(root).as_posix(): json.loads(p.read_text())["scores"]
            for p in sorted(root.rglob("*.json")) if p.name != "model_meta.json"}


def test_ray_grid_gives_the_same_scores_as_a_local_run(tmp_path, ray_cluster, grid, data_dir, static_model_dir):
    from harness.distributed import RayRunner

    specs, tasks = grid
    mirrors = Mirrors(data_dir=data_dir, model_dir=static_model_dir)
    local = Runner(ResultStore(tmp_path / "local"), mirrors, progress=False).run(specs, tasks)
    distributed = RayRunner(ResultStore(tmp_path / "ray"), mirrors, progress=False).run(specs, tasks)
    assert all(c.status == "done" for c in local.cells + distributed.cells)
    assert len(distributed.cells) == 18
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local")
    assert sorted(p.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").rglob("model_meta.json")) \
        == sorted(p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local").rglob("model_meta.json"))
    again = RayRunner(ResultStore(tmp_path / "ray"), mirrors, progress=False).run(specs, tasks)
    assert {c.status for c in again.cells} == {"skipped"}  # complete cells are not submitted


def test_a_killed_worker_is_retried_and_every_result_written_once(tmp_path, ray_cluster, grid, data_dir,
                                                                 static_model_dir, monkeypatch):
    from harness.distributed import RayRunner

    specs, tasks = grid
    monkeypatch.setenv("HARNESS_CRASH_CELL", f"MEN:1:{tmp_path / 'markers'}")
    report = RayRunner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir, model_dir=static_model_dir),
                       progress=False).run(specs[:1], tasks)
    assert (tmp_path / "markers" / "crashed-MEN").read_text() == "1"  # the first attempt really died
    assert [c.status for c in report.cells].count("done") == len(tasks)
    names = [c.task for c in report.cells]
    assert sorted(names) == sorted(t.spec.name for t in tasks)  # each cell reported exactly once
    assert len(list((tmp_path / "r").rglob("MEN.json"))) == 1


def test_a_cell_that_always_kills_its_worker_fails_alone(tmp_path, ray_cluster, grid, data_dir, static_model_dir,
                                                        monkeypatch):
    from harness.distributed import RayRunner

    specs, tasks = grid
    monkeypatch.setenv("HARNESS_CRASH_CELL", f"MEN:99:{tmp_path / 'markers'}")
    report = RayRunner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir, model_dir=static_model_dir),
                       progress=False, retries=1).run(specs[:1], tasks)
    assert (tmp_path / "markers" / "crashed-MEN").read_text() == "2"  # first attempt + one retry
    status = {c.task: c.status for c in report.cells}
    assert status.pop("MEN") == "failed" and set(status.values()) == {"done"} and len(status) == len(tasks) - 1
    assert "worker lost on each of 2 attempts" in next(c.error for c in report.cells if c.task == "MEN")
    assert not list((tmp_path / "r").rglob("MEN.json"))


def test_units_keep_a_model_on_as_few_workers_as_the_slots_allow(grid):
    from harness.distributed import plan_units

    specs, tasks = grid
    cells = [Cell(s, t) for s in specs for t in tasks]
    for slots, expected in ((1, 2), (2, 2), (4, 4), (100, len(cells))):
        units = plan_units(cells, lambda spec: slots)
        assert len(units) == expected, slots
        assert all(len({c.spec.name for c in unit}) == 1 for unit in units)  # one model per unit
        assert sorted(c.key for unit in units for c in unit) == sorted(c.key for c in cells)
    assert [len(u) for u in plan_units(cells[:9], lambda spec: 2)] == [5, 4]  # one model over two slots: split evenly
    heavy = specs[1].model_copy(update={"family": "transformer"})  # a transformer's cells cost more: more slots
    mixed = [*cells[:9], *(Cell(heavy, t) for t in tasks)]
    units = plan_units(mixed, lambda spec: 2)
    assert [(u[0].spec.family, len(u)) for u in units] == [("transformer", 5), ("transformer", 4), ("static", 9)]
    units = plan_units(mixed, lambda spec: 1 if spec.family == "transformer" else 2)  # one 2-CPU unit at a time
    assert [(u[0].spec.family, len(u)) for u in units] == [("transformer", 9), ("static", 9)]


def test_transformer_units_get_the_cpus_of_a_node_when_there_is_no_gpu(tmp_path, ray_cluster, grid):
    from harness.distributed import RayRunner

    specs, _ = grid
    runner = RayRunner(ResultStore(tmp_path), Mirrors(), cpus_per_transformer=4)
    heavy = specs[1].model_copy(update={"family": "transformer"})
    assert runner._resources(heavy) == {"num_cpus": 2, "num_gpus": 0}  # 4 asked, the node has 2
    assert runner._resources(specs[0]) == {"num_cpus": 1, "num_gpus": 0}
    assert (runner._capacity(heavy), runner._capacity(specs[0])) == (1, 2)


def test_a_unit_runs_torch_on_the_cpus_it_reserved(ray_cluster):
    from harness.distributed import _use_assigned_cpus

    @ray.remote
    def threads():
        import torch

        torch.set_num_threads(1)  # as after a 1-CPU task on the same worker
        _use_assigned_cpus()
        return torch.get_num_threads()

    assert ray.get(threads.options(num_cpus=2).remote()) == 2
    assert ray.get(threads.options(num_cpus=1).remote()) == 1


def test_cli_ray_run_writes_what_a_local_run_writes(tmp_path, ray_cluster, data_dir, capsys):
    args = ["--no-progress", "--offline", "--data-dir", str(data_dir), "-m", "GloVe_6B_50d", "-t", "MEN", "BIOSSES"]
    assert main(["run", *args, "--results-dir", str(tmp_path / "local")]) == 0
    assert main(["run", *args, "--results-dir", str(tmp_path / "ray"), "--ray"]) == 0
    assert "running 1 model(s) x 2 task(s) Ray (local)" in capsys.readouterr().out
    assert _scores(tmp_path / "ray") == _scores(tmp_path / "local") and len(_scores(tmp_path / "ray")) == 2
    assert ray.is_initialized()  # a Ray session the command did not start is left running


def test_shards_cover_the_grid_exactly_once(grid):
    specs, tasks = grid
    cells = [Cell(s, t) for s in specs for t in tasks]
    shards = [select_shard(cells, i, 3) for i in range(3)]
    keys = [c.key for shard in shards for c in shard]
    assert sorted(keys) == sorted(c.key for c in cells) and len(keys) == len(set(keys))
    assert all(abs(len(s) - len(cells) / 3) < 1 for s in shards)
    assert select_shard(cells, 1, 3) == select_shard(list(reversed(cells)), 1, 3)[::-1]


def test_shard_runs_together_write_the_whole_grid(tmp_path, data_dir, capsys):
    results = tmp_path / "results"
    for i in range(3):
        assert main(["run", "--no-progress", "--offline", "--data-dir", str(data_dir), "--results-dir", str(results),
                     "-m", "GloVe_6B_50d", "-t", "WordSim", "--shard", f"{i}/3"]) == 0
    out = capsys.readouterr().out
    assert out.count("[done]") == 7 and "[skipped]" not in out
    assert len([p for p in results.rglob("*.json") if p.name != "model_meta.json"]) == 7
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--shard", "3/3"]) == 2


def test_without_ray_the_option_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr("harness.distributed.ray_available", lambda: False)
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--ray"]) == 2
    assert "--ray needs the ray package: pip install '.[ray]'" in capsys.readouterr().err
