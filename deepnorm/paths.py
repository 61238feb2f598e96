"""Where deepnorm keeps generated data, runs, results and figures.

Everything lives under the project root: the folder named by the environment variable
``DEEPNORM_HOME`` if set, else the nearest ancestor of the working directory that holds
deepnorm's ``pyproject.toml`` (so notebooks run from ``notebooks/`` find the same folders),
else the source checkout the package was installed from, else the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def _is_project(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    try:
        return pyproject.is_file() and 'name = "deepnorm"' in pyproject.read_text(encoding="utf-8")
    except OSError:
        return False


def project_root() -> Path:
    """The project root folder (see the module docstring for the search order)."""
    env = os.environ.get("DEEPNORM_HOME")
    if env:
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_project(folder):
            return folder
    source = Path(__file__).resolve().parent.parent
    if _is_project(source):
        return source
    return cwd


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
