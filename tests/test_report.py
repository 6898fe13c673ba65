"""Tables from result files: the published potion-base-8M row from its published files (any mteb
layout), the aggregation rules, merging of revision folders, and unreadable files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.report import build_report
from harness.summary import (
    CQADUPSTACK, aggregate, collect, dataset_scores, partial_table, protocol_datasets, published_table, reaches,
)
from harness.tasks import Catalogue

MTEB_COLUMNS = ["Avg (MTEB)", "Class", "Clust", "PairClass", "Rank", "Ret", "STS", "Sum"]


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue()


@pytest.fixture(scope="module")
def datasets(catalogue):
    return protocol_datasets(catalogue)


@pytest.fixture(scope="module")
def sample(data_dir) -> Path:
    path = data_dir / "mteb-results-sample"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


def _row(report_dir: Path, model: str) -> pd.Series:
    table = pd.read_csv(report_dir / "main_table.csv", na_values="N/A").set_index("Model")
    return table.loc[model]


def test_dataset_count_follows_the_protocol(datasets):
    assert len(datasets) == 72
    assert sum(d.benchmark == "MTEB" for d in datasets) == 56
    cqa = [d for d in datasets if d.name == CQADUPSTACK]
    assert len(cqa) == 1 and len(cqa[0].tasks) == 12


def test_import_and_report_reproduce_the_published_potion_8m_row(tmp_path, sample, capsys):
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert main(["import", str(sample), "--results-dir", str(results)]) == 0
    assert "import: 68 files imported" in capsys.readouterr().out
    assert main(["report", "--results-dir", str(results), "--out", str(reports)]) == 0
    row = _row(reports, "potion-base-8M")
    published = published_table("main").loc["potion-base-8M"]
    for column in MTEB_COLUMNS:
        assert row[column] == pytest.approx(published[column], abs=0.0051), column
    assert all(math.isnan(row[c]) for c in ("Avg (All)", "Pearl", "WordSim"))
    comparison = pd.read_csv(reports / "comparison.csv")
    assert len(comparison[comparison.table == "main"]) == 8 and comparison["flag"].isna().all()
    long = pd.read_csv(reports / "per_task.csv")
    aggregate_row = long[long.task == "CQADupstackRetrieval"].iloc[0]
    assert not aggregate_row["counted"]  # the 12 subsets are there: the aggregate is not used
    msmarco = long[long.task == "MSMARCO"].iloc[0]
    assert msmarco["imported_from"].endswith("dcbec7aa2d52fc76754ac6291803feedd8c619ce/MSMARCO.json")
    text = (reports / "README.md").read_text()
    assert "| potion-base-8M | N/A | 50.03 | 64.44 | 32.93 | 76.62 | 49.73 | 31.71 | 73.24 | 29.28 | N/A | N/A |" in text


def _legacy(doc: dict, task_type: str, with_version: bool) -> dict:
    """The same scores in the layout of mteb < 1.11 (split → [subset →] metrics; nested similarity keys)."""
    def metrics(entry: dict) -> dict:
        out = {}
        if task_type in ("STS", "Summarization"):
            out["cos_sim"] = {"spearman": entry["main_score"], "pearson": entry.get("cosine_pearson", 0.0)}
        elif task_type == "PairClassification":
            out["max"] = {"ap": entry["main_score"]}
            out["cos_sim"] = {"ap": entry.get("cosine_ap", entry["main_score"])}
        elif task_type == "Reranking":
            out["map"] = entry["main_score"]  # the main score's name before mteb 2
        else:
            out[{"Classification": "accuracy", "Clustering": "v_measure"}.get(task_type, "ndcg_at_10")] = entry["main_score"]
        return out

    legacy = {"dataset_revision": doc.get("dataset_revision", "x"), "mteb_dataset_name": doc["task_name"]}
    if with_version:
        legacy["mteb_version"] = "1.0.3"
    for split, entries in doc["scores"].items():
        if len(entries) == 1 and entries[0]["hf_subset"] == "default":
            legacy[split] = {**metrics(entries[0]), "evaluation_time": 1.0}
        else:
            legacy[split] = {e["hf_subset"]: metrics(e) for e in entries}
            legacy[split]["evaluation_time"] = 1.0
    return legacy


@pytest.mark.parametrize("with_version", [True, False], ids=["pre-1.11", "no-mteb_version"])
def test_old_layouts_come_out_just_as_exact(tmp_path, sample, catalogue, with_version):
    src = tmp_path / "published" / "minishlab__potion-base-8M"
    types = {n: t.spec.group for n, t in catalogue.tasks.items()}
    types["CQADupstackRetrieval"] = "Retrieval"
    for path in sample.rglob("*.json"):
        rel = path.relative_to(sample / "minishlab__potion-base-8M")
        target = src / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "model_meta.json":
            shutil.copy(path, target)
            continue
        doc = json.loads(path.read_text())
        target.write_text(json.dumps(_legacy(doc, types[doc["task_name"]], with_version)))
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert main(["import", str(tmp_path / "published"), "--results-dir", str(results)]) == 0
    assert main(["report", "--results-dir", str(results), "--out", str(reports)]) == 0
    row, published = _row(reports, "potion-base-8M"), published_table("main").loc["potion-base-8M"]
    for column in MTEB_COLUMNS:
        assert row[column] == pytest.approx(published[column], abs=0.0051), column


def test_group_means_are_unweighted_and_avg_mteb_is_over_datasets(datasets):
    scores = pd.DataFrame({d.name: [0.9 if d.group == "Classification" else 0.5] for d in datasets}, index=["m"])
    agg = aggregate(scores, datasets).loc["m"]
    assert agg["Class"] == pytest.approx(0.9) and agg["Clust"] == pytest.approx(0.5)
    assert agg["Avg (MTEB)"] == pytest.approx((12 * 0.9 + 44 * 0.5) / 56)  # not the mean of the 7 group means
    assert agg["Avg (All)"] == pytest.approx((12 * 0.9 + 60 * 0.5) / 72)


def test_one_missing_dataset_makes_its_group_and_the_averages_na(datasets):
    scores = pd.DataFrame({d.name: [0.5] for d in datasets}, index=["m"])
    scores["SummEval"] = math.nan
    agg = aggregate(scores, datasets).loc["m"]
    assert math.isnan(agg["Sum"]) and math.isnan(agg["Avg (MTEB)"]) and math.isnan(agg["Avg (All)"])
    assert agg["STS"] == pytest.approx(0.5) and agg["Pearl"] == pytest.approx(0.5)


def test_partial_table_uses_only_shared_datasets(datasets):
    scores = pd.DataFrame({d.name: [0.5, 0.7] for d in datasets}, index=["a", "b"])
    scores.loc["b", "SummEval"] = math.nan
    table, counts = partial_table(scores, datasets)
    assert counts["Sum"] == 0 and counts["Avg (MTEB)"] == 55 and counts["Avg (All)"] == 71
    assert table.loc["b", "Avg (MTEB)"] == pytest.approx(0.7) and math.isnan(table.loc["b", "Sum"])


def _write(root: Path, model: str, revision: str, task: str, scores: dict) -> Path:
    for entries in scores.values():
        for e in entries:
            e.setdefault("languages", ["eng-Latn"])
    path = root / model / revision / f"{task}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"task_name": task, "mteb_version": "2.26.24", "dataset_revision": "r",
                                "evaluation_time": 1.0, "scores": scores}))
    return path


def test_cqadupstack_counts_once_and_aggregate_only_as_fallback(tmp_path, datasets, catalogue):
    subsets = catalogue.groups["CQADupstackRetrieval"]
    entry = lambda v: {"test": [{"hf_subset": "default", "main_score": v, "languages": ["eng-Latn"]}]}  # noqa: E731
    for i, name in enumerate(subsets):
        _write(tmp_path, "org__full", "r1", name, entry(0.1 * (i % 3)))
    _write(tmp_path, "org__full", "r1", "CQADupstackRetrieval", entry(0.99))
    _write(tmp_path, "org__aggonly", "r1", "CQADupstackRetrieval", entry(0.33))
    _write(tmp_path, "org__partial", "r1", subsets[0], entry(0.5))
    scores = dataset_scores(collect(tmp_path, datasets), datasets)
    assert scores.loc["org/full", CQADUPSTACK] == pytest.approx(sum(0.1 * (i % 3) for i in range(12)) / 12)
    assert scores.loc["org/aggonly", CQADUPSTACK] == pytest.approx(0.33)
    assert math.isnan(scores.loc["org/partial", CQADUPSTACK])


def test_revisions_merge_preferring_the_file_with_the_needed_subset(tmp_path, datasets):
    _write(tmp_path, "org__m", "a-old", "STS17", {"test": [{"hf_subset": "es-en", "main_score": 0.1}]})
    good = _write(tmp_path, "org__m", "b-new", "STS17", {"test": [{"hf_subset": "en-en", "main_score": 0.8}]})
    _write(tmp_path, "org__m", "a-old", "BIOSSES", {"test": [{"hf_subset": "default", "main_score": 0.7}]})
    long = collect(tmp_path, datasets).set_index("task")
    assert long.loc["STS17", "score"] == 0.8 and long.loc["STS17", "source"] == str(good)
    assert long.loc["BIOSSES", "revision"] == "a-old"


def test_unreadable_file_is_named_and_the_rest_still_reported(tmp_path, capsys):
    _write(tmp_path / "r", "org__m", "r1", "BIOSSES", {"test": [{"hf_subset": "default", "main_score": 0.7}]})
    bad = tmp_path / "r" / "org__m" / "r1" / "STS12.json"
    bad.write_text("{oops")
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out")]) == 1
    assert f"unreadable: {bad}: not a readable mteb result" in capsys.readouterr().err
    assert "org/m" in (tmp_path / "out" / "main_table.csv").read_text()


def test_missing_results_dir_is_one_line_exit_2(tmp_path, capsys):
    assert main(["report", "--results-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "results directory" in capsys.readouterr().err


def test_reaches_is_the_ratio_of_averages():
    table = pd.DataFrame({"Avg (MTEB)": [56.09, 51.66, math.nan]}, index=["all-MiniLM-L6-v2", "p32", "x"])
    assert reaches(table, "all-MiniLM-L6-v2") == {"p32": pytest.approx(92.10, abs=0.01)}


def test_report_on_computed_results(tmp_path, data_dir, glove, registry, catalogue):
    from harness.mirror import Mirrors
    from harness.results import ResultStore
    from harness.runner import Runner

    spec = registry.get("GloVe_6B_50d")
    Runner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir), loader=lambda s, m: glove,
           progress=False).run([spec], catalogue.select(["WordSim"]))
    report = build_report(tmp_path / "r", tmp_path / "out", registry, catalogue)
    assert report.models == ["GloVe_6B_50d"] and not report.errors
    row = _row(tmp_path / "out", "GloVe_6B_50d")
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    assert row["WordSim"] == pytest.approx(round(100 * long["score"].mean(), 2))
    assert math.isnan(row["Avg (MTEB)"])
