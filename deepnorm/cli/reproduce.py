"""``deepnorm reproduce`` (also ``make reproduce``): run every notebook with papermill, then write REPORT.md.

    deepnorm reproduce [--profile cpu|smoke|paper] [--scale WxE] [--data-root DIR] [--seed N] [--seeds N]
                       [--jobs N] [--device auto|cpu|cuda] [--only NAME ...] [--no-report]

``--scale WxE`` trains every network at U-Net widths x W and epochs x E of the profile (a point of
the scale study, notebook 08_scale, whose runs it shares): its tables go to ``results/scale-WxE/``,
its figures to ``figures/scale-WxE/`` and its report to ``results/scale-WxE/REPORT.md``, so the
profile's own results stay as they are.

One line per notebook; on a terminal it shows, while the notebook runs, its elapsed time and the
training in progress (method, sites, epoch, time left), then how long it took.

``--jobs N`` runs N seeds at once, each in its own process with its share of the CPU threads
(``OMP_NUM_THREADS`` = max(1, cores // N) unless set): small networks use two threads poorly, so two
seeds side by side on 2 cores finish sooner than one after the other (measured:
``docs/timings.md``, "Whole reproductions"). A process keeps its threads to the end, so give as many jobs as seeds (``--seeds 3
--jobs 3`` on 2 cores: one thread each, both cores busy to the end; with ``--jobs 2`` the third
seed would run alone on one thread). Each seed's lines then carry its seed; the live progress
line is off.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from deepnorm.devices import DEVICES
from deepnorm.errors import DataError, DeepnormError
from deepnorm.files import atomic_write_text
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
    replaces_committed_results,
    shown_path,
    tables_written_since,
)
from deepnorm.study.seed_jobs import plan_seed_jobs, processor, run_seed_jobs, threads_per_job
from deepnorm.study.seeds import aggregate_partial, aggregate_results
from deepnorm.training.config import PROFILES
from deepnorm.training.config import profile as load_profile


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``deepnorm reproduce``."""
    parser.add_argument("--profile", default="cpu", choices=PROFILES,
                        help="cpu (default: every table on the phantom; docs/timings.md says what a seed costs), "
                        "smoke (seconds, for tests) or paper (the paper's settings: real data and a GPU)")
    parser.add_argument("--scale", default="", metavar="WxE",
                        help="train at U-Net widths x W and epochs x E of the profile, a point of the scale study "
                        "(e.g. 2x1, the point its rule picks; W in 1, 2, 4 and E in 1, 3, 9): tables, figures and report "
                        "go to results/scale-WxE/ and figures/scale-WxE/ (default: the profile's own scale)")
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


def notebooks_to_run(args: argparse.Namespace) -> list[str]:
    """The notebooks the options name, after checking every option; DeepnormError on a wrong one."""
    known = list(NOTEBOOKS) + list(BEYOND_NOTEBOOKS) + list(SCALE_NOTEBOOKS)
    names = list(args.only) if args.only else list(BEYOND_NOTEBOOKS if args.beyond else NOTEBOOKS)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise DeepnormError(f"unknown notebook(s) {unknown}; choose from {known}")
    if args.points is not None and names != list(SCALE_NOTEBOOKS):
        raise DeepnormError(f"--points {args.points}: the points of the scale study, so pass --only {SCALE_NOTEBOOKS[0]}")
    if args.points is not None:
        from deepnorm.study.scale import parse_points

        parse_points(args.points)  # a wrong point fails here, before any notebook starts
    if scale_of(args) != (1, 1) and set(names) & set(SCALE_NOTEBOOKS):
        raise DeepnormError(f"--scale {args.scale}: the scale study ({SCALE_NOTEBOOKS[0]}) chooses its own scales "
                            "(--points); run it without --scale")
    if args.seeds < 1:
        raise DeepnormError(f"--seeds {args.seeds}: give a number of seeds >= 1")
    if args.jobs < 1:
        raise DeepnormError(f"--jobs {args.jobs}: give a number of processes >= 1 (2 runs two seeds at once)")
    return names


def scale_of(args: argparse.Namespace) -> tuple[int, int]:
    """(width factor, epoch factor) of ``--scale``; (1, 1) without it. DeepnormError on a wrong one."""
    from deepnorm.study.scale import parse_scale

    return parse_scale(getattr(args, "scale", "") or "")


