"""Command line: `harness models | tasks | verify | mirror | run | speed | distill | import | report | plot | compare`.

Each command parses its options and hands the work to the module that owns it. Exit codes: 0
everything asked for was computed (or already there); 1 some task failed or was unavailable (every
other task still ran); 2 bad input (registry, model or task name, folder), in one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import HarnessError
from harness.environ import environment, run_switches
from harness.logs import quiet_libraries
from harness.mirror import Mirrors

EXIT_OK, EXIT_TASKS_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _add_registry(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", action="append", default=[], metavar="FILE",
                   help="extra registry YAML adding or overriding entries by name (repeatable)")


def _add_mirrors(p: argparse.ArgumentParser, data: bool = True, model: bool = True) -> None:
    if data:
        p.add_argument("--data-dir", metavar="DIR",
                       help="local mirror of dataset repos (env HARNESS_DATA_DIR; default ../shared/data if present)")
    if model:
        p.add_argument("--model-dir", metavar="DIR", help="local mirror of model repos (env HARNESS_MODEL_DIR)")
    p.add_argument("--offline", action="store_true",
                   help="never contact the hub or the network (also: HARNESS_OFFLINE=1 or HF_HUB_OFFLINE=1)")


def _add_published(p: argparse.ArgumentParser) -> None:
    p.add_argument("--published", action="append", default=[], metavar="SOURCE",
                   help="published per-task results: a copy of mteb's results repository (or its results/ folder), or "
                        "its git address (cloned by mteb's ResultCache); repeatable; 'none' for none "
                        "(default: env HARNESS_PUBLISHED, else <data-dir>/mteb-results when present)")


def _add_reading(p: argparse.ArgumentParser) -> None:
    """The options of the commands that read computed and published results (report, plot, compare)."""
    p.add_argument("--results-dir", default="results", metavar="DIR", help="computed result files (default: results)")
    _add_published(p)
    _add_registry(p)
    _add_mirrors(p, model=False)


def _published(args, mirrors: Mirrors) -> list:
    from harness.api import published_sources

    return published_sources(args.published, mirrors)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Benchmark harness for text-embedding models.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_parse_models, _parse_tasks, _parse_verify, _parse_mirror, _parse_report, _parse_import, _parse_speed,
                _parse_distill, _parse_plot, _parse_compare, _parse_run):
        add(sub)
    return parser


def _parse_models(sub) -> None:
    p = sub.add_parser("models", help="list the registry, with where each model runs from offline")
    _add_registry(p)
    _add_mirrors(p, data=False)


def _parse_tasks(sub) -> None:
    p = sub.add_parser("tasks", help="list the task catalogue by group, with local data availability")
    _add_mirrors(p, model=False)


def _parse_verify(sub) -> None:
    p = sub.add_parser("verify", help="compare the data mirror (and with --model-dir the model mirror) with its "
                                      "checksum file (SHA256SUMS.txt)")
    _add_mirrors(p)


def _parse_mirror(sub) -> None:
    from harness.results import PUBLISHED_REMOTE

    p = sub.add_parser("mirror", help="fetch what `harness run` with the same -m/-t would read into DIR/models and "
                                      "DIR/data, for runs without the network")
    p.add_argument("-m", "--models", nargs="+", default=[], metavar="MODEL", help="registry names")
    p.add_argument("-t", "--tasks", nargs="+", default=[], metavar="TASK", help="task or group names")
    p.add_argument("--out", required=True, metavar="DIR", help="the mirror (DIR/models, DIR/data)")
    p.add_argument("--published", nargs="?", const=PUBLISHED_REMOTE, default=None, metavar="URL",
                   help=f"also the models' published per-task results, from a results repository (default "
                        f"{PUBLISHED_REMOTE}) into DIR/data/mteb-results")
    p.add_argument("--dry-run", action="store_true", help="list what would be fetched, with sizes; fetch nothing")
    p.add_argument("--no-progress", action="store_true", help="no download progress bars")
    _add_registry(p)


def _parse_report(sub) -> None:
    p = sub.add_parser("report", help="tables from the computed and the published result files (Markdown and CSV)")
    p.add_argument("--out", default="reports", metavar="DIR", help="where the tables go (default: reports)")
    _add_reading(p)


def _parse_import(sub) -> None:
    p = sub.add_parser("import", help="import published mteb results (any mteb version) into a published store")
    p.add_argument("path", help="folder laid out as <org__model>/<revision>/<Task>.json")
    p.add_argument("--into", default="published", metavar="DIR",
                   help="the published store, kept apart from computed results (default: published; "
                        "`harness report --published DIR` reads it)")
    p.add_argument("--overwrite", action="store_true", help="replace files imported before")
    _add_registry(p)


def _parse_speed(sub) -> None:
    p = sub.add_parser("speed", help="measure sentences per second on a fixed corpus (throughput.json)")
    p.add_argument("-m", "--models", nargs="+", required=True, metavar="MODEL", help="registry names")
    p.add_argument("--corpus", default="scifact", metavar="NAME|FILE",
                   help="'scifact' (first --size SciFact documents, from the data mirror or the hub) or a text file, "
                        "one text a line")
    p.add_argument("--size", type=int, default=1000, help="number of texts (default 1000)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes after one warm-up (>= 5)")
    p.add_argument("--results-dir", default="results", metavar="DIR")
    p.add_argument("--overwrite", action="store_true", help="measure again where a speed is recorded")
    p.add_argument("--no-progress", action="store_true")
    _add_registry(p)
    _add_mirrors(p)


def _parse_distill(sub) -> None:
    p = sub.add_parser("distill", help="build distilled models ahead of time (cached by recipe)")
    p.add_argument("-m", "--models", nargs="+", required=True, metavar="MODEL", help="registry names of distilled models")
    p.add_argument("--force", action="store_true", help="rebuild even when the cache has this recipe")
    _add_registry(p)
    _add_mirrors(p, data=False)


def _parse_plot(sub) -> None:
    p = sub.add_parser("plot", help="the throughput-versus-score bubble plot from result files")
    p.add_argument("--out", default="reports", metavar="DIR", help="where the figure goes (default: reports)")
    p.add_argument("--figure", default=None, metavar="CSV",
                   help="the published figure's points (default: harness/reference/figure.csv)")
    p.add_argument("--x-scale", choices=("linear", "log"), default="linear",
                   help="the speed axis: linear, as the published figure's (default), or log")
    _add_reading(p)


def _parse_compare(sub) -> None:
    p = sub.add_parser("compare", help="paired statistics of two models over the datasets both have, per source")
    p.add_argument("models", nargs=2, metavar="MODEL", help="two model names, A and B (differences are A - B)")
    _add_reading(p)


def _parse_run(sub) -> None:
    p = sub.add_parser("run", help="evaluate models on tasks or groups")
    p.add_argument("-m", "--models", nargs="+", required=True, metavar="MODEL", help="registry names")
    p.add_argument("-t", "--tasks", nargs="+", required=True, metavar="TASK", help="task or group names")
    p.add_argument("--results-dir", default="results", metavar="DIR", help="where result files go (default: results)")
    p.add_argument("--overwrite", action="store_true", help="recompute tasks whose results already exist")
    p.add_argument("--available-only", action="store_true",
                   help="silently leave out tasks without local data when offline")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (summary lines only)")
    p.add_argument("--shard", metavar="I/N", help="run only the I-th of N deterministic slices of the grid")
    p.add_argument("--plan", action="store_true",
                   help="print each pending cell's size, projected time, peak memory and cores, and the total; run nothing")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="worker processes on this machine (env HARNESS_JOBS; default: the usable cores, or this "
                        "process when the projected cells are shorter than the workers' start-up; 1: one cell after "
                        "another in this process)")
    p.add_argument("--probe-seeds", type=int, metavar="K",
                   help="ppdb/ppdb_filtered: retrain the probe with K further seeds for the seed spread "
                        "(env HARNESS_PROBE_SEEDS; default 0: the protocol's seed only; the main job uses 4)")
    _add_ray(p)
    _add_registry(p)
    _add_mirrors(p)


def _add_ray(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the (model, task) cells on Ray, a model's cells in units; ADDRESS 'auto': RAY_ADDRESS, "
                        "else the cluster of `ray start`; no ADDRESS: RAY_ADDRESS if set, else a local instance "
                        "for the run")
    p.add_argument("--ray-cpus-per-cell", type=float, default=1.0, metavar="N", help="CPUs per cell (default 1)")
    p.add_argument("--ray-cpus-per-transformer", type=float, default=4.0, metavar="N",
                   help="CPUs per transformer-model cell when the cluster has no GPU (default 4, at most a node's)")
    p.add_argument("--ray-gpus-per-transformer", type=float, default=1.0, metavar="N",
                   help="GPUs per transformer-model cell when the cluster has GPUs (default 1)")
    p.add_argument("--ray-retries", type=int, default=2, metavar="N", help="retries of a cell whose worker died")


def cmd_models(args) -> int:
    from harness.api import models

    registry = models(args.registry, args.model_dir)
    rows = [("name", "family", "params(M)", "loader", "id@revision", "offline", "tables")]
    for r in registry.itertuples():
        rows.append((r.name, r.family, f"{r.params_m:g}", r.loader, f"{r.id}@{_short(r.revision)}", r.offline or "-",
                     r.tables or "-"))
    _print_table(rows)
    print(f"\n{len(registry)} models; 'offline' says where a model loads from without the hub "
          "(mirror: --model-dir; package: installed PyPI package; cache: built or cached locally; "
          "teacher:…: distilled here from a teacher found there; -: needs the hub).")
    return EXIT_OK


def _short(revision: str) -> str:
    """A commit hash cut to 12 characters; any other revision (version, branch) as it is."""
    is_hash = len(revision) == 40 and all(c in "0123456789abcdef" for c in revision)
    return revision[:12] if is_hash else revision


def cmd_tasks(args) -> int:
    from harness.tasks import Catalogue

    catalogue = Catalogue()
    mirrors = Mirrors.from_options(data_dir=args.data_dir)
    print(f"data directory: {mirrors.data_dir or '(none: hub only)'}")
    table_groups = {t.spec.group for t in catalogue.tasks.values()}
    local = {n for n, t in catalogue.tasks.items() if t.missing_data(mirrors) is None}
    width = max(len(n) for n in catalogue.tasks) + 2
    for group, names in catalogue.groups.items():
        if group not in table_groups:
            continue
        print(f"\n{group} ({len(names)} tasks, {len(local & set(names))} with local data)")
        for name in names:
            task = catalogue.tasks[name]
            mark = "local" if name in local else "hub"
            print(f"  {name:<{width}} {task.spec.main_score:<20} {mark:<6} {task.spec.description}")
    print("\nGroups that select several tasks at once:")
    for group, names in catalogue.groups.items():
        if group not in table_groups:
            print(f"  {group:<{width}} {len(names)} tasks, {len(local & set(names))} with local data")
    return EXIT_OK


def cmd_verify(args) -> int:
    from harness.data import CHECKSUM_FILE, verify_mirror

    mirrors = Mirrors.from_options(data_dir=args.data_dir, model_dir=args.model_dir)
    if mirrors.data_dir is None:
        raise HarnessError("verify: no data directory (give --data-dir or set HARNESS_DATA_DIR)")
    failed = False
    for folder in (mirrors.data_dir, mirrors.model_dir if args.model_dir else None):
        if folder is None:
            continue
        checked, problems = verify_mirror(folder)
        for line in problems:
            print(f"  {line}")
        print(f"verify: {checked} files listed in {folder / CHECKSUM_FILE}: "
              + (f"{len(problems)} missing or altered" if problems else "all present and unchanged"))
        failed = failed or bool(problems)
    return EXIT_TASKS_FAILED if failed else EXIT_OK


def cmd_mirror(args) -> int:
    from pathlib import Path

    from harness import fetch
    from harness.mirror import is_offline
    from harness.registry import load_registry
    from harness.tasks import Catalogue

    if not args.models and not args.tasks:
        raise HarnessError("mirror: nothing to fetch; give -m MODEL... and/or -t TASK...")
    specs = load_registry(args.registry).select(args.models) if args.models else []
    tasks = Catalogue().select(args.tasks) if args.tasks else []
    if is_offline():
        raise HarnessError("mirror fetches from the network, which is switched off (HF_HUB_OFFLINE, "
                           "HARNESS_OFFLINE or --offline); run it on a connected machine")
    if args.no_progress:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    out = Path(args.out).expanduser().absolute()
    needs, notes = fetch.collect(specs, tasks, args.published)
    items = fetch.merge(needs)
    if not args.dry_run:
        fetch.check_writable(out)
    fetch.plan(items, out)
    lines, total = fetch.dry_run_lines(items) if args.dry_run else ([fetch.describe(i) for i in items], 0)
    print(f"mirror: {len(items)} folder(s) for {len(specs)} model(s) and {len(tasks)} task(s) -> {out}")
    for line in lines + notes:
        print(f"  {line}")
    if args.dry_run:
        pending = sum(item.state == "fetch" for item in items)
        print(f"dry run: {pending} folder(s) to fetch, {fetch.human(total)} known; nothing fetched")
        return EXIT_TASKS_FAILED if any(item.state == "failed" for item in items) else EXIT_OK
    failed = fetch.run_items(items, out, print)
    count = {state: sum(item.state == state for item in items) for state in ("fetched", "have", "failed")}
    print(f"mirror: {count['fetched']} fetched, {count['have']} already there, {count['failed']} failed"
          + ("; the mirror is complete, nothing was fetched" if count["have"] == len(items) else ""))
    for item in failed:
        print(f"  could not fetch {item.path}: {item.error}", file=sys.stderr)
    if failed:
        print("  rerun the same command to fetch what is missing (finished folders are kept)", file=sys.stderr)
        return EXIT_TASKS_FAILED
    print(f"next, on the machine without network: harness verify --data-dir {out / 'data'} --model-dir "
          f"{out / 'models'}; harness run --offline --data-dir {out / 'data'} --model-dir {out / 'models'} ...")
    return EXIT_OK


def cmd_run(args) -> int:
    from harness.registry import load_registry
    from harness.results import ResultStore
    from harness.runner import parse_shard

    specs = load_registry(args.registry).select(args.models)
    mirrors = Mirrors.from_options(args.data_dir, args.model_dir)
    shard = parse_shard(args.shard) if args.shard else None
    if args.plan:
        return _plan(args, specs, mirrors, shard)
    runner = _runner(args, ResultStore(args.results_dir), mirrors)
    try:
        runner.start(specs, warm=len(specs) * len(args.tasks))  # remote workers warm up meanwhile
        tasks = _tasks(args, mirrors)
        runner.store.check_writable()
        print(f"running {len(specs)} model(s) x {len(tasks)} task(s)"
              f"{f' (shard {shard[0]}/{shard[1]})' if shard else ''} {runner.where} -> {args.results_dir}"
              f" (data: {mirrors.data_dir or 'hub'}; models: {mirrors.model_dir or 'package/hub'})")
        _announce(runner, runner.pending(runner.grid(specs, tasks, shard)), getattr(runner, "jobs", 1))
        report = runner.run(specs, tasks, shard=shard)
    finally:
        runner.close()
    counts = {s: len(report.by_status(s)) for s in ("done", "skipped", "unavailable", "failed")}
    print("summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for cell in report.by_status("unavailable") + report.by_status("failed"):
        print(f"  {cell.status}: {cell.model} / {cell.task}: {cell.error}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_TASKS_FAILED


def _cost_model(results_dir: str):
    from harness.plan import CostModel, observations, speeds

    return CostModel(observations(results_dir), speeds=speeds(results_dir))


def _announce(runner, pending: list, jobs: int) -> None:
    """The projected total of a run in one line, and every cell projected over the available memory."""
    from harness.cores import usable_cores
    from harness.plan import duration, ordering, summary
    from harness.pool import available_memory_gb, here_is_faster

    if not pending:  # a resumed run with nothing left: nothing to project
        return
    model = _cost_model(runner.store.root)
    projections = model.project_all(pending)
    runner.estimate = ordering(projections)
    seconds = [p.seconds for p in projections.values()]
    cores = [p.cores for p in projections.values()]
    if getattr(runner, "default_jobs", False) and here_is_faster(seconds, jobs, cores, usable_cores()):
        runner.here, jobs = True, 1
        why = ("one cell, to which workers would only add their start-up" if len(seconds) == 1 else
               f"{len(seconds)} cell(s) projected at {duration(sum(seconds))}, no longer than the {runner.jobs} "
               "workers would take with their start-up")
        print(f"running in this process, one cell after another: {why} (--jobs N to use workers regardless)")
    memory = available_memory_gb()
    line, over = summary(list(projections.values()), jobs, memory, usable_cores())
    print(line)
    for p in over:
        _warn(f"warning: {p.model} / {p.task}: projected peak {p.peak_gb:.1f} GB, more than the "
              f"{memory:.1f} GB available; the run goes on (Ctrl-C to stop it)")


def _plan(args, specs, mirrors: Mirrors, shard) -> int:
    """`harness run --plan`: each pending cell's size, projected time and peak memory; the totals."""
    from harness.cores import usable_cores
    from harness.plan import duration, summary
    from harness.pool import available_memory_gb, choose_jobs
    from harness.results import ResultStore
    from harness.runner import Runner
    from harness.speed import hardware

    jobs = 1 if args.ray is not None else choose_jobs(args.jobs)
    runner = Runner(ResultStore(args.results_dir), mirrors, overwrite=args.overwrite, progress=False)
    cells = runner.grid(specs, _tasks(args, mirrors), shard)
    pending = runner.pending(cells)
    model = _cost_model(args.results_dir)
    projections = list(model.project_all(pending).values())
    print(f"plan: {len(pending)} of {len(cells)} cells pending; cost model from {len(model.seen)} cells measured in "
          f"{args.results_dir} and {len(model.calibrated)} by the benchmarks on {model.hardware()}; this machine: "
          f"{hardware()['cpu']}, {os.cpu_count()} cores")
    rows = [("model", "task", "texts", "characters", "time", "peak", "cores", "basis")]
    for p in projections:
        rows.append((p.model, p.task, f"{p.size.texts:,}" if p.size else "?", f"{p.size.chars:,}" if p.size else "?",
                     duration(p.seconds) if p.seconds is not None else "?", f"{p.peak_gb:.1f} GB" if p.peak_gb else "?",
                     f"{p.cores:.1f}", p.basis))
    _print_table(rows)
    memory = available_memory_gb()
    line, over = summary(projections, jobs, memory, usable_cores())
    print(line)
    for p in over:
        print(f"warning: {p.model} / {p.task}: projected peak {p.peak_gb:.1f} GB, more than the {memory:.1f} GB "
              "available")
    return EXIT_OK


