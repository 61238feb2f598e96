"""The pure maths of a picture of a volume (deepnorm.views), against hand-computed cases and numpy/scipy oracles."""

from __future__ import annotations

import numpy as np
import pytest

from deepnorm.errors import ConfigError, DataError
from deepnorm.views import (
    LABEL_COLORS,
    blend_overlay,
    label_rgba,
    mean_along_axis,
    n_slices,
    normalize_confusion,
    percentile_window,
    slice_aspect,
    take_slice,
    tissue_histograms,
    window_to_unit,
)

SHAPE = (5, 6, 7)


def _coordinate(axis: int) -> np.ndarray:
    """A volume whose value is the voxel's coordinate along array `axis`."""
    return np.indices(SHAPE)[axis].astype(float)


# --- take_slice / n_slices -------------------------------------------------------------------


@pytest.mark.parametrize(
    "axis, fixed, rows_cols, plain",
    [
        ("axial", 2, (6, 5), lambda v, k: v[:, :, k]),
        ("coronal", 1, (7, 5), lambda v, k: v[:, k, :]),
        ("sagittal", 0, (7, 6), lambda v, k: v[k, :, :]),
    ],
)
def test_take_slice_is_rot90_of_the_plain_slice(axis, fixed, rows_cols, plain):
    volume = np.random.default_rng(0).random(SHAPE)
    k = SHAPE[fixed] - 2
    got = take_slice(volume, axis, k)
    assert got.shape == rows_cols
    np.testing.assert_array_equal(got, np.rot90(plain(volume, k)))
    assert n_slices(SHAPE, axis) == SHAPE[fixed]
    assert n_slices((2, *SHAPE), axis) == SHAPE[fixed]


def test_axial_orientation_anterior_up_left_to_right():
    # axial: columns run along x (0 at the left), rows along y with the largest y on top.
    x_slice = take_slice(_coordinate(0), "axial", 3)
    y_slice = take_slice(_coordinate(1), "axial", 3)
    np.testing.assert_array_equal(x_slice[0], np.arange(SHAPE[0]))
    np.testing.assert_array_equal(y_slice[:, 0], np.arange(SHAPE[1])[::-1])
    # coronal and sagittal: superior (largest z) on top.
    z_cor = take_slice(_coordinate(2), "coronal", 1)
    z_sag = take_slice(_coordinate(2), "sagittal", 1)
    np.testing.assert_array_equal(z_cor[:, 0], np.arange(SHAPE[2])[::-1])
    np.testing.assert_array_equal(z_sag[:, 0], np.arange(SHAPE[2])[::-1])


def test_take_slice_of_channels_slices_every_channel():
    volume = np.random.default_rng(1).random((2, *SHAPE))
    got = take_slice(volume, "coronal", 4)
    assert got.shape == (2, 7, 5)
    for c in range(2):
        np.testing.assert_array_equal(got[c], take_slice(volume[c], "coronal", 4))


@pytest.mark.parametrize("index", [-1, 7, 100])
def test_take_slice_rejects_out_of_range(index):
    with pytest.raises(DataError, match="outside"):
        take_slice(np.zeros(SHAPE), "axial", index)


def test_take_slice_rejects_bad_axis_and_shape():
    with pytest.raises(ConfigError, match="axis"):
        take_slice(np.zeros(SHAPE), "transverse", 0)
    with pytest.raises(DataError, match="shape"):
        take_slice(np.zeros((4, 4)), "axial", 0)


# --- slice_aspect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "axis, expected", [("axial", 2.0 / 1.0), ("coronal", 3.0 / 1.0), ("sagittal", 3.0 / 2.0)]
)
def test_slice_aspect_is_row_over_column_spacing(axis, expected):
    assert slice_aspect((1.0, 2.0, 3.0), axis) == pytest.approx(expected)


def test_slice_aspect_matches_mrbrains_geometry():
    # 0.958 x 0.958 x 3.0 mm: coronal pixels are 3.0/0.958 times taller than wide.
    assert slice_aspect((0.958, 0.958, 3.0), "coronal") == pytest.approx(3.0 / 0.958)
    assert slice_aspect((0.958, 0.958, 3.0), "axial") == pytest.approx(1.0)


def test_slice_aspect_rejects_bad_spacing():
    with pytest.raises(DataError, match="spacing"):
        slice_aspect((1.0, 0.0, 1.0), "axial")
    with pytest.raises(DataError, match="spacing"):
        slice_aspect((1.0, 1.0), "axial")


# --- windows and overlays ----------------------------------------------------------------------


