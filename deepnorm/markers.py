"""What deepnorm wrote, and the one rule for replacing it.

deepnorm replaces (``--force``) only what it wrote and knows it wrote, and never one of the
command's own inputs:

- an **evaluation folder** (``deepnorm evaluate``) holds :data:`EVALUATION` (written with the
  results). A folder written before that file existed is recognised by its content: it holds
  ``summary.csv`` and ``subjects.csv`` and nothing but the files an evaluation writes
  (:data:`EVALUATION_FILES`, and ``.nii.gz`` images under ``normalized/``);
- a **run folder** is recognised by its ``config.yaml`` and ``run.json``, whose run key is the
  folder's name (:func:`deepnorm.training.runs.is_run_folder`); starting it over deletes only
  the files training writes (:func:`deepnorm.training.runs.clear_run`);
- a **phantom** is recognised by its ``PHANTOM.json`` (:mod:`deepnorm.data.phantom.build`).

Inputs are compared resolved (``~`` expanded, symlinks followed): an output may not be an input,
lie inside an input folder, or hold an input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from deepnorm.errors import ConfigError, RunError

#: The marker of an evaluation folder.
EVALUATION = "EVALUATION.json"
#: Value of the marker's "generator" field.
GENERATOR = "deepnorm evaluate"
#: Every file an evaluation writes at the top of its folder (besides the marker).
EVALUATION_FILES = frozenset({"subjects.csv", "summary.csv", "bias.csv", "jsd.json", "confusion.json"})
#: The sub-folder of an evaluation's normalized images.
NORMALIZED = "normalized"


def resolved(path: str | Path) -> Path:
    """`path` with ``~`` expanded and every symlink followed (it need not exist)."""
    return Path(path).expanduser().resolve()


def _related(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def input_clash(output: str | Path, inputs: Iterable[str | Path | None]) -> Path | None:
    """The first of `inputs` that `output` is, lies inside or holds (all resolved), else None."""
    out = resolved(output)
    for item in inputs:
        if item is not None and _related(out, resolved(item)):
            return Path(item)
    return None


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None], what: str) -> None:
    """ConfigError naming `output` when it is, lies inside or holds one of `inputs`."""
    clash = input_clash(output, inputs)
    if clash is not None:
        same = resolved(output) == resolved(clash)
        how = "is the input" if same else "overlaps the input"
        raise ConfigError(f"{what} {output} {how} {clash}: deepnorm never writes over its inputs; "
                          "choose another output path")


# --------------------------------------------------------------------------- evaluation folders
def write_evaluation_marker(folder: Path, run: Path, sites: Sequence[str]) -> Path:
    """Write :data:`EVALUATION` into the evaluation `folder` (the run and sites it evaluated)."""
    from deepnorm.files import atomic_write_text

    meta = {"generator": GENERATOR, "run": str(resolved(run)), "sites": list(sites),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return atomic_write_text(folder / EVALUATION, json.dumps(meta, indent=1) + "\n")


def _has_marker(folder: Path) -> bool:
    try:
        meta = json.loads((folder / EVALUATION).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("generator") == GENERATOR


def foreign_files(folder: Path) -> list[Path]:
    """The entries of an evaluation `folder` that an evaluation does not write (sorted)."""
    foreign = []
    for child in sorted(folder.iterdir()):
        if child.name in EVALUATION_FILES or child.name == EVALUATION:
            if not child.is_file() or child.is_symlink():
                foreign.append(child)
        elif child.name == NORMALIZED and child.is_dir() and not child.is_symlink():
            foreign += [f for f in sorted(child.iterdir())
                        if not (f.is_file() and not f.is_symlink() and f.name.endswith(".nii.gz"))]
        else:
            foreign.append(child)
    return foreign


def is_evaluation(folder: Path) -> bool:
    """Whether `folder` is an evaluation folder deepnorm wrote (see the module docstring)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    if foreign_files(folder):
        return False
    return _has_marker(folder) or {"summary.csv", "subjects.csv"} <= {c.name for c in folder.iterdir()}


def check_evaluation_replaceable(folder: Path) -> None:
    """RunError naming `folder` unless it is absent, empty, or an evaluation folder deepnorm wrote."""
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        return
    if is_evaluation(folder):
        return
    if folder.is_dir() and not folder.is_symlink():
        shown = ", ".join(f.name for f in foreign_files(folder)[:3])
        why = f"it holds files an evaluation does not write ({shown})" if shown else \
            f"it has no {EVALUATION}"
    else:
        why = "it is not a folder"
    raise RunError(f"--out {folder} is not an evaluation folder deepnorm wrote ({why}); --force replaces only "
                   "evaluation results: choose another --out")
