"""Big cells: the plan before a run, largest-first scheduling, and the parallel work that leaves scores alone."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.cores import cell_cores, given_cores
from harness.plan import CostModel, Observation, Size, makespan, mteb_size
from harness.pool import largest_first
from harness.registry import load_registry
from harness.runner import Cell
from harness.tasks import Catalogue
from tests.conftest import ROOT


def test_largest_first_shortens_a_run_whose_giant_cell_comes_last():
    seconds = [1, 1, 1, 1, 10]
    in_grid_order = 2 + 10  # two workers: the four small cells take 2 s each, then the giant one alone
    assert makespan(seconds, 2) == 10 < in_grid_order
    assert makespan(seconds, 1) == sum(seconds)


def test_cells_that_ask_for_more_cores_than_the_machine_has_share_them():
    assert makespan([10, 10], 2, [1, 1], machine=2) == 10  # a core each
    assert makespan([10, 10], 2, [2, 2], machine=2) == 20  # each would keep both busy: no gain from two workers
    assert makespan([10, 10], 2, [2, 2]) == 10  # a machine of as many cores as they ask
    assert makespan([10, 10], 2, [2, 1], machine=2) == 15  # three cores asked of two: each at 2/3 of its pace
    # the 5-s cell ends at 7.5 s (2/3 pace); the other, 5 s of its own left, then alone at full pace
    assert makespan([5, 10], 2, [1, 2], machine=2) == 12.5
    assert makespan([10, 10, 4], 1, [2, 2, 1], machine=2) == 24  # one worker: one cell after another
    assert makespan([3, 1, 2], 2) == makespan([3, 1, 2], 2, [1, 1, 1], machine=2) == 3


def test_a_cell_s_cores_are_its_cpu_seconds_over_its_seconds_where_a_cell_of_its_kind_says():
    from harness.plan import summary

    spec = load_registry().get("potion-base-8M")
    tasks = Catalogue().tasks
    seen = [Observation("m", "r", "model2vec", "static", "SciFact", 10.0, 1.0, None, 18.0),
            Observation("m2", "r", "model2vec", "static", "SciFact", 10.0, 1.0, None, 16.0),
            Observation("m", "r", "model2vec", "static", "STS12", 2.0, 1.0)]  # a file of before: no CPU time
    full = mteb_size("NFCorpus", "default")
    row = {"loader": "model2vec", "family": "static", "model": "potion-base-8M", "task": "NFCorpus",
           "texts": full.texts, "chars": full.chars, "seconds": 4.0, "peak_gb": 0.9, "cpu_seconds": 6.0}
    model = CostModel(seen, calibrated=[row])
    assert model.cores(spec, tasks["SciFact"], mteb_size("SciFact", "default")) == pytest.approx(1.7)
    assert model.cores(spec, tasks["NFCorpus"], full) == 1.5
    assert model.cores(spec, tasks["STS12"], mteb_size("STS12", "default")) == 1.0  # none says
    assert model.cores(load_registry().get("all-MiniLM-L6-v2"), tasks["SciFact"], None) == 1.0  # another kind
    projections = [model.project(spec, tasks[name]) for name in ("SciFact", "NFCorpus")]
    assert [p.cores for p in projections] == pytest.approx([1.7, 1.5])
    seconds = [p.seconds for p in projections]
    line, _ = summary(projections, 2, None, machine=2)
    assert f"{makespan(seconds, 2, [1.7, 1.5], 2):.0f} s with 2 worker(s)" in line
    assert makespan(seconds, 2, [1.7, 1.5], 2) > makespan(seconds, 2)


def test_a_cell_measured_beside_other_cells_is_charged_its_cpu_time_over_the_cores_its_task_keeps_busy_alone():
    spec = load_registry().get("potion-base-8M")
    task, size = Catalogue().tasks["SciFact"], mteb_size("SciFact", "default")
    alone = Observation("m", "r", "model2vec", "static", "SciFact", 10.0, 1.0, None, 18.0)  # 1.8 cores on its own
    beside = Observation(spec.id, spec.revision, "model2vec", "static", "SciFact", 25.0, 1.0, None, 19.8, shared=True)
    seconds, basis = CostModel([alone, beside], calibrated=[]).seconds(spec, task, size)
    assert seconds == pytest.approx(19.8 / 1.8)  # 11 s on its own, not the 25 s it took beside another cell
    assert basis == "measured; 1 of 1 beside other cells: their CPU time over the 1.8 cores the task keeps busy alone"
    assert CostModel([alone, beside], calibrated=[]).cores(spec, task, size) == pytest.approx(1.8)
    # the benchmarks' cell of the task at its size says how many cores it keeps busy alone, too
    row = {"loader": "model2vec", "family": "static", "model": "potion-base-8M", "task": "SciFact",
           "texts": size.texts, "chars": size.chars, "seconds": 4.0, "peak_gb": 0.9, "cpu_seconds": 6.0}
    assert CostModel([beside], calibrated=[row]).seconds(spec, task, size)[0] == pytest.approx(19.8 / 1.5)
    # nothing says: as measured, charged the cores it kept busy beside the others
    model = CostModel([beside], calibrated=[])
    assert model.seconds(spec, task, size) == (25.0, "measured; 1 of 1 beside other cells: their time as measured there")
    assert model.cores(spec, task, size) == pytest.approx(19.8 / 25.0)
    # another model of the kind: the fits take it on its own too
    other = dataclasses.replace(beside, model_id="other")
    assert CostModel([alone, other], calibrated=[]).seconds(spec, task, size)[0] == pytest.approx(
        (10.0 + 19.8 / 1.8) / 2)


def test_the_pool_deals_cells_longest_first_and_unknown_ones_last_in_grid_order():
    spec = load_registry().get("potion-base-8M")
    tasks = Catalogue().select(["MEN", "SimLex", "bird", "STS12", "MSMARCO"])
    cells = [Cell(spec, task) for task in tasks]
    estimate = {"MEN": 1.0, "SimLex": None, "bird": 3.0, "STS12": None, "MSMARCO": 900.0}
    order = largest_first(cells, lambda cell: estimate[cell.task.spec.name])
    assert [c.task.spec.name for c in order] == ["MSMARCO", "bird", "MEN", "SimLex", "STS12"]
    assert largest_first(cells, None) == cells


def test_with_nothing_measured_yet_cells_are_dealt_by_size():
    from harness.plan import Projection, ordering

    spec = load_registry().get("potion-base-8M")
    cells = [Cell(spec, task) for task in Catalogue().select(["AmazonCounterfactualClassification", "MEN",
                                                              "TweetSentimentExtractionClassification"])]
    sizes = {"AmazonCounterfactualClassification": Size(670, 71_118), "MEN": None,
             "TweetSentimentExtractionClassification": Size(3_534, 239_476)}
    unmeasured = {c.key: Projection(spec.name, c.task.spec.name, sizes[c.task.spec.name], None, 1.0, "size unknown")
                  for c in cells}
    order = largest_first(cells, ordering(unmeasured))
    assert [c.task.spec.name for c in order] == ["TweetSentimentExtractionClassification",
                                                 "AmazonCounterfactualClassification", "MEN"]
    measured = {**unmeasured, cells[0].key: Projection(spec.name, "AmazonCounterfactualClassification",
                                                       sizes["AmazonCounterfactualClassification"], 6.4, 1.0, "measured")}
    order = largest_first(cells, ordering(measured))  # times where known come first; the rest keep grid order
    assert [c.task.spec.name for c in order] == ["AmazonCounterfactualClassification", "MEN",
                                                 "TweetSentimentExtractionClassification"]


def test_mteb_statistics_give_the_size_of_the_split_and_subset_evaluated():
    msmarco = mteb_size("MSMARCO", "default")  # mteb ships only its dev split's statistics
    corpus = msmarco.document_chars  # the documents' characters, of all the split's
    assert msmarco == Size(8_848_803, 2_969_291_276, queries=43, documents=8_841_823, document_chars=corpus)
    assert 0.99 * msmarco.chars < corpus < msmarco.chars  # the test split's 43 queries: a few of them
    fever = mteb_size("FEVER", "default")
    assert (fever.queries, fever.documents) == (6_666, 5_416_568)
    assert fever.searches == 6_666 * 109 and msmarco.searches == 43 * 177  # mteb searches 50,000 documents at a time
    import mteb

    both = json.loads((Path(mteb.__file__).parent / "descriptive_stats" / "Classification" /
                       "AmazonCounterfactualClassification.json").read_text())
    stats, train = both["test"], both["train"]["hf_subset_descriptive_stats"]
    english = stats["hf_subset_descriptive_stats"]["en"]
    counterfactual = mteb_size("AmazonCounterfactualClassification", "en")
    assert counterfactual == Size(english["num_samples"], english["text_statistics"]["total_text_length"],
                                  train=train["en"]["num_samples"], experiments=10)
    assert counterfactual.texts < stats["num_samples"]  # the English subset, not all four
    polarity = mteb_size("AmazonPolarityClassification", "default")
    assert (polarity.texts, polarity.train, polarity.label_reads) == (400_000, 3_600_000, 36_000_000)
    assert mteb_size("AmazonReviewsClassification", "en").train == 200_000  # the English training rows, of 1.2 M
    assert fever.label_reads == 0 and mteb_size("STS12", "default").label_reads == 0


def _obs(model, task, seconds, loader="model2vec", peak=None):
    return Observation(model, "r", loader, "static", task, seconds, peak)


def test_cost_model_prefers_the_same_cell_then_the_same_kind_then_a_size_fit():
    spec = load_registry().get("potion-base-8M").model_copy(update={"id": "m", "revision": "r"})
    catalogue = Catalogue()
    seen = [_obs("m", "MEN", 2.0), _obs("other", "bird", 3.0), _obs("other", "bird", 5.0),
            _obs("other", "STS12", 13.0), _obs("other", "STS13", 11.1), _obs("other", "STSBenchmark", 11.0)]
    model = CostModel(seen, calibrated=[])
    assert model.seconds(spec, catalogue.tasks["MEN"], None) == (2.0, "measured")
    assert model.seconds(spec, catalogue.tasks["bird"], None) == (4.0, "measured (model2vec)")
    sts = catalogue.tasks["STS14"]
    seconds, basis = model.seconds(spec, sts, mteb_size("STS14", "default"))
    sizes = {name: mteb_size(name, "default").chars for name in ("STS12", "STS13", "STSBenchmark")}
    slope, intercept = np.polyfit(list(sizes.values()), [13.0, 11.1, 11.0], 1)  # both positive: the plain fit
    assert slope > 0 and intercept > 0
    assert seconds == pytest.approx(intercept + slope * mteb_size("STS14", "default").chars)
    assert basis == "from size (model2vec static STS fit)"
    assert model.seconds(spec, catalogue.tasks["turney"], None) == (None, "size unknown")


def test_a_calibrated_cell_of_the_same_kind_task_and_size_is_taken_as_it_is():
    """With nothing measured in the results folder, a benchmark's calibration cell of the same loader kind on the same
    task at the same size is the projection (time and memory); one of another size is only a point of the fit."""
    spec = load_registry().get("potion-base-8M").model_copy(update={"id": "m", "revision": "r"})
    sts12, msmarco = mteb_size("STS12", "default"), mteb_size("MSMARCO", "default")
    row = {"loader": "model2vec", "family": "static", "model": "other", "queries": 0, "documents": 0}
    model = CostModel([], calibrated=[
        {**row, "task": "STS12", "texts": sts12.texts, "chars": sts12.chars, "seconds": 7.5, "peak_gb": 1.1},
        {**row, "task": "STS12", "texts": sts12.texts, "chars": sts12.chars, "seconds": 8.5, "peak_gb": 1.3},
        {**row, "task": "MSMARCO", "texts": 1_000_043, "chars": 335_798_587, "queries": 43, "documents": 1_000_000,
         "seconds": 90.0, "peak_gb": 1.4}])
    catalogue = Catalogue()
    assert model.seconds(spec, catalogue.tasks["STS12"], sts12) == (8.0, "calibrated (model2vec, same size)")
    assert model.peak_gb(spec, catalogue.tasks["STS12"], sts12) == 1.3
    assert model.seconds(spec, catalogue.tasks["MSMARCO"], msmarco)[1] == "no model2vec static cell measured here"
    other = load_registry().get("all-MiniLM-L6-v2")  # another loader kind: not its evidence
    assert model.seconds(other, catalogue.tasks["STS12"], sts12) == (
        None, "no sentence-transformers transformer cell measured here")


def test_a_distilled_model_is_priced_by_model2vec_s_cells_and_theirs_by_its_own():
    """A distilled model is a model2vec model once built (its loader kind runs as model2vec): a calibrated model2vec
    cell is its projection, and a distilled model's measured cell is evidence for a model2vec model."""
    registry, catalogue = load_registry(), Catalogue()
    distilled, potion = registry.get("M2V_MiniLM_output"), registry.get("potion-base-8M")
    assert distilled.loader == "distilled" and potion.loader == "model2vec"
    sts12 = mteb_size("STS12", "default")
    calibrated = [{"loader": "model2vec", "family": "static", "model": potion.name, "task": "STS12",
                   "texts": sts12.texts, "chars": sts12.chars, "queries": 0, "documents": 0, "seconds": 0.4,
                   "peak_gb": 0.7}]
    seen = [Observation("distilled/other", "r", "distilled", "static", "STS13", 0.3, 0.6)]
    model = CostModel(seen, calibrated=calibrated)
    assert model.seconds(distilled, catalogue.tasks["STS12"], sts12) == (0.4, "calibrated (model2vec, same size)")
    assert model.seconds(potion, catalogue.tasks["STS13"], None) == (0.3, "measured (model2vec)")
    assert model.peak_gb(distilled, catalogue.tasks["STS12"], sts12) == 0.7


