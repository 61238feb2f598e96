"""Evaluation metrics of the paper: Dice (Eq. 4), mean Hausdorff distance (Eq. 5), Jensen-Shannon
divergence (Table 4), intensity-position correlation (Table 6) and the confusion matrix (Fig. 9).

Pure numpy/scipy: arrays in, Python floats (or small numpy arrays) out. Inputs may be numpy arrays
or anything ``np.asarray`` accepts (CPU torch tensors included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from deepnorm.errors import DataError
from deepnorm.labels import TISSUES

__all__ = [
    "dice",
    "mean_hausdorff",
    "directed_hausdorff",
    "image_diagonal",
    "empty_predictions",
    "jensen_shannon",
    "intensity_jsd",
    "legacy_jsd",
    "pearson_y",
    "confusion_matrix",
]

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- validation helpers
def _same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise DataError(
            f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}: "
            "pass two arrays on the same voxel grid (resample one onto the other first)"
        )


def _spacing(spacing: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    values = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (ndim,)) if np.ndim(spacing) == 0 \
        else np.asarray(spacing, dtype=np.float64)
    if values.shape != (ndim,):
        raise DataError(
            f"spacing {tuple(np.ravel(spacing))} has {values.size} values for a {ndim}-D mask: "
            f"give one voxel size in mm per axis ({ndim} values) or a single number"
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise DataError(f"spacing {tuple(values)} must be positive, finite voxel sizes in mm")
    return tuple(float(v) for v in values)


# --------------------------------------------------------------------------- Dice (Eq. 4)
def dice(pred: np.ndarray, target: np.ndarray, labels: Sequence[int] = TISSUES) -> np.ndarray:
    """Dice similarity coefficient of each label (Eq. 4): ``2 |S ∩ G| / (|S| + |G|)``.

    `pred` and `target` are integer label maps of the same shape (any number of dimensions,
    e.g. (X, Y, Z) voxels with 0 BG, 1 CSF, 2 GM, 3 WM). Returns a float64 array of shape
    ``(len(labels),)``, one Dice per entry of `labels`, in [0, 1].

    A label absent from both maps gives ``nan`` (nothing to overlap; excluded by a ``nanmean``);
    a label present in only one of them gives ``0.0``.
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    _same_shape(pred, target, ("pred", "target"))
    out = np.empty(len(labels), dtype=np.float64)
    for i, label in enumerate(labels):
        p = pred == label
        t = target == label
        total = int(p.sum()) + int(t.sum())
        out[i] = np.nan if total == 0 else 2.0 * int(np.logical_and(p, t).sum()) / total
    return out


