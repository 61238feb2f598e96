"""Finished training runs: load their networks and apply them to whole volumes.

>>> # run = load_run("runs/0123456789ab")
>>> # probs = run.segment_volume(prepared.image, prepared.mask)   # (4, X, Y, Z)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deepnorm.training.config import Config
from deepnorm.errors import DataError, RunError

_REQUIRED = ("config.yaml", "splits.json", "history.csv", "final.pt", "DONE")


@dataclass
class Run:
    """A finished run: its configuration, splits, history and networks (eval mode, CPU or `device`).

    Attributes:
        folder: the run folder.
        config: its Config.
        splits: {site: {"train", "val", "test": subject ids}}.
        history: one dict per epoch (history.csv columns).
        generator, segmenter, discriminator: the networks, None when the method has none.
        device: where the networks live and volumes are processed.
    """

    folder: Path
    config: Config
    splits: dict[str, dict[str, list[str]]]
    history: list[dict[str, Any]]
    generator: nn.Module | None
    segmenter: nn.Module
    discriminator: nn.Module | None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def method(self) -> str:
        """The training method's name."""
        return self.config.train.method

    def _method(self) -> Any:
        from deepnorm.training.methods import method_for

        return method_for(self.config)

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

    def _window(self, image: np.ndarray, predictor: Any) -> np.ndarray:
        from deepnorm.inference import sliding_window_predict

        return sliding_window_predict(
            image,
            predictor,
            patch_size=self.config.data.patch_size,
            stride=self.config.eval_.stride,
            batch_size=self.config.eval_.batch_size,
            device=self.device,
        )

    def normalize_volume(self, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The normalized volume (C, X, Y, Z) float32 of a prepared image (C, X, Y, Z).

        segmenter: the input; standardization: z-score on the brain; preprocessor/adversarial:
        G by sliding window (patch and stride of the config), then 0 outside `mask` when given.
        """
        image, mask = self._check(image, mask)
        prepared = self._method().prepare_volume(image, mask)
        if self.generator is None:
            return prepared
        out = self._window(prepared, self.generator).astype(np.float32)
        if mask is not None:
            out = out * mask[None]
        return out

    def segment_volume(self, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (4, X, Y, Z) of softmax(S(G(x))) averaged over sliding windows.

        G and S run patch by patch, as in training; `mask` only matters for "standardization".
        """
        image, mask = self._check(image, mask)
        prepared = self._method().prepare_volume(image, mask)
        generator, segmenter = self.generator, self.segmenter

        def predictor(x: torch.Tensor) -> torch.Tensor:
            if generator is not None:
                x = generator(x)
            return torch.softmax(segmenter(x), dim=1)

        return self._window(prepared, predictor).astype(np.float32)


def load_run(folder: str | Path, *, device: str | torch.device = "cpu") -> Run:
    """Load a finished run folder (networks in eval mode on `device`).

    Raises:
        RunError: the folder is missing or incomplete (names the missing file and the fix).
    """
    from deepnorm.training.checkpoint import load_checkpoint
    from deepnorm.training.methods import method_for
    from deepnorm.training.loop import read_history

    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"run folder {folder} does not exist; train it with `deepnorm train` (or deepnorm.training.loop.train)")
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise RunError(
            f"run folder {folder} is incomplete (missing {', '.join(missing)}): the training did not finish; "
            "continue it with `deepnorm train ... --resume` or train(config, resume=True)"
        )
    config = Config.from_yaml(folder / "config.yaml")
    splits = json.loads((folder / "splits.json").read_text(encoding="utf-8"))
    history = read_history(folder / "history.csv")
    device = torch.device(device)
    nets = method_for(config).build(config.train.seed)
    state = load_checkpoint(folder / "final.pt", map_location=device)
    for name, net in nets.items():
        if name not in state["nets"]:
            raise RunError(f"final.pt of {folder} has no {name} weights; delete the folder and train again")
        net.load_state_dict(state["nets"][name])
        net.to(device).eval()
    return Run(folder, config, splits, history, nets.generator, nets.segmenter, nets.discriminator, device)


def find_run(config: Config, runs_dir: str | Path | None = None) -> Path | None:
    """The finished run folder of `config` under `runs_dir`, or None."""
    from deepnorm.training.loop import run_folder

    folder = run_folder(config, runs_dir)
    return folder if (folder / "DONE").is_file() else None