def test_a_static_model_of_a_transformer_s_loader_kind_is_not_charged_the_transformer_s_cells():
    """sentence-transformers loads all-MiniLM-L6-v2 and static embedding models alike (static-retrieval-mrl-en-v1):
    one family's cells, measured or calibrated, are no projection of the other's, in time or in memory."""
    registry, catalogue = load_registry(), Catalogue()
    minilm, static = registry.get("all-MiniLM-L6-v2"), registry.get("static-retrieval-mrl-en-v1")
    sts12 = mteb_size("STS12", "default")
    seen = [Observation(minilm.id, minilm.revision, "sentence-transformers", "transformer", "STS13", 40.0, 2.5)]
    calibrated = [{"loader": "sentence-transformers", "family": "transformer", "model": minilm.name, "task": "STS12",
                   "texts": sts12.texts, "chars": sts12.chars, "queries": 0, "documents": 0, "seconds": 30.0,
                   "peak_gb": 2.0}]
    model = CostModel(seen, calibrated=calibrated)
    assert model.seconds(minilm, catalogue.tasks["STS12"], sts12) == (
        30.0, "calibrated (sentence-transformers, same size)")
    assert model.seconds(minilm, catalogue.tasks["STS13"], None) == (40.0, "measured")
    assert model.seconds(static, catalogue.tasks["STS12"], sts12) == (
        None, "no sentence-transformers static cell measured here")
    assert model.seconds(static, catalogue.tasks["STS13"], mteb_size("STS13", "default"))[0] is None
    assert model.peak_gb(minilm, catalogue.tasks["STS13"], None) == 2.5
    assert model.peak_gb(static, catalogue.tasks["STS13"], None) < 2.5  # the family's base, not MiniLM's peak
    twin = Observation("org/other-static", "r", "sentence-transformers", "static", "STS13", 0.5, 0.6)
    assert CostModel([*seen, twin], calibrated=calibrated).seconds(static, catalogue.tasks["STS13"], None) == (
        0.5, "measured (sentence-transformers)")
    # no static cell of its loader kind at all: the same family's fit of another loader kind, named
    static_cells = [Observation("org/potion", "r", "model2vec", "static", name, seconds, 0.7)
                    for name, seconds in (("STS12", 1.0), ("STS14", 1.2), ("STSBenchmark", 0.6))]
    borrowed = CostModel([*seen, *static_cells], calibrated=calibrated)
    seconds, basis = borrowed.seconds(static, catalogue.tasks["STS15"], mteb_size("STS15", "default"))
    potion = load_registry().get("potion-base-8M")
    assert seconds == borrowed.seconds(potion, catalogue.tasks["STS15"], mteb_size("STS15", "default"))[0]
    assert basis == "from size (model2vec static STS fit; no sentence-transformers static cell measured here)"
    assert borrowed.seconds(minilm, catalogue.tasks["STS15"], mteb_size("STS15", "default"))[0] is None  # not static


