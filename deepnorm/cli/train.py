"""``deepnorm train``: train one method on one or more sites; the run folder is the last line printed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deepnorm.training.config import Config
from deepnorm.training.config import profile as load_profile
from deepnorm.training.distributed import distributed_env
from deepnorm.training.loop import train


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``deepnorm train``."""
    parser.add_argument("--method", required=True, help="segmenter, standardization, preprocessor or adversarial")
    parser.add_argument("--sites", default="iseg,mrbrains", help="comma-separated sites (iseg, mrbrains, abide)")
    parser.add_argument("--modalities", default="t1", help="t1 or t1,t2")
    parser.add_argument("--lambda", dest="lam", type=float, default=None, help="lambda of Eq. 3 (adversarial)")
    parser.add_argument("--profile", default="cpu", help="smoke, cpu or paper")
    parser.add_argument("--data-root", default=None, help="data root (default: the profile's phantom)")
    parser.add_argument("--runs-dir", default=None, help="folder of run folders (default: runs/)")
    parser.add_argument("--seed", type=int, default=None, help="the one seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    parser.add_argument("--device", default=None, help="auto, cpu or cuda")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config that the ``deepnorm train`` options describe."""
    overrides: dict[str, Any] = {
        "train.method": args.method,
        "data.sites": [s.strip() for s in args.sites.split(",") if s.strip()],
        "data.modalities": [m.strip() for m in args.modalities.split(",") if m.strip()],
    }
    for key, value in (("train.lam", args.lam), ("train.seed", args.seed), ("train.epochs", args.epochs),
                       ("train.device", getattr(args, "device", None))):
        if value is not None:
            overrides[key] = value
    return load_profile(args.profile, **overrides)


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm train``; the run folder is the last line printed."""
    config = config_from_args(args)
    folder = train(config, data_root=args.data_root, runs_dir=args.runs_dir, resume=args.resume)
    if distributed_env()[0] == 0:
        print(folder, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from deepnorm.cli import main as cli_main

    sys.exit(cli_main(["train", *sys.argv[1:]]))
