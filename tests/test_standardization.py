"""Standardization (paper Sec. 3.2): subtract the volume mean, divide by the volume's standard deviation.

The whole volume (background included), per channel; the brain-only z-score is kept under its own
name, ``standardization_brain``.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepnorm.errors import DataError
from deepnorm.training.config import profile
from deepnorm.training.methods import REGISTRY, get_method
from deepnorm.training.methods.standardization import zscore_volume


def _image(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = np.zeros((2, 6, 7, 8), np.float32)
    mask = np.zeros((6, 7, 8), bool)
    mask[1:5, 2:6, 1:7] = True
    image[:, mask] = rng.uniform(0.2, 0.9, size=(2, int(mask.sum())))
    return image, mask


def _prepare(name: str, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return get_method(name)(profile("smoke")).prepare_volume(image, mask)


def test_standardization_is_a_z_score_over_the_whole_volume() -> None:
    image, mask = _image()
    out = _prepare("standardization", image, mask)
    assert out.shape == image.shape and out.dtype == np.float32
    for c in range(2):
        assert float(out[c].astype(np.float64).mean()) == pytest.approx(0.0, abs=1e-6)
        assert float(out[c].astype(np.float64).std()) == pytest.approx(1.0, abs=1e-5)
        # an affine map of the input: background (0) goes to -mean/std, not to 0
        v = image[c].astype(np.float64)
        np.testing.assert_allclose(out[c], (v - v.mean()) / v.std(), rtol=1e-5, atol=1e-5)
    assert not np.allclose(out[:, ~mask], 0.0)


def test_standardization_ignores_the_mask() -> None:
    image, mask = _image(1)
    np.testing.assert_array_equal(_prepare("standardization", image, mask), _prepare("standardization", image, None))


def test_standardization_is_scale_and_shift_invariant() -> None:
    image, mask = _image(2)
    base = _prepare("standardization", image, mask)
    np.testing.assert_allclose(_prepare("standardization", 3.0 * image + 7.0, mask), base, atol=1e-4)


def test_brain_standardization_is_kept_under_its_own_name() -> None:
    assert "standardization_brain" in REGISTRY
    image, mask = _image(3)
    out = _prepare("standardization_brain", image, mask)
    for c in range(2):
        brain = image[c][mask].astype(np.float64)
        np.testing.assert_allclose(out[c][mask], (brain - brain.mean()) / brain.std(), rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(out[c][~mask], 0.0)


def test_constant_channel_is_rejected() -> None:
    with pytest.raises(DataError, match="channel 1"):
        zscore_volume(np.stack([np.arange(8.0).reshape(2, 2, 2), np.ones((2, 2, 2))]))
