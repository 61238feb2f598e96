"""Sliding-window inference: exact laws, and agreement with MONAI's sliding_window_inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepnorm.errors import ConfigError, DataError
from deepnorm.inference import sliding_window_predict, window_starts


@pytest.fixture
def monai():
    """MONAI (a test extra): its inferers and its patch-grid helper."""
    inferers = pytest.importorskip("monai.inferers")
    utils = pytest.importorskip("monai.data.utils")
    return inferers, utils


def _volume(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize(
    "shape, patch, stride",
    [
        ((1, 13, 11, 9), 4, 3),
        ((2, 5, 13, 9), 8, 3),  # X shorter than the patch: padded then cropped back
        ((1, 3, 2, 7), 8, 8),  # smaller than one patch on every axis
        ((1, 17, 17, 17), (8, 4, 6), (8, 1, 5)),
    ],
)
def test_identity_predictor_returns_input_exactly(shape, patch, stride):
    v = _volume(shape)
    out = sliding_window_predict(v, lambda x: x, patch_size=patch, stride=stride, batch_size=5)
    assert out.dtype == np.float32 and out.shape == v.shape
    np.testing.assert_array_equal(out, v)


def test_constant_predictor_gives_constants():
    values = torch.tensor([0.1, 0.2, 0.3, 0.4])

    def const(x):
        return values.view(1, 4, 1, 1, 1).expand(x.shape[0], 4, *x.shape[2:]).clone()

    out = sliding_window_predict(_volume((1, 19, 10, 7)), const, patch_size=8, stride=3)
    assert out.shape == (4, 19, 10, 7)
    for k in range(4):
        np.testing.assert_allclose(out[k], values[k].item(), rtol=0, atol=1e-7)


def _conv_predictor(channels, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(channels, 4, 3, padding=1),  # zero padding: output depends on patch position
        torch.nn.Tanh(),
        torch.nn.Conv3d(4, 4, 3, padding=1),
    ).eval()
    return lambda x: torch.softmax(net(x), dim=1)


@pytest.mark.parametrize(
    "shape, patch, stride",
    [
        # overlap = 1 - stride / patch is an exact binary fraction in each case, so MONAI's
        # int(patch * (1 - overlap)) equals our stride and the two window grids coincide
        ((1, 21, 17, 19), 8, 4),
        ((2, 23, 12, 9), 8, 2),
        ((1, 16, 29, 6), 16, 8),  # Z shorter than the patch
        ((1, 13, 13, 13), 8, 8),
    ],
)
def test_agrees_with_monai(monai, shape, patch, stride):
    v = _volume(shape, seed=1)
    predictor = _conv_predictor(shape[0])
    ours = sliding_window_predict(v, predictor, patch_size=patch, stride=stride, batch_size=3)
    with torch.no_grad():
        theirs = monai[0].sliding_window_inference(
            torch.from_numpy(v)[None], (patch,) * 3, 3, predictor, overlap=1 - stride / patch, mode="constant"
        )[0].numpy()
    assert ours.shape == theirs.shape == (4, *shape[1:])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.sum(axis=0), 1.0, atol=1e-5)  # averaged probabilities


def test_overlapping_windows_are_really_averaged():
    # the conv predictor is position dependent (zero padding), so a different window grid
    # gives different numbers: the MONAI comparison above can tell grids apart
    v = _volume((1, 21, 17, 19), seed=1)
    predictor = _conv_predictor(1)
    a = sliding_window_predict(v, predictor, patch_size=8, stride=4)
    b = sliding_window_predict(v, predictor, patch_size=8, stride=8)
    assert np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("size, patch, stride", [(21, 8, 4), (32, 8, 8), (8, 8, 3), (30, 16, 5), (17, 4, 1)])
def test_window_starts_match_monai_grid(monai, size, patch, stride):
    slices = monai[1].dense_patch_slices((size,), (patch,), (stride,))
    assert window_starts(size, patch, stride) == [s[0].start for s in slices]


def test_batch_size_does_not_change_the_result():
    v = _volume((1, 15, 12, 10), seed=2)
    predictor = _conv_predictor(1, seed=3)
    a = sliding_window_predict(v, predictor, patch_size=6, stride=3, batch_size=1)
    b = sliding_window_predict(v, predictor, patch_size=6, stride=3, batch_size=64, progress=True)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_runs_without_gradients_and_covers_every_window_once():
    calls = []

    def spy(x):
        assert not torch.is_grad_enabled()
        calls.append(x.shape[0])
        return x

    v = _volume((1, 10, 9, 12))
    sliding_window_predict(v, spy, patch_size=4, stride=3, batch_size=4)
    expected = len(window_starts(10, 4, 3)) * len(window_starts(9, 4, 3)) * len(window_starts(12, 4, 3))
    assert sum(calls) == expected and max(calls) == 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"patch_size": 4, "stride": 5}, "stride"),
        ({"patch_size": 4, "stride": 0}, "stride"),
        ({"patch_size": 0, "stride": 1}, "patch_size"),
        ({"patch_size": (4, 4), "stride": 2}, "patch_size"),
        ({"patch_size": 4, "stride": 2, "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        sliding_window_predict(_volume((1, 8, 8, 8)), lambda x: x, **kwargs)


def test_bad_volume_or_predictor():
    with pytest.raises(DataError, match="channel"):
        sliding_window_predict(_volume((8, 8, 8)), lambda x: x, patch_size=4, stride=2)
    with pytest.raises(DataError, match="predictor"):
        sliding_window_predict(_volume((1, 8, 8, 8)), lambda x: x[:, :, :2], patch_size=4, stride=2)


def test_amp_runs_the_predictor_in_bf16_on_the_cpu_and_keeps_the_sums_float():
    """A bf16 run (train.precision bf16) is evaluated under bf16 autocast on the CPU too: the
    convolution rounds to bf16 (8 bits of mantissa), the output and its running sums stay float."""
    v = _volume((1, 12, 10, 9))
    predictor = _conv_predictor(1)
    plain = sliding_window_predict(v, predictor, patch_size=8, stride=4)
    amp = sliding_window_predict(v, predictor, patch_size=8, stride=4, amp=True)
    assert amp.dtype == np.float32 and not np.array_equal(amp, plain)
    np.testing.assert_allclose(amp, plain, rtol=2 ** -6, atol=2 ** -6 * np.abs(plain).max())
    np.testing.assert_array_equal(sliding_window_predict(v, predictor, patch_size=8, stride=4, amp=False), plain)


def test_sums_are_float64_on_the_cpu_and_float32_on_a_gpu():
    from deepnorm.inference import accumulation_dtype

    assert accumulation_dtype("cpu") == torch.float64
    assert accumulation_dtype(torch.device("cuda", 0)) == torch.float32
