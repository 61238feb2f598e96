"""Typed, validated, hashable training configurations and the named profiles.

A :class:`Config` is a frozen value made of four sections (:class:`DataConfig`,
:class:`ModelConfig`, :class:`TrainConfig`, :class:`EvalConfig`). It is validated on
construction (a :class:`~deepnorm.errors.ConfigError` names the bad field and the allowed
values), round-trips exactly through ``to_dict``/``from_dict`` and ``to_yaml``/``from_yaml``,
and its :meth:`Config.stable_hash` names the run folder of a training.

Profiles (:func:`profile`):

- ``paper``: the paper's setting (Sec. 2.1-2.4): 1 mm voxels, 32^3 patches, stride 8, U-Net
  widths 64-128-256-512-512 (the authors' code), D widths 16-32-64-128, Adam with weight
  decay 1e-3, lr(G, S) 1e-3 divided by 10 at epochs 50 and 75, lr(D) 1e-4 with
  ReduceLROnPlateau(0.1, patience 7), lambda 1.5, n_steps 3, 120 epochs for two sites and 70 for
  three, 40,000 / 12,000 train / validation patches per site, on a GPU.
- ``cpu``: the same physical patch (32 mm) at 2 mm voxels (16^3 voxels), widths 8-16-32-64,
  sized for two CPU cores (what its trainings and a whole reproduction cost, per processor:
  ``docs/timings.md``).
- ``smoke``: seconds; for tests and for checking that a notebook runs end to end.

The paper profile is written once (:data:`PAPER`); ``cpu`` and ``smoke`` are the dotted
differences from it (:data:`PROFILE_CHANGES`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepnorm.data.config import DataConfig, _fail, _non_negative, _positive_int
from deepnorm.data.randomise import RandomisationParams
from deepnorm.devices import DEVICES
from deepnorm.errors import ConfigError
from deepnorm.files import atomic_write_text
from deepnorm.losses import DICE_LOSSES
from deepnorm.precision import check_precision, choose_precision

#: The methods of the paper's experiments (with the extra z-score baseline standardization_brain).
PAPER_METHODS: tuple[str, ...] = ("segmenter", "standardization", "standardization_brain", "preprocessor", "adversarial")
#: Classical MRI intensity normalizers followed by S (beyond the paper: no column of its tables),
#: from the intensity-normalization library (:mod:`deepnorm.training.methods.classical`).
CLASSICAL: tuple[str, ...] = ("nyul", "whitestripe", "fcm", "kde")
#: The methods trained on patches of random contrast: the only ones that train.randomisation configures
#: (every other method drops it, so that its configuration and run hash do not carry it).
RANDOMISATION_METHODS: tuple[str, ...] = ("contrast_randomisation",)
#: Beyond the paper: trained and evaluated like the others, never a column of the paper's tables.
BEYOND_PAPER_METHODS: tuple[str, ...] = (*CLASSICAL, *RANDOMISATION_METHODS)
METHODS: tuple[str, ...] = PAPER_METHODS + BEYOND_PAPER_METHODS
#: The methods that train a discriminator (the only ones λ of Eq. 3 weighs; methods.REGISTRY agrees, a test checks).
DISCRIMINATOR_METHODS: tuple[str, ...] = ("adversarial",)
#: train.lam of every run (the paper's main λ); a method without a discriminator keeps it, so that one
#: training has one configuration and one run folder.
DEFAULT_LAMBDA = 1.5
#: A one-site run is given the iterations per epoch of this many sites (equal effort).
MIN_SITES_FOR_UPDATES = 2
GENERATOR_LOSSES: tuple[str, ...] = ("nonsaturating", "minimax")
PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes.

    Attributes:
        widths: U-Net channels per level (G and S); depth = len(widths), the patch edge must be
            divisible by 2**(depth - 1).
        disc_widths: discriminator channels of its stride-2 conv blocks.
        dropout: discriminator dropout probability.
        channels_last: G and S in channels-last 3D memory layout (faster convolutions on CPU;
            the numbers differ from the default layout in the last float digits).
    """

    widths: tuple[int, ...] = (8, 16, 32, 64)
    disc_widths: tuple[int, ...] = (16, 32, 64, 128)
    dropout: float = 0.25
    channels_last: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))
        object.__setattr__(self, "disc_widths", tuple(self.disc_widths))
        for name, widths in (("model.widths", self.widths), ("model.disc_widths", self.disc_widths)):
            if len(widths) < 1 or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
                _fail(name, widths, "expected a non-empty list of channel counts >= 1")
        if len(self.widths) < 2:
            _fail("model.widths", self.widths, "a U-Net needs at least 2 levels")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            _fail("model.dropout", self.dropout, "expected a probability in [0, 1)")
        object.__setattr__(self, "dropout", float(self.dropout))
        if not isinstance(self.channels_last, bool):
            _fail("model.channels_last", self.channels_last, "expected true or false")

    @property
    def depth_multiple(self) -> int:
        """Spatial sizes given to the U-Net must be multiples of this (voxels)."""
        return 2 ** (len(self.widths) - 1)


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        method: one of ``METHODS``.
        epochs: number of epochs.
        batches_per_epoch: iterations per epoch; 0 derives it from the data section as
            ceil(max(n_sites, 2) * patches_per_site / batch_size): a one-site run gets the
            updates of the two-site runs it is compared with (Table 2 against Table 3).
        batch_size: patches per batch (the global batch when several processes train).
        lr_gs, lr_d: initial Adam learning rates of G and S, and of D.
        weight_decay: Adam weight decay of all networks.
        milestones, lr_gamma: where lr(G, S) is multiplied by lr_gamma, as fractions of the
            run's iterations (epochs x batches per epoch): the paper's epochs 50 and 75 of 120
            are (50/120, 75/120), so every profile keeps the paper's schedule in proportion
            (:func:`milestone_iterations`); the scheduler steps every iteration.
        plateau_patience: ReduceLROnPlateau patience (validations, one per epoch) of lr(D),
            factor lr_gamma, monitored on D's validation loss; 0 = no plateau (lr(D) constant).
            The paper's 7 of 120 epochs is 35,000 iterations; in a run whose 7/120 is shorter
            than one epoch the plateau would react to one noisy validation, so the shorter
            profiles train without it (see :data:`PROFILE_CHANGES`).
        lam: lambda of Eq. 3 (adversarial method only).
        n_steps: discriminator steps per iteration (Algorithm 1).
        generator_loss: "nonsaturating" (-log(1 - D_fake(G(x)))) or "minimax".
        dice_loss: "pooled" (Eq. 1 as printed: one weighted Dice pooled over the classes) or
            "per_class" (the weighted mean of per-class Dice, as the authors' code computed);
            see :mod:`deepnorm.losses`. Default "per_class", chosen on validation data: a cpu
            segmenter alone (iSEG + MRBrainS, seed 0) reached validation Dice 0.846 with it
            against 0.817 with "pooled" (``benchmarks/choose_dice_loss.py``).
        seed: the one seed of splits, patches, initialisation and augmentation.
        device: "auto" (cuda when available), "cpu" or "cuda".
        amp: bfloat16 autocast on CUDA (the CPU's switch is `precision`).
        precision: "float32", "bf16" (bf16 autocast on the CPU or GPU) or "auto", which the
            Config resolves on construction for its widths and device
            (:func:`deepnorm.precision.choose_precision`), so a stored configuration names the
            arithmetic that ran. bf16 changes the numbers, so it changes the run key; float32 is
            left out of :meth:`Config.to_dict`, so float32 runs keep their keys.
        deterministic: on CUDA, deterministic kernels only, so that a seed gives bit-identical
            weights on the same GPU (:func:`deepnorm.devices.cuda_determinism`); false lets cuDNN
            pick its fastest kernels, whose sums run in an arbitrary order. The CPU is
            deterministic either way.
        randomisation: the laws of the methods of :data:`RANDOMISATION_METHODS`
            (:class:`~deepnorm.data.randomise.RandomisationParams`, its defaults when not given);
            None for every other method, which ignores it, so that their configs (and run
            hashes) do not carry it.
    """

    method: str = "adversarial"
    epochs: int = 10
    batches_per_epoch: int = 0
    batch_size: int = 32
    lr_gs: float = 1e-3
    lr_d: float = 1e-4
    weight_decay: float = 1e-3
    milestones: tuple[float, ...] = (50 / 120, 75 / 120)
    lr_gamma: float = 0.1
    plateau_patience: int = 7
    lam: float = DEFAULT_LAMBDA
    n_steps: int = 3
    generator_loss: str = "nonsaturating"
    dice_loss: str = "per_class"
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    precision: str = "float32"
    deterministic: bool = True
    randomisation: RandomisationParams | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        randomisation = self.randomisation
        if self.method not in RANDOMISATION_METHODS:
            randomisation = None
        elif randomisation is None:
            randomisation = RandomisationParams()
        elif isinstance(randomisation, dict):
            randomisation = RandomisationParams.from_dict(randomisation)
        elif not isinstance(randomisation, RandomisationParams):
            _fail("train.randomisation", randomisation, "expected a mapping of RandomisationParams fields")
        object.__setattr__(self, "randomisation", randomisation)
        if self.method not in METHODS:
            _fail("train.method", self.method, f"expected one of {', '.join(METHODS)}")
        _positive_int("train.epochs", self.epochs)
        if not isinstance(self.batches_per_epoch, int) or self.batches_per_epoch < 0:
            _fail("train.batches_per_epoch", self.batches_per_epoch, "expected an integer >= 0 (0 = derived)")
        _positive_int("train.batch_size", self.batch_size)
        for name in ("lr_gs", "lr_d"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                _fail(f"train.{name}", value, "expected a learning rate > 0")
        _non_negative("train.weight_decay", self.weight_decay)
        if list(self.milestones) != sorted(set(self.milestones)) or any(
            isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 < m < 1 for m in self.milestones
        ):
            _fail("train.milestones", self.milestones,
                  "expected increasing fractions of the run in (0, 1), e.g. [0.4167, 0.625] (the paper's epochs 50 and 75 of 120)")
        object.__setattr__(self, "milestones", tuple(float(m) for m in self.milestones))
        if not isinstance(self.lr_gamma, (int, float)) or not 0 < self.lr_gamma <= 1:
            _fail("train.lr_gamma", self.lr_gamma, "expected a factor in (0, 1]")
        if isinstance(self.plateau_patience, bool) or not isinstance(self.plateau_patience, int) or self.plateau_patience < 0:
            _fail("train.plateau_patience", self.plateau_patience, "expected an integer >= 0 (validations; 0 = no plateau)")
        _non_negative("train.lam", self.lam)
        if self.method not in DISCRIMINATOR_METHODS and self.lam != DEFAULT_LAMBDA:
            _fail("train.lam", self.lam, f"λ weighs the discriminator's loss (Eq. 3) and method {self.method!r} has no "
                  f"discriminator: leave train.lam at {DEFAULT_LAMBDA:g}, or use method {' or '.join(DISCRIMINATOR_METHODS)}")
        _positive_int("train.n_steps", self.n_steps)
        if self.generator_loss not in GENERATOR_LOSSES:
            _fail("train.generator_loss", self.generator_loss, f"expected one of {', '.join(GENERATOR_LOSSES)}")
        if self.dice_loss not in DICE_LOSSES:
            _fail("train.dice_loss", self.dice_loss, f"expected one of {', '.join(DICE_LOSSES)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            _fail("train.seed", self.seed, "expected an integer >= 0")
        if self.device not in DEVICES:
            _fail("train.device", self.device, f"expected one of {', '.join(DEVICES)}")
        if not isinstance(self.amp, bool):
            _fail("train.amp", self.amp, "expected true or false")
        check_precision("train.precision", self.precision)
        if not isinstance(self.deterministic, bool):
            _fail("train.deterministic", self.deterministic, "expected true or false")
        for name in ("lr_gs", "lr_d", "weight_decay", "lr_gamma", "lam"):
            object.__setattr__(self, name, float(getattr(self, name)))


@dataclass(frozen=True)
class EvalConfig:
    """Whole-volume inference: sliding window `stride` (voxels) and patches per forward pass."""

    stride: int = 8
    batch_size: int = 8

    def __post_init__(self) -> None:
        _positive_int("eval_.stride", self.stride)
        _positive_int("eval_.batch_size", self.batch_size)


_SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "eval_": EvalConfig}


@dataclass(frozen=True)
class Config:
    """A complete training configuration (see the module docstring)."""

    profile: str = "cpu"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            _fail("profile", self.profile, f"expected a name such as {', '.join(PROFILES)}")
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                _fail(name, getattr(self, name), f"expected a {cls.__name__}")
        if self.train.precision == "auto":
            chosen = choose_precision(self.model.widths, self.train.device)
            object.__setattr__(self, "train", dataclasses.replace(self.train, precision=chosen))
        multiple = self.model.depth_multiple
        if self.data.patch_size % multiple:
            nearest = max(multiple, round(self.data.patch_size / multiple) * multiple)
            _fail(
                "data.patch_size",
                self.data.patch_size,
                f"must be divisible by 2**(len(model.widths)-1) = {multiple}; nearest valid size {nearest}",
            )
        if self.eval_.stride > self.data.patch_size:
            _fail("eval_.stride", self.eval_.stride, f"must be <= data.patch_size = {self.data.patch_size}")

    # ----------------------------------------------------------------- derived values
    @property
    def batches_per_epoch(self) -> int:
        """Iterations per epoch (train.batches_per_epoch, or derived from patches_per_site)."""
        if self.train.batches_per_epoch:
            return self.train.batches_per_epoch
        # Equal effort: a table's methods get the same number of parameter updates. The paper
        # draws 40,000 patches per site and epoch, which gives a one-site segmenter (Table 2) half
        # the updates of the two-site runs (Table 3) it is compared with; deepnorm gives it the
        # two-site count. Three-site runs keep their own (they have their own epochs, Sec. 2.4).
        sites = max(self.data.n_domains, MIN_SITES_FOR_UPDATES)
        return math.ceil(sites * self.data.patches_per_site / self.train.batch_size)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples become lists; no ``train.randomisation`` when it is None,
        no ``data.holdout_scanners`` when it is empty, no ``train.precision`` when it is float32)."""
        values = json.loads(json.dumps(dataclasses.asdict(self)))
        if values["train"]["randomisation"] is None:  # the other methods' configs keep their hashes
            del values["train"]["randomisation"]
        if not values["data"]["holdout_scanners"]:  # likewise every run that holds no scanner out
            del values["data"]["holdout_scanners"]
        if values["train"]["precision"] == "float32":  # and every float32 run
            del values["train"]["precision"]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """Inverse of :meth:`to_dict`; unknown keys raise ConfigError, missing keys take defaults."""
        if not isinstance(values, dict):
            raise ConfigError(f"a configuration must be a mapping, got {type(values).__name__}")
        unknown = set(values) - {"profile", *_SECTIONS}
        if unknown:
            raise ConfigError(
                f"unknown config section(s) {sorted(unknown)}; allowed: profile, {', '.join(_SECTIONS)}"
            )
        kwargs: dict[str, Any] = {}
        if "profile" in values:
            kwargs["profile"] = values["profile"]
        for name, section_cls in _SECTIONS.items():
            if name in values:
                kwargs[name] = _section_from_dict(name, section_cls, values[name])
        return cls(**kwargs)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The YAML text of the config; also written (atomically) to `path` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=True, default_flow_style=None)
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Config:
        """Parse YAML text, or read a ``.yaml``/``.yml`` file when given a path."""
        import yaml

        if isinstance(text_or_path, Path) or (
            isinstance(text_or_path, str) and "\n" not in text_or_path and text_or_path.endswith((".yaml", ".yml"))
        ):
            path = Path(text_or_path)
            if not path.is_file():
                raise ConfigError(f"config file {path} does not exist; give the path of a config.yaml")
            text = path.read_text(encoding="utf-8")
        else:
            text = str(text_or_path)
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"config YAML does not parse: {err}") from err
        return cls.from_dict(values)

    def stable_hash(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON of :meth:`to_dict`."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted-key overrides, e.g. ``replace(**{"train.lam": 0.1})``.

        Keys are ``profile`` or ``<section>.<field>`` (sections: data, model, train, eval_,
        ``eval`` accepted for ``eval_``). Lists are accepted for tuple fields.
        """
        values = self.to_dict()
        for key, value in overrides.items():
            if key == "profile":
                values["profile"] = value
                continue
            section, _, name = key.partition(".")
            section = "eval_" if section == "eval" else section
            if section not in _SECTIONS or not name:
                raise ConfigError(
                    f"unknown override key {key!r}; use 'profile' or '<section>.<field>' with section in "
                    f"{', '.join(_SECTIONS)}"
                )
            allowed = [f.name for f in dataclasses.fields(_SECTIONS[section])]
            if name not in allowed:
                raise ConfigError(f"unknown config field {section}.{name}; allowed: {', '.join(allowed)}")
            values[section][name] = list(value) if isinstance(value, tuple) else value
        return Config.from_dict(values)


def _section_from_dict(name: str, section_cls: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"config section '{name}' must be a mapping, got {values!r}")
    hints = typing.get_type_hints(section_cls)
    allowed = [f.name for f in dataclasses.fields(section_cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in allowed:
            raise ConfigError(f"unknown config field {name}.{key}; allowed: {', '.join(allowed)}")
        hint = str(hints[key])
        if hint.startswith("tuple"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                _fail(f"{name}.{key}", value, "expected a list")
            value = tuple(value)
        elif hints[key] is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        kwargs[key] = value
    return section_cls(**kwargs)


# --------------------------------------------------------------------------- profiles
#: The paper's setting (Sec. 2.1-2.4).
PAPER = Config(
    profile="paper",
    data=DataConfig(
        sites=("iseg", "mrbrains"),
        modalities=("t1",),
        spacing=1.0,
        patch_size=32,
        patches_per_site=40_000,
        val_patches_per_site=12_000,
        # no bias-field augmentation in the trainings of Tables 2-5 and 7: the paper introduces it
        # "to test the robustness" (Sec. 2.3) and says "to evaluate this, we trained the method
        # with 50 % of input images augmented" (Sec. 3.5), i.e. for Table 6 and Fig. 8, which
        # train with deepnorm.study.experiments.ROBUSTNESS_AUGMENT = 0.5
        bias_augment=0.0,
    ),
    model=ModelConfig(widths=(64, 128, 256, 512, 512), disc_widths=(16, 32, 64, 128), dropout=0.25),
    train=TrainConfig(
        method="adversarial",
        epochs=120,
        batches_per_epoch=0,
        # the paper does not state its batch size; 16 patches of 32^3 fit a 32 GB V100
        batch_size=16,
        lr_gs=1e-3,
        lr_d=1e-4,
        weight_decay=1e-3,
        # the paper's epochs 50 and 75 of 120, as fractions of the run
        milestones=(50 / 120, 75 / 120),
        lr_gamma=0.1,
        plateau_patience=7,
        lam=1.5,
        n_steps=3,
        device="cuda",
        # measured on one H100 (benchmarks/gpu_check_h100.json): bf16 autocast made a paper-profile
        # iteration only 1.07x faster (104 -> 111 patches/s), and a 4-epoch cpu-profile segmenter's
        # validation Dice moved by up to 0.14 against float32 (tolerance 0.02, fixed beforehand):
        # not worth its risk, so the paper profile trains in float32; amp stays an option
        amp=False,
    ),
    eval_=EvalConfig(stride=8, batch_size=32),
)

#: Each smaller profile as dotted overrides of :data:`PAPER`.
PROFILE_CHANGES: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu": {
        "profile": "cpu",
        # chosen on validation data by a rule fixed before the run (benchmarks/voxel_size.py):
        # 1.5 mm with 24³ patches gains 0.049 CSF Dice at 2.5x the training time; 2 mm stays
        "data.spacing": 2.0,
        "data.patch_size": 16,
        # sized to the reproduction on 2 cores: with 320 a single-site segmenter stopped at
        # validation Dice 0.56 after 17 s of training; 640 doubles every run
        "data.patches_per_site": 640,
        "data.val_patches_per_site": 64,
        "model.widths": (8, 16, 32, 64),
        # measured on 2 quiet cores (benchmarks/bench_train.py): 1.22x faster adversarial and
        # 1.46x faster segmenter iterations; deterministic, equal to the default layout up to
        # float rounding
        "model.channels_last": True,
        "train.epochs": 12,
        # measured on 2 cores: batch 8 (960 iterations) reaches a higher validation Dice than
        # batch 32 (240 iterations) for the same compute; 160 iterations per epoch on two sites
        "train.batch_size": 8,
        # no plateau on lr(D): the paper's patience, 7 of 120 epochs, is 112 of this profile's 1,920
        # iterations, less than one epoch: it would cut lr(D) on one noisy validation of D
        # (64 patches a site); with patience 3 epochs it cut lr(D) to 1e-5 at epoch 6 and 1e-6
        # at epoch 10 of every adversarial run, so D stopped learning half-way
        "train.plateau_patience": 0,
        "train.device": "cpu",
        "train.amp": False,
        # bf16 where the processor's bf16 units pay (deepnorm.precision): AMX here, at these widths.
        # Numerics gate fixed before its runs (benchmarks/precision_gate.py), passed on an Intel
        # Xeon with AMX, 3 seeds, against the float32 seeds of results/: Table 2 iSEG->iSEG 0.814
        # against 0.814 (sd 0.006), iSEG->MRBrainS 0.632 against 0.639 (sd 0.053), Table 3 dual Ours
        # 0.752 against 0.770 (sd 0.046); PRECISION=float32 gives the committed arithmetic
        "train.precision": "auto",
        "eval_.batch_size": 16,
    },
    "smoke": {
        "profile": "smoke",
        "data.spacing": 4.0,
        "data.patch_size": 8,
        "data.patches_per_site": 8,
        "data.val_patches_per_site": 4,
        "model.widths": (4, 8),
        "model.disc_widths": (4, 8),
        "train.epochs": 2,
        "train.batches_per_epoch": 2,
        "train.batch_size": 4,
        "train.plateau_patience": 0,
        "train.n_steps": 1,
        "train.device": "cpu",
        "train.amp": False,
        # float32 on every processor: the golden numbers of the tests are float32
        "train.precision": "float32",
        "eval_.stride": 4,
        # 32 patches of 8^3 a call: the tiny smoke networks cost little per patch, so fewer calls
        # are faster (a 48x56x48 volume: 0.58 s at 8, 0.35 s at 32 on an AMD EPYC, the same numbers)
        "eval_.batch_size": 32,
    },
}

#: epochs when three sites train together (paper Sec. 2.4: 120 for two sites, 70 for three)
_THREE_SITE_EPOCHS = {"smoke": 2, "cpu": 8, "paper": 70}


def profile(name: str, **overrides: Any) -> Config:
    """The named profile ("smoke", "cpu", "paper") with optional dotted overrides.

    When ``data.sites`` names three sites and ``train.epochs`` is not overridden, the profile's
    three-site epoch count is used (the paper trains 70 instead of 120 epochs then).
    """
    if name not in PROFILE_CHANGES:
        raise ConfigError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    config = PAPER.replace(**PROFILE_CHANGES[name])
    if overrides:
        config = config.replace(**overrides)
    if config.data.n_domains >= 3 and "train.epochs" not in overrides:
        epochs = _THREE_SITE_EPOCHS[name]
        changes: dict[str, Any] = {"train.epochs": epochs}
        if name == "paper" and "train.milestones" not in overrides:
            # the paper's text keeps its epochs 50 and 75 with 70 epochs: 50/70, and 75 never comes
            changes["train.milestones"] = tuple(m * config.train.epochs / epochs for m in config.train.milestones
                                                if m * config.train.epochs < epochs)
        config = config.replace(**changes)
    return config


def milestone_iterations(milestones: Sequence[float], total: int) -> list[int]:
    """The iterations (0-based count of iterations done) at which lr(G, S) drops, for `milestones`
    given as fractions of a run of `total` iterations: ``floor(f * total + 1/2)``, each at least 1,
    repeats merged (so a 4-iteration run with the paper's fractions drops after iterations 2 and 3)."""
    return sorted({max(1, math.floor(f * total + 0.5)) for f in milestones})