def test_a_transformer_is_charged_another_transformer_s_cells_in_proportion_to_its_parameters():
    """A larger transformer encodes a token in more operations: a cell measured or calibrated for all-MiniLM-L6-v2
    (22.71M parameters, the registry's) stands for a 4x larger one at 4x its time, the basis saying so, and so
    does a fit of its cells; where one machine measured both models' speeds, at the ratio of the speeds. A static
    model's evidence is not scaled (a lookup per token)."""
    registry, catalogue = load_registry(), Catalogue()
    minilm = registry.get("all-MiniLM-L6-v2")
    big = minilm.model_copy(update={"name": "big", "id": "org/big", "params_m": 4 * minilm.params_m})
    sizes = {name: mteb_size(name, "default") for name in ("STS12", "STS13", "STS14", "STS15")}
    row = {"loader": "sentence-transformers", "family": "transformer", "model": minilm.name, "queries": 0,
           "documents": 0, "peak_gb": 1.0}
    model = CostModel([], calibrated=[{**row, "task": name, "texts": z.texts, "chars": z.chars,
                                       "seconds": z.chars / 40_000} for name, z in sizes.items() if name != "STS15"])
    seconds, basis = model.seconds(big, catalogue.tasks["STS12"], sizes["STS12"])
    assert seconds == pytest.approx(4 * sizes["STS12"].chars / 40_000)
    assert basis == f"calibrated (sentence-transformers, same size); x 4.00: {big.params_m:g}M parameters, not 22.71M"
    assert model.seconds(minilm, catalogue.tasks["STS12"], sizes["STS12"]) == (
        pytest.approx(sizes["STS12"].chars / 40_000), "calibrated (sentence-transformers, same size)")
    fitted, basis = model.seconds(big, catalogue.tasks["STS15"], sizes["STS15"])
    assert fitted == pytest.approx(4 * model.seconds(minilm, catalogue.tasks["STS15"], sizes["STS15"])[0])
    assert basis.startswith("from size (sentence-transformers transformer STS fit; x 4.00")
    seen = [Observation(minilm.id, minilm.revision, "sentence-transformers", "transformer", "STS16", 10.0, None,
                        minilm.params_m)]
    assert CostModel(seen, calibrated=[]).seconds(big, catalogue.tasks["STS16"], None)[0] == pytest.approx(40.0)
    # where one machine measured both speeds (`harness speed`), their ratio is the scale; not from two machines
    measured = {minilm.name: (199.0, "cpu A"), big.id: (18.4, "cpu A")}
    calibrated = model.calibrated
    seconds, basis = CostModel([], calibrated=calibrated, speeds=measured).seconds(
        big, catalogue.tasks["STS12"], sizes["STS12"])
    assert seconds == pytest.approx(199.0 / 18.4 * sizes["STS12"].chars / 40_000)
    assert basis.endswith("; x 10.82: 18 sentences per second, not 199 (harness speed)")
    elsewhere = {**measured, big.id: (18.4, "cpu B")}
    assert CostModel([], calibrated=calibrated, speeds=elsewhere).seconds(
        big, catalogue.tasks["STS12"], sizes["STS12"])[0] == pytest.approx(4 * sizes["STS12"].chars / 40_000)
    potion = registry.get("potion-base-8M")
    static_row = {**row, "loader": "model2vec", "family": "static", "model": potion.name, "task": "STS12",
                  "texts": sizes["STS12"].texts, "chars": sizes["STS12"].chars, "seconds": 2.0}
    larger = registry.get("potion-base-32M")
    assert CostModel([], calibrated=[static_row]).seconds(larger, catalogue.tasks["STS12"], sizes["STS12"]) == (
        2.0, "calibrated (model2vec, same size)")


