"""The online road and the air-gapped road, against a real hub-compatible server on 127.0.0.1.

olah (offline mode) serves git repositories made from ../shared: the model mirror's potion-base-8M and the
data mirror's PEARL and STSBenchmark folders. Commands run as separate processes with `HF_ENDPOINT` on the
server (huggingface_hub and datasets read it when they are imported) and empty data and model folders, so
everything comes from the server; their scores are checked against the result files computed from the
shared mirror (results/, committed), their provenance against the served commits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import served as serving
from tests.hubserver import ROOT, HubServer, git_repo, olah_command

from harness.data import file_sha256
from harness.results import folder_name

pytestmark = pytest.mark.skipif(olah_command() is None, reason="olah (the hub server of these tests) is not "
                                "installed: bash scripts/install.sh installs it into .venv-olah")

MODEL_ID, PEARL_ID, STS_ID = "minishlab/potion-base-8M", "Lihuchen/pearl_benchmark", "mteb/stsbenchmark-sts"
COMPUTED = ROOT / "results" / "minishlab__potion-base-8M" / "bf8b056651a2c21b8d2565580b8569da283cab23"
TASKS = ["bird", "turney", "STSBenchmark"]
# Runs the CLI with mteb's STSBenchmark pointed at the served commit of its dataset (mteb pins the hub's).
LAUNCH = """
import sys, mteb
get_task = mteb.get_task
def served(name, *args, **kwargs):
    task = get_task(name, *args, **kwargs)
    if name == "STSBenchmark":
        task.metadata = task.metadata.model_copy(update={"dataset": {**task.metadata.dataset, "revision": sys.argv[1]}})
    return task
mteb.get_task = served
import os, harness.hub
if os.environ.get("BPEMB_BASE_URL"):  # BPEmb's own server, here on 127.0.0.1
    import bpemb
    bpemb.BPEmb.base_url = os.environ["BPEMB_BASE_URL"]
if os.environ.get("CORRUPT_AFTER_DOWNLOAD"):  # a download that arrives altered (the fault the check is for)
    snapshot = harness.hub.snapshot
    def altered(*args, **kwargs):
        folder = snapshot(*args, **kwargs)
        with open(folder / os.environ["CORRUPT_AFTER_DOWNLOAD"], "ab") as fh:
            fh.write(b"altered")
        return folder
    harness.hub.snapshot = altered
from harness.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, data_dir):
    """The server's git repositories (made once) and their commits."""
    shared_models = data_dir.parent / "models"
    root = tmp_path_factory.mktemp("hub")
    commits = {MODEL_ID: git_repo(shared_models / MODEL_ID, root / "mirrors", "models", MODEL_ID),
               PEARL_ID: git_repo(data_dir / PEARL_ID, root / "mirrors", "datasets", PEARL_ID),
               STS_ID: git_repo(data_dir / STS_ID, root / "mirrors", "datasets", STS_ID)}
    return root, commits


@pytest.fixture(scope="module")
def hub(served):
    root, commits = served
    server = HubServer(root / "mirrors", root / "server").start()
    yield server, commits
    server.stop()


@pytest.fixture
def registry_file(tmp_path, served):
    """potion-base-8M pinned to the served commit."""
    path = tmp_path / "served.yaml"
    entry = {"name": "potion-base-8M", "id": MODEL_ID, "revision": served[1][MODEL_ID], "loader": "model2vec",
             "params_m": 7.56, "family": "static", "link": "https://huggingface.co/minishlab/potion-base-8M"}
    path.write_text(yaml.safe_dump({"models": [entry]}))
    return path


