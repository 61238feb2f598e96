"""``deepnorm normalize`` and ``deepnorm segment``: a trained run on your own scans, a file or a folder.

    deepnorm normalize --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
    deepnorm segment   --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
    deepnorm normalize --run runs/<hash> -i SCANS/ -o OUT/
    deepnorm segment   --run BUNDLE T1.nii.gz OUT.nii.gz          # a bundle of `deepnorm export`

In folder mode every scan of the input folder (``*.nii``, ``*.nii.gz``, ``*.mgz``, ``*.hdr``, in
any letter case) is written under the same name in the output folder; scans whose output is a
readable image are skipped (``--force`` redoes them), a file at the output name that is not a
readable image is never overwritten (the scan fails, naming it), and a scan that fails is
reported on one line without stopping the others (exit code 1 if any failed). Outputs are
checked (extension, writable folder, not one of the inputs: T1, T2, mask, run folder; resolved,
symlinks followed) before the run is loaded; the run is loaded once.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deepnorm.cli import one_line, os_error_message
from deepnorm.cli._paths import output_file, writable_folder
from deepnorm.errors import ConfigError, DataError, DeepnormError
from deepnorm.evaluation.apply import normalize_scan, require_normalizer, segment_scan

if TYPE_CHECKING:
    from deepnorm.data.volume import Volume
    from deepnorm.training.runs import Run

#: Input scans of folder mode (a .hdr stands for its .hdr/.img pair).
SCAN_PATTERNS: tuple[str, ...] = ("*.nii", "*.nii.gz", "*.mgz", "*.hdr")


def _configure(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--run", required=True, type=Path,
                        help="a finished training run folder (runs/<hash> or an alias), or a bundle of `deepnorm export`")
    parser.add_argument("input", type=Path, nargs="?", default=None,
                        help="the T1 scan (.nii, .nii.gz, .hdr/.img or .mgz), or a folder of scans")
    parser.add_argument("output", type=Path, nargs="?", default=None,
                        help=f"where to write the {what} (.nii.gz recommended), or a folder")
    parser.add_argument("-i", "--input", dest="input_option", type=Path, default=None, metavar="PATH",
                        help="the same as INPUT: a scan or a folder of scans")
    parser.add_argument("-o", "--output", dest="output_option", type=Path, default=None, metavar="PATH",
                        help="the same as OUTPUT: a file, or a folder when the input is a folder")
    parser.add_argument("--t2", type=Path, default=None, help="the second contrast (T2 or FLAIR) when the run was trained on two")
    parser.add_argument("--mask", type=Path, default=None,
                        help="a brain mask on the T1 grid (default: the voxels > 0, the brain of a skull-stripped "
                             "scan with a zero background, as in training; a scan with negative voxels is refused "
                             "without --mask, since its background cannot be told from its brain)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the networks run (default: auto, a GPU when there is one)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing outputs (folder mode: redo done scans); never one of the inputs")


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


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(input, output) from the positional arguments or -i/-o."""
    chosen = []
    for positional, option, flag in ((args.input, args.input_option, "-i"), (args.output, args.output_option, "-o")):
        if positional is not None and option is not None:
            raise ConfigError(f"give the {'input' if flag == '-i' else 'output'} once: either as an argument or with {flag}")
        value = positional if positional is not None else option
        if value is None:
            raise ConfigError(f"missing the {'input scan' if flag == '-i' else 'output path'}: "
                              "deepnorm normalize --run RUN INPUT OUTPUT (or -i DIR -o DIR)")
        chosen.append(Path(value).expanduser())
    return chosen[0], chosen[1]


def scans_in(folder: Path) -> list[Path]:
    """The scans of `folder` (see :data:`SCAN_PATTERNS`, in any letter case), sorted by name; hidden files
    are skipped."""
    endings = tuple(pattern.lstrip("*") for pattern in SCAN_PATTERNS)
    return sorted(p for p in folder.iterdir()
                  if p.name.lower().endswith(endings) and p.is_file() and not p.name.startswith("."))


def image_files(path: Path) -> list[Path]:
    """The files an image path stands for: both files of a .hdr/.img pair, else the path itself."""
    name = path.name
    for ext, other in ((".hdr", ".img"), (".img", ".hdr")):
        if name.lower().endswith(ext):
            twin = other if name.endswith(ext) else other.upper()
            return [path, path.with_name(name[: -len(ext)] + twin)]
    return [path]


def _check_not_inputs(outputs: Sequence[Path], args: argparse.Namespace, source: Path) -> None:
    """ConfigError when an output (either file of a pair) is one of the inputs (T1, T2, mask) or lies in the run."""
    from deepnorm.markers import check_not_input

    inputs = [f for p in (source, args.t2, args.mask) if p is not None for f in image_files(Path(p))]
    for output in outputs:
        for path in image_files(output):
            check_not_input(path, [*inputs, args.run], "the output")


def _done(path: Path) -> bool:
    """Whether the output `path` of folder mode is a finished image (DataError if a file there is not one)."""
    from deepnorm.data.io import load_volume

    if not path.exists():
        return False
    try:
        load_volume(path, canonical=False)
    except DataError as err:
        raise DataError(f"{path} exists but is not a readable image, so deepnorm did not write it and will not "
                        f"replace it ({one_line(str(err))[:120]}); move it away") from None
    return True