def test_a_memory_fit_of_small_cells_is_not_followed_far_beyond_them():
    """Peaks of small cells only (0.8 GB at 0.2M characters, 1.5 GB at 8.7M; one per task type, so the kind's fit over
    every type is the one used): followed up to 3x the largest, then
    GB_PER_GIGACHAR per 10^9 characters, not the small cells' steep slope (which put a 2.9e9-character cell at
    over 200 GB)."""
    from harness.plan import GB_PER_GIGACHAR, MEMORY_REACH

    spec = load_registry().get("all-MiniLM-L6-v2").model_copy(update={"id": "m", "revision": "r"})
    row = {"loader": "sentence-transformers", "family": "transformer", "model": "other", "queries": 0, "documents": 0,
           "seconds": 1.0}
    names = ("STS12", "Banking77Classification", "TwitterURLCorpus")
    sizes = [mteb_size(name, subset) for name, subset in zip(names, ("default", "en", "default"))]
    model = CostModel([], calibrated=[{**row, "task": n, "texts": z.texts, "chars": z.chars, "peak_gb": gb}
                                      for n, z, gb in zip(names, sizes, (0.8, 0.85, 1.5))])
    a, b, c = model.memory[("sentence-transformers", "transformer")]
    largest = max(z.chars for z in sizes)
    msmarco = mteb_size("MSMARCO", "default")
    expected = a + b * MEMORY_REACH * largest + GB_PER_GIGACHAR * (msmarco.chars - MEMORY_REACH * largest) / 1e9
    assert model.peak_gb(spec, Catalogue().tasks["MSMARCO"], msmarco) == pytest.approx(expected)
    assert expected < a + b * msmarco.chars and expected < 12
    sick = mteb_size("SICK-R", "default")  # within reach: the fit itself
    assert model.peak_gb(spec, Catalogue().tasks["SICK-R"], sick) == pytest.approx(a + b * sick.chars)


