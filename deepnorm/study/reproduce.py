"""The notebooks of the study and how one is executed (papermill); ``deepnorm reproduce`` runs them all.

Executed notebooks go to ``results/notebooks/`` (ignored by git); each notebook writes its own
numbers to the results folder and its figures to the figures folder that ``deepnorm reproduce``
passes (``results/`` and ``figures/``). Run by hand with its defaults, a notebook writes to
:func:`scratch_dir` instead, so it never overwrites the committed tables and figures. Finished
training runs are reused, so a second ``make reproduce`` only re-executes the notebooks.

While a notebook runs, one terminal line shows its elapsed time and the training in progress
(method, sites, epoch, time left), read from the run folder that the training is writing
(its ``config.yaml`` and ``history.csv``, :mod:`deepnorm.training.folder`): see :class:`ProgressLine`.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TextIO

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import DeepnormError
from deepnorm.training.folder import CONFIG, HISTORY, is_done, read_config, read_history

#: The notebooks in run order (the one list: ``deepnorm reproduce``, the tests and the README follow it).
NOTEBOOKS: tuple[str, ...] = (
    "00_data_tour",
    "00b_algorithm1_walkthrough",
    "01_table2_cross_site",
    "02_table3_normalization",
    "03_table4_jsd",
    "04_table5_modalities",
    "05_table6_bias_field",
    "06_table7_lambda",
)
#: Notebooks beyond the paper, run by ``deepnorm reproduce --beyond`` (``make reproduce-beyond``).
BEYOND_NOTEBOOKS: tuple[str, ...] = ("07_beyond_unseen_site",)
#: The scale study (widths and epochs of the cpu profile times 1-9), run by ``make reproduce-scale``
#: (``deepnorm reproduce --only 08_scale``): a day of 2 cores for its default grid, so not part of ``make reproduce``.
SCALE_NOTEBOOKS: tuple[str, ...] = ("08_scale",)

#: Arguments of the notebooks' kernel: its log level hides ipykernel's start-up warning
#: "Kernel is running over TCP without encryption" (the kernel listens on the loopback only).
KERNEL_ARGUMENTS: tuple[str, ...] = ("--IPKernelApp.log_level=ERROR",)

Parameter = str | int | float | list[str] | list[float]


def scratch_dir(kind: str = "results") -> Path:
    """Where a notebook run by hand writes its tables (``kind="results"``) or figures (``"figures"``).

    ``results/notebooks/scratch/`` (ignored by git), so that only ``deepnorm reproduce`` writes to
    the committed ``results/`` and ``figures/``.
    """
    from deepnorm.paths import results_dir

    if kind not in ("results", "figures"):
        raise DeepnormError(f"scratch_dir kind={kind!r}: use 'results' or 'figures'")
    folder = results_dir() / "notebooks" / "scratch"
    return folder if kind == "results" else folder / "figures"


def notebook_parameters(*, profile: str, data_root: str | None, seed: int, device: str,
                        results: Path, figures: Path, runs: Path, precision: str = "",
                        scale: str = "") -> dict[str, Parameter]:
    """The parameters passed to every notebook; each notebook declares all of them (`precision` ""
    is the profile's, `scale` "" the profile's widths and epochs)."""
    return {
        "precision": precision,
        "scale": scale,
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


def run_notebook(name: str, parameters: dict[str, Parameter], *, notebooks_dir: Path, out_dir: Path) -> float:
    """Execute ``notebooks_dir/<name>.ipynb`` into ``out_dir`` with papermill; returns seconds."""
    import papermill

    source = notebooks_dir / f"{name}.ipynb"
    if not source.is_file():
        raise DeepnormError(f"notebook {source} not found: run from a deepnorm checkout (or set DEEPNORM_HOME)")
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source), str(out_dir / f"{name}.ipynb"), parameters=parameters, kernel_name="python3",
        cwd=str(notebooks_dir), progress_bar=False, extra_arguments=list(KERNEL_ARGUMENTS),
    )
    return time.perf_counter() - start


def tables_written_since(results: Path, seeds: list[int], since: float) -> list[str]:
    """Names (without suffix) of the tables in ``results/seed-N/`` of `seeds` modified at or after
    `since` (seconds since the epoch): the tables a reproduction that started then wrote itself."""
    names: set[str] = set()
    for seed in seeds:
        folder = Path(results) / f"seed-{seed}"
        if folder.is_dir():
            names.update(p.stem for p in folder.iterdir()
                         if p.suffix in (".csv", ".json") and p.stat().st_mtime >= since)
    return sorted(names)


def replaces_committed_results(results: Path, root: Path) -> bool:
    """Whether `results` is the project's committed ``results/`` folder, which a reproduction rewrites."""
    return Path(results).resolve() == (Path(root) / "results").resolve()