def _load(args: argparse.Namespace, normalizing: bool) -> Run:
    """The run of ``--run``: a run folder (:func:`load_run`) or an exported bundle (:func:`load_bundle`)."""
    from deepnorm.bundle import is_bundle, load_bundle
    from deepnorm.training.runs import load_run, read_config

    if is_bundle(Path(args.run)):
        run = load_bundle(Path(args.run), device=args.device)
        if normalizing:
            require_normalizer(run.config, args.run)
        return run
    config_file = Path(args.run) / "config.yaml"
    if normalizing and config_file.is_file():  # refuse a run with no normalized image before loading networks
        require_normalizer(read_config(Path(args.run)), args.run)
    return load_run(args.run, device=args.device)


def _one_scan(args: argparse.Namespace, source: Path, out: Path, normalizing: bool) -> int:
    from deepnorm.data.io import save_volume

    outputs = [out] + ([_t2_path(out)] if normalizing and args.t2 is not None else [])
    _check_not_inputs(outputs, args, source)
    for path in outputs:
        output_file(path, force=args.force)
    run = _load(args, normalizing)
    if normalizing:
        volumes = normalize_scan(run, source, t2=args.t2, mask=args.mask)
    else:
        volumes = [segment_scan(run, source, t2=args.t2, mask=args.mask)]
    for volume, path in zip(volumes, outputs):
        save_volume(volume, path)
        print(path, flush=True)
    return 0


def _folder(args: argparse.Namespace, source: Path, out: Path, normalizing: bool) -> int:
    from deepnorm.data.io import EXTENSIONS, save_volume
    from deepnorm.markers import resolved

    if args.t2 is not None or args.mask is not None:
        raise ConfigError("--t2 and --mask name the files of one scan: in folder mode (-i DIR) give single files "
                          "(deepnorm normalize --run RUN T1 OUT --t2 T2 --mask MASK), one call per scan")
    if out.resolve() == source.resolve():
        raise ConfigError(f"the output folder {out} is the input folder: give another output folder (-o DIR)")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"is a file, but the input {source} is a folder of scans", str(out))
    if not out.exists() and out.name.lower().endswith(EXTENSIONS):
        raise ConfigError(f"the input {source} is a folder of scans, so the output must be a folder, but {out} is "
                          "named like an image: give a folder name (-o DIR)")
    if resolved(args.run) in (resolved(out), *resolved(out).parents):
        raise ConfigError(f"the output folder {out} lies in the run folder {args.run}: deepnorm never writes over "
                          "its inputs; choose another output folder (-o DIR)")
    writable_folder(out, "output folder")
    scans = scans_in(source)
    if not scans:
        raise DataError(f"{source} holds no scan ({', '.join(SCAN_PATTERNS)}): check the input folder")
    failed = 0
    todo, skipped = [], 0
    for scan in scans:
        target = out / scan.name
        try:
            if any(resolved(t) == resolved(f) for t in image_files(target) for f in image_files(scan)):
                raise DataError(f"{target} is the input {scan} itself (a link): deepnorm never writes over its inputs")
            if _done(target) and not args.force:
                skipped += 1
                continue
        except DataError as err:
            failed += 1
            print(f"deepnorm: failed: {one_line(str(err))}", file=sys.stderr, flush=True)
            continue
        todo.append(scan)
    refused = failed
    verb = "normalized" if normalizing else "segmented"
    print(f"deepnorm: {len(scans)} scans in {source}: {len(todo)} to do, {skipped} already done in {out}",
          file=sys.stderr, flush=True)
    if todo:
        out.mkdir(parents=True, exist_ok=True)
        run = _load(args, normalizing)
        work: Callable[[Run, Path], Volume] = (lambda r, s: normalize_scan(r, s)[0]) if normalizing else segment_scan
        for scan in todo:
            try:
                volume = work(run, scan)
                print(save_volume(volume, out / scan.name), flush=True)
            except DeepnormError as err:
                failed += 1
                message = one_line(str(err))
                where = "" if str(scan) in message else f"{scan}: "
                print(f"deepnorm: failed: {where}{message}", file=sys.stderr, flush=True)
            except OSError as err:
                failed += 1
                print(f"deepnorm: failed: {scan}: {one_line(os_error_message(err))}", file=sys.stderr, flush=True)
    written = len(todo) - (failed - refused)
    print(f"deepnorm: {verb} {written}, skipped {skipped} (done), failed {failed} of {len(scans)} scans "
          f"-> {out}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def _main(args: argparse.Namespace, normalizing: bool) -> int:
    source, out = _paths(args)
    if source.is_dir():
        return _folder(args, source, out, normalizing)
    return _one_scan(args, source, out, normalizing)


def main_normalize(args: argparse.Namespace) -> int:
    """Run ``deepnorm normalize``; prints each written file; folder mode returns 1 if a scan failed."""
    return _main(args, normalizing=True)


def main_segment(args: argparse.Namespace) -> int:
    """Run ``deepnorm segment``; prints each written file; folder mode returns 1 if a scan failed."""
    return _main(args, normalizing=False)


__all__: Sequence[str] = ["main_normalize", "main_segment", "normalize_scan", "scans_in", "segment_scan"]