def _runner(args, store, mirrors: Mirrors):
    """The runner the options ask for: here, or on Ray."""
    common = dict(overwrite=args.overwrite, progress=not args.no_progress, echo=print)
    if args.ray is None:
        from harness.api import local_runner
        from harness.pool import choose_jobs

        asked = args.jobs is not None or bool(os.environ.get("HARNESS_JOBS"))
        return local_runner(store, mirrors, choose_jobs(args.jobs), default_jobs=not asked, **common)
    if args.jobs is not None:
        raise HarnessError("--jobs and --ray: choose one (Ray decides its own workers)")
    from harness.distributed import RayRunner

    return RayRunner(store, mirrors, address=args.ray or None, cpus_per_cell=args.ray_cpus_per_cell,
                     cpus_per_transformer=args.ray_cpus_per_transformer,
                     gpus_per_transformer=args.ray_gpus_per_transformer, retries=args.ray_retries, **common)


def _tasks(args, mirrors: Mirrors) -> list:
    from harness.tasks import Catalogue

    tasks = Catalogue().select(args.tasks)
    if args.available_only:
        tasks = [t for t in tasks if t.missing_data(mirrors) is None]
        if not tasks:
            raise HarnessError(f"none of the selected tasks has local data in {mirrors.data_dir}")
    return tasks