def test_percentile_window_matches_numpy_inside_mask():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(10, 10, 10))
    mask = rng.random((10, 10, 10)) > 0.5
    lo, hi = percentile_window(image, mask, 0.5, 99.5)
    expected = np.percentile(image[mask], [0.5, 99.5])
    assert (lo, hi) == pytest.approx(tuple(expected))


def test_percentile_window_of_constant_image_is_unit_wide():
    assert percentile_window(np.full((3, 3), 2.0)) == (1.5, 2.5)


def test_percentile_window_errors():
    with pytest.raises(DataError, match="mask"):
        percentile_window(np.ones((2, 2)), np.zeros((2, 2), dtype=bool))
    with pytest.raises(DataError, match="shape"):
        percentile_window(np.ones((2, 2)), np.ones((3, 3), dtype=bool))
    with pytest.raises(ConfigError, match="lo"):
        percentile_window(np.ones((2, 2)), lo=60, hi=40)


def test_window_to_unit_is_linear_and_clipped():
    got = window_to_unit(np.array([[-1.0, 0.0, 1.0, 2.0, 3.0]]), (0.0, 2.0))
    np.testing.assert_allclose(got, [[0.0, 0.0, 0.5, 1.0, 1.0]])


def test_label_rgba_colours_and_transparency():
    labels = np.array([[0, 1], [2, 3]])
    rgba = label_rgba(labels, alpha=0.25)
    assert rgba.shape == (2, 2, 4)
    np.testing.assert_array_equal(rgba[0, 0], [0, 0, 0, 0])
    for (r, c), label in np.ndenumerate(labels):
        if label:
            np.testing.assert_allclose(rgba[r, c, :3], LABEL_COLORS[label])
            assert rgba[r, c, 3] == 0.25
    with pytest.raises(ConfigError, match="alpha"):
        label_rgba(labels, alpha=1.5)


