"""A finished run: its networks, loaded from the run folder, and what they do to a volume.

The run folder's layout, its names, lock, ``run.json``, history and readers are
:mod:`deepnorm.training.folder` (no torch); they are importable from here too.
:func:`load_run` refuses a folder that is incomplete, holds another configuration's networks, or
whose ``config.yaml`` was edited after training (:func:`~deepnorm.training.folder.check_config`).

>>> # run = load_run("runs/0123456789ab")
>>> # probs = run.segment_volume(prepared.image, prepared.mask)   # (4, X, Y, Z)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from deepnorm.errors import DataError, RunError
from deepnorm.precision import runs_in_bf16
from deepnorm.training.config import Config
from deepnorm.training.folder import (
    CHECKPOINT,
    CHECKPOINT_KEYS,
    CONFIG,
    CONFUSION,
    CONFUSION_DIR,
    DONE,
    EVAL_DIR,
    FINAL,
    FIT,
    HISTORY,
    HISTORY_FIELDS,
    LOCK,
    REQUIRED,
    RUN_INFO,
    SPLITS,
    TEST_EVAL,
    TRAINING_FILES,
    RunInfo,
    Splits,
    check_config,
    check_same_data,
    clear_run,
    confusion_file,
    evaluation_folder,
    find_run,
    finished_epochs,
    is_done,
    is_run_folder,
    read_config,
    read_fit,
    read_history,
    read_run_info,
    run_folder,
    run_key,
    run_lock,
    training_files,
    write_fit,
    write_history,
    write_run_info,
)

if TYPE_CHECKING:
    from deepnorm.data.preprocess import Prepared
    from deepnorm.training.methods.base import Method, Nets

__all__ = [
    "CHECKPOINT", "CHECKPOINT_KEYS", "CONFIG", "CONFUSION", "CONFUSION_DIR", "DONE", "EVAL_DIR", "FINAL", "FIT",
    "HISTORY", "HISTORY_FIELDS", "LOCK", "REQUIRED", "RUN_INFO", "SPLITS", "TEST_EVAL", "TRAINING_FILES", "Run",
    "RunInfo", "Splits", "check_config", "check_same_data", "clear_run", "confusion_file", "evaluation_folder",
    "find_run", "finished_epochs", "is_done", "is_run_folder", "load_networks", "load_run", "load_state",
    "read_config", "read_fit", "read_history", "read_run_info", "run_folder", "run_key", "run_lock", "training_files",
    "write_fit", "write_history", "write_run_info",
]


# --------------------------------------------------------------------------- a finished run
@dataclass
class Run:
    """A finished run: its configuration, context, splits, history and networks (eval mode on `device`).

    Attributes:
        folder: the run folder.
        config: its Config.
        splits: {site: {"train", "val", "test": subject ids}}.
        history: one dict per epoch (history.csv columns).
        generator, segmenter, discriminator: the networks, None when the method has none.
        device: where the networks live and volumes are processed.
        info: the content of run.json (None for runs written before it existed).
    """

    folder: Path
    config: Config
    splits: Splits
    history: list[dict[str, float]]
    generator: nn.Module | None
    segmenter: nn.Module
    discriminator: nn.Module | None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    info: RunInfo | None = None
    _method: Method | None = field(default=None, repr=False, compare=False)

    @property
    def method(self) -> str:
        """The training method's name."""
        return self.config.train.method

    @property
    def profile(self) -> str:
        """The profile the run was configured from."""
        return self.config.profile

    @property
    def seed(self) -> int:
        """The run's one seed (splits, patches, initialisation, augmentation)."""
        return self.config.train.seed

    @property
    def name(self) -> str:
        """The run's name in run.json, else its folder name."""
        return (self.info or {}).get("name") or self.folder.name

    @property
    def data_root(self) -> Path | None:
        """The resolved data root it was trained on (None when unrecorded)."""
        return Path(self.info["data_root"]) if self.info else None

    def resolve_data_root(self, data_root: str | Path | None = None) -> Path:
        """`data_root`, else the recorded one, else the embedded phantom of the run's profile and seed."""
        from deepnorm.data.roots import resolve_data_root

        if data_root is None and self.data_root is not None:
            data_root = self.data_root
        return resolve_data_root(data_root, profile=self.profile, seed=self.seed)

    def check_data(self, data_root: Path) -> None:
        """RunError naming the changed files when the run's sites under `data_root` differ from its training data."""
        from deepnorm.data.manifest import data_manifest

        if self.info is not None:
            check_same_data(self.folder, self.info["manifest"], data_manifest(data_root, self.config.data.sites))

    def split_ids(self, data_root: Path, site: str, split: str) -> list[str]:
        """Subject ids of `split` of `site`: the run's own (splits.json), else drawn with the run's seed."""
        from deepnorm.data.prepared import SPLIT_NAMES, site_splits

        if split not in SPLIT_NAMES:
            raise DataError(f"split {split!r} does not exist; use one of {', '.join(SPLIT_NAMES)}")
        if site in self.splits:
            return list(self.splits[site][split])
        return site_splits(data_root, site, self.seed, self.config.data.holdout_scanners)[split]

    def prepare_split(self, data_root: Path, site: str, split: str = "test", *, runs_dir: str | Path | None = None,
                      progress: bool = False) -> list[Prepared]:
        """Prepared volumes of :meth:`split_ids`, pre-processed like the run's inputs.

        Padded to the common shape of `site` only (the sliding window takes any shape), so a run
        can be tested on a site it was not trained on. The cache is that of `runs_dir`
        (default: the folder that holds the run).
        """
        from deepnorm.data.prepared import common_padded_shape, prepare_site
        from deepnorm.data.preprocess import pad_to

        runs_dir = self.folder.parent if runs_dir is None else runs_dir
        data = dataclasses.replace(self.config.data, sites=(site,))
        ids = self.split_ids(data_root, site, split)
        shape = common_padded_shape(data_root, data, runs_dir=runs_dir)
        prepared = prepare_site(data_root, data, site, runs_dir=runs_dir, subject_ids=ids, progress=progress)
        return [pad_to(prepared[s], shape) for s in ids]

    def _loaded_method(self) -> Method:
        """The run's method, with its saved fit (``fit.json``) when it has one; built once."""
        from deepnorm.training.methods import method_for

        if self._method is None:
            method = method_for(self.config)
            if method.needs_fit:
                read_fit(self.folder, method)
            self._method = method
        return self._method

    def _check(self, image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        image = np.asarray(image, dtype=np.float32)
        c = self.config.data.n_channels
        if image.ndim != 4 or image.shape[0] != c:
            raise DataError(
                f"image of shape {image.shape}: run {self.folder.name} expects (C={c}, X, Y, Z) with channels "
                f"{', '.join(self.config.data.modalities)}; add a channel axis (image[None]) or pass the right modalities"
            )
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != image.shape[1:]:
                raise DataError(f"mask of shape {mask.shape} does not match the image {image.shape[1:]}; pass its brain mask")
        return image, mask

    def _window(self, image: np.ndarray, predictor: Callable[[torch.Tensor], torch.Tensor] | nn.Module) -> np.ndarray:
        from deepnorm.inference import sliding_window_predict

        return sliding_window_predict(
            image,
            predictor,
            patch_size=self.config.data.patch_size,
            stride=self.config.eval_.stride,
            batch_size=self.config.eval_.batch_size,
            device=self.device,
            amp=runs_in_bf16(self.config, self.device),
        )

    def normalize_volume(self, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The normalized volume (C, X, Y, Z) float32 of a prepared image (C, X, Y, Z).

        segmenter: the input; standardization and the classical methods: their volume transform
        (:meth:`Method.prepare_volume`; nyul with the run's saved fit); preprocessor/adversarial:
        G by sliding window (patch and stride of the config), then 0 outside `mask` when given.
        """
        image, mask = self._check(image, mask)
        prepared = self._loaded_method().prepare_volume(image, mask)
        if self.generator is None:
            return prepared
        out = self._window(prepared, self.generator).astype(np.float32)
        if mask is not None:
            out = out * mask[None]
        return out

    def segment_volume(self, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (4, X, Y, Z) of softmax(S(G(x))) averaged over sliding windows.

        G and S run patch by patch, as in training; `mask` matters only to the methods whose volume
        transform uses the brain (standardization_brain and the classical methods).
        """
        image, mask = self._check(image, mask)
        prepared = self._loaded_method().prepare_volume(image, mask)
        generator, segmenter = self.generator, self.segmenter

        def predictor(x: torch.Tensor) -> torch.Tensor:
            if generator is not None:
                x = generator(x)
            return torch.softmax(segmenter(x), dim=1)

        return self._window(prepared, predictor).astype(np.float32)


def load_state(net: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str, fix: str) -> None:
    """`net.load_state_dict(state)`; RunError naming `path` when the weights belong to another configuration."""
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(f"{path}: the {name} weights do not fit this configuration ({first}); {fix}") from None


def load_networks(config: Config, states: dict[str, dict[str, torch.Tensor]], path: Path, fix: str,
                  device: torch.device) -> Nets:
    """The networks of `config`'s method, built as in training, with the weights `states` ({network name:
    state dict}, read from `path`), in eval mode on `device`.

    Raises:
        RunError: a network's weights are missing or belong to another configuration (names `path`, then `fix`).
    """
    from deepnorm.training.methods import method_for

    nets = method_for(config).build(config.train.seed)
    for name, net in nets.items():
        if name not in states:
            raise RunError(f"{path} has no {name} weights; {fix}")
        load_state(net, states[name], path, name, fix)
        net.to(device).eval()
    return nets


def load_run(folder: str | Path, *, device: str | torch.device = "auto") -> Run:
    """Load a finished run folder (networks in eval mode on `device`: "auto", "cpu", "cuda").

    Raises:
        RunError: the folder is missing, incomplete, holds files of another configuration, or
            lacks the ``fit.json`` its method needs (names the file and the fix).
    """
    from deepnorm.devices import resolve_device
    from deepnorm.training.checkpoint import load_checkpoint

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunError(f"run {folder} is a file, not a run folder; pass the folder of a finished training "
                       "(runs/<hash> or an alias)")
    if not folder.is_dir():
        raise RunError(f"run folder {folder} does not exist; train it with `deepnorm train` (or deepnorm.training.loop.train)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise RunError(
            f"run folder {folder} is incomplete (missing {', '.join(missing)}): the training did not finish; "
            "continue it with `deepnorm train ... --resume` or train(config, resume=True)"
        )
    config = read_config(folder)
    try:
        splits = json.loads((folder / SPLITS).read_text(encoding="utf-8"))
    except ValueError as err:
        raise RunError(f"{folder / SPLITS} is corrupt ({err}); delete the run folder and train again") from None
    history = read_history(folder / HISTORY)
    info = read_run_info(folder)
    check_config(folder, config, info)
    device = resolve_device(device)
    state = load_checkpoint(folder / FINAL, map_location=device)
    fix = "it does not belong to this run folder: delete the folder and train again"
    nets = load_networks(config, state.get("nets", {}), folder / FINAL, fix, device)
    run = Run(folder, config, splits, history, nets.generator, nets.segmenter, nets.discriminator, device, info)
    run._loaded_method()  # a population method's fit.json is read now: a missing one is reported at load
    return run