def environment(tmp_path: Path, url: str) -> dict[str, str]:
    """A process environment on the server at `url`, with nothing local to fall back on (empty data and model
    folders, caches under `tmp_path`)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE") and not k.startswith("HF_")}
    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True, exist_ok=True)
    (empty / "models").mkdir(parents=True, exist_ok=True)
    env.update(HF_ENDPOINT=url, HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "home" / "hf"),
               HARNESS_CACHE_DIR=str(tmp_path / "home" / "harness"), HARNESS_DATA_DIR=str(empty / "data"),
               HARNESS_MODEL_DIR=str(empty / "models"), HARNESS_JOBS="1", PYTHONUNBUFFERED="1")
    return env


def harness(tmp_path: Path, url: str, *args: str, sts_revision: str = "unused", preexec_fn=None,
            **env: str) -> subprocess.CompletedProcess:
    """`harness ARGS` in a fresh process on the server at `url`."""
    return subprocess.run([sys.executable, "-c", LAUNCH, sts_revision, *args], cwd=tmp_path,
                          env={**environment(tmp_path, url), **env}, capture_output=True, text=True, timeout=600,
                          preexec_fn=preexec_fn)


def main_score(path: Path):
    """The main score of a committed result file computed from the shared mirror (on another machine of this
    kind: equal up to the last bits of float rounding; other data or another model moves it far more)."""
    return pytest.approx(json.loads(path.read_text())["scores"]["test"][0]["main_score"], rel=1e-12, abs=1e-12)


def results_of(folder: Path) -> dict[str, dict]:
    return {name: json.loads((folder / f"{name}.json").read_text()) for name in TASKS}


def test_online_run_gives_the_mirrors_scores_and_records_the_served_commits(tmp_path, hub, registry_file):
    server, commits = hub
    done = harness(tmp_path, server.url, "run", "--no-progress", "-m", "potion-base-8M", "-t", *TASKS,
                   "--registry", str(registry_file), "--results-dir", str(tmp_path / "results"),
                   sts_revision=commits[STS_ID])
    assert done.returncode == 0, done.stderr[-3000:]
    docs = results_of(tmp_path / "results" / "minishlab__potion-base-8M" / commits[MODEL_ID])
    for name, doc in docs.items():
        assert doc["scores"]["test"][0]["main_score"] == main_score(COMPUTED / f"{name}.json"), name
        model, data = doc["harness"]["model"], doc["harness"]["data"]
        assert (model["source"], model["commit"]) == ("hub", commits[MODEL_ID])
        assert data["kind"] == "hub"
    for name in ("bird", "turney"):
        data = docs[name]["harness"]["data"]
        assert data["commit"] == docs[name]["dataset_revision"] == commits[PEARL_ID]  # never the branch `main`
        assert data["source"] == f"hub:{PEARL_ID}@{commits[PEARL_ID]}"
    assert docs["STSBenchmark"]["harness"]["data"]["commit"] == commits[STS_ID]


def test_mirror_then_verify_then_offline_run_and_a_second_mirror_fetches_nothing(tmp_path, hub, registry_file,
                                                                                 data_dir):
    server, commits = hub
    out = tmp_path / "mirror"
    mirror = ["mirror", "-m", "potion-base-8M", "-t", *TASKS, "--out", str(out), "--registry", str(registry_file),
              "--no-progress"]
    done = harness(tmp_path, server.url, *mirror, sts_revision=commits[STS_ID])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mirror: 3 fetched, 0 already there, 0 failed" in done.stdout
    for side, repo, shared in (("models", MODEL_ID, data_dir.parent / "models"), ("data", PEARL_ID, data_dir),
                               ("data", STS_ID, data_dir)):
        copied = sorted(p.relative_to(out / side / repo) for p in (out / side / repo).rglob("*") if p.is_file())
        originals = sorted(p.relative_to(shared / repo) for p in (shared / repo).rglob("*") if p.is_file())
        assert copied == originals, repo
        assert all(file_sha256(out / side / repo / p) == file_sha256(shared / repo / p) for p in copied), repo
        manifest = {e["folder"]: e for e in json.loads((out / side / "MIRROR.json").read_text())["entries"]}
        assert manifest[repo]["commit"] == commits[repo]
    assert not any((out / ".partial").rglob("*.*")), "nothing left half-fetched"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    verify = harness(tmp_path, server.url, "verify", "--data-dir", str(out / "data"), "--model-dir", str(out / "models"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.count("all present and unchanged") == 2

    results = tmp_path / "results"
    offline = harness(tmp_path, "http://127.0.0.1:9", "run", "--offline", "--no-progress", "-m", "potion-base-8M",
                      "-t", *TASKS, "--registry", str(registry_file), "--data-dir", str(out / "data"),
                      "--model-dir", str(out / "models"), "--results-dir", str(results))
    assert offline.returncode == 0, offline.stderr[-3000:]
    docs = results_of(results / "minishlab__potion-base-8M" / commits[MODEL_ID])
    for name, doc in docs.items():
        assert doc["scores"]["test"][0]["main_score"] == main_score(COMPUTED / f"{name}.json"), name
        assert doc["harness"]["model"]["commit"] == commits[MODEL_ID]
        assert doc["harness"]["data"]["kind"] == "mirror"
        assert doc["harness"]["data"]["fingerprint"]["checksums"] == "match"
    assert docs["bird"]["harness"]["data"]["commit"] == docs["bird"]["dataset_revision"] == commits[PEARL_ID]
    assert docs["STSBenchmark"]["harness"]["data"]["commit"] == commits[STS_ID]

    again = harness(tmp_path, server.url, *mirror, sts_revision=commits[STS_ID])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "mirror: 0 fetched, 3 already there, 0 failed; the mirror is complete, nothing was fetched" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_server_stopped_in_the_middle_then_the_rerun_completes(tmp_path, served, registry_file):
    root, commits = served
    server = HubServer(root / "mirrors", tmp_path / "server").start()
    out = tmp_path / "mirror"
    mirror = ["mirror", "-m", "potion-base-8M", "-t", "bird", "--out", str(out), "--registry", str(registry_file),
              "--no-progress"]
    env_args = dict(tmp_path=tmp_path, url=server.url)
    try:
        process = _popen(*mirror, **env_args)
        for line in process.stdout:  # the model comes first; the server goes away as soon as it is in place
            if line.startswith("  fetched models/"):
                server.stop()
                break
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 1, stderr[-3000:]
        failed = [line for line in stderr.splitlines() if line.startswith("  could not fetch ")]
        assert len(failed) == 1 and f"data/{PEARL_ID}" in failed[0] and server.url in failed[0], stderr
        assert (out / "models" / MODEL_ID / "model.safetensors").is_file()
        assert not (out / "data" / PEARL_ID).exists(), "a half-fetched folder must not be where runs look"
        assert not (out / "data" / "MIRROR.json").exists(), "the manifest lists complete folders only"

        server = HubServer(root / "mirrors", tmp_path / "server", port=server.port).start()
        rerun = harness(tmp_path, server.url, *mirror)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert "mirror: 1 fetched, 1 already there, 0 failed" in rerun.stdout
        entries = {e["folder"]: e for e in json.loads((out / "data" / "MIRROR.json").read_text())["entries"]}
        assert entries[PEARL_ID]["commit"] == commits[PEARL_ID]
    finally:
        server.stop()


def _popen(*args: str, tmp_path: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "unused", *args], cwd=tmp_path,
                            env=environment(tmp_path, url), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_revision_the_server_does_not_have_is_one_line_naming_repo_at_revision(tmp_path, hub):
    server, _ = hub
    path = tmp_path / "bad.yaml"
    entry = {"name": "potion-base-8M", "id": MODEL_ID, "revision": "0" * 40, "loader": "model2vec",
             "params_m": 7.56, "family": "static", "link": "https://huggingface.co/minishlab/potion-base-8M"}
    path.write_text(yaml.safe_dump({"models": [entry]}))
    done = harness(tmp_path, server.url, "mirror", "-m", "potion-base-8M", "-t", "bird", "--out",
                   str(tmp_path / "mirror"), "--registry", str(path))
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("harness: error: ") and f"{MODEL_ID}@{'0' * 40}" in errors[0]
    assert not (tmp_path / "mirror" / "models" / MODEL_ID).exists()
    assert not (tmp_path / "mirror" / "data" / PEARL_ID).exists(), "nothing is fetched when a revision is unknown"


def test_wordsim_files_are_mirrored_from_the_set_address_and_checked(tmp_path, wordsim_server, monkeypatch, capsys):
    from harness.cli import main

    folder, url = wordsim_server
    for var in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("HARNESS_WORDSIM_URL", url)
    out = tmp_path / "mirror"
    assert main(["mirror", "-t", "MEN", "SimLex", "--out", str(out)]) == 0
    for name in ("men.txt", "simLex.txt"):
        assert file_sha256(out / "data" / "wordsim" / name) == file_sha256(folder / name)
    assert main(["verify", "--data-dir", str(out / "data")]) == 0
    capsys.readouterr()

    with open(folder / "rw.txt", "a", encoding="utf-8") as fh:  # the server now serves an altered file
        fh.write("extra\tline\t1.0\n")
    assert main(["mirror", "-t", "RareWord", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "rw.txt: sha256" in err and "pinned" in err
    assert not (out / "data" / "wordsim" / "rw.txt").exists()
    assert (out / "data" / "wordsim" / "men.txt").is_file(), "what was fetched before is kept"


def test_mirror_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    from harness.cli import main

    assert main(["mirror", "-m", "no-such-model", "--out", str(tmp_path / "m")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["mirror", "-t", "NoSuchTask", "--out", str(tmp_path / "m")]) == 2
    assert "NoSuchTask" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    for var in ("HARNESS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var)
    assert main(["mirror", "-t", "MEN", "--out", str(tmp_path / "file" / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "cannot write" in err[0]


def test_a_download_that_differs_from_what_the_hub_announces_is_refused_and_named(tmp_path, hub, registry_file):
    server, commits = hub
    out = tmp_path / "mirror"
    done = harness(tmp_path, server.url, "mirror", "-m", "potion-base-8M", "--out", str(out), "--registry",
                   str(registry_file), "--no-progress", CORRUPT_AFTER_DOWNLOAD="config.json")
    assert done.returncode == 1
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("  could not fetch ")]
    assert f"models/{MODEL_ID}@{commits[MODEL_ID]}: refused" in line and "config.json: git-sha1" in line
    assert not (out / "models" / MODEL_ID).exists() and not (out / "models" / "MIRROR.json").exists()


def test_published_results_of_the_chosen_models_from_a_results_repository(tmp_path, hub, registry_file, data_dir):
    server, _ = hub
    commit = git_repo(data_dir / "mteb-results", tmp_path, "git", "results-repo")
    repo = tmp_path / "git" / "results-repo"
    out = tmp_path / "mirror"
    done = harness(tmp_path, server.url, "mirror", "-m", "potion-base-8M", "--published", repo.as_uri(), "--out",
                   str(out), "--registry", str(registry_file), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    published = out / "data" / "mteb-results" / "results"
    assert [p.name for p in published.iterdir()] == [folder_name(MODEL_ID)]  # that model's folder only
    shared = data_dir / "mteb-results" / "results" / folder_name(MODEL_ID)
    files = sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(published / folder_name(MODEL_ID))
                                     for p in (published / folder_name(MODEL_ID)).rglob("*") if p.is_file())
    entries = {e["folder"]: e for e in json.loads((out / "data" / "MIRROR.json").read_text())["entries"]}
    assert entries["mteb-results"]["commit"] == commit
    (tmp_path / "computed").mkdir()
    report = harness(tmp_path, server.url, "report", "--data-dir", str(out / "data"), "--results-dir",
                     str(tmp_path / "computed"), "--out", str(tmp_path / "reports"))  # reads <data-dir>/mteb-results
    assert report.returncode == 0, report.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "reports" / "per_task.csv")
    assert set(rows["model"]) == {"potion-base-8M"} and set(rows["origin"]) == {"published"}
    assert len(rows) == len({p.stem for p in files if p.name != "model_meta.json"} & set(rows["task"])) > 50


def _small_files_only() -> None:
    """In the child: no file may grow past 1 MB (as on a full disk, writes past it fail)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_mirror_that_cannot_be_written_stops_in_one_line_and_keeps_nothing_half_written(tmp_path, hub,
                                                                                          registry_file):
    server, _ = hub
    out = tmp_path / "mirror"
    done = harness(tmp_path, server.url, "mirror", "-m", "potion-base-8M", "--out", str(out), "--registry",
                   str(registry_file), "--no-progress", preexec_fn=_small_files_only)  # its weights are 30 MB
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("harness: error:")]
    assert f"--out {out}: cannot write" in line and f"models/{MODEL_ID}" in line
    assert not (out / "models" / MODEL_ID).exists() and not (out / "models" / "MIRROR.json").exists()