def _context(args):
    """The report's context (computed and published results, read once) for `report`, `plot` and `compare`."""
    from harness.api import context

    return context(args.results_dir, args.published, args.data_dir, args.registry)


def cmd_report(args) -> int:
    from harness.reporting import write_report

    report = write_report(_context(args), args.out)
    print(f"report: {len(report.models)} models -> " + ", ".join(str(p) for p in report.files))
    for problem in report.problems:
        print(f"  unreadable: {problem}", file=sys.stderr)
    return EXIT_TASKS_FAILED if report.problems else EXIT_OK


def cmd_import(args) -> int:
    from harness.importer import import_results
    from harness.registry import load_registry
    from harness.summary import task_keys
    from harness.tasks import Catalogue

    registry = load_registry(args.registry)
    revisions = {spec.id: spec.revision for spec in registry}
    report = import_results(args.path, args.into, task_keys(Catalogue()), args.overwrite, revisions.get)
    names = {spec.id: spec.name for spec in registry}
    unknown = [m for m in report.models if m not in names]
    print(f"import: {len(report.imported)} files imported into {args.into}, {len(report.skipped_existing)} already "
          f"there; models: {', '.join(names.get(m, m) for m in report.models) or '-'}")
    if unknown:
        print(f"  not in the registry (listed in the report, no main-table row): {', '.join(unknown)}")
    for note in report.reading.notes:
        print(f"  left out: {note}")
    for problem in report.reading.problems:
        print(f"  unreadable: {problem}", file=sys.stderr)
    return EXIT_TASKS_FAILED if report.reading.problems else EXIT_OK