# --------------------------------------------------------------------------- progress
def minutes(seconds: float) -> str:
    """`seconds` as ``m:ss``."""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def training_progress(runs_dir: str | Path, *, since: float = 0.0) -> str | None:
    """One phrase on the training in progress under `runs_dir`, or None when none is.

    A training in progress is a run folder with ``config.yaml`` (written when training starts),
    no ``DONE`` and a modification time after `since` (seconds since the epoch); the most recent
    one is described: "training <method> on <sites>: epoch e/E, about m:ss left", where the time
    left is the mean seconds per finished epoch times the epochs to go. Unreadable folders are
    skipped: the phrase is a display, never a reason to fail.
    """
    candidates = []
    folders = [p for p in Path(runs_dir).iterdir() if p.is_dir()] if Path(runs_dir).is_dir() else []
    for folder in folders:
        config_file = folder / CONFIG
        try:
            if not config_file.is_file() or is_done(folder):
                continue
            changed = max([config_file.stat().st_mtime, *(p.stat().st_mtime for p in folder.glob(HISTORY))])
        except OSError:  # the training replaced the folder meanwhile
            continue
        if changed >= since:
            candidates.append((changed, folder))
    for _, folder in sorted(candidates, reverse=True):
        try:
            config = read_config(folder)
            history = read_history(folder / HISTORY) if (folder / HISTORY).is_file() else []
        except (OSError, KeyError, TypeError, ValueError, DeepnormError):
            continue
        method, epochs = config.train.method, config.train.epochs
        sites = " + ".join(SITE_NAMES.get(s, s) for s in config.data.sites)
        seconds = [s for s in (row.get("seconds", math.nan) for row in history) if not math.isnan(s)]
        done = len(seconds)
        phrase = f"training {method} on {sites}: epoch {min(done + 1, epochs)}/{epochs}"
        if seconds:
            phrase += f", about {minutes(sum(seconds) / done * (epochs - done))} left"
        return phrase
    return None


class ProgressLine:
    """A terminal line rewritten in place (``\\r``) while a notebook runs: name, elapsed time, training.

        with ProgressLine("[2/8] 01_table2_cross_site", runs_dir):
            run_notebook(...)

    The line is drawn only on a terminal (``stream.isatty()``), every `interval` seconds, by a
    background thread; leaving the block erases it, so the caller prints the outcome on that line.
    Elsewhere (a log file, CI) the block writes ``<prefix> ...`` once, on a line of its own.
    """

    def __init__(self, prefix: str, runs_dir: str | Path, *, stream: TextIO, interval: float = 1.0) -> None:
        self.prefix = prefix
        self.runs_dir = Path(runs_dir)
        self.stream = stream
        self.interval = float(interval)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0
        self._start = time.time()

    def line(self) -> str:
        """The current text of the line."""
        text = f"{self.prefix} {minutes(time.time() - self._start)}"
        training = training_progress(self.runs_dir, since=self._start - 1.0)
        return f"{text} · {training}" if training else text

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw(self.line())

    def __enter__(self) -> ProgressLine:  # not typing.Self: it needs Python 3.11
        self._start = time.time()
        if self.stream.isatty():
            self._draw(self.line())
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        else:
            self.stream.write(f"{self.prefix} ...\n")
            self.stream.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._draw("")
            self.stream.write("\r")
            self.stream.flush()
