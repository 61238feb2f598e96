"""``deepnorm reproduce`` (also ``make reproduce``): run every notebook with papermill, then write REPORT.md.

    deepnorm reproduce [--profile cpu|smoke|paper] [--data-root DIR] [--seed N] [--seeds N]
                       [--jobs N] [--device auto|cpu|cuda] [--only NAME ...] [--no-report]

One line per notebook; on a terminal it shows, while the notebook runs, its elapsed time and the
training in progress (method, sites, epoch, time left), then how long it took.

``--jobs N`` runs N seeds at once, each in its own process with its share of the CPU threads
(``OMP_NUM_THREADS`` = max(1, cores // N) unless set): small networks use two threads poorly, so two
seeds side by side on 2 cores finish sooner than one after the other. Measured on the ``cpu``
profile (phantom version 2, notebooks 00 to 05): 44 min for one seed alone on 2 threads, 67 min
for each of two seeds side by side on 1 thread each, i.e. two seeds in 0.75x the time of two in
a row. A process keeps its threads to the end, so give as many jobs as seeds (``--seeds 3
--jobs 3`` on 2 cores: one thread each, both cores busy to the end; with ``--jobs 2`` the third
seed would run alone on one thread). Each seed's lines then carry its seed; the live progress
line is off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnorm.devices import DEVICES, cpu_description
from deepnorm.errors import DataError, DeepnormError
from deepnorm.paths import (
    figures_dir,
    project_root,
    results_dir,
    runs_dir,
    source_checkout,
)
from deepnorm.precision import PRECISIONS
from deepnorm.study.reproduce import (
    BEYOND_NOTEBOOKS,
    NOTEBOOKS,
    SCALE_NOTEBOOKS,
    ProgressLine,
    minutes,
    notebook_parameters,
    replaces_committed_results,
    run_notebook,
    scratch_dir,
    shown_path,
    tables_written_since,
)
from deepnorm.study.seeds import aggregate_results, seed_folder
from deepnorm.training.config import PROFILES
from deepnorm.training.config import profile as load_profile


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``deepnorm reproduce``."""
    parser.add_argument("--profile", default="cpu", choices=PROFILES,
                        help="cpu (default: every table on the phantom, about 70 min a seed on 2 cores), "
                        "smoke (seconds, for tests) or paper (the paper's settings: real data and a GPU)")
    parser.add_argument("--data-root", default=None, help="real data root (default: the embedded phantom)")
    parser.add_argument("--precision", default="", choices=("", *PRECISIONS),
                        help="arithmetic of every training: float32, bf16 or auto (bf16 where the processor's bf16 "
                        "units pay, deepnorm.precision); default: the profile's (float32)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the first training seed, and the seed of the phantom (default 0)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="train and evaluate everything with N seeds (seed, seed+1, ...): each seed's tables go "
                        "to RESULTS/seed-S/, their mean ± sd to RESULTS/, and the claims are judged on the seed "
                        "means against the seed spread (default 1; each seed costs a whole reproduction)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run N seeds at once, each in its own process with max(1, cores // N) threads (default 1); "
                        "best with N = --seeds: two seeds side by side on 2 cores took 0.75x the time of two in a row")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="run only these notebooks")
    parser.add_argument("--beyond", action="store_true",
                        help="run the experiments beyond the paper (notebook 07_beyond_unseen_site: classical normalizers, "
                        "contrast randomisation, an unseen site) instead of the paper's tables; best after a full "
                        "reproduction with the same seeds, whose runs it reuses")
    parser.add_argument("--points", default=None, metavar="WxE,...",
                        help="with --only 08_scale: the scale study's points, U-Net width and epoch factors of the "
                        "profile (e.g. 1x1,2x3; default: the notebook's grid)")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--figures-dir", type=Path, default=None)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="where to write the report (default REPORT.md)")
    parser.add_argument("--no-report", action="store_true")


@dataclass(frozen=True)
class SeedJob:
    """One seed's notebooks, with the parameters every notebook of that seed gets."""

    seed: int
    label: str  # " (seed S, k/N)" after each notebook's name, or "" for one seed
    several: bool  # whether the timings are keyed by seed
    names: tuple[str, ...]
    parameters: dict[str, Any]
    notebooks_dir: Path
    results: Path  # RESULTS/seed-S: the executed notebooks go to its notebooks/ folder
    runs: Path


