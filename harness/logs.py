"""How much the harness and the libraries it drives say: set once in the command's process, and again
in each worker process it spawns (`HARNESS_VERBOSE` carries the level over)."""

from __future__ import annotations

import logging
import os
import warnings

LIBRARIES = ("sentence_transformers", "transformers", "datasets", "mteb", "model2vec", "huggingface_hub")


def quiet_libraries(verbose: int | None = None) -> None:
    """Logging at the `-v` level asked for (from HARNESS_VERBOSE when not given); unless verbose, the
    libraries keep their warnings, deprecation notices and progress bars to themselves."""
    if verbose is None:
        verbose = int(os.environ.get("HARNESS_VERBOSE", "0") or 0)
    os.environ["HARNESS_VERBOSE"] = str(verbose)
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("harness").setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    if verbose:
        return
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*is superseded by.*")
    # scikit-learn's, as mteb's evaluators call it (UndefinedMetricWarning: a class never predicted)
    warnings.filterwarnings("ignore", module=r"sklearn(\.|$)")
    # TQDM_DISABLE: the bars mteb draws without a switch (SummEval's "Scoring"); tqdm reads it when first imported
    # (this runs before the command, or the worker, imports it), and a bar given `disable=` (the harness's) keeps it
    for variable, value in (("HF_DATASETS_DISABLE_PROGRESS_BARS", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                            ("TRANSFORMERS_VERBOSITY", "error"), ("TQDM_DISABLE", "1")):
        os.environ.setdefault(variable, value)