def cmd_speed(args) -> int:
    from harness.registry import load_registry
    from harness.results import ResultStore
    from harness.runner import each_model
    from harness.speed import MIN_REPEATS, load_corpus, measure_model

    if args.repeats < MIN_REPEATS:  # before any model loads
        raise HarnessError(f"--repeats {args.repeats}: at least {MIN_REPEATS} timed repetitions are needed")
    specs = load_registry(args.registry).select(args.models)
    mirrors = Mirrors.from_options(args.data_dir, args.model_dir)
    corpus = load_corpus(args.corpus, mirrors, args.size)
    store = ResultStore(args.results_dir)
    store.check_writable()

    def measured(spec) -> str | None:
        recorded = not args.overwrite and store.throughput(spec.id, spec.revision) is not None
        return "speed already measured (--overwrite to measure again)" if recorded else None

    failed = each_model(specs, measured,
                        lambda spec: measure_model(spec, store, mirrors, corpus, args.repeats, not args.no_progress),
                        print, _warn)
    return EXIT_TASKS_FAILED if failed else EXIT_OK


def cmd_distill(args) -> int:
    from harness.distill import build, cached_build
    from harness.registry import load_registry
    from harness.runner import each_model

    specs = load_registry(args.registry).select(args.models)
    not_distilled = [s.name for s in specs if s.loader != "distilled"]
    if not_distilled:
        raise HarnessError(f"not distilled models (loader is not 'distilled'): {', '.join(not_distilled)}")
    mirrors = Mirrors.from_options(model_dir=args.model_dir)

    def cached(spec) -> str | None:
        folder = None if args.force else cached_build(spec)
        return f"cached in {folder} (--force to rebuild)" if folder else None

    failed = each_model(specs, cached, lambda spec: f"built -> {build(spec, mirrors, force=args.force)}", print, _warn)
    return EXIT_TASKS_FAILED if failed else EXIT_OK


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_plot(args) -> int:
    from harness.plot import FIGURE, plot_data, render

    data = plot_data(_context(args), args.figure or FIGURE, args.x_scale)
    files = render(data, args.out)
    print(f"plot: {sum(len(p.points) for p in data.panels)} points in {len(data.panels)} panel(s) -> "
          + ", ".join(str(f) for f in files))
    for model, why in data.left_out.items():
        print(f"  left out: {model}: {why}")
    return EXIT_OK


