"""``deepnorm evaluate RUN``: evaluate a finished run on its test subjects (its own seed and splits)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deepnorm.cli._paths import writable_folder
from deepnorm.evaluation.evaluate import evaluate_run


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm evaluate``."""
    parser.add_argument("run", type=Path, help="a finished training run folder (runs/<hash> or an alias)")
    parser.add_argument("--data-root", type=Path, default=None, help="data root (default: the run's own)")
    parser.add_argument("--sites", default=None, help="comma-separated sites to test on (default: the run's own)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/eval/test)")
    parser.add_argument("--no-images", action="store_true", help="do not write the normalized test images")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the networks run (default: auto, a GPU when there is one)")
    parser.add_argument("--force", action="store_true", help="evaluate again over existing results")


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm evaluate``; prints the per-site summary and the output folder (last line)."""
    from deepnorm.files import read_table

    if args.out is not None:
        writable_folder(args.out, "--out")
    print(f"deepnorm evaluate: {args.run} -> {args.out or Path(args.run) / 'eval' / 'test'}", file=sys.stderr, flush=True)
    sites = [s.strip() for s in args.sites.split(",")] if args.sites else None
    out = evaluate_run(args.run, data_root=args.data_root, sites=sites, out=args.out,
                       save_images=not args.no_images, progress=sys.stderr.isatty(),
                       device=args.device, force=args.force)
    for row in read_table("summary", out):
        print(f"{row['site']:>10}: n={int(row['n'])}  Dice {row['dice_mean']:.3f} ± {row['dice_mean_std']:.3f}  "
              f"MHD {row['mhd_mean']:.2f} mm")
    print(out)
    return 0
