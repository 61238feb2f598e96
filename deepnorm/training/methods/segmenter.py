"""``segmenter``: S alone on min-max scaled inputs (paper Table 2, no normalization)."""

from __future__ import annotations

from deepnorm.training.methods.base import Method


class Segmenter(Method):
    """S on the pre-processed [0, 1] images; no generator, no discriminator."""

    name = "segmenter"