# --------------------------------------------------------------------------- Hausdorff (Eq. 5)
def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """The smallest box (slices) holding every True voxel of a non-empty `mask`."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _directed(source: np.ndarray, target: np.ndarray, spacing: tuple[float, ...]) -> float:
    """Largest distance (mm) from a True voxel of `source` to its nearest True voxel of `target`.

    Both masks are non-empty and already cropped to their joint bounding box. The Euclidean
    distance transform of ``~target`` (spacing-aware) gives every voxel its distance to the
    nearest target voxel; that nearest voxel is always on the target's surface, so interior
    target voxels never matter. The maximum is taken over *all* source voxels, not only its
    surface: a source voxel deep inside a hole of the target (a ball inside a shell) can be the
    farthest one.
    """
    if np.array_equal(source & target, source):
        return 0.0
    distance = ndimage.distance_transform_edt(~target, sampling=spacing)
    return float(distance[source].max())


def directed_hausdorff(source_mask: np.ndarray, target_mask: np.ndarray,
                       spacing: float | Sequence[float] = 1.0) -> float:
    """Directed Hausdorff distance dist(S, G) of Eq. 5 in mm.

    The maximum, over the foreground voxels of `source_mask`, of the Euclidean distance (mm, with
    voxel sizes `spacing` per axis) to the nearest foreground voxel of `target_mask`. Both masks are
    boolean arrays of the same shape, e.g. (X, Y, Z). ``nan`` if both are empty, ``inf`` if exactly
    one is empty (no point to reach, or nothing to measure from while the other has points).
    """
    source = np.asarray(source_mask, dtype=bool)
    target = np.asarray(target_mask, dtype=bool)
    _same_shape(source, target, ("source_mask", "target_mask"))
    sampling = _spacing(spacing, source.ndim)
    has_s, has_t = bool(source.any()), bool(target.any())
    if not has_s and not has_t:
        return float("nan")
    if not (has_s and has_t):
        return float("inf")
    box = _bounding_box(source | target)
    return _directed(source[box], target[box], sampling)


def mean_hausdorff(pred_mask: np.ndarray, target_mask: np.ndarray,
                   spacing: float | Sequence[float] = 1.0, *, empty_penalty: float | None = None) -> float:
    """Mean Hausdorff distance (Eq. 5) in mm: ``(dist(S, G) + dist(G, S)) / 2``.

    `pred_mask` and `target_mask` are boolean masks of the same shape (e.g. (X, Y, Z) voxels,
    one tissue class each); `spacing` is the voxel size in mm per axis (or one number). dist(A, B)
    is the largest distance from a foreground voxel of A to its nearest foreground voxel of B,
    computed exactly with ``scipy.ndimage.distance_transform_edt(sampling=spacing)`` on the
    complement of B, restricted to the bounding box of both masks.

    Empty masks: ``nan`` if both are empty (nothing to measure). If exactly one is empty the
    distance is undefined: ``inf`` by default, or `empty_penalty` (mm, >= 0) when given, e.g.
    :func:`image_diagonal`, so that a class never predicted weighs on a mean instead of vanishing
    from it.
    """
    if empty_penalty is not None and not (math.isfinite(float(empty_penalty)) and float(empty_penalty) >= 0):
        raise DataError(f"empty_penalty={empty_penalty!r} must be a finite distance in mm >= 0 (or None for inf)")
    pred = np.asarray(pred_mask, dtype=bool)
    target = np.asarray(target_mask, dtype=bool)
    _same_shape(pred, target, ("pred_mask", "target_mask"))
    sampling = _spacing(spacing, pred.ndim)
    has_p, has_t = bool(pred.any()), bool(target.any())
    if not has_p and not has_t:
        return float("nan")
    if not (has_p and has_t):
        return float("inf") if empty_penalty is None else float(empty_penalty)
    box = _bounding_box(pred | target)
    pred, target = pred[box], target[box]
    return 0.5 * (_directed(pred, target, sampling) + _directed(target, pred, sampling))


def image_diagonal(shape: Sequence[int], spacing: float | Sequence[float] = 1.0) -> float:
    """Length in mm of the diagonal of an image of `shape` voxels of size `spacing` mm per axis.

    ``sqrt(Σ_i (n_i s_i)²)``: the image's physical extent, longer than any distance between two of
    its voxel centres, hence longer than any Hausdorff distance measured on it. The evaluation's
    penalty for a class that is never predicted (or predicted where the reference has none).
    """
    extent = np.asarray(shape, dtype=np.float64) * np.asarray(_spacing(spacing, len(shape)))
    return float(np.sqrt(np.sum(extent**2)))


def empty_predictions(pred: np.ndarray, target: np.ndarray, labels: Sequence[int] = TISSUES) -> np.ndarray:
    """1 for each label of `labels` present in `target` but never predicted in `pred`, else 0.

    `pred` and `target` are integer label maps of the same shape; returns an int64 array of shape
    ``(len(labels),)``. A label absent from both maps is not a missed prediction (0).
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    _same_shape(pred, target, ("pred", "target"))
    present = set(np.unique(pred).tolist())
    missed = [int(label not in present and bool(np.any(target == label))) for label in labels]
    return np.asarray(missed, dtype=np.int64)


