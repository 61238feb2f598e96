"""``standardization``: z-score each volume on the brain, then S (paper Table 3 baseline)."""

from __future__ import annotations

import numpy as np

from deepnorm.training.methods.base import Method


class Standardization(Method):
    """Per-volume, per-channel z-score over the brain mask before patches are drawn."""

    name = "standardization"

    def prepare_volume(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """(C, X, Y, Z) z-scored on `mask` (X, Y, Z) bool; the brain is image > 0 when mask is None."""
        from deepnorm.data.preprocess import standardize

        image = np.asarray(image, dtype=np.float32)
        if mask is None:
            mask = np.any(image > 0, axis=0)
        return np.asarray(standardize(image, mask), dtype=np.float32)
