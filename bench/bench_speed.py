"""Throughput measurement: two consecutive `harness speed` runs agree within ±10 % (median to median);
the harness's rate is within 5 % of a bare loop calling the library's `encode` on the same corpus;
and the static / all-MiniLM-L6-v2 speed ratio (the published figure's: 24.4×, 4,851/s vs 199/s).

    .venv/bin/python bench/bench_speed.py
"""

from __future__ import annotations

import statistics
import time

from harness.loaders import load_encoder
from harness.mirror import Mirrors, set_offline
from harness.registry import load_registry
from harness.speed import load_corpus, measure

STATIC, TRANSFORMER = "M2V_MiniLM_output", "all-MiniLM-L6-v2"


def bare_loop(encoder, texts, repeats=5) -> float:
    """The library's own encode, called directly, with the same settings as the harness."""
    model = encoder.model
    call = ((lambda: model.encode(texts, use_multiprocessing=False)) if encoder.info.loader != "sentence-transformers"
            else (lambda: model.encode(texts)))
    call()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        rates.append(len(texts) / (time.perf_counter() - t))
    return statistics.median(rates)


def main() -> None:
    set_offline()
    mirrors = Mirrors.from_options()
    corpus = load_corpus("scifact", mirrors)
    registry = load_registry()
    medians = {}
    for name in (STATIC, TRANSFORMER):
        encoder = load_encoder(registry.get(name), mirrors)
        first = measure(encoder, corpus, progress=False)["sentences_per_second"]
        second = measure(encoder, corpus, progress=False)["sentences_per_second"]
        bare = bare_loop(encoder, list(corpus.texts))
        drift = 100 * (second - first) / first
        overhead = 100 * (bare - first) / bare
        medians[name] = first
        print(f"{name}: run 1 {first:.1f}/s, run 2 {second:.1f}/s ({drift:+.1f} %, target ±10 %: "
              f"{'OK' if abs(drift) <= 10 else 'OVER'}); bare encode loop {bare:.1f}/s "
              f"(harness {-overhead:+.1f} %, target within 5 %: {'OK' if abs(overhead) <= 5 else 'OVER'})")
    print(f"corpus {corpus.name} ({len(corpus.texts)} texts, mean {corpus.describe()['mean_words']:.0f} words); "
          f"static/transformer ratio {medians[STATIC] / medians[TRANSFORMER]:.0f}x (the published figure's: 24.4x, "
          "4851/s vs 199/s on the authors' Wikipedia texts)")


if __name__ == "__main__":
    main()
