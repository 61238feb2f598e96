"""A run folder's layout, and what reads and writes it without the networks (no torch import).

A run folder ``<runs_dir>/<run_key>/`` carries everything needed to use the run again:

- ``config.yaml``: the :class:`~deepnorm.training.config.Config`;
- ``run.json``: profile, resolved data root, seed, the manifest of the data files used
  (:mod:`deepnorm.data.manifest`), creation time (UTC) and an optional name;
- ``splits.json``: ``{site: {train, val, test: subject ids}}``;
- ``history.csv`` (one row per epoch), ``confusion.json`` and ``confusion/epoch-NNN.json``;
- ``checkpoint.pt`` (every epoch: :data:`CHECKPOINT_KEYS`), ``final.pt`` (networks) and ``DONE``;
- ``fit.json``: what a population method (``needs_fit``: "nyul") learned from the training
  volumes, written before the first epoch and restored on resume and when the run is loaded;
- ``eval/``: evaluations of the run, ``eval/test`` on the test subjects of its own sites and
  ``eval/test-A+B`` on those of other sites (:func:`evaluation_folder`);
- ``.lock``: held by the process that trains it (:func:`run_lock`).

The folder name :func:`run_key` hashes the configuration and the digest of the data's content,
so the same configuration on other data gets another folder. A folder is recognised as a run
folder deepnorm wrote when its ``config.yaml`` and the manifest of its ``run.json`` give back
its name (:func:`is_run_folder`); :func:`check_config` refuses one whose ``config.yaml`` was
edited after training (naming the field, from the configuration ``run.json`` records since it
holds one, else the key). Starting a run over (``--force``) deletes only the files training
writes and the evaluation folders deepnorm wrote under ``eval/`` (:func:`training_files`); a
file a user added to the folder is kept.

The finished run itself (its networks, :class:`~deepnorm.training.runs.Run`) is loaded by
:func:`deepnorm.training.runs.load_run`.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from deepnorm.data.manifest import (
    Manifest,
    describe_changes,
    manifest_changes,
    manifest_digest,
)
from deepnorm.devices import cpu_description
from deepnorm.errors import DataError, RunError
from deepnorm.files import atomic_write_text

if TYPE_CHECKING:
    from deepnorm.training.config import Config
    from deepnorm.training.methods.base import Method

CONFIG = "config.yaml"
RUN_INFO = "run.json"
SPLITS = "splits.json"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.pt"
DONE = "DONE"
CONFUSION = "confusion.json"
CONFUSION_DIR = "confusion"
EVAL_DIR = "eval"
#: ``eval/test``: the evaluation on the test subjects of the run's own sites
TEST_EVAL = "test"
LOCK = ".lock"
FIT = "fit.json"

#: files a finished run must hold
REQUIRED = (CONFIG, SPLITS, HISTORY, FINAL, DONE)

#: what ``checkpoint.pt`` holds, to resume a run exactly where it stopped
CHECKPOINT_KEYS: tuple[str, ...] = ("epoch", "nets", "optimizers", "batches", "history", "rng")

HISTORY_FIELDS: tuple[str, ...] = (
    "epoch", "loss", "seg_loss", "adversarial", "d_loss", "d_accuracy", "d_accuracy_real", "d_accuracy_generated",
    "val_seg_loss", "val_dice", "d_val_loss", "d_val_accuracy", "d_val_accuracy_real", "d_val_accuracy_generated",
    "lr_gs", "lr_d", "seconds",
)

Splits = dict[str, dict[str, list[str]]]


class RunInfo(TypedDict):
    """The content of ``run.json``."""

    profile: str
    data_root: str
    seed: int
    manifest: Manifest
    created: str
    name: str | None
    config: NotRequired[dict[str, Any]]
    precision: NotRequired[str]
    processor: NotRequired[dict[str, Any]]


#: The keys every run.json holds ("config", the training configuration, "precision", the arithmetic
#: it trains in, and "processor", what PyTorch saw of the CPU that trained it, were added later).
_INFO_KEYS = ("profile", "data_root", "seed", "manifest", "created", "name")


# --------------------------------------------------------------------------- names and files
def run_key(config: Config, manifest: Manifest) -> str:
    """12 hex digits of the configuration's stable hash and the data's content digest."""
    text = f"{config.stable_hash()}:{manifest_digest(manifest)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_folder(config: Config, runs_dir: str | Path | None, manifest: Manifest) -> Path:
    """``<runs_dir>/<run_key>`` (runs_dir defaults to deepnorm.paths.runs_dir())."""
    from deepnorm import paths

    return Path(runs_dir if runs_dir is not None else paths.runs_dir()) / run_key(config, manifest)


def find_run(config: Config, runs_dir: str | Path | None = None, *, data_root: str | Path | None = None) -> Path | None:
    """The finished run folder of `config` trained on `data_root` (default: the profile's phantom), or None."""
    from deepnorm.data.manifest import data_manifest
    from deepnorm.data.roots import resolve_data_root

    root = resolve_data_root(data_root, profile=config.profile, seed=config.train.seed)
    folder = run_folder(config, runs_dir, data_manifest(root, config.data.sites))
    return folder if is_done(folder) else None


def is_done(folder: Path) -> bool:
    """Whether the run in `folder` finished (its ``DONE`` is written last)."""
    return (folder / DONE).is_file()


def evaluation_folder(folder: Path, sites: Sequence[str] | None = None) -> Path:
    """``<run>/eval/test`` for the run's own sites (`sites` None), ``<run>/eval/test-A+B`` for `sites` A, B."""
    name = TEST_EVAL if sites is None else f"{TEST_EVAL}-{'+'.join(sites)}"
    return folder / EVAL_DIR / name


def confusion_file(folder: Path, epoch: int) -> Path:
    """``<run>/confusion/epoch-NNN.json``: D's confusion matrix after `epoch` (1-based)."""
    return folder / CONFUSION_DIR / f"epoch-{epoch:03d}.json"


def write_run_info(folder: Path, config: Config, manifest: Manifest, name: str | None = None) -> RunInfo:
    """Write ``run.json`` for a new run of `config` on the data of `manifest`."""
    info = RunInfo(profile=config.profile, data_root=manifest["root"], seed=config.train.seed, manifest=manifest,
                   created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), name=name,
                   config=json.loads(json.dumps(config.to_dict())), precision=config.train.precision,
                   processor=cpu_description())
    atomic_write_text(folder / RUN_INFO, json.dumps(info, indent=1) + "\n")
    return info


