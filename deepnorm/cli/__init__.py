"""The ``deepnorm`` command line: a thin dispatcher over the library.

Each sub-command lives in its own module of this package, which provides ``configure_parser(parser)`` to add
its arguments and ``main(args) -> int`` to run it (or ``configure_<name>_parser`` and
``main_<name>`` when one module serves several sub-commands). A module is imported only when
its own sub-command is named on the command line, so ``deepnorm --help`` stays fast.

Every ordinary failure ends here as one line on stderr that names the path and the fix, never a
traceback: a :class:`~deepnorm.errors.DeepnormError` exits with its ``exit_code`` (2, or 130
for :class:`~deepnorm.errors.Interrupted`), an ``OSError`` (unwritable folder, full disk, a
file where a folder is expected) with 1, Ctrl-C with 130.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import sys
from collections.abc import Sequence

from deepnorm.errors import DeepnormError

#: sub-command path -> (module, help line)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("data", "phantom"): ("deepnorm.cli.data", "build the embedded multi-site phantom data set"),
    ("train",): ("deepnorm.cli.train", "train one method on one or more sites; prints the run folder"),
    ("evaluate",): ("deepnorm.cli.evaluate", "evaluate a finished run on its test subjects"),
    ("normalize",): ("deepnorm.cli.apply", "normalize your own scans (a file or a folder) with a trained run's normalizer (a generator, a z-score or a classical method)"),
    ("segment",): ("deepnorm.cli.apply", "segment your own scans (a file or a folder) into CSF/GM/WM with a trained run"),
    ("export",): ("deepnorm.cli.export", "share a finished run as a bundle folder (MONAI bundle layout: weights, "
                  "config, metadata with checksums, model card); normalize and segment take it as --run"),
    ("runs", "list"): ("deepnorm.cli.runs", "list the trained runs of a runs folder: alias, method, sites, test Dice"),
    ("reproduce",): ("deepnorm.cli.reproduce", "run every notebook (all tables and figures), then write REPORT.md"),
}

#: What to do about an OSError, by errno.
_OS_FIXES: dict[int, str] = {
    errno.EACCES: "choose a folder you can write to, or fix its permissions",
    errno.EPERM: "choose a folder you can write to, or fix its permissions",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENOSPC: "the disk is full: free some space and run the command again",
    errno.EDQUOT: "the disk quota is exceeded: free some space and run the command again",
    errno.ENOTDIR: "a file stands where a folder is expected: move the file or choose another path",
    errno.EEXIST: "a file stands where a folder is expected: move the file or choose another path",
    errno.EISDIR: "a folder stands where a file is expected: choose a file name",
    errno.ENOENT: "check that the path exists",
}

#: Lines of torch's unpickling errors that advise weights_only=False (never advice to give a user).
_UNSAFE_ADVICE = ("weights_only", "trust the source", "torch.load")


def version() -> str:
    """The installed deepnorm version (the package's own when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("deepnorm")
    except PackageNotFoundError:
        import deepnorm

        return deepnorm.__version__


def _selected(argv: Sequence[str]) -> tuple[str, ...]:
    words = tuple(a for a in argv if not a.startswith("-"))
    for path in COMMANDS:
        if words[: len(path)] == path:
            return path
    return ()


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; the options of the sub-command named in `argv` (all if None) are added."""
    from deepnorm.paths import describe_home

    selected = None if argv is None else _selected(argv)
    parser = argparse.ArgumentParser(
        prog="deepnorm",
        description="Realistic image normalization for multi-domain segmentation "
        "(Delisle et al., MedIA 2021): data, training, evaluation and inference.",
        epilog=f"Default folders (runs/, data/phantom/, results/) live in the project folder: {describe_home()}.",
    )
    parser.add_argument("--version", action="version", version=f"deepnorm {version()}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, (module_name, help_line) in COMMANDS.items():
        if len(path) == 1:
            sub = top.add_parser(path[0], help=help_line, description=help_line)
        else:
            if path[0] not in groups:
                group = top.add_parser(path[0], help=f"{path[0]} commands")
                groups[path[0]] = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            sub = groups[path[0]].add_parser(path[1], help=help_line, description=help_line)
        if selected is not None and path != selected:
            continue
        module = importlib.import_module(module_name)
        configure = getattr(module, f"configure_{path[-1]}_parser", None) or module.configure_parser
        configure(sub)
        runner = getattr(module, f"main_{path[-1]}", None) or module.main
        sub.set_defaults(_run=runner)
    return parser


def one_line(message: str) -> str:
    """`message` on one line, without torch's advice to load checkpoints with weights_only=False."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", str(message))]
    kept = [s for s in sentences if s and not any(advice in s for advice in _UNSAFE_ADVICE)]
    return " ".join(" ".join(kept or sentences).split())


def os_error_message(err: OSError) -> str:
    """One line for an OSError: the path(s), the system's reason and the fix."""
    where = " -> ".join(str(f) for f in (err.filename, err.filename2) if f is not None)
    reason = err.strerror or type(err).__name__
    fix = _OS_FIXES.get(err.errno or 0, "check the path and the folder's permissions")
    return f"{where}: {reason}; {fix}" if where else f"{reason}; {fix}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepnorm`` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DeepnormError as err:
        print(f"deepnorm: error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        print(f"deepnorm: error: {one_line(os_error_message(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = "; what finished is kept: run the same command with --resume to continue" if args.command == "train" else ""
        print(f"deepnorm: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