# --------------------------------------------------------------------------- Jensen-Shannon (Table 4)
def _probabilities(hist: np.ndarray, name: str) -> np.ndarray:
    h = np.asarray(hist, dtype=np.float64).ravel()
    if h.size == 0 or not np.all(np.isfinite(h)) or np.any(h < 0):
        raise DataError(f"{name} must be a non-empty histogram of finite, non-negative counts")
    total = h.sum()
    if total <= 0:
        raise DataError(f"{name} is an all-zero histogram: it holds no samples, check its mask/value range")
    return h / total


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats along `axis`, with 0 log 0 = 0 (works for unnormalized rows too)."""
    safe = np.where(p > 0, p, 1.0)
    return -np.sum(np.where(p > 0, p * np.log(safe), 0.0), axis=axis)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats between two histograms of the same shape.

    Each histogram (counts or probabilities, any shape, same number of bins) is normalized to sum
    to 1; ``JSD = H((p + q) / 2) - (H(p) + H(q)) / 2`` with 0 log 0 = 0. Symmetric, 0 for equal
    distributions and at most ln 2 ≈ 0.693 (disjoint supports).
    """
    p_arr = np.asarray(p)
    q_arr = np.asarray(q)
    _same_shape(p_arr, q_arr, ("p", "q"))
    pp = _probabilities(p_arr, "p")
    qq = _probabilities(q_arr, "q")
    value = _entropy(0.5 * (pp + qq)) - 0.5 * (_entropy(pp) + _entropy(qq))
    return float(min(max(value, 0.0), LN2))


