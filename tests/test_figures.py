"""Each paper figure from synthetic inputs: a non-empty PNG, and the drawn data is the input."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from deepnorm.errors import DataError
from deepnorm.plots import (
    plot_bias_field,
    plot_confusion_matrices,
    plot_dice_bars,
    plot_patches,
    plot_segmentation_overlays,
    plot_tissue_histograms,
    plot_training_curves,
)
from deepnorm.views import blend_overlay, percentile_window, take_slice

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert not list(path.parent.glob(".*.tmp"))


def _volume(seed: int, shape=(12, 14, 10)):
    rng = np.random.default_rng(seed)
    image = rng.random(shape).astype(np.float32)
    labels = rng.integers(0, 4, size=shape)
    return image, labels


def test_segmentation_overlays_draw_blended_slices(tmp_path):
    cases = [_volume(0), _volume(1)]
    images = [c[0] for c in cases]
    truths = [c[1] for c in cases]
    preds = [np.roll(c[1], 1, axis=0) for c in cases]
    path = tmp_path / "fig5.png"
    figure = plot_segmentation_overlays(images, truths, preds, ["a", "b"], (1.0, 1.0, 2.0), alpha=0.5, path=path)
    _assert_png(path)
    axes = figure.axes
    assert len(axes) == 6
    k = images[1].shape[2] // 2
    gray = take_slice(images[1], "axial", k)
    window = percentile_window(gray, gray != 0)
    expected = blend_overlay(gray, take_slice(preds[1], "axial", k), 0.5, window=window)
    np.testing.assert_allclose(axes[5].images[0].get_array(), expected)
    assert axes[5].get_aspect() == pytest.approx(1.0)  # axial: y and x both 1 mm
    with pytest.raises(DataError, match="as many"):
        plot_segmentation_overlays(images, truths, preds[:1])


def test_patches_draw_middle_slices_in_one_shared_window(tmp_path):
    rng = np.random.default_rng(2)
    inputs = [rng.random((1, 8, 8, 8)) for _ in range(3)]
    outputs = [0.5 + rng.random((8, 8, 8)) for _ in range(3)]  # brighter than the inputs
    path = tmp_path / "fig6.png"
    figure = plot_patches(inputs, outputs, path=path)
    _assert_png(path)
    image_axes = [ax for ax in figure.axes if ax.images]
    assert len(image_axes) == 6
    np.testing.assert_array_equal(image_axes[0].images[0].get_array(), take_slice(inputs[0][0], "axial", 4))
    # second row holds the normalized patches (row-major axes order: 3 inputs, then 3 outputs)
    np.testing.assert_array_equal(image_axes[4].images[0].get_array(), take_slice(outputs[1], "axial", 4))
    shown = [take_slice(v[0] if v.ndim == 4 else v, "axial", 4) for v in (*inputs, *outputs)]
    expected = percentile_window(np.concatenate([s.ravel() for s in shown]))
    for ax in image_axes:
        assert ax.images[0].get_clim() == pytest.approx(expected)
    colorbars = [ax for ax in figure.axes if not ax.images and ax.get_ylabel().startswith("intensity")]
    assert len(colorbars) == 1
    fixed = plot_patches(inputs, outputs, window=(0.0, 2.0))
    assert {ax.images[0].get_clim() for ax in fixed.axes if ax.images} == {(0.0, 2.0)}


def test_tissue_histograms_from_pairs_and_precomputed(tmp_path):
    image, labels = _volume(3)
    path = tmp_path / "fig2.png"
    precomputed = {1: (np.array([1.0, 3.0]), np.array([0.0, 0.5, 1.0]))}
    figure = plot_tissue_histograms(
        {"iseg": {"before": (image, labels), "after": (image * 0.5, labels)}, "abide": {"before": precomputed}},
        bins=10,
        path=path,
    )
    _assert_png(path)
    assert len(figure.axes) == 2 * 3  # stages x tissues
    values = np.clip(image[labels == 1].astype(np.float64), 0, 1)
    counts, edges = np.histogram(values, bins=10, range=(0, 1))
    density = counts / (counts.sum() * np.diff(edges))
    csf_before = figure.axes[0]
    np.testing.assert_allclose(csf_before.lines[0].get_ydata(), density)
    np.testing.assert_allclose(csf_before.lines[1].get_ydata(), [1.0, 3.0])
    assert csf_before.lines[1].get_label() == "ABIDE"


def test_bias_field_profiles_are_drawn(tmp_path):
    ramp = np.linspace(0.0, 1.0, 14)
    alphas = (0.0, 0.3, 0.9)
    degraded = {alpha: np.broadcast_to(((1 - alpha) + alpha * ramp)[None, :, None], (12, 14, 10)) for alpha in alphas}
    normalized = {alpha: np.full((12, 14, 10), 0.5 + alpha) for alpha in alphas}
    profiles = {"degraded": {f"α={a}": v.mean(axis=(0, 2)) for a, v in degraded.items()}, "normalized": {"x": 3 * np.ones(14)}}
    path = tmp_path / "fig4.png"
    figure = plot_bias_field(degraded, profiles, normalized_by_alpha=normalized, spacing=(1.0, 2.0, 1.0), path=path)
    _assert_png(path)
    image_axes = [ax for ax in figure.axes if ax.images]
    assert len(image_axes) == 2 * len(alphas)
    profile_axes = [ax for ax in figure.axes if ax.lines]
    assert [ax.get_title() for ax in profile_axes] == ["degraded", "normalized"]
    drawn = profile_axes[0]
    assert len(drawn.lines) == 3  # α = 0 is a curve too
    np.testing.assert_allclose(drawn.lines[2].get_ydata(), 0.1 + 0.9 * ramp)
    np.testing.assert_allclose(drawn.lines[2].get_xdata(), 2.0 * np.arange(14))  # mm, 2 mm voxels along y
    assert all("mm" in ax.get_xlabel() for ax in profile_axes)
    assert profile_axes[0].get_ylim() == profile_axes[1].get_ylim()  # shared y range
    assert profile_axes[0].get_ylim()[1] >= 3.0
    shown = [ax for ax in image_axes if ax.get_title() == "degraded, α = 0.9"][0]
    np.testing.assert_allclose(shown.images[0].get_array(), take_slice(np.asarray(degraded[0.9]), "axial", 5))
    degraded_clims = {ax.images[0].get_clim() for ax in image_axes if ax.get_title().startswith("degraded")}
    normalized_clims = {ax.images[0].get_clim() for ax in image_axes if ax.get_title().startswith("normalized")}
    assert len(degraded_clims) == 1 and len(normalized_clims) == 1  # one window per row
    colorbars = [ax for ax in figure.axes if not ax.images and not ax.lines]
    assert len(colorbars) == 2 and all(ax.get_ylabel() == "intensity (a.u.)" for ax in colorbars)


def test_confusion_matrices_per_lambda(tmp_path):
    counts = {5.0: np.array([[1, 1, 2], [1, 1, 2], [3, 3, 2]]), 0.1: np.diag([9, 9, 9]) + 1}
    path = tmp_path / "fig9.png"
    figure = plot_confusion_matrices(counts, ["iSEG", "MRBrainS", "generated"], path=path)
    _assert_png(path)
    heatmaps = [ax for ax in figure.axes if ax.get_title().startswith("λ")]
    assert [ax.get_title() for ax in heatmaps] == ["λ = 0.1", "λ = 5"]
    expected = counts[5.0] / counts[5.0].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(heatmaps[1].collections[0].get_array()).ravel(), expected.ravel())
    colorbar = [ax for ax in figure.axes if not ax.get_title()][0]
    assert colorbar.get_ylabel() == "fraction of the true class's patches"
    assert "row-normalized" in figure.get_suptitle()


def test_training_curves_from_rows(tmp_path):
    rows = [{"epoch": e, "loss_seg": 1.0 / (e + 1), "acc_d_train": 0.5 + 0.1 * e, "val_dice": 0.2 * e} for e in range(4)]
    path = tmp_path / "curves.png"
    figure = plot_training_curves(rows, path=path)
    _assert_png(path)
    assert [ax.get_title() for ax in figure.axes] == ["generator / segmenter loss", "discriminator accuracy", "validation Dice"]
    np.testing.assert_allclose(figure.axes[0].lines[0].get_ydata(), [1.0, 0.5, 1 / 3, 0.25])
    np.testing.assert_allclose(figure.axes[2].lines[0].get_xdata(), [0, 1, 2, 3])
    with pytest.raises(DataError, match="no numeric column"):
        plot_training_curves({"epoch": [0, 1]})


def test_dice_bars_heights_match_table(tmp_path):
    table = {"Standardization": {"CSF": 0.8, "GM": 0.85, "WM": 0.9}, "Ours": {"CSF": 0.82, "GM": 0.88, "WM": 0.91}}
    path = tmp_path / "dice.png"
    figure = plot_dice_bars(table, path=path, title="mean DSC")
    _assert_png(path)
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    # one container per series (tissue), bars in group order
    assert heights == pytest.approx([0.8, 0.82, 0.85, 0.88, 0.9, 0.91])
    rows = [{"method": m, **v} for m, v in table.items()]
    again = plot_dice_bars(rows)
    assert [p.get_height() for p in again.axes[0].patches] == pytest.approx(heights)


def test_no_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot_dice_bars({"a": {"x": 0.5}})
    assert list(tmp_path.iterdir()) == []