@pytest.fixture
def bpemb_server(tmp_path, data_dir):
    """A BPEmb-style file server on 127.0.0.1: a small sentencepiece model (1,000 pieces, trained here on the
    WordSim words) and its 25-d vectors, at the paths and in the archive format the bpemb package fetches."""
    import tarfile

    import numpy as np
    import sentencepiece as spm
    from gensim.models import KeyedVectors

    served = tmp_path / "served-bpemb"
    (served / "en").mkdir(parents=True)
    words = tmp_path / "words.txt"
    words.write_text("\n".join(line.replace("\t", " ") for name in ("men.txt", "simLex.txt", "rw.txt")
                               for line in (data_dir / "wordsim" / name).read_text().splitlines()))
    spm.SentencePieceTrainer.train(input=str(words), model_prefix=str(served / "en" / "en.wiki.bpe.vs1000"),
                                   vocab_size=1000, model_type="bpe", minloglevel=2)
    processor = spm.SentencePieceProcessor(model_file=str(served / "en" / "en.wiki.bpe.vs1000.model"))
    vectors = KeyedVectors(vector_size=25)
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vectors.add_vectors(pieces, np.random.default_rng(0).normal(size=(len(pieces), 25)).astype(np.float32))
    binary = tmp_path / "en.wiki.bpe.vs1000.d25.w2v.bin"
    vectors.save_word2vec_format(str(binary), binary=True)
    with tarfile.open(served / "en" / "en.wiki.bpe.vs1000.d25.w2v.bin.tar.gz", "w:gz") as archive:
        archive.add(binary, arcname=f"data/en/{binary.name}")
    (served / "en" / "en.wiki.bpe.vs1000.vocab").unlink()
    with serving(served) as url:
        yield served, url


