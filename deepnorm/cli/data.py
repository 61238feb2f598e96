"""``deepnorm data phantom``: build (or reuse) the embedded multi-site phantom and print its data root."""

from __future__ import annotations

import argparse

from deepnorm.cli._values import MAX_SEED, check_seed
from deepnorm.data.phantom.build import ensure_phantom


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm data phantom``."""
    from deepnorm.data.phantom.sites import PROFILES
    from deepnorm.paths import describe_home

    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES),
                        help="size of the phantom (default: cpu)")
    parser.add_argument("--root", default=None,
                        help=f"data root to write (default: data/phantom/<profile>-seed<seed> in the project folder, "
                        f"{describe_home()})")
    parser.add_argument("--seed", type=int, default=0, help=f"random seed, a whole number from 0 to {MAX_SEED} (default: 0)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if an identical phantom exists, or replace a phantom of another profile "
                             "or seed (only a folder holding nothing but a phantom deepnorm wrote is replaced)")


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm data phantom``: build (or reuse) the phantom and print its data root."""
    check_seed(args.seed)
    root = ensure_phantom(args.profile, args.seed, args.root, force=args.force)
    print(root)
    return 0
