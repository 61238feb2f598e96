"""``preprocessor``: G and S trained together on L_seg only (lambda = 0, no D; Drozdzal 2018)."""

from __future__ import annotations

from deepnorm.training.methods.base import Method


class Preprocessor(Method):
    """G + S on the segmentation loss; the normalization G is free of any realism constraint."""

    name = "preprocessor"
    uses_generator = True
