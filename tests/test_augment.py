"""Laws of the Eq. 7 bias field."""

from __future__ import annotations

import numpy as np
import pytest

from deepnorm.data.augment import ALPHAS, apply_bias_field, bias_field, degrade, random_bias_field
from deepnorm.errors import ConfigError, DataError


def test_hand_computed_field():
    # H = 4 (5 voxels along y), alpha = 0.5: B(y) = y/4 * 0.5 + 0.5
    b = bias_field((2, 5, 3), 0.5)
    expected = np.array([0.5, 0.625, 0.75, 0.875, 1.0])
    assert b.shape == (2, 5, 3)
    for x in range(2):
        for z in range(3):
            np.testing.assert_allclose(b[x, :, z], expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_field_spans_one_minus_alpha_to_one(alpha):
    b = bias_field((4, 7, 3), alpha)
    assert b[:, 0, :] == pytest.approx(1 - alpha)
    assert b[:, -1, :] == pytest.approx(1.0)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_linear_along_axis_constant_elsewhere(axis):
    b = bias_field((6, 7, 8), 0.7, axis=axis).astype(np.float64)
    second = np.diff(b, n=2, axis=axis)
    np.testing.assert_allclose(second, 0.0, atol=1e-6)
    for other in {0, 1, 2} - {axis}:
        np.testing.assert_allclose(np.diff(b, axis=other), 0.0, atol=0)


def test_alpha_zero_is_identity():
    rng = np.random.default_rng(1)
    img = rng.random((2, 5, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(apply_bias_field(img, 0.0), img)


def test_apply_multiplies_every_channel_along_y():
    img = np.ones((2, 3, 5, 4), dtype=np.float32)
    img[1] *= 2.0
    out = apply_bias_field(img, 1.0)
    ramp = np.arange(5) / 4
    np.testing.assert_allclose(out[0, 1, :, 2], ramp, atol=1e-7)
    np.testing.assert_allclose(out[1, 1, :, 2], 2 * ramp, atol=1e-7)
    assert out.dtype == np.float32
    assert img[0].max() == 1.0  # input untouched


def test_degrade_equals_apply_and_alphas():
    img = np.random.default_rng(0).random((4, 6, 5))
    assert ALPHAS == (0.3, 0.5, 0.7, 0.9)
    for a in ALPHAS:
        np.testing.assert_array_equal(degrade(img, a), apply_bias_field(img, a))


def test_random_bias_field_deterministic():
    img = np.random.default_rng(0).random((4, 6, 5)).astype(np.float32)
    for seed in range(10):
        a1 = random_bias_field(img, seed)
        a2 = random_bias_field(img, seed)
        assert a1[1] == a2[1]
        np.testing.assert_array_equal(a1[0], a2[0])
        if a1[1] is None:
            assert a1[0] is img
        else:
            assert 0.0 <= a1[1] <= 1.0
            np.testing.assert_allclose(a1[0], apply_bias_field(img, a1[1]))


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_probability_law(p):
    img = np.ones((2, 3, 2), dtype=np.float32)
    results = [random_bias_field(img, seed, p=p)[1] for seed in range(2000)]
    applied = np.array([a is not None for a in results])
    # binomial: 5 sigma band
    sigma = np.sqrt(2000 * p * (1 - p))
    assert abs(applied.sum() - 2000 * p) <= 5 * sigma + 1e-9
    alphas = np.array([a for a in results if a is not None])
    if alphas.size > 100:
        # alpha ~ U[0, 1]: mean 1/2, variance 1/12
        assert abs(alphas.mean() - 0.5) < 5 * np.sqrt(1 / 12 / alphas.size)
        assert alphas.min() >= 0.0 and alphas.max() <= 1.0


def test_errors():
    with pytest.raises(ConfigError, match="alpha"):
        bias_field((3, 3, 3), 1.5)
    with pytest.raises(ConfigError, match="alpha"):
        apply_bias_field(np.ones((3, 3, 3)), -0.1)
    with pytest.raises(DataError, match="at least 2"):
        bias_field((3, 1, 3), 0.5)
    with pytest.raises(DataError, match="expected"):
        apply_bias_field(np.ones((3, 3)), 0.5)
    with pytest.raises(ConfigError, match="p="):
        random_bias_field(np.ones((3, 3, 3)), 0, p=2.0)
