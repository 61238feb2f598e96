"""``deepnorm evaluate RUN``: evaluate a finished run on its test subjects."""

from __future__ import annotations

import argparse
from pathlib import Path

from deepnorm.evaluation.evaluate import evaluate_run


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm evaluate``."""
    parser.add_argument("run", type=Path, help="a finished training run folder (runs/<hash>)")
    parser.add_argument("--data-root", type=Path, default=None, help="data root (default: the run profile's phantom)")
    parser.add_argument("--sites", default=None, help="comma-separated sites to test on (default: the run's own)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/eval/test)")
    parser.add_argument("--seed", type=int, default=0, help="the split seed the run was trained with")
    parser.add_argument("--no-images", action="store_true", help="do not write the normalized test images")


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm evaluate``; prints the per-site summary and the output folder (last line)."""
    import sys

    sites = [s.strip() for s in args.sites.split(",")] if args.sites else None
    out = evaluate_run(args.run, data_root=args.data_root, sites=sites, out=args.out, seed=args.seed,
                       save_images=not args.no_images, progress=sys.stderr.isatty())
    from deepnorm.files import read_table

    for row in read_table("summary", out):
        print(f"{row['site']:>10}: n={int(row['n'])}  Dice {row['dice_mean']:.3f} ± {row['dice_mean_std']:.3f}  "
              f"MHD {row['mhd_mean']:.2f} mm")
    print(out)
    return 0