def read_run_info(folder: Path) -> RunInfo | None:
    """The ``run.json`` of `folder`, or None for a run written before it existed."""
    path = folder / RUN_INFO
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RunError(f"{path} is corrupt ({err}); delete the run folder and train again") from None
    if not isinstance(info, dict):
        raise RunError(f"{path} holds a JSON {type(info).__name__}, not the run's record; delete the run folder "
                       "and train again")
    missing = [k for k in _INFO_KEYS if k not in info]
    if missing:
        raise RunError(f"{path} lacks {', '.join(missing)}; delete the run folder and train again")
    return cast(RunInfo, info)  # a JSON object with every required key, checked above


def check_same_data(folder: Path, recorded: Manifest, current: Manifest) -> None:
    """RunError naming the changed files when `current` differs from the `recorded` data of the run."""
    changes = manifest_changes(recorded, current)
    if changes:
        raise RunError(
            f"the data of run {folder} changed since it was trained ({len(changes)} file(s) under "
            f"{current['root']}: {describe_changes(changes)}); restore the data, or train again with force=True (--force)"
        )


def write_history(history: list[dict[str, Any]], path: str | Path) -> None:
    """Write the per-epoch rows as CSV (atomic)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(HISTORY_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in HISTORY_FIELDS})
    atomic_write_text(Path(path), buffer.getvalue())


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The rows of a history.csv as dicts of floats (epoch as int); RunError naming the file when corrupt."""
    path = Path(path)
    rows = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "epoch" not in reader.fieldnames:
                raise ValueError("no header with an 'epoch' column")
            for row in reader:
                if None in row or None in row.values():
                    raise ValueError(f"line {reader.line_num} has {len(row)} columns")
                parsed: dict[str, Any] = {k: (float(v) if v != "" else math.nan) for k, v in row.items()}
                parsed["epoch"] = int(parsed["epoch"])
                rows.append(parsed)
    except (ValueError, UnicodeDecodeError, csv.Error) as err:
        raise RunError(
            f"history {path} is corrupt ({err}); train the run again with force=True (--force), "
            "or restore the file"
        ) from None
    return rows


def finished_epochs(folder: Path) -> int:
    """Epochs recorded in the run folder's history (0 without one)."""
    path = folder / HISTORY
    return len(read_history(path)) if path.is_file() else 0


def write_fit(folder: Path, method: Method) -> None:
    """Write ``fit.json``: the method's name and what it learned (:meth:`Method.fit_state`)."""
    text = json.dumps({"method": method.name, "state": method.fit_state()}, indent=1)
    atomic_write_text(folder / FIT, text + "\n")


