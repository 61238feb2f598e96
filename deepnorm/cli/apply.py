"""``deepnorm normalize`` and ``deepnorm segment``: a trained run on your own scans.

    deepnorm normalize --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
    deepnorm segment   --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from deepnorm.errors import DataError
from deepnorm.evaluation.apply import normalize_scan, segment_scan


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise DataError(f"{path} exists: choose another output path or pass --force to overwrite it")
    if not path.parent.is_dir():
        raise DataError(f"the output folder {path.parent} does not exist: create it first")


def _configure(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--run", required=True, type=Path, help="a finished training run folder (runs/<hash>)")
    parser.add_argument("input", type=Path, help="the T1 scan (.nii, .nii.gz, .hdr/.img or .mgz)")
    parser.add_argument("output", type=Path, help=f"where to write the {what} (.nii.gz recommended)")
    parser.add_argument("--t2", type=Path, default=None, help="the second contrast (T2 or FLAIR) when the run was trained on two")
    parser.add_argument("--mask", type=Path, default=None, help="a brain mask on the T1 grid (default: the non-zero voxels)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def configure_normalize_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm normalize``."""
    _configure(parser, "normalized image (a second contrast goes to OUTPUT with a _t2 suffix)")


def configure_segment_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm segment``."""
    _configure(parser, "label map (0 BG, 1 CSF, 2 GM, 3 WM)")


def _t2_path(path: Path) -> Path:
    name = path.name
    for ext in (".nii.gz", ".nii", ".mgz", ".hdr"):
        if name.endswith(ext):
            return path.with_name(name[: -len(ext)] + "_t2" + ext)
    return path.with_name(name + "_t2")


def main_normalize(args: argparse.Namespace) -> int:
    """Run ``deepnorm normalize``; prints the written file(s)."""
    from deepnorm.data.io import save_volume
    from deepnorm.training.runs import load_run

    outputs = [Path(args.output)] + ([_t2_path(Path(args.output))] if args.t2 is not None else [])
    for out in outputs:
        _check_output(out, args.force)
    run = load_run(args.run)
    for volume, out in zip(normalize_scan(run, args.input, t2=args.t2, mask=args.mask), outputs):
        save_volume(volume, out)
        print(out)
    return 0


def main_segment(args: argparse.Namespace) -> int:
    """Run ``deepnorm segment``; prints the written file."""
    from deepnorm.data.io import save_volume
    from deepnorm.training.runs import load_run

    _check_output(Path(args.output), args.force)
    run = load_run(args.run)
    save_volume(segment_scan(run, args.input, t2=args.t2, mask=args.mask), args.output)
    print(args.output)
    return 0


__all__: Sequence[str] = ["normalize_scan", "segment_scan", "main_normalize", "main_segment"]
