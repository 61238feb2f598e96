"""What every training method shares: its networks, optimizers, schedulers and volume transforms.

A method (one small module each, registered by name in ``deepnorm.training.methods``) knows

- which networks it builds (:meth:`Method.build`): S always, G for the pre-processor and
  adversarial methods, D for the adversarial method only;
- how a whole volume is given to S (:meth:`Method.prepare_volume`: identity, a z-score for
  "standardization", a classical normalizer of :mod:`~deepnorm.training.methods.classical`),
  before patches are drawn or windows slide;
- for a population method (``needs_fit``, e.g. "nyul"), what it learns once from the training
  volumes of every site (:meth:`Method.fit`), saved in the run folder as :meth:`Method.fit_state`
  and restored with :meth:`Method.load_fit`; the other methods learn nothing;
- how a patch batch is normalized (:meth:`Method.normalize`: identity, or G);
- how one training iteration runs (:meth:`Method.train_iteration`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np
import torch
from torch import nn

from deepnorm.labels import N_CLASSES
from deepnorm.training.config import Config

if TYPE_CHECKING:
    from deepnorm.nets import Discriminator


@dataclass
class Nets:
    """The networks of a method (None when the method does not use one)."""

    generator: nn.Module | None
    segmenter: nn.Module
    discriminator: Discriminator | None

    def items(self) -> list[tuple[str, nn.Module]]:
        """(name, module) pairs of the networks that exist, in a fixed order."""
        pairs = [("generator", self.generator), ("segmenter", self.segmenter), ("discriminator", self.discriminator)]
        return [(name, net) for name, net in pairs if net is not None]

    def train(self, mode: bool = True) -> None:
        """Set every network to training (or evaluation) mode."""
        for _, net in self.items():
            net.train(mode)

    def to(self, device: str | torch.device) -> Nets:
        """Move every network to `device` (in place); returns self."""
        for _, net in self.items():
            net.to(device)
        return self


@dataclass
class Optimizers:
    """Adam on G+S (`gs`) and on D (`d`, None without D), with their schedulers (`d_scheduler`
    None without D or without a plateau)."""

    gs: torch.optim.Optimizer
    d: torch.optim.Optimizer | None
    gs_scheduler: Any
    d_scheduler: Any

    def state_dict(self) -> dict[str, Any]:
        """Optimizer and scheduler states (tensors, numbers, lists)."""
        state = {"gs": self.gs.state_dict(), "gs_scheduler": self.gs_scheduler.state_dict()}
        if self.d is not None:
            state["d"] = self.d.state_dict()
        if self.d_scheduler is not None:
            state["d_scheduler"] = self.d_scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        self.gs.load_state_dict(state["gs"])
        self.gs_scheduler.load_state_dict(state["gs_scheduler"])
        if self.d is not None:
            self.d.load_state_dict(state["d"])
        if self.d_scheduler is not None:
            self.d_scheduler.load_state_dict(state["d_scheduler"])

    def lrs(self) -> dict[str, float]:
        """Current learning rates: lr_gs, and lr_d when D exists."""
        out = {"lr_gs": float(self.gs.param_groups[0]["lr"])}
        if self.d is not None:
            out["lr_d"] = float(self.d.param_groups[0]["lr"])
        return out


@overload
def unwrap(net: None) -> None: ...
@overload
def unwrap(net: nn.Module) -> nn.Module: ...
def unwrap(net: nn.Module | None) -> nn.Module | None:
    """The module inside a DistributedDataParallel wrapper (or `net` itself)."""
    return getattr(net, "module", net) if net is not None else None


class Method:
    """Base class; subclasses set the class attributes and override what differs."""

    name: ClassVar[str] = ""
    uses_generator: ClassVar[bool] = False
    uses_discriminator: ClassVar[bool] = False
    #: whether prepare_volume needs what :meth:`fit` learns from the training volumes
    needs_fit: ClassVar[bool] = False

    @classmethod
    def normalizes(cls) -> bool:
        """Whether S sees a transformed image: a generator, or a volume transform of its own
        (:meth:`prepare_volume` overridden). Such a run has a normalized image to give."""
        return cls.uses_generator or cls.prepare_volume is not Method.prepare_volume

    def __init__(self, config: Config) -> None:
        self.config = config

    # ------------------------------------------------------------------ networks
    def build(self, seed: int | None = None) -> Nets:
        """Fresh networks, initialised from `seed` (default: config.train.seed)."""
        from deepnorm.nets import Discriminator, UNet3D

        seed = self.config.train.seed if seed is None else seed
        torch.manual_seed(seed)
        c = self.config.data.n_channels
        widths = self.config.model.widths
        # model.channels_last (default off): faster, equal up to float rounding, not bit for bit
        last = bool(getattr(self.config.model, "channels_last", False))
        generator = UNet3D(c, c, widths=widths, out_activation="sigmoid", channels_last=last) if self.uses_generator else None
        segmenter = UNet3D(c, N_CLASSES, widths=widths, channels_last=last)
        discriminator = None
        if self.uses_discriminator:
            discriminator = Discriminator(
                c,
                self.config.data.n_domains,
                widths=self.config.model.disc_widths,
                patch_size=self.config.data.patch_size,
                dropout=self.config.model.dropout,
            )
        return Nets(generator, segmenter, discriminator)

    def optimizers(self, nets: Nets) -> Optimizers:
        """Adam (weight decay from config) on G+S and on D; MultiStepLR on G+S, stepped once per
        iteration, at the milestones' fractions of the run (:func:`~deepnorm.training.config.milestone_iterations`);
        ReduceLROnPlateau on D, stepped once per validation, unless ``plateau_patience`` is 0."""
        from deepnorm.training.config import milestone_iterations

        t = self.config.train
        params = list(nets.segmenter.parameters())
        if nets.generator is not None:
            params = list(nets.generator.parameters()) + params
        gs = torch.optim.Adam(params, lr=t.lr_gs, weight_decay=t.weight_decay)
        total = t.epochs * self.config.batches_per_epoch
        gs_scheduler = torch.optim.lr_scheduler.MultiStepLR(gs, milestones=milestone_iterations(t.milestones, total),
                                                            gamma=t.lr_gamma)
        d = d_scheduler = None
        if nets.discriminator is not None:
            d = torch.optim.Adam(nets.discriminator.parameters(), lr=t.lr_d, weight_decay=t.weight_decay)
            if t.plateau_patience:
                d_scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    d, mode="min", factor=t.lr_gamma, patience=t.plateau_patience
                )
        return Optimizers(gs, d, gs_scheduler, d_scheduler)

    # ------------------------------------------------------------------ data
    def fit(self, volumes: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> None:
        """Learn from the training volumes ((C, X, Y, Z) float32 image, (X, Y, Z) bool mask or None) of
        every site, once, before :meth:`prepare_volume`; nothing by default."""

    def fit_state(self) -> dict[str, Any]:
        """What :meth:`fit` learned, as a JSON-ready dict (empty by default)."""
        return {}

    def load_fit(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`fit_state` returned (nothing by default)."""

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The volume (C, X, Y, Z) float32 as S's pipeline takes it (identity by default)."""
        return np.asarray(image, dtype=np.float32)

    def normalize(self, nets: Nets, x: torch.Tensor) -> torch.Tensor:
        """Normalized patches (N, C, p, p, p): identity unless the method has a generator."""
        return x if nets.generator is None else nets.generator(x)

    def segment(self, nets: Nets, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N, 4, p, p, p) of S on the normalized patches."""
        return torch.softmax(nets.segmenter(self.normalize(nets, x)), dim=1)

    # ------------------------------------------------------------------ training
    def train_iteration(self, nets: Nets, opts: Optimizers, batches: Iterator) -> dict[str, float]:
        """One iteration: a segmentation step of S (and G when present) on the next batch."""
        from deepnorm.training.algorithm1 import segmentation_update

        batch = next(batches)
        out = segmentation_update(nets.generator, nets.segmenter, opts.gs, batch.images, batch.labels, lam=0.0,
                                  dice_loss=self.config.train.dice_loss)
        return _floats(out)


def _floats(values: dict[str, Any]) -> dict[str, float]:
    """Plain floats of the numeric entries of a step's result dict."""
    out = {}
    for key, value in values.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[key] = float(value.detach())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out
