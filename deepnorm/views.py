"""Pure numpy maths of a picture of a volume: its input, slicing, windowing, overlays, histograms.

The figures (:mod:`deepnorm.plots`) and the viewers (:mod:`deepnorm.widgets`) both draw with it; it
imports neither.

Orientation convention (RAS-like voxel axes): array axis 0 = x (left -> right), axis 1 = y
(posterior -> anterior), axis 2 = z (inferior -> superior). A displayed slice is a 2D array
whose row 0 is the top of the picture (matplotlib ``imshow(origin="upper")``):

- ``axial`` (fixed z): columns = x, rows = y with anterior up;
- ``coronal`` (fixed y): columns = x, rows = z with superior up;
- ``sagittal`` (fixed x): columns = y (anterior to the right), rows = z with superior up.

Each is ``np.rot90`` of the plain numpy slice (``volume[:, :, k]``, ``volume[:, k, :]``,
``volume[k, :, :]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepnorm.data.volume import int_triple
from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import TISSUES

#: Display axes and the array axis each one fixes.
AXES: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}
AXES_NAMES: tuple[str, ...] = ("sagittal", "coronal", "axial")

#: Overlay colour (RGB in [0, 1]) per tissue label: CSF blue, GM green, WM orange.
LABEL_COLORS: dict[int, tuple[float, float, float]] = {
    1: (0.20, 0.45, 1.00),
    2: (0.15, 0.80, 0.25),
    3: (1.00, 0.65, 0.10),
}


def unwrap_volume(value: Any, name: str) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """The array and spacing (mm, or None) of a numpy array or a `deepnorm.data.volume.Volume`.

    Any object with ``.data`` and ``.spacing`` counts as a Volume. Raises DataError naming
    `name` when the value holds no numeric array.
    """
    spacing = None
    if hasattr(value, "data") and hasattr(value, "spacing") and not isinstance(value, np.ndarray):
        spacing = tuple(float(s) for s in value.spacing)
        value = value.data
    try:
        array = np.asarray(value)
    except Exception as error:  # pragma: no cover - numpy's own message is kept
        raise DataError(f"{name}: cannot read it as an array ({error}); pass a numpy array or a Volume.") from error
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name}: expected a numeric array or a Volume, got dtype {array.dtype}.")
    return array, spacing  # type: ignore[return-value]  # a Volume's spacing: three sizes, unchecked here


def same_spacing(spacings: Sequence[tuple[float, float, float] | None]) -> tuple[float, float, float] | None:
    """The first non-None spacing (mm); raises DataError when two given spacings disagree."""
    known = [s for s in spacings if s is not None]
    for other in known[1:]:
        if not np.allclose(other, known[0]):
            raise DataError(f"Volumes have different voxel spacings {known[0]} and {other} mm; resample them first.")
    return known[0] if known else None


def _axis_index(axis: str) -> int:
    if axis not in AXES:
        raise ConfigError(f"axis={axis!r} is not a display axis; use one of {sorted(AXES)}.")
    return AXES[axis]


def n_slices(shape: Sequence[int], axis: str) -> int:
    """Number of slices along display `axis` of a (X,Y,Z) or (C,X,Y,Z) array of `shape`."""
    spatial = tuple(shape)[-3:]
    return int(spatial[_axis_index(axis)])


def take_slice(volume: np.ndarray, axis: str, index: int) -> np.ndarray:
    """Display slice `index` of `volume` (X,Y,Z), or of every channel of (C,X,Y,Z).

    Returns (rows, cols) for a 3D input, (C, rows, cols) for a 4D one, oriented as described in
    the module docstring (axial: rows = y with anterior up, cols = x). Raises DataError for a
    bad shape or an index outside ``[0, n_slices)``.
    """
    volume = np.asarray(volume)
    if volume.ndim not in (3, 4):
        raise DataError(f"take_slice needs a (X,Y,Z) or (C,X,Y,Z) array, got shape {volume.shape}.")
    a = _axis_index(axis)
    n = volume.shape[volume.ndim - 3 + a]
    if not 0 <= int(index) < n:
        raise DataError(f"Slice index {index} is outside [0, {n}) along the {axis} axis.")
    plane = np.take(volume, int(index), axis=volume.ndim - 3 + a)
    return np.rot90(plane, k=1, axes=(-2, -1))


#: Anatomical letter at each edge of a `take_slice` picture (R/L, A/P, S/I; RAS voxel axes).
ORIENTATION: dict[str, dict[str, str]] = {
    "axial": {"left": "L", "right": "R", "top": "A", "bottom": "P"},
    "coronal": {"left": "L", "right": "R", "top": "S", "bottom": "I"},
    "sagittal": {"left": "P", "right": "A", "top": "S", "bottom": "I"},
}


def orientation_letters(axis: str) -> dict[str, str]:
    """The letter (R/L, A/P, S/I) at the left, right, top and bottom edge of a slice along `axis`."""
    return dict(ORIENTATION[AXES_NAMES[_axis_index(axis)]])


def foreground_centre(volume: np.ndarray) -> tuple[int, int, int]:
    """Voxel (x, y, z) at the centre of the bounding box of `volume`'s non-zero voxels (X,Y,Z).

    An all-zero volume gives its middle voxel. A viewer starts there, so no axis opens on an
    empty slice.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise DataError(f"foreground_centre needs a (X,Y,Z) array, got shape {volume.shape}.")
    where = np.nonzero(volume)
    if where[0].size == 0:
        return int_triple(n // 2 for n in volume.shape)
    return int_triple((w.min() + w.max()) // 2 for w in where)


def slice_aspect(spacing: Sequence[float], axis: str) -> float:
    """``imshow`` aspect (row spacing / column spacing) of a `take_slice` slice; spacing in mm (x,y,z)."""
    if len(spacing) != 3 or min(float(s) for s in spacing) <= 0:
        raise DataError(f"spacing must be three positive voxel sizes in mm, got {tuple(spacing)}.")
    sx, sy, sz = (float(s) for s in spacing)
    rows_cols = {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}
    _axis_index(axis)
    rows, cols = rows_cols[axis]
    return rows / cols


def percentile_window(
    image: np.ndarray, mask: np.ndarray | None = None, lo: float = 0.5, hi: float = 99.5
) -> tuple[float, float]:
    """Display window (vmin, vmax): the `lo`/`hi` percentiles (in %) of `image` inside `mask`.

    Always vmin < vmax (a constant image gets a unit-wide window). Raises DataError when the mask
    is empty or its shape differs from the image's, ConfigError unless 0 <= lo < hi <= 100.
    """
    if not 0.0 <= lo < hi <= 100.0:
        raise ConfigError(f"Percentiles must satisfy 0 <= lo < hi <= 100, got lo={lo}, hi={hi}.")
    image = np.asarray(image, dtype=np.float64)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise DataError(f"Mask shape {mask.shape} differs from image shape {image.shape}.")
        values = image[mask]
    else:
        values = image.ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise DataError("percentile_window: no finite voxel inside the mask; pass a non-empty mask.")
    vmin, vmax = (float(v) for v in np.percentile(values, [lo, hi]))
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmin + 0.5
    return vmin, vmax


def window_to_unit(gray: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """Map `gray` to [0, 1] linearly by `window` (vmin, vmax), clipping; None clips to [0, 1]."""
    gray = np.asarray(gray, dtype=np.float64)
    if window is not None:
        vmin, vmax = float(window[0]), float(window[1])
        gray = (gray - vmin) / (vmax - vmin if vmax > vmin else 1.0)
    return np.clip(gray, 0.0, 1.0)


def label_rgba(
    labels: np.ndarray,
    alpha: float = 0.4,
    colors: Mapping[int, Sequence[float]] | None = None,
) -> np.ndarray:
    """RGBA layer (H,W,4) in [0,1] for a 2D label map: label 0 (and unknown labels) transparent."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise DataError(f"label_rgba needs a 2D label slice, got shape {labels.shape}.")
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"Overlay alpha must lie in [0, 1], got {alpha}.")
    colors = LABEL_COLORS if colors is None else colors
    rgba = np.zeros(labels.shape + (4,), dtype=np.float64)
    for label, color in colors.items():
        if int(label) == 0:
            continue
        where = labels == int(label)
        rgba[where, :3] = np.asarray(color, dtype=np.float64)[:3]
        rgba[where, 3] = alpha
    return rgba


def blend_overlay(
    gray: np.ndarray,
    labels: np.ndarray,
    alpha: float = 0.4,
    colors: Mapping[int, Sequence[float]] | None = None,
    *,
    window: tuple[float, float] | None = None,
) -> np.ndarray:
    """Alpha-blend label colours over a gray 2D image: returns RGB (H,W,3) float in [0,1].

    `gray` is mapped to [0,1] by `window` (None: clipped to [0,1]). Pixels with label 0 keep the
    gray value in all three channels; a label-l pixel becomes ``(1-alpha)*gray + alpha*colors[l]``.
    """
    gray = np.asarray(gray)
    labels = np.asarray(labels)
    if gray.shape != labels.shape or gray.ndim != 2:
        raise DataError(f"blend_overlay needs equal 2D shapes, got gray {gray.shape}, labels {labels.shape}.")
    unit = window_to_unit(gray, window)
    layer = label_rgba(labels, alpha, colors)
    a = layer[..., 3:4]
    return (1.0 - a) * unit[..., None] + a * layer[..., :3]


def tissue_histograms(
    image: np.ndarray,
    labels: np.ndarray,
    bins: int = 64,
    value_range: tuple[float, float] = (0.0, 1.0),
    tissues: Sequence[int] = TISSUES,
    *,
    density: bool = False,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Intensity histogram of each tissue: ``{label: (counts (bins,), edges (bins+1,))}``.

    `image` and `labels` share a shape (X,Y,Z). Intensities are clipped to `value_range` first,
    so the counts of a tissue sum to its voxel count. With ``density=True`` the counts become a
    probability density (integrating to 1 over `value_range`; all zeros for an absent tissue).
    """
    image = np.asarray(image, dtype=np.float64)
    labels = np.asarray(labels)
    if image.shape != labels.shape:
        raise DataError(f"Image shape {image.shape} differs from label shape {labels.shape}.")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ConfigError(f"value_range must be increasing, got {value_range}.")
    if int(bins) < 1:
        raise ConfigError(f"bins must be >= 1, got {bins}.")
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for tissue in tissues:
        values = np.clip(image[labels == int(tissue)], lo, hi)
        counts, edges = np.histogram(values, bins=int(bins), range=(lo, hi))
        counts = counts.astype(np.float64)
        if density and counts.sum() > 0:
            counts = counts / (counts.sum() * np.diff(edges))
        out[int(tissue)] = (counts, edges)
    return out


#: How :func:`normalize_confusion`'s matrices are normalized, said on their figures.
NORMALIZATION_NOTE = "row-normalized: each row (true class) sums to 1"
#: The label of their colour bar.
COLORBAR_LABEL = "fraction of the true class's patches"


def normalize_confusion(matrix: np.ndarray) -> np.ndarray:
    """Row-normalise a (K,K) confusion matrix (rows = true class): rows sum to 1, zero rows stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise DataError(f"A confusion matrix must be square, got shape {matrix.shape}.")
    if np.any(matrix < 0):
        raise DataError("A confusion matrix holds counts or rates, found a negative entry.")
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def mean_along_axis(image: np.ndarray, axis: int = 1, mask: np.ndarray | None = None) -> np.ndarray:
    """Mean intensity of each slice along array `axis` (default 1 = y), inside `mask` if given.

    Returns shape (image.shape[axis],); slices without a mask voxel are NaN. Used for the mean
    intensity vs y profiles of Fig. 4/8.
    """
    image = np.asarray(image, dtype=np.float64)
    if not -image.ndim <= axis < image.ndim:
        raise ConfigError(f"axis={axis} is out of range for an image of shape {image.shape}.")
    if mask is None:
        weight = np.ones(image.shape, dtype=np.float64)
    else:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != image.shape:
            raise DataError(f"Mask shape {mask.shape} differs from image shape {image.shape}.")
        weight = mask.astype(np.float64)
    others = tuple(i for i in range(image.ndim) if i != axis % image.ndim)
    total = (image * weight).sum(axis=others)
    count = weight.sum(axis=others)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)
