"""``deepnorm runs list``: one row per run folder; and the readable aliases of ``train --name``.

    deepnorm runs list [--runs-dir DIR]

A row: alias (``RUNS_DIR/NAME -> <hash>`` symlinks), hash, method, sites, profile, seed, the
date the run finished ("unfinished" otherwise), and the test Dice of ``eval/test/summary.csv``
("—" before ``deepnorm evaluate``). Only ``config.yaml`` and ``run.json`` are read, never the
networks, so listing is instant.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepnorm.cli._paths import writable_folder
from deepnorm.errors import ConfigError, DeepnormError
from deepnorm.files import read_table
from deepnorm.training.folder import CONFIG, DONE, evaluation_folder, read_config, read_run_info

#: A readable alias: letters, digits, ".", "_", "-"; not starting with "." (hidden) or "-".
_ALIAS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
#: Shown where a value is unknown.
MISSING = "—"


@dataclass(frozen=True)
class RunRow:
    """One run folder as ``deepnorm runs list`` shows it (strings, ready to print)."""

    name: str
    hash: str
    method: str
    sites: str
    profile: str
    seed: str
    date: str
    test_dice: str


def configure_list_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm runs list``."""
    from deepnorm.paths import describe_home

    parser.add_argument("--runs-dir", type=Path, default=None,
                        help=f"folder of run folders (default: runs/ in the project folder, {describe_home()})")


def aliases(runs: Path) -> dict[str, list[str]]:
    """{run folder name: [alias, ...]} of the symlinks in `runs` that point at a run folder there."""
    found: dict[str, list[str]] = {}
    for link in sorted(runs.iterdir()):
        if link.is_symlink() and link.resolve().parent == runs.resolve():
            found.setdefault(link.resolve().name, []).append(link.name)
    return found


def _test_dice(folder: Path) -> str:
    rows = read_table("summary", evaluation_folder(folder))
    chosen = [r for r in rows if r.get("site") == "all"] or rows
    values = [r["dice_mean"] for r in chosen if isinstance(r.get("dice_mean"), float)]
    return f"{sum(values) / len(values):.3f}" if values else MISSING


def run_row(folder: Path, names: list[str]) -> RunRow:
    """The row of one run folder (its config.yaml, run.json when present, DONE and eval/test/summary.csv)."""
    config = read_config(folder)
    meta: Mapping[str, Any] = read_run_info(folder) or {}
    done = folder / DONE
    date = (datetime.datetime.fromtimestamp(done.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            if done.is_file() else "unfinished")
    names = names or ([meta["name"]] if meta.get("name") else [])
    return RunRow(
        name=",".join(names) or MISSING,
        hash=folder.name,
        method=config.train.method,
        sites="+".join(config.data.sites),
        profile=str(meta.get("profile", config.profile)),
        seed=str(meta.get("seed", config.train.seed)),
        date=date,
        test_dice=_test_dice(folder),
    )


def list_runs(runs: Path) -> list[RunRow]:
    """The rows of every run folder (a folder with a config.yaml) in `runs`, sorted by date then hash.

    A folder whose files cannot be read gets one row saying "unreadable (...)"; the others are listed.
    """
    if not runs.exists():
        return []
    if not runs.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder of runs (--runs-dir)", str(runs))
    names = aliases(runs)
    folders = [f for f in sorted(runs.iterdir()) if f.is_dir() and not f.is_symlink() and (f / CONFIG).is_file()]
    rows = []
    for folder in folders:
        try:
            rows.append(run_row(folder, names.get(folder.name, [])))
        except (DeepnormError, OSError, ValueError) as err:
            rows.append(RunRow(MISSING, folder.name, f"unreadable ({type(err).__name__})", MISSING, MISSING,
                               MISSING, MISSING, MISSING))
    return sorted(rows, key=lambda r: (r.date, r.hash))


def format_rows(rows: list[RunRow]) -> str:
    """The rows as an aligned text table with a header."""
    header = RunRow("name", "hash", "method", "sites", "profile", "seed", "date", "test Dice")
    table = [header, *rows]
    fields = list(RunRow.__dataclass_fields__)
    widths = {f: max(len(getattr(r, f)) for r in table) for f in fields}
    return "\n".join("  ".join(getattr(r, f).ljust(widths[f]) for f in fields).rstrip() for r in table)


def main_list(args: argparse.Namespace) -> int:
    """Run ``deepnorm runs list``; prints the table (or a line saying there is no run)."""
    from deepnorm import paths

    runs = Path(args.runs_dir) if args.runs_dir is not None else paths.runs_dir()
    rows = list_runs(runs)
    print(format_rows(rows) if rows else f"no runs in {runs}: train one with `deepnorm train`")
    return 0


# --------------------------------------------------------------------------- aliases
def check_alias(runs: Path, name: str, target: str | None, *, force: bool) -> Path:
    """The path ``runs/name`` after checking that it may point at the run folder named `target`.

    With `target` None (before training, when the run's folder is not known yet) only the name and
    what stands at ``runs/name`` are checked. Raises ConfigError for an unusable name, a file or
    folder of that name that is not an alias, or an alias of another run (unless `force`).
    """
    if not _ALIAS.match(name) or name == target or re.fullmatch(r"[0-9a-f]{12}", name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (not starting with '.' or '-'), "
                          "and not a run hash")
    alias = runs / name
    if alias.is_symlink():
        current = Path(os.readlink(alias)).name
        if target is not None and current != target and not force:
            raise ConfigError(f"--name {name}: {alias} already names run {current}, not this run {runs / target}: "
                              f"choose another name, or remove the alias {alias} and run the command again "
                              "(the finished run is reused)")
    elif alias.exists():
        raise ConfigError(f"--name {name}: {alias} exists and is not an alias; choose another name")
    return alias


def make_alias(runs: Path, name: str, folder: Path, *, force: bool) -> Path:
    """Point the symlink ``runs/name`` at the run `folder` (a sibling), atomically; returns the alias."""
    alias = check_alias(runs, name, folder.name, force=force)
    writable_folder(runs, "--runs-dir")
    tmp = runs / f".{name}.alias-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(folder.name, tmp)
    os.replace(tmp, alias)
    return alias