@dataclass(frozen=True)
class SeedOutcome:
    """Seconds per notebook (keyed as in reproduce.json) and the notebook that failed, if any."""

    seed: int
    seconds: dict[str, float]
    failed: str | None = None


def run_seed(job: SeedJob, *, live: bool) -> SeedOutcome:
    """Run `job`'s notebooks in order, one line each; stops at the first that fails (its error on stderr).

    `live`: a progress line on a terminal (one process at a time); otherwise a start and an end line.
    """
    seconds: dict[str, float] = {}
    for i, name in enumerate(job.names, 1):
        prefix = f"[{i}/{len(job.names)}] {name}{job.label}"
        executed = job.results / "notebooks" / f"{name}.ipynb"
        try:
            if live:
                with ProgressLine(prefix, job.runs, stream=sys.stdout):
                    took = run_notebook(name, job.parameters, notebooks_dir=job.notebooks_dir, out_dir=executed.parent)
            else:
                print(f"{prefix} ...", flush=True)
                took = run_notebook(name, job.parameters, notebooks_dir=job.notebooks_dir, out_dir=executed.parent)
        except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
            print(f"{prefix} FAILED", flush=True)
            print(f"{name} failed; the executed notebook with the error is {executed}\n{err}", file=sys.stderr, flush=True)
            return SeedOutcome(job.seed, seconds, name)
        seconds[f"{name} (seed {job.seed})" if job.several else name] = took
        print(f"{prefix} done in {minutes(took)}", flush=True)
    return SeedOutcome(job.seed, seconds)


def _run_seed_quietly(job: SeedJob) -> SeedOutcome:
    return run_seed(job, live=False)


def _threads(jobs: int) -> str:
    """CPU threads per process when `jobs` processes share this machine's cores: the caller's
    ``OMP_NUM_THREADS`` when set, else max(1, cores // jobs)."""
    return os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // jobs))


