"""Shards (`--shard I/N`): deterministic slices that together hold the grid once, with or without workers,
and the `--ray` option's message when Ray is missing. None of this needs Ray."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.runner import Cell, parse_shard, select_shard
from harness.tasks import Catalogue


def _results(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json") if p.name != "model_meta.json")


def test_shards_cover_the_grid_exactly_once(registry):
    cells = [Cell(s, t) for s in registry.select(["GloVe_6B_50d", "potion-base-8M"])
             for t in Catalogue().select(["WordSim", "BIOSSES", "STS12"])]
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
    assert len(_results(results)) == 7


@pytest.mark.parametrize("value, why", [("3/3", "needs 0 <= I < N"), ("-1/2", "needs 0 <= I < N"),
                                        ("0/0", "needs 0 <= I < N"), ("1", "expected I/N, e.g. 0/4"),
                                        ("a/b", "expected I/N, e.g. 0/4"), ("0/2/4", "expected I/N, e.g. 0/4")])
def test_malformed_shard_is_one_line_with_exit_code_2(value, why, tmp_path, capsys):
    with pytest.raises(Exception, match=why):
        parse_shard(value)
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--results-dir", str(tmp_path / "r"),
                 f"--shard={value}"]) == 2
    assert capsys.readouterr().err.strip() == f"harness: error: --shard '{value}': {why}"
    assert not (tmp_path / "r").exists()


def test_shard_with_workers_runs_the_same_slice(tmp_path, data_dir, registry):
    """`--shard 1/2 --jobs 2` writes exactly the cells of slice 1/2, with the scores one worker gives."""
    args = ["run", "--no-progress", "--offline", "--data-dir", str(data_dir), "-m", "GloVe_6B_50d", "-t", "WordSim",
            "--shard", "1/2"]
    assert main([*args, "--results-dir", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    assert main([*args, "--results-dir", str(tmp_path / "one"), "--jobs", "1"]) == 0
    cells = [Cell(registry.get("GloVe_6B_50d"), t) for t in Catalogue().select(["WordSim"])]
    expected = sorted(c.task.spec.name for c in select_shard(cells, 1, 2))
    assert sorted(p.rsplit("/", 1)[-1].removesuffix(".json") for p in _results(tmp_path / "pool")) == expected
    assert _results(tmp_path / "pool") == _results(tmp_path / "one")
    for name in _results(tmp_path / "one"):
        assert json.loads((tmp_path / "pool" / name).read_text())["scores"] == \
            json.loads((tmp_path / "one" / name).read_text())["scores"]


def test_without_ray_the_option_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr("harness.distributed.ray_available", lambda: False)
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "--ray"]) == 2
    assert "--ray needs the ray package: pip install '.[ray]'" in capsys.readouterr().err