def test_a_reranking_projection_adds_the_cost_of_its_query_candidate_pairs():
    """MindSmallReranking: 2.4 million queries with ~41 candidates each, which mteb holds pair by pair. The
    calibration's cells with pairs give a pair's seconds and GB (the slopes through them); they are no points of the
    size fits, and a projection from a fit adds the pairs' cost to the fit's."""
    mind = mteb_size("MindSmallReranking", "default")
    assert mind.pairs > 40 * mind.texts > 0 and mteb_size("SciFact", "default").pairs == 0
    spec = load_registry().get("potion-base-8M").model_copy(update={"id": "m", "revision": "r"})
    task = Catalogue().tasks["MindSmallReranking"]
    row = {"loader": "model2vec", "family": "static", "model": "other", "queries": 0, "documents": 0}
    sized = [{**row, "task": n, "texts": z.texts, "chars": z.chars, "seconds": t, "peak_gb": gb}
             for n, z, t, gb in ((n, mteb_size(n, "default"), t, gb) for n, t, gb in
                                 (("STS12", 7.0, 0.8), ("SprintDuplicateQuestions", 10.0, 0.9),
                                  ("ArxivClusteringS2S", 20.0, 1.0)))]
    paired = [{**row, "task": "MindSmallReranking", "texts": round(mind.texts * f), "chars": round(mind.chars * f),
               "pairs": round(mind.pairs * f), "seconds": t, "peak_gb": gb}
              for f, t, gb in ((0.02, 28.8, 1.7), (0.05, 69.3, 3.14), (0.1, 140.0, 5.6))]
    without, model = CostModel([], calibrated=sized), CostModel([], calibrated=sized + paired)
    assert model.fits == without.fits and model.memory == without.memory  # not points of the size fits
    per_pair = [np.polyfit([r["pairs"] for r in paired], [r[k] for r in paired], 1)[0] for k in ("seconds", "peak_gb")]
    assert model.pair_cost == pytest.approx(tuple(per_pair))
    seconds, basis = model.seconds(spec, task, mind)
    assert seconds == pytest.approx(without.seconds(spec, task, mind)[0] + per_pair[0] * mind.pairs)
    assert f"of mteb's reranking of {mind.pairs:,} (query, candidate) pairs" in basis
    peak = model.peak_gb(spec, task, mind)
    assert peak == pytest.approx(without.peak_gb(spec, task, mind) + per_pair[1] * mind.pairs)
    assert peak > 40  # the full split, as mteb holds it: beyond most machines
    assert "pairs: their cost not calibrated" in without.seconds(spec, task, mind)[1]
    scidocs = mteb_size("SciDocsRR", "default")  # a reranking task measured at one size: its cell as it is
    one = CostModel([], calibrated=sized + paired + [{**row, "task": "SciDocsRR", "texts": scidocs.texts,
                                                      "chars": scidocs.chars, "pairs": scidocs.pairs,
                                                      "seconds": 9.9, "peak_gb": 1.07}])
    assert one.pair_cost == model.pair_cost and scidocs.pairs > 0
    assert one.seconds(spec, Catalogue().tasks["SciDocsRR"], scidocs) == (9.9, "calibrated (model2vec, same size)")
    # another model's single cell of the task, at a fourth size, is no evidence of a pair's cost
    small = {**row, "model": "another", "task": "MindSmallReranking", "texts": 4736, "chars": 327_984,
             "pairs": 194_018, "seconds": 22.2, "peak_gb": 0.86}
    assert CostModel([], calibrated=sized + paired + [small]).pair_cost == model.pair_cost


def test_a_retrieval_fit_charges_queries_times_corpus_chunks():
    """Two cells of the same size in characters, one with 43 queries and one with 6,666: the fit puts the
    difference on the search term, and projects a third from its characters and its searches."""
    msmarco, fever = mteb_size("MSMARCO", "default"), mteb_size("FEVER", "default")
    row = {"loader": "model2vec", "family": "static", "model": "m"}
    calibrated = [{**row, "task": "MSMARCO", "texts": 1_000_043, "chars": 335_798_587, "queries": 43,
                   "documents": 1_000_000, "seconds": 100.0, "peak_gb": 1.4},
                  {**row, "task": "MSMARCO", "texts": msmarco.texts, "chars": msmarco.chars, "queries": 43,
                   "documents": msmarco.documents, "seconds": 900.0, "peak_gb": 4.2},
                  {**row, "task": "FEVER", "texts": fever.texts, "chars": fever.chars, "queries": 6_666,
                   "documents": fever.documents, "seconds": 1700.0, "peak_gb": 7.1}]
    model = CostModel([], calibrated=calibrated)
    a, b, c = model.fits[("model2vec", "static", "Retrieval")]
    for r in calibrated:
        searches = Size(0, 0, r["queries"], r["documents"]).searches
        assert a + b * r["chars"] + c * searches == pytest.approx(r["seconds"], rel=0.05)
    spec = load_registry().get("potion-base-8M").model_copy(update={"id": "x", "revision": "r"})
    hotpot = mteb_size("HotpotQA", "default")
    seconds, basis = model.seconds(spec, Catalogue().tasks["HotpotQA"], hotpot)
    assert seconds == pytest.approx(a + b * hotpot.chars + c * hotpot.searches)
    assert seconds > a + b * hotpot.chars + 0.5 * c * hotpot.searches > 0 and "Retrieval fit" in basis


