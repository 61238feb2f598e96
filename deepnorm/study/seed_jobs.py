"""Running the notebooks of one or several seeds: one seed after another, or several at once.

A :class:`SeedJob` is one seed's notebooks with the parameters each of them gets; :func:`run_seed_jobs`
runs them in order (stopping at the first failure) or, with ``jobs`` > 1, in that many processes,
each with its share of the CPU threads (``OMP_NUM_THREADS`` = max(1, cores // jobs) unless set).
Used by ``deepnorm reproduce`` (:mod:`deepnorm.cli.reproduce`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnorm.devices import cpu_description
from deepnorm.study.reproduce import (
    ProgressLine,
    minutes,
    notebook_parameters,
    run_notebook,
    scratch_dir,
)
from deepnorm.study.seeds import seed_folder


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


def threads_per_job(jobs: int) -> str:
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
    threads = os.environ["OMP_NUM_THREADS"] = threads_per_job(jobs)
    try:
        print(f"[jobs] {len(seed_jobs)} seeds, {jobs} at once, {threads} thread{'' if threads == '1' else 's'} each",
              flush=True)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_run_seed_quietly, seed_jobs))
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)


def processor(jobs: int) -> dict[str, str | int]:
    """The processor and PyTorch's kernel choice on it (:func:`cpu_description`), with the threads of
    each notebook process: a trained number is bit-identical only where all of these agree."""
    described = cpu_description()
    if jobs > 1:
        described["threads"] = int(threads_per_job(jobs))
    return described


def plan_seed_jobs(names: Sequence[str], seeds: Sequence[int], *, profile: str, data_root: str, device: str,
                   precision: str, results: Path, figures: Path, runs: Path, notebooks_dir: Path,
                   extra: dict[str, Any] | None = None, scale: str = "") -> list[SeedJob]:
    """One :class:`SeedJob` per seed: its tables in ``results/seed-S``, the first seed's figures in
    `figures` (the others' in the scratch folder), every notebook given the same parameters plus `extra`."""
    jobs = []
    for n_seed, seed in enumerate(seeds):
        seed_results = seed_folder(results, seed)
        seed_figures = figures if n_seed == 0 else scratch_dir("figures") / f"seed-{seed}"
        params = notebook_parameters(profile=profile, data_root=data_root, seed=seed, device=device,
                                     results=seed_results, figures=seed_figures, runs=runs, precision=precision,
                                     scale=scale)
        params.update(extra or {})
        label = f" (seed {seed}, {n_seed + 1}/{len(seeds)})" if len(seeds) > 1 else ""
        jobs.append(SeedJob(seed, label, len(seeds) > 1, tuple(names), params, notebooks_dir, seed_results, runs))
    return jobs


def run_seed_jobs(seed_jobs: list[SeedJob], jobs: int) -> list[SeedOutcome]:
    """Run `seed_jobs`: one after the other with a live line (stopping at the first failure) when
    `jobs` is 1, else in `jobs` processes (every seed runs; the failed ones are named on stderr)."""
    if jobs > 1:
        outcomes = _run_parallel(seed_jobs, jobs)
        failed = [o for o in outcomes if o.failed]
        if failed:
            print("failed: " + ", ".join(f"{o.failed} (seed {o.seed})" for o in failed), file=sys.stderr)
        return outcomes
    outcomes = []
    for job in seed_jobs:
        outcomes.append(run_seed(job, live=True))
        if outcomes[-1].failed:
            break
    return outcomes
