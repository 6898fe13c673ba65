"""Tables from computed and published result files: the published tables reproduced from the
published per-task results (any mteb layout), computed and published kept apart, the aggregation
rules, and every kind of bad input named in one line."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.mirror import shown_path
from harness.reporting import build_report
from harness.summary import aggregate, dataset_scores, long_table, partial_table, protocol_datasets, \
    published_table, task_keys
from harness.results import read_folder
from harness.tasks import Catalogue
from tests.conftest import built_once

MTEB_COLUMNS = ["Avg (MTEB)", "Class", "Clust", "PairClass", "Rank", "Ret", "STS", "Sum"]
CQADUPSTACK = "CQADupstack"


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue()


@pytest.fixture(scope="module")
def datasets(catalogue):
    return protocol_datasets(catalogue)


@pytest.fixture(scope="module")
def published(data_dir) -> Path:
    path = data_dir / "mteb-results" / "results"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module")
def published_report(published, tmp_path_factory) -> Path:
    """The report of an empty computed folder and the published per-task results of the data mirror."""
    root = tmp_path_factory.mktemp("published-report")
    (root / "results").mkdir()
    assert main(["report", "--results-dir", str(root / "results"), "--out", str(root / "reports"),
                 "--published", str(published.parent)]) == 0
    return root / "reports"


def _main_table(report_dir: Path) -> pd.DataFrame:
    return pd.read_csv(report_dir / "main_table.csv", na_values="N/A").set_index(["Model", "Source"])


def test_dataset_count_follows_the_protocol(datasets):
    assert len(datasets) == 72
    assert sum(d.benchmark == "MTEB" for d in datasets) == 56
    cqa = [d for d in datasets if d.name == CQADUPSTACK]
    assert len(cqa) == 1 and len(cqa[0].tasks) == 12


def test_published_per_task_results_reproduce_the_published_rows(published_report):
    table, paper = _main_table(published_report), published_table("main")
    for model in ("potion-base-8M", "M2V_base_output", "static-retrieval-mrl-en-v1",
                  "static-similarity-mrl-multilingual-v1", "all-MiniLM-L6-v2"):
        assert (model, "published") in table.index and (model, "paper") in table.index, model
    row = table.loc[("potion-base-8M", "published")]
    for column in MTEB_COLUMNS:  # every cell of the flagship model, to the table's 2 decimals
        assert row[column] == pytest.approx(paper.loc["potion-base-8M", column], abs=0.0051), column
    diffs = pd.read_csv(published_report / "comparison.csv")
    off = diffs[(diffs["difference"].abs() > 0.0101) & (diffs["source"] == "published")]
    # what does not reproduce is listed, each with the files behind it, and nothing else is off
    assert set(zip(off["model"], off["column"])) <= {
        ("all-MiniLM-L6-v2", c) for c in ("Avg (MTEB)", "Clust", "Ret", "STS")} | {
        ("M2V_base_output", "Sum"), ("static-retrieval-mrl-en-v1", "Sum"),
        ("static-similarity-mrl-multilingual-v1", "Clust"), ("static-similarity-mrl-multilingual-v1", "Sum")}
    text = (published_report / "README.md").read_text()
    assert "potion-base-8M · published per-task: 8 of 8 cells within 0.01" in text
    # the MiniLM row of the paper took MSMARCO's dev split: the report shows it from the files
    assert "all-MiniLM-L6-v2 · published per-task, with MSMARCO dev instead of the protocol's split: Ret 41.95 (+0.00)" \
        in text
    assert math.isnan(table.loc[("static-retrieval-mrl-en-v1", "published"), "Ret"])
    assert "Ret 1 of 15 (MSMARCO)" in text


def test_models_absent_from_the_registry_are_listed_not_dropped(published_report):
    outside = pd.read_csv(published_report / "outside_registry.csv", na_values="N/A").set_index("Model")
    assert {"minishlab/M2V_base_glove", "minishlab/M2V_base_glove_subword", "BAAI/bge-base-en-v1.5"} <= set(outside.index)
    assert outside.loc["minishlab/M2V_base_glove", "MTEB datasets"] == 56


def test_another_copy_of_the_results_repository_gives_the_same_rows(published, published_report, tmp_path):
    copy = tmp_path / "my-results" / "results"
    shutil.copytree(published / "minishlab__potion-base-8M", copy / "minishlab__potion-base-8M")
    shutil.copytree(published / "minishlab__M2V_base_glove", copy / "minishlab__M2V_base_glove")
    (tmp_path / "r").mkdir()
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", str(tmp_path / "my-results")]) == 0
    mine, reference = _main_table(tmp_path / "out"), _main_table(published_report)
    pd.testing.assert_series_equal(mine.loc[("potion-base-8M", "published")],
                                   reference.loc[("potion-base-8M", "published")])
    assert "minishlab/M2V_base_glove" in (tmp_path / "out" / "outside_registry.csv").read_text()


def test_two_published_folders_holding_the_same_files_give_one_score_each(published, published_report, tmp_path):
    copy = tmp_path / "copy" / "results"
    shutil.copytree(published / "minishlab__potion-base-8M", copy / "minishlab__potion-base-8M")
    (tmp_path / "r").mkdir()
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", str(published.parent), "--published", str(copy.parent)]) == 0
    pd.testing.assert_frame_equal(_main_table(tmp_path / "out"), _main_table(published_report))
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    assert not long.duplicated(["origin", "model", "task", "split", "subset"]).any()
    assert not long["source"].str.startswith(str(copy)).any()  # the folder named first is used
    assert "also read from a folder named before this one, which is used" in (tmp_path / "out" / "README.md").read_text()


def test_remote_results_repository_is_cloned_by_mtebs_result_cache(published, tmp_path, monkeypatch):
    remote = tmp_path / "remote-repo"
    shutil.copytree(published / "minishlab__potion-base-8M", remote / "results" / "minishlab__potion-base-8M")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=remote, check=True)
    subprocess.run([*git, "add", "."], cwd=remote, check=True)
    subprocess.run([*git, "commit", "-qm", "results"], cwd=remote, check=True)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "r").mkdir()
    address = f"file://{remote}"
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", address]) == 0
    row = _main_table(tmp_path / "out").loc[("potion-base-8M", "published")]
    assert row["Avg (MTEB)"] == pytest.approx(published_table("main").loc["potion-base-8M", "Avg (MTEB)"], abs=0.0051)
    assert (tmp_path / "cache" / "mteb-results" / "remote" / "results" / "minishlab__potion-base-8M").is_dir()
    assert f"published per-task results in {address} @ " in (tmp_path / "out" / "README.md").read_text()


def test_unreachable_remote_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "r").mkdir()
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", f"file://{tmp_path}/nowhere"]) == 2
    assert "mteb's ResultCache could not clone or update it" in capsys.readouterr().err


def test_computed_and_published_scores_are_kept_apart(published, tmp_path, catalogue, registry):
    """A computed score next to a published one for the same model and task: both rows, neither replaced."""
    doc = json.loads((published / "minishlab__potion-base-8M" / "external" / "STS12.json").read_text())
    doc["mteb_version"] = "2.26.24"
    doc["scores"]["test"][0]["main_score"] = doc["scores"]["test"][0]["cosine_spearman"] = 0.4242
    computed = tmp_path / "results" / "minishlab__potion-base-8M" / "bf8b056651a2c21b8d2565580b8569da283cab23"
    computed.mkdir(parents=True)
    (computed / "STS12.json").write_text(json.dumps(doc))
    build_report(tmp_path / "results", tmp_path / "out", registry, catalogue, [(published, "mirror")])
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    sts12 = long[(long.model == "potion-base-8M") & (long.task == "STS12")].set_index("origin")["score"]
    assert sts12["computed"] == 0.4242 and sts12["published"] == pytest.approx(0.6224898505553053)
    table = _main_table(tmp_path / "out")
    assert table.loc[("potion-base-8M", "published"), "STS"] == 73.24  # untouched by the computed file
    agreement = pd.read_csv(tmp_path / "out" / "agreement.csv")
    (row,) = agreement[agreement.task == "STS12"].itertuples()
    assert row.flag == "!" and row.difference == pytest.approx(42.42 - 62.24898505553053)


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
def test_old_layouts_come_out_just_as_exact(tmp_path, published, catalogue, with_version):
    source = published / "minishlab__potion-base-8M"
    target = tmp_path / "published" / "minishlab__potion-base-8M"
    types = {n: t.spec.group for n, t in catalogue.tasks.items()}
    types["CQADupstackRetrieval"] = "Retrieval"
    for path in source.rglob("*.json"):
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.name == "model_meta.json":
            shutil.copy(path, out)
            continue
        doc = json.loads(path.read_text())
        out.write_text(json.dumps(_legacy(doc, types[doc["task_name"]], with_version)))
    (tmp_path / "r").mkdir()
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", str(tmp_path / "published")]) == 0
    row, paper = _main_table(tmp_path / "out").loc[("potion-base-8M", "published")], published_table("main")
    for column in MTEB_COLUMNS:
        assert row[column] == pytest.approx(paper.loc["potion-base-8M", column], abs=0.0051), column


def test_import_takes_the_protocols_metric_from_files_of_mteb_0_0_x(tmp_path, published, capsys):
    """Early mteb called `ap` the main score of binary classification; the protocol (and the tables) use accuracy."""
    real = json.loads((published / "minishlab__potion-base-8M" / "external" /
                       "ToxicConversationsClassification.json").read_text())
    entry = real["scores"]["test"][0]
    old = {"mteb_version": "0.0.2", "mteb_dataset_name": "ToxicConversationsClassification",
           "dataset_revision": real["dataset_revision"],
           "test": {"accuracy": entry["accuracy"], "ap": entry["ap"], "f1": entry["f1"], "main_score": entry["ap"],
                    "evaluation_time": 3.0}}
    folder = tmp_path / "old" / "minishlab__potion-base-8M" / "external"
    folder.mkdir(parents=True)
    (folder / "ToxicConversationsClassification.json").write_text(json.dumps(old))
    assert main(["import", str(tmp_path / "old"), "--into", str(tmp_path / "store")]) == 0
    imported = json.loads((tmp_path / "store" / "minishlab__potion-base-8M" / "external" /
                           "ToxicConversationsClassification.json").read_text())
    assert imported["scores"]["test"][0]["main_score"] == entry["accuracy"] != entry["ap"]
    assert "is not accuracy" in imported["harness"]["note"]
    (tmp_path / "r").mkdir()
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", str(tmp_path / "store")]) == 0
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    (score,) = long.loc[long.task == "ToxicConversationsClassification", "score"]
    assert score == entry["accuracy"]


def test_importing_the_whole_published_folder_never_stops_on_one_file(tmp_path, published, capsys):
    assert main(["import", str(published), "--into", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "import: 595 files imported" in out
    assert "not in the registry" in out and "minishlab/M2V_base_glove" in out
    assert len({p.parent.parent.name for p in (tmp_path / "store").rglob("*.json")}) == 10


def test_bad_files_are_each_named_and_the_rest_is_used(tmp_path, published, capsys):
    src = tmp_path / "mixed" / "minishlab__potion-base-8M"
    shutil.copytree(published / "minishlab__potion-base-8M", src)
    (src / "external" / "STS12.json").write_text("{oops")  # unreadable JSON
    (src / "external" / "NotATask.json").write_text(json.dumps({"task_name": "NotATask"}))  # unknown task
    (src / "external" / "GermanSTSBenchmark.json").write_text("{}")  # a task of another benchmark
    duplicate = src / "zz-copy"
    duplicate.mkdir()
    shutil.copy(src / "external" / "STS13.json", duplicate / "STS13.json")  # the same task in two revisions
    (tmp_path / "r").mkdir()
    code = main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", str(tmp_path / "mixed")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"unreadable: {src / 'external' / 'STS12.json'}: not valid JSON" in err
    text = (tmp_path / "out" / "README.md").read_text()
    assert "2 task(s) outside the catalogue left out (GermanSTSBenchmark, NotATask)" in text
    assert "minishlab__potion-base-8M STS13: zz-copy/STS13.json used; also in external (not used)" in text
    row = _main_table(tmp_path / "out").loc[("potion-base-8M", "published")]
    assert math.isnan(row["STS"]) and row["Class"] == 64.44  # the rest is used


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


def _long(root: Path, catalogue, datasets, origin="computed") -> pd.DataFrame:
    return long_table(read_folder(root, task_keys(catalogue), origin).records, datasets, lambda m: m)


def test_cqadupstack_counts_once_and_aggregate_only_as_fallback(tmp_path, datasets, catalogue):
    subsets = catalogue.groups["CQADupstackRetrieval"]
    entry = lambda v: {"test": [{"hf_subset": "default", "main_score": v, "ndcg_at_10": v}]}  # noqa: E731
    for i, name in enumerate(subsets):
        _write(tmp_path, "org__full", "r1", name, entry(0.1 * (i % 3)))
    _write(tmp_path, "org__full", "r1", "CQADupstackRetrieval", entry(0.99))
    _write(tmp_path, "org__aggonly", "r1", "CQADupstackRetrieval", entry(0.33))
    _write(tmp_path, "org__partial", "r1", subsets[0], entry(0.5))
    long = _long(tmp_path, catalogue, datasets)
    scores = dataset_scores(long, datasets)
    assert scores.loc["org/full", CQADUPSTACK] == pytest.approx(sum(0.1 * (i % 3) for i in range(12)) / 12)
    assert scores.loc["org/aggonly", CQADUPSTACK] == pytest.approx(0.33)
    assert math.isnan(scores.loc["org/partial", CQADUPSTACK])
    aggregate_rows = long[long.task == "CQADupstackRetrieval"].set_index("model")["counted"]
    assert not aggregate_rows["org/full"] and aggregate_rows["org/aggonly"]


def test_revisions_merge_preferring_the_file_with_the_needed_subset(tmp_path, datasets, catalogue):
    _write(tmp_path, "org__m", "a-old", "STS17", {"test": [{"hf_subset": "es-en", "main_score": 0.1,
                                                           "cosine_spearman": 0.1}]})
    good = _write(tmp_path, "org__m", "b-new", "STS17", {"test": [{"hf_subset": "en-en", "main_score": 0.8,
                                                                  "cosine_spearman": 0.8}]})
    _write(tmp_path, "org__m", "a-old", "BIOSSES", {"test": [{"hf_subset": "default", "main_score": 0.7,
                                                             "cosine_spearman": 0.7}]})
    long = _long(tmp_path, catalogue, datasets).set_index("task")
    assert long.loc["STS17", "score"] == 0.8 and long.loc["STS17", "source"] == str(good)
    assert long.loc["BIOSSES", "revision"] == "a-old"


def test_scores_of_two_origins_are_never_averaged_together(tmp_path, datasets, catalogue):
    _write(tmp_path, "org__m", "r", "BIOSSES", {"test": [{"hf_subset": "default", "main_score": 0.7,
                                                         "cosine_spearman": 0.7}]})
    both = pd.concat([_long(tmp_path, catalogue, datasets, "computed"), _long(tmp_path, catalogue, datasets, "published")])
    with pytest.raises(ValueError, match="never mixed"):
        dataset_scores(both, datasets)


def test_unreadable_file_is_named_and_the_rest_still_reported(tmp_path, capsys):
    _write(tmp_path / "r", "org__m", "r1", "BIOSSES", {"test": [{"hf_subset": "default", "main_score": 0.7,
                                                                "cosine_spearman": 0.7}]})
    bad = tmp_path / "r" / "org__m" / "r1" / "STS12.json"
    bad.write_text("{oops")
    assert main(["report", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out"),
                 "--published", "none"]) == 1
    assert f"unreadable: {bad}: not valid JSON" in capsys.readouterr().err
    assert "org/m" in (tmp_path / "out" / "per_task.csv").read_text()


def test_missing_results_dir_is_one_line_exit_2(tmp_path, capsys):
    assert main(["report", "--results-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "results folder" in capsys.readouterr().err


def test_reaches_is_the_ratio_to_the_reference_within_one_source():
    from harness.tables.main import reaches_table

    rows = pd.DataFrame({"Avg (MTEB)": [56.09, 51.66, 56.58, 50.03, 40.0], "Ret": [41.95, 33.52, 43.76, math.nan, 10.0]},
                        index=pd.MultiIndex.from_tuples([("all-MiniLM-L6-v2", "paper"), ("p32", "paper"),
                                                         ("all-MiniLM-L6-v2", "published"), ("p8", "published"),
                                                         ("x", "computed")]))
    reach = reaches_table(rows)
    assert reach.loc[("p32", "published table"), "Avg (MTEB) %"] == pytest.approx(92.10, abs=0.01)
    assert reach.loc[("p8", "published per-task"), "Avg (MTEB) %"] == pytest.approx(100 * 50.03 / 56.58)
    assert math.isnan(reach.loc[("p8", "published per-task"), "Ret %"])
    assert ("x", "computed here") not in reach.index  # no reference in its source

def test_report_on_computed_results(tmp_path, data_dir, glove, registry, catalogue):
    from harness.mirror import Mirrors
    from harness.results import ResultStore
    from harness.runner import Runner

    spec = registry.get("GloVe_6B_50d")
    Runner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir), loader=lambda s, m: glove,
           progress=False).run([spec], catalogue.select(["WordSim"]))
    report = build_report(tmp_path / "r", tmp_path / "out", registry, catalogue, mirrors=Mirrors(data_dir=data_dir))
    assert "GloVe_6B_50d" in report.models and not report.problems
    row = _main_table(tmp_path / "out").loc[("GloVe_6B_50d", "computed")]
    long = pd.read_csv(tmp_path / "out" / "per_task.csv")
    assert row["WordSim"] == pytest.approx(round(100 * long["score"].mean(), 2))
    assert math.isnan(row["Avg (MTEB)"])
    text = (tmp_path / "out" / "README.md").read_text()
    assert f"no data in the local mirror {shown_path(data_dir)}" in text  # why its MTEB columns are N/A


def test_reports_name_folders_beside_the_working_folder_relatively(tmp_path, monkeypatch):
    """A clone with ../shared linked to the real data names it ../shared/..., as the repository's reports
    do, so reports built in two clones laid out alike are the same; other folders keep their whole path."""
    data = tmp_path / "elsewhere" / "data"
    (data / "mteb-results").mkdir(parents=True)
    (tmp_path / "clone" / "main" / "results").mkdir(parents=True)
    (tmp_path / "clone" / "shared").symlink_to(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "clone" / "main")
    assert shown_path(data.resolve() / "mteb-results") == "../shared/data/mteb-results"
    assert shown_path(tmp_path / "clone" / "shared" / "data") == "../shared/data"
    assert shown_path(tmp_path / "clone" / "main" / "results" / "x.json") == "results/x.json"
    assert shown_path(tmp_path / "other") == (tmp_path / "other").as_posix()
    assert shown_path("results") == "results"


@pytest.fixture(scope="module")
def computed_report(data_dir, tmp_path_factory) -> Path:
    """`harness report` (no published results) over GloVe 6B 50d on MEN, BIOSSES and STS12 and all-MiniLM-L6-v2 on
    MEN and BIOSSES, both with a measured speed (built once in the session: its tests only read it)."""
    def build(root: Path) -> None:
        common = ["--results-dir", str(root / "results"), "--data-dir", str(data_dir), "--offline", "--no-progress"]
        assert main(["run", "-m", "GloVe_6B_50d", "-t", "MEN", "BIOSSES", "STS12", *common]) == 0
        assert main(["run", "-m", "all-MiniLM-L6-v2", "-t", "MEN", "BIOSSES", *common]) == 0
        assert main(["speed", "-m", "GloVe_6B_50d", "all-MiniLM-L6-v2", "--size", "20", *common]) == 0
        assert main(["report", "--results-dir", str(root / "results"), "--out", str(root / "reports"), "--published",
                     "none"]) == 0

    return built_once(tmp_path_factory, "computed-report", build)


def _main_scores(results: Path, folder: str) -> dict[str, float]:
    """100 x main_score of each result file of one model folder, read from the files themselves."""
    return {p.stem: 100 * json.loads(p.read_text())["scores"]["test"][0]["main_score"]
            for p in (results / folder).glob("*/*.json") if p.stem != "model_meta"}


@pytest.mark.xdist_group("computed_report")  # under -n N, on one worker: the other does not wait for the build
def test_partial_table_file_averages_the_datasets_every_model_has(computed_report):
    results = computed_report / "results"
    glove = _main_scores(results, "stanfordnlp__glove.6B.50d")
    minilm = _main_scores(results, "sentence-transformers__all-MiniLM-L6-v2")
    table = pd.read_csv(computed_report / "reports" / "partial_table.csv", na_values="N/A").set_index("Model")
    assert {"Avg (All) (2)", "Avg (MTEB) (1)", "STS (1)", "WordSim (1)", "Pearl (0)"} <= set(table.columns)
    for model, scores in (("GloVe_6B_50d", glove), ("all-MiniLM-L6-v2", minilm)):
        row = table.loc[model]
        assert row["STS (1)"] == pytest.approx(scores["BIOSSES"], abs=0.005)  # STS12: GloVe only, left out
        assert row["WordSim (1)"] == pytest.approx(scores["MEN"], abs=0.005)
        assert row["Avg (All) (2)"] == pytest.approx((scores["BIOSSES"] + scores["MEN"]) / 2, abs=0.005)
        assert math.isnan(row["Pearl (0)"])


@pytest.mark.xdist_group("computed_report")  # under -n N, on one worker: the other does not wait for the build
def test_throughput_file_ratios_are_of_the_measured_speeds(computed_report):
    results = computed_report / "results"
    speeds = {name: json.loads(next((results / folder).glob("*/harness/throughput.json")).read_text())
              for name, folder in (("GloVe_6B_50d", "stanfordnlp__glove.6B.50d"),
                                   ("all-MiniLM-L6-v2", "sentence-transformers__all-MiniLM-L6-v2"))}
    table = pd.read_csv(computed_report / "reports" / "throughput.csv").set_index("Model")
    for model, record in speeds.items():
        assert table.loc[model, "sentences/s"] == pytest.approx(record["sentences_per_second"], abs=0.005)
        assert (table.loc[model, "min"], table.loc[model, "max"]) == pytest.approx((record["min"], record["max"]),
                                                                                   abs=0.005)
    ratio = speeds["GloVe_6B_50d"]["sentences_per_second"] / speeds["all-MiniLM-L6-v2"]["sentences_per_second"]
    assert table.loc["GloVe_6B_50d", "× all-MiniLM-L6-v2"] == pytest.approx(ratio, abs=0.005)


def test_retrieval_and_ablation_files_hold_the_papers_rows_and_the_published_recomputation(published_report, data_dir):
    """Paper rows equal the reference tables (the published tables, in reference/ beside the data folder);
    published rows equal the main table's recomputation of the same models from the published per-task files."""
    reference = data_dir.parent / "reference"
    main_table = _main_table(published_report)
    retrieval = pd.read_csv(published_report / "retrieval_table.csv", na_values="N/A").set_index(["Model", "Source"])
    paper = pd.read_csv(reference / "paper_retrieval_table.csv").set_index("model")["retrieval"]
    for model, value in paper.items():
        assert retrieval.loc[(model, "paper"), "Retrieval"] == pytest.approx(value, abs=1e-9), model
    shared = [m for m, s in retrieval.index if s == "published" and (m, "published") in main_table.index]
    assert shared
    for model in shared:
        assert retrieval.loc[(model, "published"), "Retrieval"] == pytest.approx(
            main_table.loc[(model, "published"), "Ret"], abs=0.005, nan_ok=True), model
    ablation = pd.read_csv(published_report / "ablation_table.csv", na_values="N/A").set_index(["Model", "Source"])
    papers = pd.read_csv(reference / "paper_ablation_table.csv").set_index("model")
    columns = {"avg_all": "Avg (All)", "avg_mteb": "Avg (MTEB)", "classification": "Class", "clustering": "Clust",
               "pair_classification": "PairClass", "reranking": "Rank", "retrieval": "Ret", "sts": "STS",
               "summarization": "Sum", "pearl": "Pearl", "wordsim": "WordSim"}
    for model, row in papers.iterrows():
        for ours, theirs in columns.items():
            assert ablation.loc[(model, "paper"), theirs] == pytest.approx(row[ours], abs=1e-9), (model, theirs)
    assert ablation.loc[("M2V_base_output", "published"), "Avg (MTEB)"] == pytest.approx(
        main_table.loc[("M2V_base_output", "published"), "Avg (MTEB)"], abs=0.005)
