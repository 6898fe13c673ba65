"""Before a run: each pending cell's size, its projected wall time and peak memory, and the total at `--jobs`.

- Size: the evaluated split of an MTEB dataset from mteb's own descriptive statistics (texts and characters,
  corpus included), the same for the local copy and the hub's; PEARL and WordSim have none (small, and
  measured on every machine that ran them).
- Time, by the closest evidence this machine has (the computed result files' `evaluation_time`): the same
  model on the same task; else models of the same loader kind on that task (median); else the loader
  kind's fit `seconds = a + b x characters + c x searches` over the MTEB cells it ran (searches: a retrieval
  split's queries times its corpus chunks, `Size.searches`); else, for a loader kind with no cell of the model's
  family at all, the fit of the same family's loader kind that reached the largest size, named; else "unknown".
  A loader kind that runs as another (`LoaderKind.runs_as`: distilled models are model2vec models) is that kind.
- Calibration beyond the offline data: `harness/reference/cell_costs.csv`, cells the benchmarks measured
  on full-size stand-ins (`bench/bench_bigcell.py`), with the hardware they ran on; they enter the fits.
- Classification's undersampling: mteb reads a classification split's training labels one index at a time, over
  every training row, once per experiment; with datasets >= 4 each read costs more the more Arrow batches the
  split has (`bench/bench_label_reads.py`, calibrated in `harness/reference/label_reads.csv`), so this grows with
  the square of the training rows and a large split (AmazonPolarity: 3.6 M rows) costs days whatever the model.
  A projection from a fit adds it (the fit's points have it taken off); measured cells include it. The harness
  requires datasets < 4 (pyproject.toml), whose `dataset[column]` is a list: this is charged only where a later
  datasets was installed regardless.
- Reranking's (query, candidate) pairs: mteb holds a reranking split's candidates, judgements and scores as Python
  dicts and lists, pair by pair (MindSmallReranking: 97 million pairs over 2.4 million queries), so its time
  and memory grow with the pairs, not the characters. The calibration's cells of one reranking task at several
  sizes (`bench/bench_fullrow.py --fraction F --tasks MindSmallReranking --calibrate`) give the cost of a pair (a
  least-squares line through them, seconds and GB); a projection from a fit adds the pairs' cost (the fits'
  points have it taken off), and a large split without such a calibration says so.
- Memory: the cell's recorded peak (result files record it since this version), else the loader kind's
  fit `peak = a + b x characters + c x queries` over recorded peaks and calibration cells, else a worker's
  base plus GB_PER_GIGACHAR per 10^9 characters.
- A corpus two tasks share (FEVER, ClimateFEVER), encoded once per model by a text-by-text encoder: the task that
  runs second is charged its cost on its own less the encoding of the documents it takes: the share of a cell's
  time (less its search) that a benchmark measured encoding to be, per character (`bench/bench_shared_corpus.py`:
  the same cell on its own and after its partner on the same hardware, `taken` in the calibration; a share, so a
  pair measured on one machine applies to cells measured on another). Embeddings an earlier run kept are not looked
  for (that needs the model loaded): such a cell is charged in full.
- A transformer's evidence from another transformer (a measured or calibrated cell, a fit's points) is scaled by
  the ratio of the two models' speeds where `harness speed` measured both on one machine (the results folder's
  throughput records), else by the ratio of their parameters (registry `params_m`: its encoding does about two
  operations per parameter and token, a lower bound for a deeper model). A static model's is taken as it is (a
  lookup per token; its time is tokenizing).
- Total: one cell after another, and the cells dealt largest first to `--jobs` workers (the order the
  pool runs them in) on this machine's cores. A cell keeps some cores busy on its own (`Projection.cores`: its CPU
  seconds over its wall seconds, as result files record them since this version and the calibration's cells do;
  the median of the same loader kind's cells of the task; 1 where none says: a static model's largest cells
  overlap tokenizing, scoring and their pushes on 1.5 to 1.8 cores); while the running cells ask for more cores
  than the machine has, each goes at the machine's share of its own pace (`makespan`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GB_PER_GIGACHAR = 1.8
"""Peak memory per 10^9 characters of a cell's texts (0.6 GB over the base for the 3.4e8 characters of a
1,000,000-passage MSMARCO stand-in: potion-base-8M, 1.5 GB peak against 0.9 GB on small tasks)."""
PAIRS_NOTED = 1_000_000
"""Reranking pairs beyond which a projection without a calibration of their cost says so."""
MEMORY_REACH = 3
"""How far (x the largest cell with a measured peak) a memory fit is followed; beyond, GB_PER_GIGACHAR."""
BASE_GB = {"transformer": 1.5, "static": 1.0}
"""Peak of a worker on small tasks when no result file records one (all-MiniLM-L6-v2: 1.2 GB measured)."""


@dataclass(frozen=True)
class Size:
    texts: int
    chars: int
    queries: int = 0
    """Queries of a retrieval split (0 elsewhere)."""
    documents: int = 0
    """Documents of a retrieval split's corpus (0 elsewhere)."""
    train: int = 0
    """Training rows of a classification split, whose labels mteb's undersampling reads one by one (0 elsewhere)."""
    experiments: int = 0
    """Times mteb's undersampling goes over the training rows (the task's `n_experiments`; 0 elsewhere)."""
    document_chars: int = 0
    """Characters of a retrieval split's corpus (0 elsewhere)."""
    pairs: int = 0
    """(query, candidate) pairs of a reranking split (mteb's `num_top_ranked`; 0 elsewhere)."""

    @property
    def label_reads(self) -> int:
        return self.train * self.experiments

    @property
    def searches(self) -> int:
        """Query-chunk merges of mteb's full-corpus search: each query's top 1,000 of each corpus chunk goes
        through a Python heap, so a split with thousands of queries over millions of documents costs more than
        its characters say (potion-base-8M: FEVER's 6,666 queries took the cell from ~15 to ~29 minutes)."""
        return self.queries * -(-self.documents // corpus_chunk_size()) if self.documents else 0


@dataclass(frozen=True)
class Observation:
    model_id: str
    revision: str
    loader: str
    family: str
    task: str
    seconds: float
    peak_gb: float | None
    params_m: float | None = None
    """The model's parameters in millions (its model_meta.json; None where it does not say)."""
    cpu_seconds: float | None = None
    """The cell's CPU time, every thread's (result files record it since this version; None before)."""
    shared: bool = False
    """The cell was given fewer cores than its machine had: other cells ran beside it (a pool's); its seconds are
    not its own on the machine (result files record the cores since this version; False before)."""
    alone_cores: float | None = None
    """For a `shared` cell: the cores the task's cells keep busy alone, by which its CPU seconds were made its
    seconds on its own (CostModel); None where no cell of its kind said."""


@dataclass(frozen=True)
class Projection:
    model: str
    task: str
    size: Size | None
    seconds: float | None
    peak_gb: float | None
    basis: str
    cores: float = 1.0
    """Cores the cell keeps busy on its own (CostModel.cores); what two cells at once share (`makespan`)."""


SPLIT_QUERIES = {"MSMARCO": 43}
"""Queries of the split the harness evaluates where mteb's statistics describe another: MSMARCO's are of its dev
split (6,980 queries); the protocol's test split (TREC DL 2019) has 43 queries over the same corpus."""


@functools.lru_cache(maxsize=1)
def corpus_chunk_size() -> int:
    """Documents mteb encodes and searches at once (its `SearchEncoderWrapper` default)."""
    import inspect

    try:
        from mteb.models.search_wrappers import SearchEncoderWrapper

        return int(inspect.signature(SearchEncoderWrapper.__init__).parameters["corpus_chunk_size"].default)
    except (ImportError, KeyError, TypeError, ValueError):
        return 50_000


@functools.lru_cache(maxsize=None)
def mteb_size(task_name: str, subset: str) -> Size | None:
    """Texts and characters of the split the harness evaluates (mteb's statistics; MSMARCO's only split, dev,
    stands for its test split), with its queries and documents for retrieval and its training rows and experiments
    for classification (mteb undersamples those), or None when mteb has none."""
    import mteb

    try:
        task = mteb.get_task(task_name)
        metadata = task.metadata
        stats = metadata.descriptive_stats
    except Exception:  # noqa: BLE001 - no statistics is "size unknown", not an error
        return None
    if not stats:
        return None
    split = stats.get("test") or (next(iter(stats.values())) if len(stats) == 1 else None)
    if split is None:
        return None
    split = subset_stats(split, subset)
    chars = split.get("number_of_characters") or sum(
        block.get("total_text_length", 0) for key, block in split.items() if key.endswith("text_statistics") and block)
    if "num_samples" not in split or not chars:
        return None
    documents = int(split.get("num_documents") or 0) if metadata.type == "Retrieval" else 0  # a full-corpus search
    queries = SPLIT_QUERIES.get(task_name, int(split.get("num_queries") or 0)) if documents else 0
    document_chars = int((split.get("documents_text_statistics") or {}).get("total_text_length") or 0) \
        if documents else 0
    train, experiments = _undersampled(task, subset, stats)
    pairs = int((split.get("top_ranked_statistics") or {}).get("num_top_ranked") or 0)
    return Size(int(split["num_samples"]), int(chars), queries, documents, train, experiments, document_chars, pairs)


def _undersampled(task, subset: str, stats: dict) -> tuple[int, int]:
    """(training rows, experiments) of a task mteb undersamples label by label (its classification tasks), else 0s."""
    from mteb.abstasks import AbsTaskClassification

    train = stats.get(getattr(task, "train_split", "train"))
    if not isinstance(task, AbsTaskClassification) or not train:
        return 0, 0
    train = subset_stats(train, subset)
    return int(train.get("num_samples") or 0), int(task.n_experiments)


def subset_stats(split: dict, subset: str) -> dict:
    """A split's statistics for one subset (mteb keeps them under `hf_subset_descriptive_stats`), else the split's."""
    return (split.get("hf_subset_descriptive_stats") or {}).get(subset, split)


def task_size(task) -> Size | None:
    if task.spec.benchmark != "MTEB" or not getattr(task, "on_hub", True):
        return None
    return mteb_size(task.spec.name, task.spec.subset)


def observations(results_dir: str | Path) -> list[Observation]:
    """Every computed result file's model, task, evaluation time and recorded peak memory (but a cell that took a
    shared corpus's embeddings another task kept: `project_all` charges that from the cell on its own)."""
    out = []
    for folder in Path(results_dir).glob("*/*"):
        family, params = _family_and_params(folder)
        for path in folder.glob("*.json"):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                block, model = doc["harness"], doc["harness"]["model"]
                peak = block.get("peak_rss_mb")
                if (block.get("data") or {}).get("shared_corpus", {}).get("taken"):
                    continue  # it took another task's kept corpus: not the cost of the cell on its own
                given, machine = block.get("cell_cores"), block.get("machine_cores")
                out.append(Observation(model["id"], model["revision"], model["loader"], family, doc["task_name"],
                                       float(doc["evaluation_time"]), peak / 1024 if peak else None, params,
                                       block.get("cpu_seconds"), bool(given and machine and given < machine)))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # model_meta.json, published layouts, unreadable files: not evidence of time
    return out


def _family_and_params(folder: Path) -> tuple[str, float | None]:
    """`static` or `transformer` (`static` when it does not say) and the parameters in millions (None when it does
    not say), from the folder's model_meta.json."""
    try:
        block = json.loads((folder / "model_meta.json").read_text())["harness"]
    except (OSError, ValueError, KeyError, TypeError):
        return "static", None
    if not isinstance(block, dict):
        return "static", None
    params = block.get("params_m")
    return block.get("family", "static"), float(params) if isinstance(params, (int, float)) else None


def speeds(results_dir: str | Path) -> dict[str, tuple[float, str]]:
    """Each measured model's sentences per second and the CPU it was measured on (the results folder's throughput
    records), by model id and by display name (a calibration cell names its model); unreadable records left out."""
    from harness.results import read_throughputs

    out = {}
    for model_id, record in read_throughputs(results_dir, problems=[]).items():
        figure = (record.sentences_per_second, str(record.hardware.get("cpu", "")))
        out[model_id] = out[record.model.name] = figure
    return out


@functools.lru_cache(maxsize=1)
def _registry_params() -> dict[str, float]:
    """Parameters in millions of the default registry's models, by name (a calibration cell names its model)."""
    from harness.registry import load_registry

    try:
        return {spec.name: spec.params_m for spec in load_registry()}
    except Exception:  # noqa: BLE001 - an unreadable registry leaves the calibration's cells unscaled
        return {}


@functools.lru_cache(maxsize=1)
def _mteb_tasks() -> dict[str, tuple[str, str]]:
    """MTEB task name -> (subset evaluated, group)."""
    from harness.tasks.mteb_tasks import mteb_tasks

    return {t.spec.name: (t.spec.subset, t.spec.group) for t in mteb_tasks()}


def whole_split_size(task_name: str) -> Size | None:
    """An MTEB task's whole evaluated split (`mteb_size` of the subset the harness evaluates); None for another
    task."""
    tasks = _mteb_tasks()
    return mteb_size(task_name, tasks[task_name][0]) if task_name in tasks else None


CALIBRATION = Path(__file__).resolve().parent / "reference" / "cell_costs.csv"
"""Cells measured by the benchmarks at sizes this machine's results never reach (bench/bench_bigcell.py
writes it): loader kind, task, characters, seconds, peak memory, and the hardware."""


def calibration(path: Path = CALIBRATION) -> list[dict]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


LABEL_READS = Path(__file__).resolve().parent / "reference" / "label_reads.csv"
"""Seconds of one label read by mteb's classification undersampling at several training sizes (written by
bench/bench_label_reads.py): rows, Arrow batches, seconds per read, library versions and hardware."""


def label_reads_lazy() -> bool:
    """Whether `dataset[column]` is datasets' lazy `Column` (datasets >= 4), each item read a table operation; before,
    it was a list and mteb's label reads cost nothing to speak of."""
    import datasets

    return int(datasets.__version__.split(".")[0]) >= 4


class CostModel:
    """Projected seconds and peak memory of a cell, from this machine's result files and the benchmarks'
    calibration cells."""

    def __init__(self, seen: Sequence[Observation], calibrated: Sequence[dict] | None = None,
                 reads: Sequence[dict] | None = None, speeds: dict[str, tuple[float, str]] | None = None):
        from harness.loaders import cost_kind

        # a loader kind that runs as another (distilled models are model2vec models) is priced as that one
        self.seen = [dataclasses.replace(o, loader=cost_kind(o.loader)) for o in seen]
        self.speeds = speeds or {}
        """Sentences per second and CPU by model id or name (`speeds`): the scale between two transformers."""
        self.calibrated = [{**row, "loader": cost_kind(row["loader"])}
                           for row in (calibration() if calibrated is None else calibrated)]
        self.reads = (calibration(LABEL_READS) if reads is None else list(reads)) if label_reads_lazy() else []
        tasks = _mteb_tasks()
        points: dict[tuple, list[tuple[Size, float, float | None]]] = {}  # key -> (size, seconds, peak GB)
        peaks: dict[tuple, list[tuple[Size, float]]] = {}  # key -> (size, peak GB)
        self.evidence: dict[tuple, list[tuple[str, float | None]]] = {}  # key -> its points' models, parameters

        pair_cells = _scaled_pairs(self.calibrated)
        self.pair_cost = _pair_cost(pair_cells)

        def add(loader: str, family: str, task: str, size: Size, seconds: float, peak: float | None,
                model: tuple[str, float | None]) -> None:
            group = tasks[task][1] if task in tasks else ""
            seconds = max(0.0, seconds - self.undersampling(size) - self.pairs_seconds(size))  # fits: everything else
            peak = max(0.0, peak - self.pairs_gb(size)) if peak else peak
            # time: the group's fit; the kind's fit over every group takes the cells without a search (characters)
            for key in [(loader, family, group)] + ([(loader, family)] if not size.documents else []):
                points.setdefault(key, []).append((size, seconds, peak))
                self.evidence.setdefault(key, []).append(model)
            for key in ((loader, family, group), (loader, family)) if peak else ():  # memory: every cell
                peaks.setdefault(key, []).append((size, peak))

        pairs = _pairs(self.calibrated)

        def whole_split(row: dict) -> bool:
            full = whole_split_size(row["task"])
            return full is not None and full.chars == int(float(row["chars"]))

        # the calibration's cells on their own; a pair measures the saving of a kept corpus (`kept_share`): the cell
        # that took is no cell on its own, and the same cell alone beside it is one of the calibration only at the
        # size a plan projects (the task's whole split; a benchmark's pair at a fraction is not a point of the fits)
        aside = [r for alone, taken in pairs for r in (*(a for a in alone if not whole_split(a)), taken)]
        self.cells = [row for row in self.calibrated if not any(row is r for r in aside)]
        self._alone_shares: dict[tuple[str, str, str], list[float]] = {}
        """(loader kind, family, task) -> CPU seconds over seconds of the result files' cells that ran on their own."""
        for o in self.seen:
            if o.cpu_seconds and o.seconds > 0 and not o.shared:
                self._alone_shares.setdefault((o.loader, o.family, o.task), []).append(o.cpu_seconds / o.seconds)
        self.seen = [self._on_its_own(o) for o in self.seen]
        for obs in self.seen:
            if (size := whole_split_size(obs.task)) is not None:
                add(obs.loader, obs.family, obs.task, size, obs.seconds, obs.peak_gb, (obs.model_id, obs.params_m))
        for row in self.cells:
            if any(row is r for r in pair_cells):  # the cost of a pair, not a point of the fits
                continue
            size = _row_size(row)
            full = whole_split_size(row["task"])
            if full is not None and full.chars == size.chars:  # a full-size cell: the task's training rows too
                size = dataclasses.replace(size, train=full.train, experiments=full.experiments)
            add(row["loader"], row["family"], row["task"], size, float(row["seconds"]),
                float(row["peak_gb"]) if row.get("peak_gb") else None, _row_model(row))
        self.fits = {key: _fit([((s.chars, s.searches), t) for s, t, _ in pts]) for key, pts in points.items()
                     if len({s.chars for s, _, _ in pts}) >= 3}
        self.largest = {key: max(s.chars for s, _, _ in pts) for key, pts in points.items()}
        self.searched = {key: max(s.searches for s, _, _ in pts) for key, pts in points.items()}
        self.memory = {key: _fit([((s.chars, s.queries), m) for s, m in pts]) for key, pts in peaks.items()
                       if len({s.chars for s, _ in pts}) >= 2}
        self.memory_reach = {key: max(s.chars for s, _ in pts) for key, pts in peaks.items()}
        self.kept_share = self._kept_shares(pairs)

    def _on_its_own(self, obs: Observation) -> Observation:
        """A cell measured beside other cells (`shared`), as on its own: its CPU seconds (the work, which sharing
        the cores changes little) over the cores its task's cells of the kind keep busy alone (`_alone_cores`); as
        measured where none says (its CPU seconds over its seconds are then the cores it is charged)."""
        if not obs.shared or not obs.cpu_seconds:
            return obs
        alone = self._alone_cores((obs.loader, obs.family), obs.task, whole_split_size(obs.task))
        if alone is None:
            return obs
        return dataclasses.replace(obs, seconds=obs.cpu_seconds / alone, alone_cores=alone)

    def _alone_cores(self, kind: tuple[str, str], task: str, size: Size | None) -> float | None:
        """The median CPU seconds over seconds of the cells of the loader kind and family on the task that ran on
        their own and say (result files; the calibration's cells at this size), at most this machine's cores; None
        where none does."""
        from harness.cores import usable_cores

        shares = list(self._alone_shares.get((*kind, task), ()))
        shares += [float(r["cpu_seconds"]) / float(r["seconds"]) for r in self._calibrated_cells(kind, task, size)
                   if r.get("cpu_seconds") and float(r["seconds"]) > 0]
        return min(float(usable_cores()), statistics.median(shares)) if shares else None

    def search_seconds(self, key: tuple, size: Size) -> float:
        """The search term of a retrieval cell's time (`c x searches` of the fit under `key`; 0 without one)."""
        return self.fits[key][2] * size.searches if key in self.fits else 0.0

    def _kept_shares(self, pairs: Sequence[tuple[list[dict], dict]]) -> dict[str, float]:
        """By loader kind, the share of a cell's time (less its search) per character that a corpus's encoding is,
        where the cell takes that corpus's embeddings from a store another task kept: from the benchmarks' pairs of
        the same cell (task, size, hardware) on its own and after its partner (`taken` documents, at the corpus's
        mean document length). A share, not seconds: the pairs' hardware need not be that of the cells projected."""
        shares: dict[str, list[float]] = {}
        tasks = _mteb_tasks()
        for cells, row in pairs:
            full = whole_split_size(row["task"])
            if not cells or full is None or not full.documents:
                continue
            alone, size = statistics.median(float(r["seconds"]) for r in cells), _row_size(row)
            own = alone - self.search_seconds((row["loader"], row["family"], tasks[row["task"]][1]), size)
            documents = _taken(row) * full.document_chars / full.documents
            if own > 0:
                shares.setdefault(row["loader"], []).append(
                    max(0.0, alone - float(row["seconds"])) / own * size.chars / documents)
        return {loader: min(1.0, statistics.median(values)) for loader, values in shares.items()}

    def pairs_seconds(self, size: Size | None) -> float:
        """Seconds of mteb's pair-by-pair work on a reranking split's (query, candidate) pairs (0 uncalibrated)."""
        return size.pairs * self.pair_cost[0] if size is not None and self.pair_cost else 0.0

    def pairs_gb(self, size: Size | None) -> float:
        """Peak memory of a reranking split's (query, candidate) pairs as mteb holds them (0 uncalibrated)."""
        return size.pairs * self.pair_cost[1] if size is not None and self.pair_cost else 0.0

    def undersampling(self, size: Size | None) -> float:
        """Seconds of mteb's label-by-label undersampling of a classification split: its reads times the cost of a
        read the benchmark measured on training splits of the same rows (its task's), interpolated by rows between
        the splits it measured, in proportion beyond the largest; 0 without a calibration."""
        if size is None or not size.label_reads or not self.reads:
            return 0.0
        points = sorted((int(r["rows"]), float(r["seconds_per_read"])) for r in self.reads)
        rows, cost = zip(*points)
        per_read = float(np.interp(size.train, rows, cost)) if size.train <= rows[-1] else \
            cost[-1] * size.train / rows[-1]
        return size.label_reads * per_read

    def hardware(self) -> str:
        """Where the benchmarks' calibration cells were measured."""
        cpus = sorted({f"{row['cpu']} ({row['cores']} cores, {row['date']})" for row in self.calibrated})
        return "; ".join(cpus) or "no benchmark calibration"

    def seconds(self, spec, task, size: Size | None) -> tuple[float | None, str]:
        same = [o for o in self.seen if (o.model_id, o.revision, o.task) == (spec.id, spec.revision, task.spec.name)]
        if same:
            return statistics.median(o.seconds for o in same), "measured" + _beside(same)
        loader, family = self._keys(spec, task)[1]
        kind = [o for o in self.seen if (o.loader, o.family, o.task) == (loader, family, task.spec.name)]
        if kind:
            return self._scaled(spec, statistics.median(o.seconds for o in kind),
                                [(o.model_id, o.params_m) for o in kind], f"measured ({loader}){_beside(kind)}")
        calibrated = self._calibrated_cells((loader, family), task.spec.name, size)
        if calibrated:
            return self._scaled(spec, statistics.median(float(r["seconds"]) for r in calibrated),
                                [_row_model(r) for r in calibrated],
                                f"calibrated ({loader}, same size)")
        for key in (*self._keys(spec, task), *self._borrowed_keys(spec, task)):
            if size is not None and key in self.fits:
                a, b, c = self.fits[key]
                reach = size.chars / self.largest[key]
                far = f", {reach:.0f}x the largest measured" if reach > 3 else ""
                if key[0] != loader:
                    far += f"; no {loader} {family} cell measured here"
                if size.searches > 10 * max(self.searched[key], 1):
                    far += f"; {size.queries:,} queries: search cost beyond what was measured"
                fit, why = self._scaled(spec, a + b * size.chars + c * size.searches, self.evidence[key], "")
                far += why
                reads = self.undersampling(size)
                if reads > max(60.0, 0.1 * fit):
                    far += (f"; + {duration(reads)} of mteb's undersampling: {size.label_reads:,} label reads over "
                            f"{size.train:,} training rows")
                pairs = self.pairs_seconds(size)
                if pairs > max(60.0, 0.1 * fit):
                    far += f"; + {duration(pairs)} of mteb's reranking of {size.pairs:,} (query, candidate) pairs"
                elif size.pairs > PAIRS_NOTED and not self.pair_cost:
                    far += f"; {size.pairs:,} (query, candidate) pairs: their cost not calibrated"
                return fit + reads + pairs, f"from size ({' '.join(k for k in key if k)} fit{far})"
        return None, "size unknown" if size is None else f"no {loader} {family} cell measured here"

    def _scaled(self, spec, seconds: float, models: Sequence[tuple[str, float | None]],
                basis: str) -> tuple[float, str]:
        """A transformer's seconds from other models' evidence (`models`: their ids or names and parameters): in
        proportion to their speed against its own where one machine measured it and all of them (median), else to
        its parameters against theirs (evidence whose parameters are unknown is taken as it is); the basis says
        which."""
        if spec.family != "transformer" or all(model in (spec.id, spec.name) for model, _ in models):
            return seconds, basis
        own = self.speeds.get(spec.id) or self.speeds.get(spec.name)
        theirs = [self.speeds.get(model) for model, _ in models]
        if own and all(t is not None and t[1] == own[1] for t in theirs):
            speed = statistics.median(t[0] for t in theirs)
            factor, why = speed / own[0], f"{own[0]:.0f} sentences per second, not {speed:.0f} (harness speed)"
        elif known := [q for _, q in models if q]:
            theirs_m = statistics.median(known)
            factor, why = spec.params_m / theirs_m, f"{spec.params_m:g}M parameters, not {theirs_m:g}M"
        else:
            return seconds, basis
        if abs(factor - 1) < 0.01:
            return seconds, basis
        return seconds * factor, f"{basis}; x {factor:.2f}: {why}"

    def _calibrated_cells(self, kind: tuple[str, str], task: str, size: Size | None) -> list[dict]:
        """The benchmarks' calibration cells of this loader kind and family (`kind`) on this task at this size (the
        same characters)."""
        if size is None:
            return []
        return [r for r in self.cells if (r["loader"], r["family"]) == kind and r["task"] == task
                and int(float(r["chars"])) == size.chars]

    @staticmethod
    def _keys(spec, task) -> tuple[tuple, ...]:
        """The fits' keys for a model's cell, the closest first: (loader kind, family, task group), (loader kind,
        family). A family is evidence for itself alone: sentence-transformers loads static models too
        (static-retrieval-mrl-en-v1), whose cells cost nothing like a transformer's."""
        from harness.loaders import cost_kind

        family, loader = "transformer" if spec.family == "transformer" else "static", cost_kind(spec.loader)
        return (loader, family, task.spec.group), (loader, family)

    def _borrowed_keys(self, spec, task) -> tuple[tuple, ...]:
        """Where a loader kind has no cell of its own: the keys of the same family's loader kind whose cells reach
        the largest size (a static model sentence-transformers loads, none of whose cells ran here, is projected
        from model2vec's full-size cells: both tokenize a text and pool a row per token)."""
        loader, family = self._keys(spec, task)[1]
        if any(key[:2] == (loader, family) for key in self.largest):
            return ()
        reach: dict[str, int] = {}
        for key, chars in self.largest.items():
            if key[1] == family:
                reach[key[0]] = max(reach.get(key[0], 0), chars)
        if not reach:
            return ()
        other = max(reach, key=reach.__getitem__)
        return (other, family, task.spec.group), (other, family)

    def peak_gb(self, spec, task, size: Size | None) -> float:
        kind = self._keys(spec, task)[1]
        same = [o.peak_gb for o in self.seen if o.peak_gb and (o.loader, o.family) == kind and o.task == task.spec.name]
        same += [float(r["peak_gb"]) for r in self._calibrated_cells(kind, task.spec.name, size) if r.get("peak_gb")]
        if same:
            return max(same)
        chars, queries = (size.chars, size.queries) if size else (0, 0)
        for key in (*self._keys(spec, task), *self._borrowed_keys(spec, task)):
            if key in self.memory:
                a, b, c = self.memory[key]
                # beyond 3x the largest cell with a measured peak, a slope from small cells (fixed costs,
                # noise) is not evidence: the fit at 3x that size, then GB_PER_GIGACHAR per 10^9 characters
                reach = MEMORY_REACH * self.memory_reach[key]
                return (a + b * min(chars, reach) + c * queries + GB_PER_GIGACHAR * max(0, chars - reach) / 1e9
                        + self.pairs_gb(size))
        return BASE_GB.get(spec.family, BASE_GB["transformer"]) + GB_PER_GIGACHAR * chars / 1e9 + self.pairs_gb(size)

    def cores(self, spec, task, size: Size | None) -> float:
        """Cores the cell keeps busy on its own (`_alone_cores`); where only cells measured beside other cells say,
        the cores they kept busy there (their seconds are then taken as measured); 1 where none says."""
        kind = self._keys(spec, task)[1]
        alone = self._alone_cores(kind, task.spec.name, size)
        if alone is not None:
            return alone
        shares = [o.cpu_seconds / o.seconds for o in self.seen if o.shared and o.cpu_seconds and o.seconds > 0
                  and (o.loader, o.family) == kind and o.task == task.spec.name]
        return statistics.median(shares) if shares else 1.0

    def project(self, spec, task) -> Projection:
        size = task_size(task)
        seconds, basis = self.seconds(spec, task, size)
        return Projection(spec.name, task.spec.name, size, seconds, self.peak_gb(spec, task, size), basis,
                          self.cores(spec, task, size))

    def project_all(self, cells: Sequence) -> dict:
        """Each runner cell's projection, by cell key, in the grid's order. A cell whose corpus a cell of the same
        model started before it keeps (`harness.tasks.shared_corpora`: it goes after it and takes its embeddings) is
        charged its projection on its own less the kept documents' encoding (`kept_share` of its time less its
        search, in proportion to the documents' characters; where a benchmark measured it for the loader kind)."""
        from harness.loaders import cost_kind, loader_kind
        from harness.tasks.shared_corpora import SHARED_CORPORA

        projections = {cell.key: self.project(cell.spec, cell.task) for cell in cells}
        keeper = {}  # (model, corpus) -> the task that keeps it, its documents' characters
        # in the order a pool starts them in (`harness.pool.largest_first`)
        for cell in longest_first(cells, ordering(projections)):
            p = projections[cell.key]
            corpus = SHARED_CORPORA.get(cell.task.spec.name)
            if corpus is not None and p.size is not None and loader_kind(cell.spec.loader).per_text:
                first, chars = keeper.setdefault((cell.spec.name, corpus), (cell.task.spec.name, p.size.document_chars))
                if first != cell.task.spec.name and p.seconds is not None:
                    share = self.kept_share.get(cost_kind(cell.spec.loader))
                    if share is None:
                        p = dataclasses.replace(p, basis=f"{p.basis}; takes {first}'s corpus, a saving not calibrated")
                    else:
                        own = p.seconds - self.search_seconds(self._keys(cell.spec, cell.task)[0], p.size)
                        saved = max(0.0, share * own * min(chars, p.size.document_chars) / p.size.chars)
                        p = dataclasses.replace(p, seconds=p.seconds - saved,
                                                basis=f"{p.basis}; {first}'s corpus kept: - {duration(saved)}")
            projections[cell.key] = p
        return {cell.key: projections[cell.key] for cell in cells}


def _beside(seen: Sequence[Observation]) -> str:
    """What a basis adds for the cells among `seen` measured beside other cells (`Observation.shared`)."""
    shared = [o for o in seen if o.shared]
    if not shared:
        return ""
    cores = sorted({round(o.alone_cores, 1) for o in shared if o.alone_cores})
    return (f"; {len(shared)} of {len(seen)} beside other cells: "
            + (f"their CPU time over the {'/'.join(map(str, cores))} cores the task keeps busy alone" if cores
               else "their time as measured there"))


def _row_model(row: dict) -> tuple[str, float | None]:
    """A calibration cell's model (its display name) and the registry's parameters for it (None if unknown)."""
    return row["model"], _registry_params().get(row["model"])


def _row_size(row: dict) -> Size:
    """A calibration cell's texts, characters, queries, documents and reranking pairs."""
    return Size(int(float(row.get("texts") or 0)), int(float(row["chars"])), int(float(row.get("queries") or 0)),
                int(float(row.get("documents") or 0)), pairs=int(float(row.get("pairs") or 0)))


def _scaled_pairs(rows: Sequence[dict]) -> list[dict]:
    """The calibration's cells of a reranking task measured for one model at two sizes or more (stand-ins at
    fractions): the evidence of a pair's cost (a model's single cell of the task is a point of its fits)."""
    sizes: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if _row_size(row).pairs:
            sizes.setdefault((row["model"], row["task"]), set()).add(_row_size(row).pairs)
    return [row for row in rows if len(sizes.get((row["model"], row["task"]), ())) >= 2]


def _pair_cost(rows: Sequence[dict]) -> tuple[float, float] | None:
    """(seconds, GB) per (query, candidate) pair: the slopes of least-squares lines through the calibration's cells
    of reranking tasks at several sizes (`_scaled_pairs`; the lines' intercepts are the cells' other costs), or
    None."""
    def slope(points: list[tuple[int, float]]) -> float:
        if len({x for x, _ in points}) < 2:
            return 0.0
        x, y = np.array(points, dtype=float).T
        return max(0.0, float(np.polyfit(x, y, 1)[0]))

    if not rows:  # `_scaled_pairs` gives each task's rows at two sizes or more, or none
        return None
    return (slope([(_row_size(r).pairs, float(r["seconds"])) for r in rows]),
            slope([(_row_size(r).pairs, float(r["peak_gb"])) for r in rows if r.get("peak_gb")]))


def _taken(row: dict) -> int:
    """Documents a calibration cell took from a corpus another cell kept (0: a cell on its own)."""
    return int(float(row.get("taken") or 0))


def _pairs(rows: Sequence[dict]) -> list[tuple[list[dict], dict]]:
    """Each calibration cell that took a kept corpus, with the same cell (loader kind, task, size, hardware) on its
    own (none where the benchmark measured no such cell)."""
    same = ("loader", "task", "chars", "cpu")
    return [([r for r in rows if not _taken(r) and all(r[k] == t[k] for k in same)], t) for t in rows if _taken(t)]


def _fit(points: Sequence[tuple[tuple[float, float], float]]) -> tuple[float, float, float]:
    """`a, b, c` of `y = a + b x1 + c x2` by least squares with every coefficient at least 0 (time and memory grow
    with size): x1 the characters, x2 the search work (or queries); without x2 anywhere, `c` is 0."""
    from scipy.optimize import nnls

    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    columns = [np.ones(len(y)), x[:, 0]] + ([x[:, 1]] if x[:, 1].any() else [])
    scale = np.array([max(abs(col).max(), 1e-12) for col in columns])
    coef, _ = nnls(np.column_stack(columns) / scale, y)
    coef = coef / scale
    return float(coef[0]), float(coef[1]), float(coef[2]) if len(coef) > 2 else 0.0


def ordering(projections: dict[tuple[str, str], Projection]) -> Callable[[object], float | None]:
    """A cell's weight for dealing cells longest first: its projected seconds; when no cell has a projected
    time (nothing measured yet), its size in characters; None (dealt last) when neither is known."""
    timed = any(p.seconds is not None for p in projections.values())

    def weight(cell) -> float | None:
        p = projections.get(cell.key)
        if p is None:
            return None
        return p.seconds if timed else (p.size.chars if p.size else None)

    return weight


def longest_first(cells: Sequence, estimate: Callable[[object], float | None]) -> list:
    """Cells by projected time, longest first; those of unknown time after, in their order."""
    times = {cell.key: estimate(cell) for cell in cells}
    return sorted(cells, key=lambda c: (times[c.key] is None, -(times[c.key] or 0.0)))


def makespan(seconds: Sequence[float], jobs: int, cores: Sequence[float] | None = None,
             machine: float | None = None) -> float:
    """Wall time of cells dealt largest first to `jobs` workers, each taking the next cell when free. Cell i
    alone takes seconds[i] and keeps cores[i] busy (1 each when not given); while the running cells ask for more
    than the `machine`'s cores (None: as many as they ask), each goes at machine / asked of its own pace, the
    cores shared in proportion to what each asks, as a fair scheduler shares them among threads."""
    order = sorted(range(len(seconds)), key=lambda i: -seconds[i])
    asks = list(cores) if cores is not None else [1.0] * len(seconds)
    left: dict[int, float] = {}  # running cell -> its own seconds still to go
    clock, nxt = 0.0, 0
    while nxt < len(order) or left:
        while nxt < len(order) and len(left) < max(1, jobs):
            left[order[nxt]] = float(seconds[order[nxt]])
            nxt += 1
        asked = sum(asks[i] for i in left)
        pace = min(1.0, machine / asked) if machine and asked > 0 else 1.0
        first = min(left, key=left.__getitem__)
        step = left.pop(first)
        clock += step / pace
        for i in left:
            left[i] -= step
    return clock


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes >= 48 * 60:
        hours = round(seconds / 3600)
        return f"{hours // 24} d {hours % 24:02d} h"
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


def summary(projections: Sequence[Projection], jobs: int, memory_gb: float | None,
            machine: float | None = None) -> tuple[str, list[Projection]]:
    """One line (totals; cells of unknown time named by count; the workers sharing the `machine`'s cores) and the
    cells projected over the memory."""
    timed = [p for p in projections if p.seconds is not None]
    known = [p.seconds for p in timed]
    unknown = len(projections) - len(known)
    over = [p for p in projections if memory_gb is not None and p.peak_gb and p.peak_gb > memory_gb]
    shared = makespan(known, jobs, [p.cores for p in timed], machine)
    line = (f"projected: {duration(sum(known))} one cell after another, {duration(shared)} with "
            f"{jobs} worker(s), largest first ({len(known)} of {len(projections)} cells"
            + (f"; {unknown} of unknown time" if unknown else "") + ")")
    return line, over
