"""``deepnorm train``: train one method on one or more sites; the run folder is the last line printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deepnorm.cli._paths import writable_folder
from deepnorm.errors import ConfigError
from deepnorm.training.config import CLASSICAL, Config
from deepnorm.training.config import profile as load_profile
from deepnorm.training.distributed import distributed_env
from deepnorm.training.loop import train

PROFILE_HELP = ("smoke (seconds: for tests), cpu (the default: one adversarial training on two sites takes "
                "about 7 min on 2 CPU cores) or paper (the paper's sizes: needs a GPU)")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``deepnorm train``."""
    from deepnorm.paths import describe_home

    parser.add_argument("--method", required=True,
                        help="segmenter, standardization, preprocessor or adversarial (the paper's); "
                             f"standardization_brain, {', '.join(CLASSICAL)} or contrast_randomisation (beyond the paper)")
    parser.add_argument("--sites", default="iseg,mrbrains", help="comma-separated sites (iseg, mrbrains, abide)")
    parser.add_argument("--modalities", default="t1", help="t1 or t1,t2")
    parser.add_argument("--lambda", dest="lam", type=float, default=None,
                        help="lambda of Eq. 3 (adversarial only: the methods with a discriminator)")
    parser.add_argument("--profile", default="cpu", help=PROFILE_HELP)
    parser.add_argument("--data-root", default=None, help="data root (default: the profile's phantom)")
    parser.add_argument("--runs-dir", default=None,
                        help=f"folder of run folders (default: runs/ in the project folder, {describe_home()})")
    parser.add_argument("--seed", type=int, default=None, help="the one seed (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="where to train (default: the profile's, auto: a GPU when there is one)")
    parser.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="start the run over (its checkpoint is lost), and let --name repoint an existing alias")
    parser.add_argument("--name", default=None, metavar="NAME",
                        help="a readable alias of the run: the symlink RUNS_DIR/NAME -> <hash>, made when it is trained")


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config that the ``deepnorm train`` options describe."""
    from deepnorm.training.methods import REGISTRY, get_method

    if args.lam is not None and not get_method(args.method).uses_discriminator:
        with_d = [name for name, cls in REGISTRY.items() if cls.uses_discriminator]
        raise ConfigError(f"--lambda weighs the discriminator's loss (Eq. 3), but method {args.method!r} has no "
                          f"discriminator: drop --lambda, or use --method {' or '.join(with_d)}")
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
    from deepnorm import paths
    from deepnorm.cli.runs import check_alias, make_alias

    config = config_from_args(args)
    runs = writable_folder(Path(args.runs_dir) if args.runs_dir is not None else paths.runs_dir(), "--runs-dir")
    if args.name is not None:  # the run's folder is known only once its data is read: check what can be now
        check_alias(runs, args.name, None, force=args.force)
    writer = distributed_env()[0] == 0
    if writer:
        print(f"deepnorm train: {config.train.method} on {'+'.join(config.data.sites)}, run folders in {runs} "
              f"(project folder {paths.describe_home()})", file=sys.stderr, flush=True)
    folder = train(config, data_root=args.data_root, runs_dir=runs, resume=args.resume, force=args.force)
    if writer:
        if args.name is not None:
            make_alias(runs, args.name, folder, force=args.force)
        print(folder, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from deepnorm.cli import main as cli_main

    sys.exit(cli_main(["train", *sys.argv[1:]]))
