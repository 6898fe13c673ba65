"""Full-corpus search: mteb's own `SearchEncoderWrapper` against the harness's `CorpusSearch`
(harness/tasks/mteb_search.py) on a retrieval stand-in with many queries (bench/fullsize.py, seeded, in a
temporary folder; default HotpotQA-shaped: its 7,405 test queries over 300,000 of its passages), potion-base-8M from
the model mirror. Each search runs in this process on the same loaded task, alternating, median of --runs:
wall time of `index` + `search`, and whether the results are identical (every query's documents, scores and
order).

    .venv/bin/python bench/bench_search.py [--task HotpotQA] [--documents 300000] [--queries N] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="HotpotQA", help="a retrieval task whose corpus no other task shares")
    parser.add_argument("--documents", type=int, default=300_000)
    parser.add_argument("--queries", type=int, help="queries to write (default: the test split's number)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    import mteb
    from fullsize import generate
    from mteb.models.search_wrappers import SearchEncoderWrapper

    from harness.loaders import load_encoder
    from harness.mirror import Mirrors
    from harness.registry import load_registry
    from harness.tasks.mteb_search import CorpusSearch
    from harness.tasks.mteb_tasks import MtebEncoder, with_local_data

    counts = {"documents": args.documents, **({"queries": args.queries} if args.queries else {})}
    with tempfile.TemporaryDirectory() as tmp:
        generate([args.task], Path(tmp), counts={args.task: counts})
        mirrors = Mirrors(data_dir=Path(tmp), model_dir=ROOT.parent / "shared" / "models")
        task, _ = with_local_data(mteb.get_task(args.task, eval_splits=["test"]), mirrors)
        task.load_data()
        split = task.dataset["default"]["test"]
        model = MtebEncoder(load_encoder(load_registry().get("potion-base-8M"), mirrors))
        common = dict(task_metadata=task.metadata, hf_split="test", hf_subset="default",
                      encode_kwargs={"batch_size": 32}, num_proc=None)
        searchers = {"mteb SearchEncoderWrapper": lambda: SearchEncoderWrapper(model),
                     "harness CorpusSearch": lambda: CorpusSearch(model)}
        times: dict[str, list[float]] = {name: [] for name in searchers}
        results: dict[str, list] = {}
        for _ in range(args.runs):
            for name, make in searchers.items():
                searcher = make()
                start = time.perf_counter()
                searcher.index(split["corpus"], **common)
                found = searcher.search(split["queries"], **common, top_k=task._top_k, top_ranked=None)
                times[name].append(time.perf_counter() - start)
                results.setdefault(name, [(q, list(d.items())) for q, d in found.items()])
                print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    reference = results["mteb SearchEncoderWrapper"]
    print(f"{args.task}-shaped, {len(split['corpus']):,} documents, {len(split['queries']):,} queries, top {task._top_k}, "
          f"potion-base-8M; median of {args.runs}:")
    for name, walls in times.items():
        print(f"  {name:28s} {statistics.median(walls):8.1f} s   identical to mteb's: {results[name] == reference}")


if __name__ == "__main__":
    main()