def _pair_rows(cpu: str = "X") -> list[dict]:
    """A benchmark's cells: FEVER and ClimateFEVER at full size, an MSMARCO of a million passages, and the pair:
    ClimateFEVER at a fifth on its own (200 s) and after FEVER (50 s; it took the 1,083,314 documents of the shared
    corpus)."""
    fever, climate = mteb_size("FEVER", "default"), mteb_size("ClimateFEVER", "default")
    row = {"loader": "model2vec", "family": "static", "model": "m", "cpu": cpu}
    fifth = {**row, "task": "ClimateFEVER", "texts": round(climate.texts / 5), "chars": round(climate.chars / 5),
             "queries": 307, "documents": 1_083_319}
    return [{**row, "task": "FEVER", "texts": fever.texts, "chars": fever.chars, "queries": fever.queries,
             "documents": fever.documents, "seconds": 1700.0, "taken": 0},
            {**row, "task": "ClimateFEVER", "texts": climate.texts, "chars": climate.chars, "queries": climate.queries,
             "documents": climate.documents, "seconds": 1500.0, "taken": 0},
            {**row, "task": "MSMARCO", "texts": 1_000_043, "chars": 335_798_587, "queries": 43, "documents": 1_000_000,
             "seconds": 100.0, "taken": 0},
            {**fifth, "seconds": 200.0, "taken": 0, "cpu": "X"}, {**fifth, "seconds": 50.0, "taken": 1_083_314}]


def test_the_task_that_takes_a_kept_corpus_is_charged_less_that_corpus_s_encoding():
    """FEVER and ClimateFEVER for a text-by-text encoder: the one started second (ClimateFEVER, the shorter) is
    charged its cost on its own less the encoding of the documents it takes: the share of the cell's time less its
    search that the benchmark measured (150 s of the fifth's 200 s), per character; a transformer is charged both in
    full."""
    fever, climate = mteb_size("FEVER", "default"), mteb_size("ClimateFEVER", "default")
    potion, minilm = load_registry().get("potion-base-8M"), load_registry().get("all-MiniLM-L6-v2")
    tasks = Catalogue().select(["ClimateFEVER", "FEVER", "STS12"])
    cells = [Cell(spec, task) for spec in (potion, minilm) for task in tasks]
    seen = [_obs(spec.id, task, seconds, spec.loader) for spec in (potion, minilm)
            for task, seconds in (("FEVER", 1700.0), ("ClimateFEVER", 1500.0), ("STS12", 10.0))]
    seen = [dataclasses.replace(o, revision=s.revision) for o, s in zip(seen, [potion] * 3 + [minilm] * 3)]
    model = CostModel(seen, calibrated=_pair_rows())
    key = ("model2vec", "static", "Retrieval")
    fifth = _pair_rows()[3]
    fifth_size = Size(0, fifth["chars"], fifth["queries"], fifth["documents"])
    taken_chars = 1_083_314 * climate.document_chars / climate.documents  # at its mean document length
    share = 150.0 / (200.0 - model.search_seconds(key, fifth_size)) * fifth["chars"] / taken_chars
    assert model.kept_share == {"model2vec": pytest.approx(share)} and 0.7 < share < 0.8
    projected = model.project_all(cells)
    assert list(projected) == [cell.key for cell in cells]  # in the grid's order
    by = {(p.model, p.task): p for p in projected.values()}
    search = model.search_seconds(key, climate)
    assert 0 < search < 1500.0 / 2
    saved = share * (1500.0 - search) * min(fever.document_chars, climate.document_chars) / climate.chars
    assert by["potion-base-8M", "ClimateFEVER"].seconds == pytest.approx(1500.0 - saved)
    assert "FEVER's corpus kept: - " in by["potion-base-8M", "ClimateFEVER"].basis
    assert by["potion-base-8M", "FEVER"].seconds == 1700.0 and by["potion-base-8M", "STS12"].seconds == 10.0
    assert [by["all-MiniLM-L6-v2", t].seconds for t in ("FEVER", "ClimateFEVER")] == [1700.0, 1500.0]
    # the same cell on its own measured on other hardware than the one that took: no pair, no saving charged
    unpaired = CostModel(seen, calibrated=[{**r, "cpu": "Y"} if r["taken"] else r for r in _pair_rows()])
    assert unpaired.kept_share == {}
    climate_alone = unpaired.project_all(cells)[cells[0].key]
    assert climate_alone.seconds == 1500.0 and "a saving not calibrated" in climate_alone.basis


def test_a_cell_that_took_a_kept_corpus_is_no_evidence_of_the_cell_on_its_own(tmp_path):
    """The calibration's pair (the cell that took and the same cell on its own) stays out of the fits and same-size
    cells; a result file that took is not an observation."""
    from harness.plan import observations

    model = CostModel([], calibrated=_pair_rows())
    climate = Catalogue().tasks["ClimateFEVER"]
    spec = load_registry().get("potion-base-8M")
    fifth = Size(*(int(_pair_rows()[3][k]) for k in ("texts", "chars", "queries", "documents")))
    seconds, basis = model.seconds(spec, climate, fifth)
    assert basis == "from size (model2vec static Retrieval fit)"
    without = CostModel([], calibrated=_pair_rows()[:3])
    assert model.fits == without.fits and seconds == without.seconds(spec, climate, fifth)[0]
    folder = tmp_path / "m" / "r"
    folder.mkdir(parents=True)
    for task, taken in (("FEVER", 0), ("ClimateFEVER", 1_083_314)):
        (folder / f"{task}.json").write_text(json.dumps({
            "task_name": task, "evaluation_time": 100.0, "harness": {
                "model": {"id": "m", "revision": "r", "loader": "model2vec"}, "peak_rss_mb": 1024,
                "data": {"shared_corpus": {"name": "fever-wikipedia", "taken": taken, "encoded": 5}}}}))
    assert [o.task for o in observations(tmp_path)] == ["FEVER"]
    # a pair at the whole split's size: the cell alone is the calibration's cell of that size too
    full = mteb_size("ClimateFEVER", "default")
    alone, took = ({**_pair_rows()[1], "seconds": seconds, "taken": taken} for seconds, taken in ((720.0, 0),
                                                                                                 (140.0, 5_416_570)))
    whole = CostModel([], calibrated=[*_pair_rows()[:1], alone, took])
    assert whole.seconds(spec, climate, full) == (720.0, "calibrated (model2vec, same size)")
    assert 0 < whole.kept_share["model2vec"] < 1  # and the pair still prices the saving