def test_bpemb_files_are_mirrored_through_the_bpemb_package_and_run_offline(tmp_path, bpemb_server, data_dir):
    served, url = bpemb_server
    registry = tmp_path / "bpemb.yaml"
    registry.write_text(yaml.safe_dump({"models": [{
        "name": "bpemb-small", "id": "bpemb/en.wiki.bpe.vs1000.d25", "revision": "test", "loader": "bpemb",
        "params_m": 0.025, "family": "static", "link": "https://bpemb.h-its.org/en/",
        "loader_kwargs": {"lang": "en", "vs": 1000, "dim": 25}}]}))
    out = tmp_path / "mirror"
    done = harness(tmp_path, "http://127.0.0.1:9", "mirror", "-m", "bpemb-small", "--out", str(out), "--registry",
                   str(registry), "--no-progress", BPEMB_BASE_URL=url)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = out / "models" / "bpemb" / "en.wiki.bpe.vs1000.d25"
    assert sorted(p.name for p in folder.iterdir()) == ["en.wiki.bpe.vs1000.d25.w2v.bin", "en.wiki.bpe.vs1000.model"]
    assert file_sha256(folder / "en.wiki.bpe.vs1000.model") == file_sha256(served / "en" / "en.wiki.bpe.vs1000.model")
    run = harness(tmp_path, "http://127.0.0.1:9", "run", "--offline", "--no-progress", "-m", "bpemb-small", "-t",
                  "MEN", "--registry", str(registry), "--model-dir", str(out / "models"), "--data-dir", str(data_dir),
                  "--results-dir", str(tmp_path / "results"))
    assert run.returncode == 0, run.stderr[-3000:]
    (path,) = (tmp_path / "results").glob("*/*/MEN.json")
    model = json.loads(path.read_text())["harness"]["model"]
    assert (model["source"], model["location"]) == ("mirror", str(folder))


def test_dry_run_lists_what_would_be_fetched_with_sizes_and_fetches_nothing(tmp_path, hub, registry_file, data_dir):
    server, commits = hub
    out = tmp_path / "mirror"
    done = harness(tmp_path, server.url, "mirror", "-m", "potion-base-8M", "-t", "bird", "--out", str(out),
                   "--registry", str(registry_file), "--dry-run")
    assert done.returncode == 0, done.stderr[-3000:]
    shared = data_dir.parent / "models" / MODEL_ID
    files = [p for p in shared.rglob("*") if p.is_file()]
    (line,) = [ln for ln in done.stdout.splitlines() if f"models/{MODEL_ID}" in ln]
    assert line.strip().startswith("fetch") and commits[MODEL_ID][:12] in line
    assert f"{len(files)} file(s), {sum(p.stat().st_size for p in files) / 1e6:.1f} MB" in line
    assert "nothing fetched" in done.stdout and not out.exists()
