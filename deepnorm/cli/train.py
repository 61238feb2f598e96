"""``deepnorm train``: train one method on one or more sites; the run folder is the last line printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deepnorm.cli._paths import writable_folder
from deepnorm.cli._values import MAX_SEED, check_seed
from deepnorm.errors import ConfigError, DeepnormError, RunError
from deepnorm.precision import PRECISIONS
from deepnorm.training.config import CLASSICAL, Config
from deepnorm.training.config import profile as load_profile
from deepnorm.training.distributed import distributed_env
from deepnorm.training.loop import train

PROFILE_HELP = ("smoke (seconds: for tests), cpu (the default: a 2-core laptop; "
                "docs/timings.md says what a training costs) or paper (the paper's sizes: needs a GPU)")


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
    parser.add_argument("--seed", type=int, default=None, help=f"the one seed, from 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="where to train (default: the profile's, auto: a GPU when there is one)")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="float32, bf16 (bf16 autocast: a different run, with different numbers) or auto "
                        "(bf16 where the processor has bf16 matrix units that pay at these widths: AMX, or "
                        "AVX-512 BF16 from widths 16 up; float32 elsewhere); default: the profile's (float32)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an unfinished run from its last checkpoint (refused when its epochs are "
                             "recorded but checkpoint.pt is gone)")
    parser.add_argument("--force", action="store_true",
                        help="start the run over, and let --name repoint an existing alias: deletes the files "
                             "training wrote in the run folder (checkpoint, weights, history, ...) and its "
                             "evaluations under eval/, listed before it starts; other files are kept")
    parser.add_argument("--name", default=None, metavar="NAME",
                        help="a readable alias of the run: the symlink RUNS_DIR/NAME -> <hash>, made when it is trained")


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config that the ``deepnorm train`` options describe."""
    from deepnorm.training.config import DISCRIMINATOR_METHODS

    if args.lam is not None and args.method not in DISCRIMINATOR_METHODS:
        raise ConfigError(f"--lambda weighs the discriminator's loss (Eq. 3), but method {args.method!r} has no "
                          f"discriminator: drop --lambda, or use --method {' or '.join(DISCRIMINATOR_METHODS)}")
    overrides: dict[str, Any] = {
        "train.method": args.method,
        "data.sites": [s.strip() for s in args.sites.split(",") if s.strip()],
        "data.modalities": [m.strip() for m in args.modalities.split(",") if m.strip()],
    }
    for key, value in (("train.lam", args.lam), ("train.seed", args.seed), ("train.epochs", args.epochs),
                       ("train.device", getattr(args, "device", None)),
                       ("train.precision", getattr(args, "precision", None))):
        if value is not None:
            overrides[key] = value
    return load_profile(args.profile, **overrides)


def existing_run_folder(config: Config, data_root: str | None, runs: Path) -> Path | None:
    """The run folder `config` trains into when it exists and its data is already there (None otherwise:
    the phantom is not built here, only by the training)."""
    from deepnorm import paths
    from deepnorm.data.manifest import data_manifest
    from deepnorm.training.folder import run_folder

    if data_root:
        root = Path(data_root).expanduser().resolve()
    else:
        root = paths.default_data_root(config.profile, config.train.seed).resolve()
        if not (root / "PHANTOM.json").is_file():
            return None
    try:
        folder = run_folder(config, runs, data_manifest(root, config.data.sites))
    except (DeepnormError, OSError):  # the training reports it
        return None
    return folder if folder.is_dir() else None


def announce_force(folder: Path) -> None:
    """Say on stderr what ``--force`` deletes in the run `folder`, and what it keeps."""
    from deepnorm.training.folder import CONFUSION_DIR, EVAL_DIR, LOCK, training_files

    doomed = training_files(folder)
    kept = [p.name for p in sorted(folder.iterdir()) if p.name != LOCK and p not in doomed
            and p.name not in (EVAL_DIR, CONFUSION_DIR)]
    names = [str(p.relative_to(folder)) for p in doomed if p.parent.name != CONFUSION_DIR]
    epochs = sum(p.parent.name == CONFUSION_DIR for p in doomed)
    shown = ", ".join(names + ([f"{CONFUSION_DIR}/ ({epochs} files)"] if epochs else [])) or "nothing"
    keep = f"; keeping {', '.join(kept)}" if kept else ""
    print(f"deepnorm train: --force starts {folder} over: deleting {shown}{keep}", file=sys.stderr, flush=True)


def check_resume(folder: Path) -> None:
    """RunError when the run in `folder` has finished epochs but no checkpoint to resume them from;
    a line on stderr when there is nothing to resume (the run starts at epoch 1)."""
    from deepnorm.training.folder import CHECKPOINT, HISTORY, finished_epochs, is_done

    if is_done(folder) or (folder / CHECKPOINT).is_file():
        return
    done = finished_epochs(folder)
    if done:
        raise RunError(f"--resume: {folder} has {done} finished epoch(s) in {HISTORY} but no {CHECKPOINT} to "
                       "continue from; restore it, or pass --force to start the run over")
    print(f"deepnorm train: --resume: {folder} has no checkpoint yet, so the run starts at epoch 1",
          file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm train``; the run folder is the last line printed."""
    from deepnorm import paths
    from deepnorm.cli.runs import check_alias, make_alias

    check_seed(args.seed)
    config = config_from_args(args)
    runs = writable_folder(Path(args.runs_dir) if args.runs_dir is not None else paths.runs_dir(), "--runs-dir")
    if args.name is not None:  # the run's folder is known only once its data is read: check what can be now
        check_alias(runs, args.name, None, force=args.force)
    writer = distributed_env()[0] == 0
    if writer:
        print(f"deepnorm train: {config.train.method} on {'+'.join(config.data.sites)}, run folders in {runs} "
              f"(project folder {paths.describe_home()})", file=sys.stderr, flush=True)
    existing = existing_run_folder(config, args.data_root, runs) if writer and (args.force or args.resume) else None
    if existing is not None and args.force:
        announce_force(existing)
    elif existing is not None and args.resume:
        check_resume(existing)
    folder = train(config, data_root=args.data_root, runs_dir=runs, resume=args.resume, force=args.force)
    if writer:
        if args.name is not None:
            make_alias(runs, args.name, folder, force=args.force)
        print(folder, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from deepnorm.cli import main as cli_main

    sys.exit(cli_main(["train", *sys.argv[1:]]))