READS = [{"task": "SmallClassification", "rows": 10_000, "seconds_per_read": 40e-6},
         {"task": "LargeClassification", "rows": 1_000_000, "seconds_per_read": 500e-6},
         {"task": "AmazonPolarityClassification", "rows": 3_600_000, "seconds_per_read": 8e-3}]
"""Label-read costs the benchmark measured: 40 us at 10,000 training rows, 0.5 ms at 1 M, 8 ms at AmazonPolarity's."""


def test_a_classification_projection_adds_mteb_s_label_by_label_undersampling(monkeypatch):
    """Three small classification cells make the fit (each with its undersampling taken off); AmazonPolarity is
    projected from it plus 36 M label reads at the cost measured at its training rows, and the basis says so;
    the others' reads cost what is interpolated between the measured sizes; Imdb's add too little to be named.
    (With datasets >= 4 installed; the harness requires an earlier one, where the labels come as a list.)"""
    import harness.plan

    monkeypatch.setattr(harness.plan, "label_reads_lazy", lambda: True)
    spec = load_registry().get("potion-base-8M").model_copy(update={"id": "x", "revision": "r"})
    names = {"Banking77Classification": "en", "EmotionClassification": "default",
             "TweetSentimentExtractionClassification": "default"}
    sizes = {n: mteb_size(n, subset) for n, subset in names.items()}
    per_read = lambda train: 40e-6 + (500e-6 - 40e-6) * (train - 10_000) / 990_000  # noqa: E731 - all three in range
    row = {"loader": "model2vec", "family": "static", "model": "m", "queries": 0, "documents": 0, "peak_gb": 1.0}
    calibrated = [{**row, "task": n, "texts": z.texts, "chars": z.chars,  # 10 s + 1 s per 100,000 characters + reads
                   "seconds": 10.0 + z.chars / 1e5 + z.label_reads * per_read(z.train)} for n, z in sizes.items()]
    model = CostModel([], calibrated=calibrated, reads=READS)
    for n, z in sizes.items():
        assert z.label_reads > 0 and 10_000 < z.train < 1_000_000
        assert model.undersampling(z) == pytest.approx(z.label_reads * per_read(z.train))
    a, b, _ = model.fits[("model2vec", "static", "Classification")]
    assert (a, b) == (pytest.approx(10.0, rel=1e-3), pytest.approx(1e-5, rel=1e-3))  # the fit is of the rest
    polarity = mteb_size("AmazonPolarityClassification", "default")
    seconds, basis = model.seconds(spec, Catalogue().tasks["AmazonPolarityClassification"], polarity)
    assert seconds == pytest.approx(a + b * polarity.chars + 36_000_000 * 8e-3, rel=1e-3)
    assert "of mteb's undersampling: 36,000,000 label reads over 3,600,000 training rows" in basis
    assert harness.plan.duration(seconds) == "3 d 08 h"
    imdb = mteb_size("ImdbClassification", "default")
    assert "undersampling" not in model.seconds(spec, Catalogue().tasks["ImdbClassification"], imdb)[1]
    assert model.undersampling(dataclasses.replace(polarity, train=7_200_000)) == pytest.approx(72e6 * 16e-3)
    monkeypatch.setattr(harness.plan, "label_reads_lazy", lambda: False)  # datasets < 4: the labels are a list
    assert CostModel([], calibrated=calibrated, reads=READS).undersampling(polarity) == 0


def test_the_installed_datasets_hands_mteb_a_column_as_a_list():
    """mteb's classification reads a split's labels one index at a time (`dataset[column][i]`, 10 times over the
    training rows): cheap from a list, days from datasets 4's lazy Column on AmazonPolarity. pyproject.toml pins
    datasets below 4 for it; this fails if an install lets a later one in."""
    import datasets

    from harness.plan import label_reads_lazy

    column = datasets.Dataset.from_dict({"label": [0, 1, 1]})["label"]
    assert isinstance(column, list) and not label_reads_lazy()


@pytest.fixture
def online(monkeypatch):
    """Online, every cell is pending (offline, those without local data are not); a plan uses no network."""
    for var in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var)


def test_plan_prints_every_pending_cell_and_runs_nothing(tmp_path, capsys, online):
    results = tmp_path / "results"
    assert main(["run", "--plan", "-m", "potion-base-8M", "all-MiniLM-L6-v2", "-t", "MSMARCO", "PEARL",
                 "--results-dir", str(results), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("potion-base-8M ", "all-MiniLM-L6-v2 "))]
    assert len(rows) == 2 * 10
    msmarco = [r for r in rows if r[1] == "MSMARCO"]
    assert all(r[2] == "8,848,803" and r[3] == "2,969,291,276" for r in msmarco)
    assert any("size unknown" in " ".join(r) for r in rows if r[1] == "turney")  # no statistics: named, no crash
    assert "projected:" in out and "with 2 worker(s), largest first" in out
    (header,) = [line.split() for line in out.splitlines() if line.startswith("model ")]
    assert header == ["model", "task", "texts", "characters", "time", "peak", "cores", "basis"]
    assert not results.exists(), "a plan runs nothing and writes nothing"


