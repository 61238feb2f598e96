"""Where deepnorm keeps generated data, runs, results and figures.

Everything lives under one project folder, chosen in this order:

1. the folder named by the environment variable ``DEEPNORM_HOME``, if set;
2. else the deepnorm checkout the current folder is in (the nearest ancestor holding deepnorm's
   ``pyproject.toml``), so ``make reproduce`` and the notebooks (run from ``notebooks/``) use the
   checkout's ``runs/``, ``data/``, ``results/`` and ``figures/``;
3. else the current folder.

The source checkout the package was installed from is never used from outside it: a
``deepnorm train`` in ``~/study`` writes ``~/study/runs``. :func:`describe_home` says which rule
applied; the command line prints it in its help and first line.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable naming the project folder.
HOME_VARIABLE = "DEEPNORM_HOME"


def _is_project(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    try:
        return pyproject.is_file() and 'name = "deepnorm"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def _checkout(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        if _is_project(folder):
            return folder
    return None


def project_root() -> Path:
    """The project folder (see the module docstring for the order of the rules)."""
    env = os.environ.get(HOME_VARIABLE)
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    return _checkout(cwd) or cwd


def describe_home() -> str:
    """One line: the project folder and the rule that chose it, e.g. ``/x (the current folder)``."""
    root = project_root()
    if os.environ.get(HOME_VARIABLE):
        why = f"from ${HOME_VARIABLE}"
    elif _checkout(Path.cwd().resolve()) is not None:
        why = "the deepnorm checkout you are in"
    else:
        why = f"the current folder; set ${HOME_VARIABLE} to choose another"
    return f"{root} ({why})"


def source_checkout() -> Path | None:
    """The checkout the package was installed from (to *read* what it ships, e.g. ``notebooks/``), or None.

    Never a place to write to: outputs go under :func:`project_root`.
    """
    source = Path(__file__).resolve().parent.parent
    return source if _is_project(source) else None


def default_data_root(profile: str = "cpu", seed: int = 0) -> Path:
    """The data root of the embedded phantom built for `profile` and `seed`."""
    return project_root() / "data" / "phantom" / f"{profile}-seed{seed}"


def runs_dir() -> Path:
    """Folder of training runs, one sub-folder per configuration hash."""
    return project_root() / "runs"


def results_dir() -> Path:
    """Folder of the tables' numbers (CSV/JSON) that reports and tests read."""
    return project_root() / "results"


def figures_dir() -> Path:
    """Folder of the committed PNG figures."""
    return project_root() / "figures"