def scale_folder(args: argparse.Namespace) -> str:
    """The sub-folder of results/ and figures/ of a reproduction at ``--scale`` ("" at the profile's own)."""
    from deepnorm.study.scale import scale_name

    scale = scale_of(args)
    return "" if scale == (1, 1) else f"scale-{scale_name(*scale)}"


def reproduction_meta(args: argparse.Namespace, *, data_root: str, root: Path, seeds: list[int], jobs: int,
                      started: float, total: float, seconds: dict[str, float], results: Path,
                      figures: Path | None = None) -> dict[str, Any]:
    """What reproduce.json records of a reproduction (and REPORT.md's "This reproduction" shows)."""
    from deepnorm.data.phantom.build import PHANTOM_VERSION
    from deepnorm.study.report import STUDY_VERSION
    from deepnorm.study.scale import scaled

    return {
        "profile": args.profile,
        "data": (f"embedded phantom version {PHANTOM_VERSION} ({shown_path(data_root, root)})" if args.data_root is None
                 else shown_path(data_root, root)),
        "seed": args.seed,
        "seeds": seeds,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "device": args.device,
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        **processor(jobs),
        "precision": scaled(load_profile(args.profile, **({"train.precision": args.precision} if args.precision else {})),
                            *scale_of(args), precision=args.precision).train.precision,
        "total wall time (s)": round(total),
        "study version": STUDY_VERSION,
        **({"scale": scale_folder(args).removeprefix("scale-"), "figures": shown_path(figures, root)}
           if scale_folder(args) and figures is not None else {}),
        **({"jobs": f"{jobs} seeds at once, {threads_per_job(jobs)} thread(s) each"}
           if jobs > 1 else {}),
        "notebook_seconds": {k: round(v, 1) for k, v in seconds.items()},
        # the tables this run wrote itself: the report marks any other table it finds (study/report.py)
        "written": {"tables": tables_written_since(results, seeds, started)},
    }


def main(args: argparse.Namespace) -> int:
    """Run the notebooks and write REPORT.md; returns the exit code."""
    from deepnorm.data.roots import resolve_data_root

    names = notebooks_to_run(args)
    partial = bool(args.only) or args.beyond
    root = project_root()
    sub = scale_folder(args)
    results = (args.results_dir or results_dir() / sub).resolve()
    figures = (args.figures_dir or figures_dir() / sub).resolve()
    runs = (args.runs_dir or runs_dir()).resolve()

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
    seed_jobs = plan_seed_jobs(names, seeds, profile=args.profile, data_root=data_root, device=args.device,
                               precision=args.precision, results=results, figures=figures, runs=runs,
                               notebooks_dir=notebooks_dir,
                               extra={"points": args.points} if args.points is not None else None,
                               scale=args.scale if sub else "")
    total_start = time.perf_counter()
    outcomes = run_seed_jobs(seed_jobs, jobs)
    seconds: dict[str, float] = {}
    for outcome in outcomes:
        seconds.update(outcome.seconds)
    if any(o.failed for o in outcomes):
        return 1
    total = time.perf_counter() - total_start
    if partial:  # only the tables this run wrote, never the mean over seeds of one it did not rerun
        try:
            for note in aggregate_partial(results, seeds, tables_written_since(results, seeds, started)):
                print(f"[seeds] {note}", flush=True)
        except DataError as err:
            print(f"[seeds] tables not aggregated ({err})", flush=True)
    else:
        aggregate_results(results, seeds)

    meta = reproduction_meta(args, data_root=data_root, root=root, seeds=seeds, jobs=jobs, started=started,
                             total=total, seconds=seconds, results=results, figures=figures)
    # the report's header describes the paper's reproduction: a partial or beyond-the-paper run keeps it
    meta_name = "reproduce_beyond.json" if args.beyond else ("reproduce.json" if not partial else None)
    if meta_name:
        atomic_write_text(results / meta_name, json.dumps(meta, indent=2) + "\n")
    if not args.no_report:
        from deepnorm.study.report import write_report

        report = args.report or (results / "REPORT.md" if sub else root / "REPORT.md")
        path = write_report(report, results, meta=None if partial else meta)
        print(f"[report] {path}")
    print(f"all notebooks done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from deepnorm.cli import main as cli_main

    sys.exit(cli_main(["reproduce", *sys.argv[1:]]))