def test_the_plan_scales_a_new_transformer_by_the_speeds_harness_speed_recorded(tmp_path, capsys, online):
    """A registry entry for a larger transformer, with throughput records of it and of all-MiniLM-L6-v2 from one
    machine in the results folder: its plan takes all-MiniLM-L6-v2's calibrated cell times the ratio of the speeds;
    without its record, the ratio of the parameters."""
    minilm = load_registry().get("all-MiniLM-L6-v2")
    registry = tmp_path / "registry.yaml"
    registry.write_text("models:\n  - name: bigger\n    id: org/bigger\n    revision: r1\n"
                        "    loader: sentence-transformers\n    params_m: 90.84\n    family: transformer\n"
                        "    link: https://example.org/bigger\n", encoding="utf-8")
    record = json.loads((ROOT / "results" / "sentence-transformers__all-MiniLM-L6-v2" / minilm.revision / "harness"
                         / "throughput.json").read_text(encoding="utf-8"))
    results = tmp_path / "results"
    for folder, model, speed in ((f"sentence-transformers__all-MiniLM-L6-v2/{minilm.revision}", record["model"], 32.0),
                                 ("org__bigger/r1", {**record["model"], "name": "bigger", "id": "org/bigger",
                                                     "revision": "r1"}, 4.0)):
        (results / folder / "harness").mkdir(parents=True)
        (results / folder / "harness" / "throughput.json").write_text(
            json.dumps({**record, "model": model, "sentences_per_second": speed}), encoding="utf-8")

    def plan() -> str:
        assert main(["run", "--plan", "--registry", str(registry), "-m", "bigger", "-t", "STS12",
                     "--results-dir", str(results)]) == 0
        (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("bigger ")]
        return line

    assert plan().endswith("calibrated (sentence-transformers, same size); x 8.00: 4 sentences per second, "
                           "not 32 (harness speed)")
    (results / "org__bigger").rename(tmp_path / "aside")
    assert plan().endswith("calibrated (sentence-transformers, same size); x 4.00: 90.84M parameters, not 22.71M")


def test_a_cell_projected_over_the_available_memory_is_named_before_the_run(tmp_path, capsys, monkeypatch, online):
    import harness.pool

    monkeypatch.setattr(harness.pool, "available_memory_gb", lambda: 0.5)  # a machine with half a gigabyte free
    assert main(["run", "--plan", "-m", "potion-base-8M", "-t", "MSMARCO", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (warning,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "potion-base-8M / MSMARCO: projected peak" in warning and "0.5 GB available" in warning


def test_given_cores_is_undone_after_the_cell():
    assert cell_cores() == 1
    with given_cores(2):
        assert cell_cores() == 2
    assert cell_cores() == 1


def test_a_large_input_encoded_on_two_cores_gives_the_same_embeddings_bit_for_bit(data_dir, monkeypatch):
    from harness.loaders import load_encoder
    from harness.mirror import Mirrors

    encoder = load_encoder(load_registry().get("potion-base-8M"), Mirrors(model_dir=data_dir.parent / "models"))
    threaded, encode = [], encoder.model.encode
    monkeypatch.setattr(encoder.model, "encode", lambda *a, **k: (threaded.append(k["use_multiprocessing"]),
                                                                  encode(*a, **k))[1])
    rng = np.random.default_rng(0)
    words = np.array("static model retrieval passage query token corpus harness benchmark score".split())
    texts = [" ".join(rng.choice(words, rng.integers(3, 40))) + f" w{i}" for i in range(25_000)]
    one = encoder.encode(texts)
    with given_cores(2):
        two = encoder.encode(texts)
    assert threaded == [False, True]  # the second call took model2vec's threaded encode
    assert one.shape == (25_000, encoder.info.dim) and np.array_equal(one, two)


def test_the_adapter_reads_the_texts_mteb_would_hand_over_batch_by_batch():
    import datasets
    import mteb
    from mteb._create_dataloaders import create_dataloader
    from mteb.types import PromptType

    from harness.tasks.mteb_tasks import input_texts

    corpus = datasets.Dataset.from_dict({"id": [f"d{i}" for i in range(300)],
                                         "title": ["" if i % 3 else f"Title {i}" for i in range(300)],
                                         "text": [f"  body {i} " for i in range(300)]})
    metadata = mteb.get_task("SciFact").metadata
    for part in (corpus, corpus.select(range(50, 250)), corpus.select([5, 3, 1, 200])):
        loader = create_dataloader(part, task_metadata=metadata, prompt_type=PromptType.document, batch_size=32)
        expected = [text for batch in loader for text in batch["text"]]
        assert input_texts(loader) == expected and len(expected) == len(part)


def test_result_files_record_the_cells_peak_memory_and_cpu_time(tmp_path, data_dir):
    from harness.cores import usable_cores
    from harness.plan import observations

    assert main(["run", "--no-progress", "--offline", "-m", "GloVe_6B_50d", "-t", "MEN", "--data-dir", str(data_dir),
                 "--results-dir", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*/*/MEN.json")
    doc = json.loads(path.read_text())
    peak = doc["harness"]["peak_rss_mb"]
    assert 100 < peak < 16_000  # a process with torch, mteb and a 400,000-word model, in MiB
    cpu = doc["harness"]["cpu_seconds"]  # the cell's alone: not the process's start-up and model load before it
    assert 0 < cpu <= doc["evaluation_time"] * usable_cores() + 0.05
    (seen,) = observations(tmp_path)
    assert seen.cpu_seconds == cpu
    # one cell in this process: it was given every core (a pool's cells beside others: tests/test_pool.py)
    assert doc["harness"]["cell_cores"] == doc["harness"]["machine_cores"] == usable_cores()
    assert seen.shared is False
