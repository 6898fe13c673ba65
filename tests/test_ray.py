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
    monkeypatch.setenv("HARNESS_CRASH_ONCE", f"MEN:{tmp_path / 'markers'}")
    report = RayRunner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir, model_dir=static_model_dir),
                       progress=False).run(specs[:1], tasks)
    assert (tmp_path / "markers" / "crashed-MEN").exists()  # the first attempt really died
    assert [c.status for c in report.cells].count("done") == len(tasks)
    names = [c.task for c in report.cells]
    assert sorted(names) == sorted(t.spec.name for t in tasks)  # each cell reported exactly once
    assert len(list((tmp_path / "r").rglob("MEN.json"))) == 1


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