def cmd_compare(args) -> int:
    from harness.api import compare
    from harness.stats import METHOD, fmt, fmt_interval, fmt_p

    a, b = args.models
    frame = compare(a, b, ctx=_context(args))
    print(f"{a} vs {b}: paired over the datasets both have within one source; A - B, scores x100")
    rows = [("source", "n", "mean A-B", "95% CI", "p (Wilcoxon)", "datasets")]
    for r in frame.itertuples():
        if not r.read:
            rows.append((r.source, "0", "N/A", "N/A", "N/A", r.note))
            continue
        used = ", ".join(f"{g} {n}" for g, n in r.groups.items())
        used = (f"{used} ({r.note})" if r.note else used) if r.n else r.note
        rows.append((r.source, str(r.n), fmt(r.mean), fmt_interval(r.low, r.high), fmt_p(r.p_value), used))
    _print_table(rows)
    print(METHOD)
    if not frame["n"].any():
        print(f"compare: no source has a dataset scored for both {a} and {b}", file=sys.stderr)
        return EXIT_TASKS_FAILED
    return EXIT_OK


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


COMMANDS = {"models": cmd_models, "tasks": cmd_tasks, "verify": cmd_verify, "mirror": cmd_mirror, "run": cmd_run, "report": cmd_report, "import": cmd_import,
            "speed": cmd_speed, "plot": cmd_plot, "distill": cmd_distill, "compare": cmd_compare}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries(args.verbose)
    try:
        # the command's switches (offline, probe seeds), put back when it returns (main called from Python)
        with environment(**run_switches(getattr(args, "offline", False), getattr(args, "probe_seeds", None))):
            return COMMANDS[args.command](args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return EXIT_OK
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("harness: interrupted; finished tasks are saved, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
