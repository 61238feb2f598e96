"""deepnorm.metrics against independent implementations (scipy) and hand-computed cases."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.spatial.distance import directed_hausdorff as scipy_directed
from scipy.spatial.distance import jensenshannon
from scipy.stats import pearsonr

from deepnorm import metrics
from deepnorm.errors import DataError

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- Dice
DICE_CASES = [
    # (pred, target, labels, expected)  -- hand-computed
    ([1, 1, 2, 0], [1, 2, 2, 0], (1, 2, 3), [2 * 1 / 3, 2 * 1 / 3, np.nan]),
    ([3, 3, 3, 3], [3, 3, 0, 0], (3,), [2 * 2 / 6]),
    ([1, 0, 0, 0], [0, 0, 0, 2], (1, 2), [0.0, 0.0]),  # each label in only one map
    ([2, 2, 0], [2, 2, 0], (0, 2), [1.0, 1.0]),
    ([[1, 2], [3, 1]], [[1, 2], [3, 3]], (1, 2, 3), [2 * 1 / 3, 1.0, 2 * 1 / 3]),
]


@pytest.mark.parametrize("pred,target,labels,expected", DICE_CASES)
def test_dice_hand_cases(pred, target, labels, expected):
    got = metrics.dice(np.array(pred), np.array(target), labels=labels)
    assert got.shape == (len(labels),)
    np.testing.assert_allclose(got, expected, atol=1e-12, equal_nan=True)


def test_dice_default_labels_are_tissues_and_symmetric():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(6, 7, 5))
    b = rng.integers(0, 4, size=(6, 7, 5))
    got = metrics.dice(a, b)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, metrics.dice(b, a))
    np.testing.assert_allclose(metrics.dice(a, a), [1.0, 1.0, 1.0])


def test_dice_rejects_shape_mismatch():
    with pytest.raises(DataError, match="shape"):
        metrics.dice(np.zeros((2, 2), int), np.zeros((2, 3), int))


# --------------------------------------------------------------------------- Hausdorff
def _oracle_mhd(a: np.ndarray, b: np.ndarray, spacing) -> float:
    pa = np.argwhere(a) * np.asarray(spacing, float)
    pb = np.argwhere(b) * np.asarray(spacing, float)
    return 0.5 * (scipy_directed(pa, pb)[0] + scipy_directed(pb, pa)[0])


def _ball(shape, centre, radius):
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre)) <= radius**2


HAUSDORFF_CASES = [
    # (seed, shape, spacing, density)
    (0, (12, 14, 10), (1.0, 1.0, 1.0), 0.05),
    (1, (12, 14, 10), (0.958, 0.958, 3.0), 0.1),
    (2, (9, 20, 7), (2.0, 0.5, 1.25), 0.02),
    (3, (16, 16), (1.0, 3.0), 0.1),
    (4, (10, 10, 10), (1.0, 1.0, 1.0), 0.5),
]


@pytest.mark.parametrize("seed,shape,spacing,density", HAUSDORFF_CASES)
def test_mean_hausdorff_matches_scipy_on_random_masks(seed, shape, spacing, density):
    rng = np.random.default_rng(seed)
    a = rng.random(shape) < density
    b = rng.random(shape) < density
    a.flat[0] = b.flat[-1] = True  # both non-empty, far-apart points included
    got = metrics.mean_hausdorff(a, b, spacing)
    assert got == pytest.approx(_oracle_mhd(a, b, spacing), abs=1e-6)
    assert metrics.mean_hausdorff(b, a, spacing) == pytest.approx(got, abs=1e-12)


def test_directed_hausdorff_matches_scipy_both_ways():
    rng = np.random.default_rng(7)
    a = rng.random((11, 9, 8)) < 0.05
    b = _ball((11, 9, 8), (5, 4, 4), 3)
    spacing = (1.0, 2.0, 0.7)
    pa, pb = np.argwhere(a) * spacing, np.argwhere(b) * spacing
    assert metrics.directed_hausdorff(a, b, spacing) == pytest.approx(scipy_directed(pa, pb)[0], abs=1e-6)
    assert metrics.directed_hausdorff(b, a, spacing) == pytest.approx(scipy_directed(pb, pa)[0], abs=1e-6)


def test_mean_hausdorff_ball_inside_a_shell_uses_interior_voxels():
    # The prediction's farthest voxel from a hollow shell is the centre of the ball, an interior voxel.
    shape = (25, 25, 25)
    shell = _ball(shape, (12, 12, 12), 11) & ~_ball(shape, (12, 12, 12), 9)
    ball = _ball(shape, (12, 12, 12), 5)
    spacing = (1.0, 1.0, 1.0)
    assert metrics.mean_hausdorff(ball, shell, spacing) == pytest.approx(_oracle_mhd(ball, shell, spacing), abs=1e-6)
    # nearest shell voxel to the centre: radius > 9 on the lattice, e.g. offset (9, 1, 0) -> sqrt(82)
    assert metrics.directed_hausdorff(ball, shell) == pytest.approx(math.sqrt(82.0), abs=1e-6)


def test_mean_hausdorff_hand_case_and_scalar_spacing():
    a = np.zeros((5, 5, 5), bool)
    b = np.zeros((5, 5, 5), bool)
    a[0, 0, 0] = True
    b[0, 0, 0] = b[0, 0, 4] = True
    # dist(a, b) = 0, dist(b, a) = 4 voxels * 2 mm = 8 mm
    assert metrics.mean_hausdorff(a, b, 2.0) == pytest.approx(4.0)
    assert metrics.mean_hausdorff(a, a, (1, 1, 1)) == 0.0


@pytest.mark.parametrize("a_any,b_any,expected", [(False, False, "nan"), (True, False, "inf"), (False, True, "inf")])
def test_mean_hausdorff_empty_masks(a_any, b_any, expected):
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[1, 1, 1] = a_any
    b[2, 2, 2] = b_any
    got = metrics.mean_hausdorff(a, b, (1.0, 1.0, 1.0))
    assert math.isnan(got) if expected == "nan" else got == math.inf


def test_image_diagonal_in_mm():
    # extent 4 x 5 x 6 voxels of 1 x 2 x 3 mm: sqrt(4² + 10² + 18²)
    assert metrics.image_diagonal((4, 5, 6), (1.0, 2.0, 3.0)) == pytest.approx(math.sqrt(16 + 100 + 324))
    with pytest.raises(DataError, match="spacing"):
        metrics.image_diagonal((4, 5, 6), (1.0, 2.0))


@pytest.mark.parametrize("a_any,b_any", [(True, False), (False, True)])
def test_mean_hausdorff_empty_penalty_replaces_inf(a_any, b_any):
    a = np.zeros((4, 4, 4), bool)
    b = np.zeros((4, 4, 4), bool)
    a[1, 1, 1] = a_any
    b[2, 2, 2] = b_any
    assert metrics.mean_hausdorff(a, b, 1.0, empty_penalty=12.5) == 12.5
    both_empty = metrics.mean_hausdorff(np.zeros((2, 2), bool), np.zeros((2, 2), bool), 1.0, empty_penalty=12.5)
    assert math.isnan(both_empty)  # nothing to measure: still not a number, not a penalty
    full = np.ones((4, 4, 4), bool)
    assert metrics.mean_hausdorff(full, full, 1.0, empty_penalty=12.5) == 0.0
    with pytest.raises(DataError, match="empty_penalty"):
        metrics.mean_hausdorff(a, b, 1.0, empty_penalty=-1.0)


def test_empty_predictions_per_class():
    pred = np.array([0, 2, 2, 3, 3])
    target = np.array([1, 2, 2, 3, 0])
    # CSF (1) is in the reference but never predicted; GM and WM are predicted
    np.testing.assert_array_equal(metrics.empty_predictions(pred, target, (1, 2, 3)), [1, 0, 0])
    # a class absent from both maps is no missed prediction
    np.testing.assert_array_equal(metrics.empty_predictions(pred, pred, (1, 2, 3)), [0, 0, 0])


# --------------------------------------------------------------------------- empty classes in the evaluation
def _missed_csf_case():
    """Shape (1, 1, 10), spacing (1, 1, 2) mm; the prediction calls the two CSF voxels GM."""
    target = np.array([1, 1, 2, 2, 2, 2, 3, 3, 3, 3]).reshape(1, 1, 10)
    pred = np.array([2, 2, 2, 2, 2, 2, 3, 3, 3, 3]).reshape(1, 1, 10)
    return pred, target, (1.0, 1.0, 2.0)


def test_subject_scores_penalise_a_class_never_predicted():
    from deepnorm.evaluation.evaluate import subject_scores

    pred, target, spacing = _missed_csf_case()
    row = subject_scores(pred, target, spacing)
    diagonal = math.sqrt(1 + 1 + 20**2)  # extent 1 x 1 x 20 mm
    # GM: predicted z 0..5, reference z 2..5 -> dist(pred, ref) = 2 voxels * 2 mm, dist(ref, pred) = 0
    assert row["mhd_gm"] == pytest.approx(2.0)
    assert row["mhd_wm"] == 0.0
    assert row["mhd_csf"] == pytest.approx(diagonal)
    assert row["mhd_mean"] == pytest.approx((diagonal + 2.0 + 0.0) / 3)
    assert row["dice_csf"] == 0.0 and row["dice_gm"] == pytest.approx(2 * 4 / (6 + 4))
    assert (row["empty_csf"], row["empty_gm"], row["empty_wm"]) == (1, 0, 0)


def test_summarize_sums_empty_predictions_and_averages_the_rest():
    from deepnorm.evaluation.evaluate import subject_scores, summarize

    pred, target, spacing = _missed_csf_case()
    rows = [{"site": "a", "subject": "1", **subject_scores(pred, target, spacing)},
            {"site": "a", "subject": "2", **subject_scores(target, target, spacing)},
            {"site": "b", "subject": "3", **subject_scores(pred, target, spacing)}]
    out = {r["site"]: r for r in summarize(rows)}
    assert out["a"]["empty_csf"] == 1 and out["all"]["empty_csf"] == 2 and out["all"]["empty_wm"] == 0
    assert "empty_csf_std" not in out["all"]
    diagonal = math.sqrt(402)
    assert out["a"]["mhd_csf"] == pytest.approx(diagonal / 2)  # the penalty is averaged, not dropped


def test_finite_mean_keeps_infinite_values():
    from deepnorm.evaluation.evaluate import _finite_mean

    assert _finite_mean([1.0, float("nan"), 3.0]) == 2.0  # nan: a class absent from both maps
    assert _finite_mean([1.0, float("inf")]) == math.inf  # never silently dropped
    assert math.isnan(_finite_mean([float("nan")]))


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, -1.0, 1.0), (0.0, 1.0, 1.0)])
def test_mean_hausdorff_rejects_bad_spacing(spacing):
    a = np.ones((3, 3, 3), bool)
    with pytest.raises(DataError, match="spacing"):
        metrics.mean_hausdorff(a, a, spacing)


def test_mean_hausdorff_128_cube_is_fast():
    shape = (128, 128, 128)
    a = _ball(shape, (64, 64, 64), 50)
    b = _ball(shape, (60, 66, 63), 45) | _ball(shape, (10, 10, 10), 4)
    start = time.perf_counter()
    value = metrics.mean_hausdorff(a, b, (1.0, 1.0, 1.0))
    elapsed = time.perf_counter() - start
    assert np.isfinite(value) and value > 0
    assert elapsed < 3.0, f"mean_hausdorff took {elapsed:.2f} s on 128^3"


# --------------------------------------------------------------------------- Jensen-Shannon
def _oracle_jsd(p, q) -> float:
    return float(jensenshannon(np.asarray(p, float), np.asarray(q, float), base=math.e) ** 2)


JSD_CASES = [
    ([1, 0], [0, 1]),
    ([1, 2, 3, 4], [4, 3, 2, 1]),
    ([0.5, 0.5, 0, 0], [0, 0.25, 0.25, 0.5]),
    ([10, 0, 0, 0, 5], [10, 0, 0, 0, 5]),
    ([100, 1, 0, 7], [3, 3, 3, 3]),
]


@pytest.mark.parametrize("p,q", JSD_CASES)
def test_jensen_shannon_matches_scipy(p, q):
    got = metrics.jensen_shannon(np.array(p), np.array(q))
    assert got == pytest.approx(_oracle_jsd(p, q), abs=1e-6)
    assert 0.0 <= got <= LN2
    assert metrics.jensen_shannon(np.array(q), np.array(p)) == pytest.approx(got, abs=1e-12)


def test_jensen_shannon_random_histograms_and_scale_invariance():
    rng = np.random.default_rng(3)
    for _ in range(10):
        p = rng.random(50) * (rng.random(50) > 0.3)
        q = rng.random(50) * (rng.random(50) > 0.3)
        got = metrics.jensen_shannon(p, q)
        assert got == pytest.approx(_oracle_jsd(p, q), abs=1e-6)
        assert metrics.jensen_shannon(7.0 * p, q) == pytest.approx(got, abs=1e-12)
    assert metrics.jensen_shannon([1, 0], [0, 1]) == pytest.approx(LN2)


@pytest.mark.parametrize("p,q", [([0, 0], [1, 1]), ([1, -1], [1, 1]), ([1, 2], [1, 2, 3]), ([], [])])
def test_jensen_shannon_rejects_bad_histograms(p, q):
    with pytest.raises(DataError):
        metrics.jensen_shannon(np.array(p, float), np.array(q, float))


@pytest.mark.parametrize("bins,value_range", [(100, (0.0, 1.0)), (17, (0.2, 0.9)), (30, None)])
def test_intensity_jsd_matches_histogram_oracle(bins, value_range):
    rng = np.random.default_rng(5)
    a = np.clip(rng.normal(0.4, 0.1, size=5000), 0, 1)
    b = np.clip(rng.normal(0.55, 0.15, size=3000), 0, 1)
    rng_ = value_range or (min(a.min(), b.min()), max(a.max(), b.max()))
    ha = np.histogram(a, bins=bins, range=rng_)[0]
    hb = np.histogram(b, bins=bins, range=rng_)[0]
    got = metrics.intensity_jsd(a, b, bins=bins, value_range=value_range)
    assert got == pytest.approx(_oracle_jsd(ha, hb), abs=1e-6)
    assert metrics.intensity_jsd(a, a, bins=bins, value_range=value_range) == pytest.approx(0.0, abs=1e-12)


def test_intensity_jsd_rejects_samples_outside_range():
    with pytest.raises(DataError, match="value_range"):
        metrics.intensity_jsd(np.full(10, 5.0), np.full(10, 0.5))


# --------------------------------------------------------------------------- legacy JSD
def _histograms(n: int, bins: int = 100, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.histogram(np.clip(rng.normal(0.3 + 0.12 * i, 0.1, 20000), 0, 1), bins=bins, range=(0, 1))[0]
            for i in range(n)]


def test_legacy_jsd_equals_scaled_sum_of_pairwise_true_jsd():
    for n in (2, 3, 4):
        hists = _histograms(n)
        expected = 100 * sum(_oracle_jsd(hists[i], hists[j]) for i in range(n) for j in range(n) if i != j)
        assert metrics.legacy_jsd(hists) == pytest.approx(expected, rel=1e-6)


def test_legacy_jsd_laws():
    two, three = _histograms(2), _histograms(3)
    assert metrics.legacy_jsd(two) > LN2  # not bounded like a true JSD
    assert metrics.legacy_jsd(three) > metrics.legacy_jsd(two)  # grows with the number of inputs
    assert metrics.legacy_jsd([two[0], two[0], two[0]]) == pytest.approx(0.0, abs=1e-9)
    coarse = [h.reshape(50, 2).sum(axis=1) for h in two]
    assert metrics.legacy_jsd(two) > metrics.legacy_jsd(coarse)  # grows with the number of bins
    assert metrics.legacy_jsd(two) > metrics.jensen_shannon(*two)


def test_legacy_jsd_needs_two_histograms():
    with pytest.raises(DataError, match="two"):
        metrics.legacy_jsd([np.ones(10)])


# --------------------------------------------------------------------------- Pearson
def _oracle_pearson(image, mask, axis):
    idx = np.indices(image.shape)[axis]
    sel = np.ones(image.shape, bool) if mask is None else mask
    return pearsonr(image[sel], idx[sel].astype(float))[0]


PEARSON_CASES = [
    # (seed, shape, axis, use_mask, trend)
    (0, (20, 30), 1, True, 0.02),
    (1, (20, 30), 0, False, 0.05),
    (2, (10, 12, 8), 1, True, -0.03),
    (3, (10, 12, 8), 2, False, 0.0),
    (4, (10, 12, 8), -1, True, 0.1),
]


@pytest.mark.parametrize("seed,shape,axis,use_mask,trend", PEARSON_CASES)
def test_pearson_y_matches_scipy(seed, shape, axis, use_mask, trend):
    rng = np.random.default_rng(seed)
    position = np.indices(shape)[axis]
    image = rng.random(shape) + trend * position
    mask = (rng.random(shape) < 0.6) if use_mask else None
    got = metrics.pearson_y(image, mask, axis=axis)
    assert got == pytest.approx(_oracle_pearson(image, mask, axis), abs=1e-6)


def test_pearson_y_linear_ramp_and_degenerate_cases():
    ramp = np.tile(np.arange(10.0), (4, 1))  # intensity = y
    assert metrics.pearson_y(ramp, axis=1) == pytest.approx(1.0)
    assert metrics.pearson_y(-ramp, axis=1) == pytest.approx(-1.0)
    assert math.isnan(metrics.pearson_y(np.ones((4, 10)), axis=1))  # constant intensity
    one_row = np.zeros((4, 10), bool)
    one_row[:, 3] = True
    assert math.isnan(metrics.pearson_y(ramp + np.arange(4)[:, None], one_row, axis=1))  # constant y
    with pytest.raises(DataError, match="shape"):
        metrics.pearson_y(ramp, np.ones((3, 3), bool))


# --------------------------------------------------------------------------- confusion matrix
def _oracle_counts(true, pred, k):
    out = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(true, pred):
        out[t, p] += 1
    return out


@pytest.mark.parametrize("seed,n,k", [(0, 50, 3), (1, 200, 4), (2, 7, 5), (3, 1, 2)])
def test_confusion_matrix_matches_hand_counts(seed, n, k):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    pred = rng.integers(0, k, n)
    counts = metrics.confusion_matrix(true, pred, k, normalize=False)
    np.testing.assert_array_equal(counts, _oracle_counts(true, pred, k))
    norm = metrics.confusion_matrix(true, pred, k)
    oracle = _oracle_counts(true, pred, k).astype(float)
    for row in range(k):
        expected = oracle[row] / oracle[row].sum() if oracle[row].sum() else np.zeros(k)
        np.testing.assert_allclose(norm[row], expected, atol=1e-12)


def test_confusion_matrix_absent_class_row_stays_zero():
    norm = metrics.confusion_matrix([0, 0, 2], [0, 1, 2], 3)
    np.testing.assert_allclose(norm, [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("true,pred", [([0, 3], [0, 1]), ([0, 1], [0, -1]), ([0, 1], [0])])
def test_confusion_matrix_rejects_bad_labels(true, pred):
    with pytest.raises(DataError):
        metrics.confusion_matrix(np.array(true), np.array(pred), 3)


# --------------------------------------------------------------------------- Table 6: ρ on white matter only
def test_bias_correlations_report_a_white_matter_only_rho():
    from types import SimpleNamespace

    from deepnorm.data.augment import apply_bias_field
    from deepnorm.evaluation.evaluate import ALPHAS, bias_correlations

    rng = np.random.default_rng(0)
    shape = (12, 16, 6)
    labels = np.zeros(shape, dtype=np.int64)
    labels[1:11, 1:8] = 2  # GM in the low y half, dark
    labels[1:11, 8:15] = 3  # WM in the high y half, bright
    mask = labels > 0
    image = np.where(labels == 3, 0.8, 0.3) + 0.02 * rng.standard_normal(shape)
    image = (image * mask)[None].astype(np.float32)
    subject = SimpleNamespace(image=image, mask=mask, labels=labels, site="iseg")
    rows = {r["alpha"]: r for r in bias_correlations([subject], lambda im, m: im, min_voxels=5)}

    def oracle(volume: np.ndarray) -> float:  # mean over axial slices of scipy's ρ on the WM voxels
        ys = np.broadcast_to(np.arange(shape[1])[None, :], shape[:2])
        wm = labels[:, :, 0] == 3
        return float(np.mean([pearsonr(volume[:, :, z][wm], ys[wm])[0] for z in range(shape[2])]))

    for alpha in (0.0, *ALPHAS):
        degraded = (apply_bias_field(image, alpha, axis=1) * mask)[0]
        assert rows[alpha]["rho_degraded_wm"] == pytest.approx(oracle(degraded), abs=1e-6)
        assert rows[alpha]["rho_normalized_wm"] == pytest.approx(rows[alpha]["rho_degraded_wm"])
    # the whole-brain ρ mixes the GM/WM contrast with the field; on WM alone the clean image has none
    assert rows[0.0]["rho_degraded"] > 0.8
    assert abs(rows[0.0]["rho_degraded_wm"]) < 0.3
    assert rows[0.9]["rho_degraded_wm"] > 0.8


def test_bias_correlations_without_labels_leave_the_wm_rho_unmeasured():
    from types import SimpleNamespace

    from deepnorm.evaluation.evaluate import bias_correlations

    image = np.random.default_rng(1).uniform(0.2, 0.8, (1, 8, 8, 4)).astype(np.float32)
    subject = SimpleNamespace(image=image, mask=np.ones((8, 8, 4), bool), site="iseg")
    rows = bias_correlations([subject], lambda im, m: im, alphas=(0.5,), min_voxels=5)
    assert all(math.isnan(r["rho_degraded_wm"]) and math.isnan(r["rho_normalized_wm"]) for r in rows)
    assert all(math.isfinite(r["rho_degraded"]) for r in rows)
