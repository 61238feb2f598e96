"""The ``deepnorm`` command line: a thin dispatcher over the library.

Each sub-command lives in its own module of this package, which provides ``configure_parser(parser)`` to add
its arguments and ``main(args) -> int`` to run it (or ``configure_<name>_parser`` and
``main_<name>`` when one module serves several sub-commands). A module is imported only when
its own sub-command is named on the command line, so ``deepnorm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from deepnorm.errors import DeepnormError

#: sub-command path -> (module, help line)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("data", "phantom"): ("deepnorm.cli.data", "build the embedded multi-site phantom data set"),
    ("train",): ("deepnorm.cli.train", "train one method on one or more sites; prints the run folder"),
    ("evaluate",): ("deepnorm.cli.evaluate", "evaluate a finished run on its test subjects"),
    ("normalize",): ("deepnorm.cli.apply", "normalize your own scan with a trained run's generator"),
    ("segment",): ("deepnorm.cli.apply", "segment your own scan into CSF/GM/WM with a trained run"),
    ("reproduce",): ("deepnorm.cli.reproduce", "run every notebook (all tables and figures), then write REPORT.md"),
}


def _selected(argv: Sequence[str]) -> tuple[str, ...]:
    words = tuple(a for a in argv if not a.startswith("-"))
    for path in COMMANDS:
        if words[: len(path)] == path:
            return path
    return ()


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; the options of the sub-command named in `argv` (all if None) are added."""
    selected = None if argv is None else _selected(argv)
    parser = argparse.ArgumentParser(
        prog="deepnorm",
        description="Realistic image normalization for multi-domain segmentation "
        "(Delisle et al., MedIA 2021): data, training, evaluation and inference.",
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deepnorm`` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DeepnormError as err:
        print(f"deepnorm: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("deepnorm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