def read_fit(folder: Path, method: Method) -> None:
    """Load ``fit.json`` of `folder` into `method` (:meth:`Method.load_fit`).

    Raises:
        RunError: the file is missing, corrupt, or holds another method's or configuration's fit
            (names the file and the fix).
    """
    path = folder / FIT
    fix = "train the run again with force=True (--force), which fits it on the training volumes again"
    if not path.is_file():
        raise RunError(f"{path} is missing: method {method.name!r} needs the fit it learned from the run's training "
                       f"volumes, and refitting it silently could change the run; {fix}")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or saved.get("method") != method.name or not isinstance(saved.get("state"), dict):
            raise ValueError(f"expected {{'method': {method.name!r}, 'state': {{...}}}}")
        method.load_fit(saved["state"])
    except (ValueError, DataError) as err:
        raise RunError(f"{path} is not a usable fit of this run ({err}); {fix}") from None


#: The files (and folder) training writes at the top of a run folder.
TRAINING_FILES = (CONFIG, RUN_INFO, SPLITS, HISTORY, CHECKPOINT, FINAL, DONE, CONFUSION, FIT)


def _changed_fields(recorded: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    fields = []
    for key in sorted(set(recorded) | set(current)):
        a, b = recorded.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            fields += _changed_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            fields.append(f"{prefix}{key} {a!r} -> {b!r}")
    return fields


def check_config(folder: Path, config: Config, info: RunInfo | None) -> None:
    """RunError when the run's ``config.yaml`` (`config`) is not the configuration it was trained with.

    Compared with the configuration recorded in ``run.json`` (naming the fields that changed), or,
    for a run whose ``run.json`` predates that record, with the run key of the folder's name. A
    run without ``run.json``, or in a folder not named by a key, is not checked.
    """
    fix = "restore the file (or train the edited configuration as a run of its own)"
    if info is None:
        return
    recorded = info.get("config")
    if isinstance(recorded, dict):
        changed = _changed_fields(recorded, json.loads(json.dumps(config.to_dict())))
        if changed:
            raise RunError(f"{folder / CONFIG} was edited after training ({'; '.join(changed[:3])}); {fix}")
        return
    name = folder.resolve().name
    if len(name) == 12 and all(c in "0123456789abcdef" for c in name) and run_key(config, info["manifest"]) != name:
        raise RunError(f"{folder / CONFIG} was edited after training: it no longer gives the run key {name} "
                       f"of its folder; {fix}")


def read_config(folder: Path) -> Config:
    """The run's ``config.yaml``; a ConfigError about its content names the file."""
    from deepnorm.errors import ConfigError
    from deepnorm.training.config import Config

    path = folder / CONFIG
    try:
        return Config.from_yaml(path)
    except ConfigError as err:
        if str(path) in str(err):
            raise
        raise ConfigError(f"{path}: {err}; restore the run's config.yaml") from None


def is_run_folder(folder: Path) -> bool:
    """Whether `folder` is a run folder deepnorm wrote: its config.yaml and run.json give back its name."""
    from deepnorm.training.config import Config

    try:
        info = read_run_info(folder)
        return info is not None and run_key(Config.from_yaml(folder / CONFIG), info["manifest"]) == folder.resolve().name
    except (DataError, RunError, OSError, ValueError, KeyError, TypeError):
        return False


def training_files(folder: Path) -> list[Path]:
    """What starting the run in `folder` over deletes: the files training writes (:data:`TRAINING_FILES`,
    ``confusion/epoch-NNN.json``, leftover temporary files of atomic writes) and the evaluation folders
    deepnorm wrote under ``eval/`` (their results belong to the old networks). Nothing else."""
    from deepnorm.markers import is_evaluation

    if not folder.is_dir():
        return []
    found = [folder / name for name in TRAINING_FILES if (folder / name).is_file() and not (folder / name).is_symlink()]
    found += [f for f in folder.glob(".*.tmp") if f.is_file() and any(f.name.startswith(f".{n}.") for n in TRAINING_FILES)]
    confusion = folder / CONFUSION_DIR
    if confusion.is_dir() and not confusion.is_symlink():
        found += sorted(f for f in confusion.glob("epoch-*.json") if f.is_file())
    evals = folder / EVAL_DIR
    if evals.is_dir() and not evals.is_symlink():
        found += sorted(f for f in evals.iterdir() if is_evaluation(f))
    return found


def clear_run(folder: Path) -> list[Path]:
    """Delete what :func:`training_files` lists (never the lock, held by the caller, nor a user's file).

    The ``confusion/`` and ``eval/`` folders go too when that leaves them empty. Returns what was deleted.
    """
    removed = training_files(folder)
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    for sub in (folder / CONFUSION_DIR, folder / EVAL_DIR):
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()
    return removed


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.lock`` (created with the folder) for the block.

    Raises:
        RunError: another process holds it; the message names the folder and that process's PID.
    """
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK, "a+", encoding="ascii")  # held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunError(
                f"run folder {folder} is in use by another training (PID {holder}); wait for it to finish "
                "(then the run is reused), or stop it and continue with --resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
