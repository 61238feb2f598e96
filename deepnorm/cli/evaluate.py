"""``deepnorm evaluate RUN``: evaluate a finished run on its test subjects (its own seed and splits).

Where the results go: ``--out``, else ``RUN/eval/test`` for the run's own sites and
``RUN/eval/test-<site>[+<site>...]`` for other sites (so ``deepnorm runs list`` shows only the
run's own test Dice). ``--force`` replaces only an evaluation folder deepnorm wrote
(:mod:`deepnorm.markers`), and never the run folder, the data root, or a folder holding them.
Leftover ``.partial`` folders of an evaluation that was killed are removed on the next run.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from deepnorm.cli._paths import writable_folder
from deepnorm.errors import ConfigError, RunError
from deepnorm.evaluation.evaluate import evaluate_run
from deepnorm.training.folder import evaluation_folder, read_config


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm evaluate``."""
    parser.add_argument("run", type=Path, help="a finished training run folder (runs/<hash> or an alias)")
    parser.add_argument("--data-root", type=Path, default=None, help="data root (default: the run's own)")
    parser.add_argument("--sites", default=None, help="comma-separated sites to test on (default: the run's own)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: RUN/eval/test for the run's own sites, "
                             "RUN/eval/test-SITE+SITE for others)")
    parser.add_argument("--no-images", action="store_true", help="do not write the normalized test images")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the networks run (default: auto, a GPU when there is one)")
    parser.add_argument("--force", action="store_true",
                        help="evaluate again over existing results (only an evaluation folder deepnorm wrote "
                             "is replaced)")


def parse_sites(text: str | None) -> list[str] | None:
    """The sites of ``--sites`` (None for the run's own); ConfigError for an empty or repeated site."""
    if text is None:
        return None
    sites = [s.strip() for s in text.split(",")]
    if not all(sites):
        raise ConfigError(f"--sites {text!r}: an empty site name; give comma-separated sites, e.g. --sites iseg,mrbrains")
    repeated = sorted({s for s in sites if sites.count(s) > 1})
    if repeated:
        raise ConfigError(f"--sites {text!r}: {', '.join(repeated)} is given twice; name each site once")
    return sites


def _run_sites(run: Path) -> list[str] | None:
    """The run's own sites from its config.yaml (None when it cannot be read: load_run reports it)."""
    from deepnorm.errors import DeepnormError

    try:
        return list(read_config(run).data.sites)
    except (DeepnormError, OSError, ValueError):
        return None


def default_out(run: Path, sites: list[str] | None) -> Path:
    """``RUN/eval/test`` for the run's own sites (or None), ``RUN/eval/test-A+B`` for others."""
    own = _run_sites(run)
    return evaluation_folder(run, None if sites is None or own is None or set(sites) == set(own) else sites)


@contextlib.contextmanager
def evaluation_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder that will hold `out`, and remove the leftovers
    (``.<name>.partial-*``, ``.<name>.old-*``) of evaluations of `out` that were killed."""
    parent = out.parent
    if not parent.is_dir():  # nothing was left there; evaluate_run checks the run before making it
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"another evaluation is writing into {parent}; wait for it to finish") from None
        for kind in ("partial", "old"):
            for stale in parent.glob(f".{out.name}.{kind}-*"):
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm evaluate``; prints the per-site summary and the output folder (last line)."""
    from deepnorm.files import read_table

    sites = parse_sites(args.sites)
    run = Path(args.run).expanduser()
    if args.out is not None:
        writable_folder(args.out, "--out")
    out = Path(args.out).expanduser() if args.out is not None else default_out(run, sites)
    print(f"deepnorm evaluate: {args.run} -> {out}", file=sys.stderr, flush=True)
    with evaluation_lock(out):
        out = evaluate_run(args.run, data_root=args.data_root, sites=sites, out=out,
                           save_images=not args.no_images, progress=sys.stderr.isatty(),
                           device=args.device, force=args.force)
    for row in read_table("summary", out):
        print(f"{row['site']:>10}: n={int(row['n'])}  Dice {row['dice_mean']:.3f} ± {row['dice_mean_std']:.3f}  "
              f"MHD {row['mhd_mean']:.2f} mm")
    print(out)
    return 0
