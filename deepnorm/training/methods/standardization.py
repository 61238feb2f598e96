"""``standardization``: z-score each whole volume, then S (paper Table 3 baseline, Sec. 3.2).

The paper (Sec. 3.2): "The standardization technique tested in this experiment normalizes the
intensity of each voxel in a given volume by subtracting from it the volume mean and dividing it
by the standard deviation."

- ``standardization`` (the paper's, Table 3): per channel, mean and standard deviation over the
  *whole* volume, background included; the mask is not used.
- ``standardization_brain`` (an extra baseline, not the paper's): per channel, z-score over the
  brain mask, background left at 0. Zero is then the brain's mean intensity, which makes CSF the
  unique darkest class; this is why it is not the Table 3 baseline.
"""

from __future__ import annotations

import numpy as np

from deepnorm.errors import DataError
from deepnorm.training.methods.base import Method


def zscore_volume(image: np.ndarray) -> np.ndarray:
    """Per-channel z-score over the whole volume: (C, X, Y, Z) -> (C, X, Y, Z) float32, mean 0, sd 1.

    Mean and (population) standard deviation are taken over every voxel of each channel.
    """
    stack = np.asarray(image, dtype=np.float64)
    if stack.ndim != 4:
        raise DataError(f"zscore_volume: image shape {stack.shape}; expected (C, X, Y, Z)")
    out = np.empty(stack.shape, dtype=np.float32)
    for c, channel in enumerate(stack):
        std = channel.std()
        if not np.isfinite(std) or not std > 0:
            raise DataError(f"zscore_volume: channel {c} is constant (or not finite) over the volume; check the image")
        out[c] = (channel - channel.mean()) / std
    return out


class Standardization(Method):
    """Per-volume, per-channel z-score over the whole volume before patches are drawn (Sec. 3.2)."""

    name = "standardization"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) z-scored over all its voxels; `mask` is not used."""
        return zscore_volume(image)


class StandardizationBrain(Method):
    """Per-volume, per-channel z-score over the brain mask, 0 outside (not the paper's baseline)."""

    name = "standardization_brain"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) z-scored on `mask` (X, Y, Z) bool; the brain is image > 0 when mask is None."""
        from deepnorm.data.preprocess import standardize

        image = np.asarray(image, dtype=np.float32)
        if mask is None:
            mask = np.any(image > 0, axis=0)
        return np.asarray(standardize(image, mask), dtype=np.float32)
