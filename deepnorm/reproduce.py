"""``make reproduce``: run every notebook with papermill, then write REPORT.md.

    python -m deepnorm.reproduce [--profile cpu|smoke|paper] [--data-root DIR] [--seed N]
                                 [--device auto|cpu|cuda] [--only NAME ...] [--no-report]

Executed notebooks go to ``results/notebooks/`` (ignored by git); each notebook writes its own
numbers to ``results/`` and its figures to ``figures/``. Finished training runs are reused, so a
second ``make reproduce`` only re-executes the notebooks. One progress line per notebook.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepnorm.errors import DeepnormError
from deepnorm.paths import figures_dir, project_root, results_dir, runs_dir

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


def _shown(path: str | Path, root: Path) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the notebooks and write REPORT.md; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m deepnorm.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=("smoke", "cpu", "paper"))
    parser.add_argument("--data-root", default=None, help="real data root (default: the embedded phantom)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME", help="run only these notebooks")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--figures-dir", type=Path, default=None)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None, help="where to write the report (default REPORT.md)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)

    root = project_root()
    results = (args.results_dir or results_dir()).resolve()
    figures = (args.figures_dir or figures_dir()).resolve()
    runs = (args.runs_dir or runs_dir()).resolve()
    names = list(args.only) if args.only else list(NOTEBOOKS)
    unknown = sorted(set(names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s) {unknown}; choose from {list(NOTEBOOKS)}")

    data_root = args.data_root
    if data_root is None:
        from deepnorm.data.phantom import ensure_phantom

        start = time.perf_counter()
        data_root = str(ensure_phantom(profile=args.profile, seed=args.seed))
        print(f"[data] phantom ready at {data_root} ({time.perf_counter() - start:.0f} s)", flush=True)

    params = notebook_parameters(profile=args.profile, data_root=data_root, seed=args.seed, device=args.device,
                                 results=results, figures=figures, runs=runs)
    seconds: dict[str, float] = {}
    total_start = time.perf_counter()
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", end="", flush=True)
        try:
            seconds[name] = run_notebook(name, params, notebooks_dir=root / "notebooks", out_dir=results / "notebooks")
        except Exception as err:  # papermill raises PapermillExecutionError with the cell's traceback
            print(" FAILED", flush=True)
            print(f"{name} failed; the executed notebook with the error is {results / 'notebooks' / (name + '.ipynb')}\n{err}",
                  file=sys.stderr)
            return 1
        print(f" done in {seconds[name]:.0f} s", flush=True)
    total = time.perf_counter() - total_start

    meta: dict[str, Any] = {
        "profile": args.profile,
        "data": f"embedded phantom ({_shown(data_root, root)})" if args.data_root is None else _shown(data_root, root),
        "seed": args.seed,
        "device": args.device,
        "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
        "total wall time (s)": round(total),
        "notebook_seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    if args.only is None:
        (results / "reproduce.json").parent.mkdir(parents=True, exist_ok=True)
        (results / "reproduce.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if not args.no_report:
        from deepnorm.report import write_report

        path = write_report(args.report or root / "REPORT.md", results, meta=meta)
        print(f"[report] {path}")
    print(f"all notebooks done in {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
