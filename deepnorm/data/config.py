"""What the networks see: the data section of a training configuration (:class:`DataConfig`).

It lives with the data wing because the prepared-data cache depends on it; the training
configuration (:mod:`deepnorm.training.config`) embeds it as its ``data`` section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from deepnorm.data.sites import SITES
from deepnorm.errors import ConfigError
from deepnorm.labels import MODALITIES


def _fail(field_name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config field '{field_name}' = {value!r} is invalid: {allowed}")


def _check_keys(section: str, values: tuple, allowed: tuple[str, ...]) -> None:
    if not values:
        _fail(section, values, f"give at least one of {', '.join(allowed)}")
    for value in values:
        if value not in allowed:
            _fail(section, values, f"each entry must be one of {', '.join(allowed)}")
    if len(set(values)) != len(values):
        _fail(section, values, "entries must not repeat")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        _fail(name, value, "expected an integer >= 1")


def _non_negative(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        _fail(name, value, "expected a finite number >= 0")


@dataclass(frozen=True)
class DataConfig:
    """What the networks see.

    Attributes:
        sites: site keys among ``deepnorm.data.sites.SITES``; the order of ``SITES`` gives each
            site its domain index, whatever the order given here (they are sorted by it).
        modalities: input channels, "t1" and optionally "t2" (T2 for iSEG, T2-FLAIR for MRBrainS).
        spacing: isotropic voxel size in mm after resampling.
        patch_size: edge of the cubic training patch, in voxels.
        patches_per_site: training patches drawn per site and epoch (the paper's 40,000).
        val_patches_per_site: fixed validation patches per site (the paper's 12,000).
        bias_augment: probability that a training patch gets a random Eq. 7 bias field.
        holdout_scanners: scanners (e.g. ABIDE's "STANFORD") whose subjects never enter training
            or validation: every one of them goes to its site's test split, so the run can be
            tested on a scanner it never saw. Empty (the default) for every experiment of the
            paper, and then left out of the configuration's dict and hash.
    """

    sites: tuple[str, ...] = ("iseg", "mrbrains")
    modalities: tuple[str, ...] = ("t1",)
    spacing: float = 2.0
    patch_size: int = 16
    patches_per_site: int = 400
    val_patches_per_site: int = 64
    bias_augment: float = 0.5
    holdout_scanners: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_keys("data.sites", self.sites, SITES)
        # a fixed order: the domain index of a site never depends on how the user listed them
        object.__setattr__(self, "sites", tuple(s for s in SITES if s in self.sites))
        _check_keys("data.modalities", self.modalities, MODALITIES)
        object.__setattr__(self, "modalities", tuple(m for m in MODALITIES if m in self.modalities))
        if "t1" not in self.modalities:
            _fail("data.modalities", self.modalities, "must include 't1' (every site has a T1)")
        if "abide" in self.sites and "t2" in self.modalities:
            _fail("data.modalities", self.modalities, "ABIDE has only T1: drop 't2' or drop 'abide' from data.sites")
        if not isinstance(self.spacing, (int, float)) or isinstance(self.spacing, bool) or not self.spacing > 0:
            _fail("data.spacing", self.spacing, "expected a voxel size in mm > 0")
        object.__setattr__(self, "spacing", float(self.spacing))
        _positive_int("data.patch_size", self.patch_size)
        _positive_int("data.patches_per_site", self.patches_per_site)
        _positive_int("data.val_patches_per_site", self.val_patches_per_site)
        if not isinstance(self.bias_augment, (int, float)) or not 0.0 <= self.bias_augment <= 1.0:
            _fail("data.bias_augment", self.bias_augment, "expected a probability in [0, 1]")
        object.__setattr__(self, "bias_augment", float(self.bias_augment))
        if isinstance(self.holdout_scanners, str) or not all(isinstance(s, str) and s for s in self.holdout_scanners):
            _fail("data.holdout_scanners", self.holdout_scanners, "expected a list of scanner names, e.g. ['STANFORD']")
        object.__setattr__(self, "holdout_scanners", tuple(sorted(set(self.holdout_scanners))))

    @property
    def n_domains(self) -> int:
        """K, the number of source domains (sites)."""
        return len(self.sites)

    @property
    def n_channels(self) -> int:
        """C, the number of input channels (modalities)."""
        return len(self.modalities)