def _histogram(values: np.ndarray, bins: int, value_range: tuple[float, float], name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    counts, _ = np.histogram(v, bins=bins, range=value_range)
    if counts.sum() == 0:
        raise DataError(
            f"{name} has no finite sample inside value_range={value_range}: "
            "widen value_range or pass the brain voxels' intensities"
        )
    return counts


def intensity_jsd(a: np.ndarray, b: np.ndarray, bins: int = 100,
                  value_range: tuple[float, float] | None = (0.0, 1.0)) -> float:
    """Jensen-Shannon divergence (nats, ≤ ln 2) between the intensity distributions of two samples.

    `a` and `b` are arrays of intensities (any shape, flattened; e.g. the brain voxels of an image
    in [0, 1]). Each is binned into `bins` equal bins over `value_range`; samples outside the range
    and non-finite ones are ignored. ``value_range=None`` uses the joint finite min/max of both.
    """
    if int(bins) < 1:
        raise DataError(f"bins={bins} must be a positive number of histogram bins")
    if value_range is None:
        both = np.concatenate([np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()])
        both = both[np.isfinite(both)]
        if both.size == 0:
            raise DataError("a and b hold no finite intensity: nothing to compare")
        lo, hi = float(both.min()), float(both.max())
        value_range = (lo, hi if hi > lo else lo + 1.0)
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise DataError(f"value_range={value_range} must be (low, high) with high > low")
    return jensen_shannon(_histogram(a, int(bins), (lo, hi), "a"), _histogram(b, int(bins), (lo, hi), "b"))


def legacy_jsd(histograms: Sequence[np.ndarray], value_range: tuple[float, float] = (0.0, 1.0)) -> float:
    """The quantity behind the paper's Table 4 "JSD" (2.0839, 12.2212): *not* a divergence bound by ln 2.

    A reconstruction of what the authors' code computed, kept to explain their numbers; report
    :func:`jensen_shannon` as the metric. `histograms` are N ≥ 2 intensity histograms (counts,
    shape (bins,) each, over `value_range`), one per data set.

    The code applied a generalized-JSD helper, ``H(mean of rows) - mean of H(row)``, to an input of
    the wrong shape. We read the two shape errors as:

    1. **Rows are densities, not probabilities.** Each histogram enters as a density over
       `value_range` (``numpy.histogram(density=True)``): its bins sum to ``bins / (high - low)``,
       not to 1. The entropy terms then scale by that sum, so the helper returns
       ``bins / (high - low)`` times the divergence: ×100 for 100 bins on [0, 1].
    2. **The N×N table is summed, not averaged.** The stack of N rows was broadcast against itself,
       giving one generalized JSD per ordered pair (i, j) (0 on the diagonal), and the table was
       summed. That adds N(N-1) pair terms: the value grows with N².

    Together: ``legacy = bins / (high - low) * sum_{i != j} JSD(p_i, p_j)``, with JSD the true one
    in nats. Its bound is ``N (N - 1) ln 2 * bins / (high - low)``, not ln 2. With two data sets a
    true JSD of only 0.0104 between the input histograms already gives the paper's 2.08; a third
    data set adds four more pair terms, which is how three data sets reach 12.22. Identical
    histograms give 0, as a divergence must.
    """
    rows = [np.asarray(h) for h in histograms]
    if len(rows) < 2:
        raise DataError(f"legacy_jsd needs at least two histograms (one per data set), got {len(rows)}")
    for i, r in enumerate(rows[1:], start=1):
        _same_shape(rows[0], r, ("histograms[0]", f"histograms[{i}]"))
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise DataError(f"value_range={value_range} must be (low, high) with high > low")
    bins = rows[0].size
    width = (hi - lo) / bins
    density = np.stack([_probabilities(r, f"histograms[{i}]") for i, r in enumerate(rows)]) / width  # (N, bins)
    # The helper's mean over "distributions", broadcast over the (N, N) table of pairs.
    mean = 0.5 * (density[:, None, :] + density[None, :, :])  # (N, N, bins)
    own = _entropy(density)  # (N,)
    table = _entropy(mean) - 0.5 * (own[:, None] + own[None, :])  # (N, N), zero diagonal
    return float(max(table.sum(), 0.0))


# --------------------------------------------------------------------------- Pearson ρ (Table 6)
def pearson_y(image: np.ndarray, mask: np.ndarray | None = None, axis: int = 1) -> float:
    """Pearson correlation between voxel intensity and voxel position along `axis` (Table 6).

    `image` is a spatial array (e.g. an axial slice (X, Y) or a volume (X, Y, Z); pass one channel
    of a (C, X, Y, Z) image); `axis` indexes its axes (1 = y). Over the voxels where `mask`
    (boolean, same shape) is True, or all voxels when `mask` is None, returns ρ between the
    intensity and the voxel index along `axis` (unitless, in [-1, 1]; the index is in voxels and ρ
    does not depend on the voxel size). ``nan`` when fewer than two voxels are selected or when the
    intensity or the position is constant over them.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 0:
        raise DataError("image must be an array with at least one axis")
    if not -img.ndim <= axis < img.ndim:
        raise DataError(f"axis={axis} is out of range for an image of shape {img.shape}")
    sel = np.ones(img.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    _same_shape(img, sel, ("image", "mask"))
    img = np.moveaxis(img, axis, 0)
    sel = np.moveaxis(sel, axis, 0)
    n = int(sel.sum())
    if n < 2:
        return float("nan")
    values = np.where(sel, img, 0.0)
    if not np.all(np.isfinite(values)):
        raise DataError("image has non-finite intensities inside the mask: clean them or mask them out")
    rest = tuple(range(1, img.ndim))
    counts = sel.sum(axis=rest).astype(np.float64)  # voxels per position, (L,)
    position = np.arange(img.shape[0], dtype=np.float64)
    mean_i = values.sum() / n
    mean_y = float((counts * position).sum() / n)
    centred = np.where(sel, img - mean_i, 0.0)
    cov = float((centred.sum(axis=rest) * (position - mean_y)).sum())
    var_i = float((centred**2).sum())
    var_y = float((counts * (position - mean_y) ** 2).sum())
    if var_i <= 0 or var_y <= 0:
        return float("nan")
    return float(np.clip(cov / math.sqrt(var_i * var_y), -1.0, 1.0))


# --------------------------------------------------------------------------- confusion matrix (Fig. 9)
def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_classes: int, normalize: bool = True) -> np.ndarray:
    """Confusion matrix of shape (n_classes, n_classes): rows = true class, columns = predicted.

    `true` and `pred` are integer class arrays of the same shape with values in [0, n_classes).
    With ``normalize=True`` (float64) each row is divided by its total, so a row sums to 1 (a class
    that never occurs keeps a row of zeros); with ``normalize=False`` the raw counts (int64).
    """
    t = np.asarray(true).ravel()
    p = np.asarray(pred).ravel()
    if t.shape != p.shape:
        raise DataError(f"true has {t.size} entries but pred has {p.size}: pass one prediction per sample")
    if int(n_classes) < 1:
        raise DataError(f"n_classes={n_classes} must be a positive number of classes")
    k = int(n_classes)
    for name, arr in (("true", t), ("pred", p)):
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) and not np.all(np.mod(arr, 1) == 0)):
            raise DataError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= k):
            raise DataError(
                f"{name} has class {int(arr.min()) if arr.min() < 0 else int(arr.max())} outside "
                f"[0, {k}): raise n_classes or fix the labels"
            )
    counts = np.bincount(t.astype(np.int64) * k + p.astype(np.int64), minlength=k * k).reshape(k, k)
    if not normalize:
        return counts.astype(np.int64)
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(counts, totals, out=np.zeros((k, k), dtype=np.float64), where=totals > 0)