def test_blend_overlay_hand_computed():
    gray = np.array([[0.5, 0.5], [0.2, 1.0]])
    labels = np.array([[0, 1], [3, 0]])
    rgb = blend_overlay(gray, labels, alpha=0.4)
    np.testing.assert_allclose(rgb[0, 0], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(rgb[0, 1], 0.6 * 0.5 + 0.4 * np.array(LABEL_COLORS[1]))
    np.testing.assert_allclose(rgb[1, 0], 0.6 * 0.2 + 0.4 * np.array(LABEL_COLORS[3]))
    np.testing.assert_allclose(rgb[1, 1], [1.0, 1.0, 1.0])


def test_blend_overlay_with_zero_alpha_is_the_windowed_gray():
    rng = np.random.default_rng(3)
    gray = rng.normal(size=(4, 5))
    labels = rng.integers(0, 4, size=(4, 5))
    rgb = blend_overlay(gray, labels, alpha=0.0, window=(-1.0, 1.0))
    expected = np.clip((gray + 1.0) / 2.0, 0, 1)
    for c in range(3):
        np.testing.assert_allclose(rgb[..., c], expected)


def test_blend_overlay_rejects_mismatched_shapes():
    with pytest.raises(DataError, match="shapes"):
        blend_overlay(np.zeros((2, 2)), np.zeros((2, 3), dtype=int))


# --- histograms --------------------------------------------------------------------------------


def test_tissue_histograms_match_numpy_and_count_every_voxel():
    rng = np.random.default_rng(4)
    image = rng.random((8, 8, 8)) * 1.2 - 0.1  # some values outside [0, 1], clipped into the end bins
    labels = rng.integers(0, 4, size=(8, 8, 8))
    hists = tissue_histograms(image, labels, bins=10, value_range=(0.0, 1.0))
    assert sorted(hists) == [1, 2, 3]
    for tissue, (counts, edges) in hists.items():
        expected, expected_edges = np.histogram(np.clip(image[labels == tissue], 0, 1), bins=10, range=(0, 1))
        np.testing.assert_array_equal(counts, expected)
        np.testing.assert_allclose(edges, expected_edges)
        assert counts.sum() == np.count_nonzero(labels == tissue)


def test_tissue_histograms_hand_case_and_density():
    image = np.array([0.1, 0.1, 0.6, 0.9]).reshape(4, 1, 1)
    labels = np.array([1, 1, 1, 2]).reshape(4, 1, 1)
    hists = tissue_histograms(image, labels, bins=2, density=False)
    np.testing.assert_array_equal(hists[1][0], [2, 1])
    np.testing.assert_array_equal(hists[2][0], [0, 1])
    np.testing.assert_array_equal(hists[3][0], [0, 0])
    dens = tissue_histograms(image, labels, bins=2, density=True)
    np.testing.assert_allclose(dens[1][0], [2 / 3 / 0.5, 1 / 3 / 0.5])
    for tissue in (1, 2):
        counts, edges = dens[tissue]
        assert np.sum(counts * np.diff(edges)) == pytest.approx(1.0)
    np.testing.assert_array_equal(dens[3][0], [0, 0])  # absent tissue stays zero


def test_tissue_histograms_errors():
    with pytest.raises(DataError, match="shape"):
        tissue_histograms(np.zeros((2, 2, 2)), np.zeros((2, 2, 3), dtype=int))
    with pytest.raises(ConfigError, match="value_range"):
        tissue_histograms(np.zeros((2, 2, 2)), np.zeros((2, 2, 2), dtype=int), value_range=(1, 0))


# --- confusion matrix --------------------------------------------------------------------------


def test_normalize_confusion_hand_case():
    counts = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    got = normalize_confusion(counts)
    np.testing.assert_allclose(got, [[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]])


def test_normalize_confusion_is_scale_invariant_and_rows_sum_to_one():
    counts = np.random.default_rng(5).integers(1, 50, size=(4, 4)).astype(float)
    got = normalize_confusion(counts)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    np.testing.assert_allclose(normalize_confusion(7.0 * counts), got)
    np.testing.assert_allclose(normalize_confusion(got), got)


def test_normalize_confusion_errors():
    with pytest.raises(DataError, match="square"):
        normalize_confusion(np.ones((2, 3)))
    with pytest.raises(DataError, match="negative"):
        normalize_confusion(-np.eye(2))


# --- mean profile along y ----------------------------------------------------------------------


def test_mean_along_axis_hand_case():
    image = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    expected = [np.mean(image[:, j, :]) for j in range(3)]
    np.testing.assert_allclose(mean_along_axis(image, axis=1), expected)


def test_mean_along_axis_with_mask_and_empty_slice():
    image = np.random.default_rng(6).random((4, 5, 3))
    mask = image > 0.5
    mask[:, 2, :] = False
    got = mean_along_axis(image, 1, mask)
    for j in range(5):
        if j == 2:
            assert np.isnan(got[j])
        else:
            assert got[j] == pytest.approx(image[:, j, :][mask[:, j, :]].mean())


def test_mean_along_axis_recovers_a_linear_ramp():
    # A ramp along y, constant elsewhere: the profile is the ramp itself.
    ramp = np.linspace(0.2, 1.0, 9)
    image = np.broadcast_to(ramp[None, :, None], (4, 9, 3))
    np.testing.assert_allclose(mean_along_axis(image, 1), ramp)
    with pytest.raises(ConfigError, match="axis"):
        mean_along_axis(image, 3)


# --- orientation letters / foreground centre ---------------------------------------------------


@pytest.mark.parametrize("axis", ["axial", "coronal", "sagittal"])
def test_orientation_letters_point_to_growing_ras_coordinates(axis):
    """R, A and S sit on the edge where the x, y and z coordinate (RAS voxel axes) is largest."""
    from deepnorm.views import orientation_letters

    letters = orientation_letters(axis)
    opposite = {"R": "L", "A": "P", "S": "I"}
    for array_axis, positive in enumerate("RAS"):
        shown = take_slice(_coordinate(array_axis), axis, 0)
        edges = {"left": shown[:, 0].mean(), "right": shown[:, -1].mean(), "top": shown[0].mean(), "bottom": shown[-1].mean()}
        for edge, letter in letters.items():
            if letter == positive:
                partner = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}[edge]
                assert letters[partner] == opposite[positive]
                assert edges[edge] > edges[partner]


def test_foreground_centre_is_the_box_centre():
    from deepnorm.views import foreground_centre

    volume = np.zeros(SHAPE)
    volume[1:4, 2:6, 0:3] = 1.0
    assert foreground_centre(volume) == (2, 3, 1)
    assert foreground_centre(np.zeros(SHAPE)) == (2, 3, 3)
    with pytest.raises(DataError):
        foreground_centre(np.zeros((2, 2)))


def _imported_modules(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_figures_and_their_maths_import_no_viewer():
    """Arrows point down: the widgets may import the figures' maths, deepnorm.plots and deepnorm.views
    never import deepnorm.widgets or the study (and views imports no figure)."""
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "deepnorm"
    for path in [package / "views.py", *sorted((package / "plots").glob("*.py"))]:
        above = ("deepnorm.widgets", "deepnorm.study") + (("deepnorm.plots",) if path.name == "views.py" else ())
        assert not [m for m in _imported_modules(path) if m.startswith(above)], path