def _run_parallel(seed_jobs: list[SeedJob], jobs: int) -> list[SeedOutcome]:
    """`seed_jobs` in `jobs` processes (spawned, so no state is shared), in seed order.

    Each process and its notebook kernels get ``OMP_NUM_THREADS`` = max(1, cores // jobs), unless the
    caller set it; the environment is restored afterwards.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    saved = os.environ.get("OMP_NUM_THREADS")
    threads = os.environ["OMP_NUM_THREADS"] = _threads(jobs)
    try:
        print(f"[jobs] {len(seed_jobs)} seeds, {jobs} at once, {threads} thread{'' if threads == '1' else 's'} each",
              flush=True)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_run_seed_quietly, seed_jobs))
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)


def _processor(jobs: int) -> dict[str, str | int]:
    """The processor and PyTorch's kernel choice on it (:func:`cpu_description`), with the threads of
    each notebook process: a trained number is bit-identical only where all of these agree."""
    described = cpu_description()
    if jobs > 1:
        described["threads"] = int(_threads(jobs))
    return described


def main(args: argparse.Namespace) -> int:
    """Run the notebooks and write REPORT.md; returns the exit code."""

    root = project_root()
    results = (args.results_dir or results_dir()).resolve()
    figures = (args.figures_dir or figures_dir()).resolve()
    runs = (args.runs_dir or runs_dir()).resolve()
    known = list(NOTEBOOKS) + list(BEYOND_NOTEBOOKS) + list(SCALE_NOTEBOOKS)
    names = list(args.only) if args.only else list(BEYOND_NOTEBOOKS if args.beyond else NOTEBOOKS)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise DeepnormError(f"unknown notebook(s) {unknown}; choose from {known}")
    partial = bool(args.only) or args.beyond
    if args.points is not None and names != list(SCALE_NOTEBOOKS):
        raise DeepnormError(f"--points {args.points}: the points of the scale study, so pass --only {SCALE_NOTEBOOKS[0]}")
    if args.points is not None:
        from deepnorm.study.scale import parse_points

        parse_points(args.points)  # a wrong point fails here, before any notebook starts
    if args.seeds < 1:
        raise DeepnormError(f"--seeds {args.seeds}: give a number of seeds >= 1")
    if args.jobs < 1:
        raise DeepnormError(f"--jobs {args.jobs}: give a number of processes >= 1 (2 runs two seeds at once)")

    from deepnorm.data.roots import resolve_data_root

    start = time.perf_counter()
    data_root = str(resolve_data_root(args.data_root, profile=args.profile, seed=args.seed))
    if args.data_root is None:
        print(f"[data] phantom ready at {data_root} ({time.perf_counter() - start:.0f} s)", flush=True)

    seeds = [args.seed + k for k in range(args.seeds)]
    jobs = min(args.jobs, len(seeds))
    if replaces_committed_results(results, root):
        print(f"[note] this reproduction rewrites the committed results/, figures/ and REPORT.md of {root} "
              "(git keeps the old ones: `git diff` shows what moved, `git checkout -- results figures REPORT.md` "
              "brings them back)", flush=True)
    started = time.time()
    notebooks_dir = (source_checkout() or root) / "notebooks"
    seed_jobs = []
    for n_seed, seed in enumerate(seeds):
        seed_results = seed_folder(results, seed)
        # the committed figures come from the first seed; the others draw into the scratch folder
        seed_figures = figures if n_seed == 0 else scratch_dir("figures") / f"seed-{seed}"
        params = notebook_parameters(profile=args.profile, data_root=data_root, seed=seed, device=args.device,
                                     results=seed_results, figures=seed_figures, runs=runs, precision=args.precision)
        if args.points is not None:
            params["points"] = args.points
        label = f" (seed {seed}, {n_seed + 1}/{len(seeds)})" if len(seeds) > 1 else ""
        seed_jobs.append(SeedJob(seed, label, len(seeds) > 1, tuple(names), params, notebooks_dir, seed_results, runs))
    seconds: dict[str, float] = {}
    total_start = time.perf_counter()
    if jobs > 1:
        outcomes = _run_parallel(seed_jobs, jobs)
    else:
        outcomes = []
        for job in seed_jobs:  # one after the other, stopping at the first failure
            outcomes.append(run_seed(job, live=True))
            if outcomes[-1].failed:
                break
    for outcome in outcomes:
        seconds.update(outcome.seconds)
    failed = [o for o in outcomes if o.failed]
    if failed:
        if jobs > 1:  # the other seeds ran on: say which ones failed
            print("failed: " + ", ".join(f"{o.failed} (seed {o.seed})" for o in failed), file=sys.stderr)
        return 1
    total = time.perf_counter() - total_start
    try:
        aggregate_results(results, seeds)
    except DataError as err:
        if not partial:
            raise
        print(f"[seeds] tables not aggregated ({err})", flush=True)

    from deepnorm.data.phantom.build import PHANTOM_VERSION
    from deepnorm.study.report import STUDY_VERSION

    meta: dict[str, Any] = {
        "profile": args.profile,
        "data": (f"embedded phantom version {PHANTOM_VERSION} ({shown_path(data_root, root)})" if args.data_root is None
                 else shown_path(data_root, root)),
        "seed": args.seed,
        "seeds": seeds,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "device": args.device,
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        **_processor(jobs),
        "precision": load_profile(args.profile, **({"train.precision": args.precision} if args.precision else {})
                                  ).train.precision,
        "total wall time (s)": round(total),
        "study version": STUDY_VERSION,
        **({"jobs": f"{jobs} seeds at once, {_threads(jobs)} thread(s) each"}
           if jobs > 1 else {}),
        "notebook_seconds": {k: round(v, 1) for k, v in seconds.items()},
        # the tables this run wrote itself: the report marks any other table it finds (study/report.py)
        "written": {"tables": tables_written_since(results, seeds, started)},
    }
    # the report's header describes the paper's reproduction: a partial or beyond-the-paper run keeps it
    meta_name = "reproduce_beyond.json" if args.beyond else ("reproduce.json" if not partial else None)
    if meta_name:
        (results / meta_name).parent.mkdir(parents=True, exist_ok=True)
        (results / meta_name).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if not args.no_report:
        from deepnorm.study.report import write_report

        path = write_report(args.report or root / "REPORT.md", results, meta=None if partial else meta)
        print(f"[report] {path}")
    print(f"all notebooks done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from deepnorm.cli import main as cli_main

    sys.exit(cli_main(["reproduce", *sys.argv[1:]]))
