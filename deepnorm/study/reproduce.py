"""The notebooks of the study and how one is executed (papermill); ``deepnorm reproduce`` runs them all.

Executed notebooks go to ``results/notebooks/`` (ignored by git); each notebook writes its own
numbers to ``results/`` and its figures to ``figures/``. Finished training runs are reused, so a
second ``make reproduce`` only re-executes the notebooks. One progress line per notebook.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from deepnorm.errors import DeepnormError

#: The notebooks in run order.
NOTEBOOKS: tuple[str, ...] = (
    "00_data_tour",
    "01_table2_cross_site",
    "02_table3_normalization",
    "03_table4_jsd",
    "04_table5_modalities",
    "05_table6_bias_field",
    "06_table7_lambda",
)


def notebook_parameters(*, profile: str, data_root: str | None, seed: int, device: str,
                        results: Path, figures: Path, runs: Path) -> dict[str, Any]:
    """The parameters passed to every notebook; each notebook declares all of them."""
    return {
        "profile": profile,
        "data_root": data_root or "",
        "seed": seed,
        "device": device,
        "results_dir": str(results),
        "figures_dir": str(figures),
        "runs_dir": str(runs),
    }


def shown_path(path: str | Path, root: Path) -> str:
    """`path` relative to the project `root` when it lies inside it (reports do not name a user's folders)."""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def run_notebook(name: str, parameters: dict[str, Any], *, notebooks_dir: Path, out_dir: Path) -> float:
    """Execute ``notebooks_dir/<name>.ipynb`` into ``out_dir`` with papermill; returns seconds."""
    import papermill

    source = notebooks_dir / f"{name}.ipynb"
    if not source.is_file():
        raise DeepnormError(f"notebook {source} not found: run from a deepnorm checkout (or set DEEPNORM_HOME)")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source), str(out_dir / f"{name}.ipynb"), parameters=parameters, kernel_name="python3",
        cwd=str(notebooks_dir), progress_bar=False,
    )
    return time.perf_counter() - start
