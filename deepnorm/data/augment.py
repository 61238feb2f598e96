"""Linear bias-field augmentation and degradation (paper Sec. 2.3, Eq. 6-7).

Eq. 7 defines a noiseless multiplicative field, linear along the y axis::

    B(x, y, z) = (y / H) * alpha + (1 - alpha),   alpha in [0, 1]

deepnorm takes ``H = n_y - 1`` (the index of the last voxel along y, ``n_y = shape[axis]``), so
that B spans exactly ``[1 - alpha, 1]``: ``B = 1 - alpha`` at y = 0 and ``B = 1`` at y = H.

The paper's prose says alpha = 1 scales intensities "from -100 % when y = 0 to +100 % when
y = H"; Eq. 7 does not give that (with alpha = 1 it gives x0 at y = 0 and x1 at y = H, i.e.
-100 % to 0 %). deepnorm follows Eq. 7. The authors' code used a different (2-axis) ramp by
mistake and added Rician noise; deepnorm adds no noise (eta = 0, as the paper's experiments).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepnorm.errors import ConfigError, DataError

#: Bias-field strengths of the degradation experiment (Table 6).
ALPHAS: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not np.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"bias field alpha={alpha!r} is outside [0, 1] (Eq. 7); pass a value in [0, 1]")
    return alpha


def bias_field(shape: Sequence[int], alpha: float, axis: int = 1) -> np.ndarray:
    """The Eq. 7 field B of a spatial `shape` (X, Y, Z) in voxels, float32 of that shape.

    ``B[..., y, ...] = (y / H) * alpha + (1 - alpha)`` for y = 0..H along `axis` (default 1,
    the y axis), with ``H = shape[axis] - 1`` so that B runs from ``1 - alpha`` to exactly 1.
    Constant along the other axes. Raises ConfigError for alpha outside [0, 1] or a bad axis,
    DataError when shape[axis] < 2 (no slope can be defined).
    """
    alpha = _check_alpha(alpha)
    shape = tuple(int(s) for s in shape)
    if not -len(shape) <= axis < len(shape):
        raise ConfigError(f"bias field axis={axis} does not exist for a shape {shape}; use 0..{len(shape) - 1}")
    n = shape[axis]
    if n < 2:
        raise DataError(f"bias field: the image has {n} voxel(s) along axis {axis}; it needs at least 2")
    ramp = np.arange(n, dtype=np.float64) / (n - 1) * alpha + (1.0 - alpha)
    view = [1] * len(shape)
    view[axis] = n
    return np.broadcast_to(ramp.reshape(view), shape).astype(np.float32)


def apply_bias_field(image: np.ndarray, alpha: float, axis: int = 1) -> np.ndarray:
    """``image * B`` (Eq. 6 with eta = 0) for an image (X, Y, Z) or (C, X, Y, Z).

    `axis` is the spatial axis of the ramp (0 = x, 1 = y, 2 = z), whatever the channel layout.
    Returns a new float array (float32 unless the input is float64); the input is not modified.
    """
    image = np.asarray(image)
    if image.ndim not in (3, 4):
        raise DataError(f"apply_bias_field: image of shape {image.shape}; expected (X, Y, Z) or (C, X, Y, Z)")
    if not 0 <= axis <= 2:
        raise ConfigError(f"bias field axis={axis}; use a spatial axis 0 (x), 1 (y) or 2 (z)")
    spatial = image.shape[-3:]
    field = bias_field(spatial, alpha, axis)
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    return image.astype(dtype, copy=False) * field.astype(dtype)


def random_bias_field(
    image: np.ndarray, seed: int | np.random.Generator, p: float = 0.5, axis: int = 1
) -> tuple[np.ndarray, float | None]:
    """With probability `p`, apply a bias field of strength alpha ~ U[0, 1] (paper Sec. 2.3).

    Returns ``(image', alpha)`` when a field was applied, ``(image, None)`` (the input itself)
    otherwise. `seed` (an int or a numpy Generator) fixes both draws: same seed, same result.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"random_bias_field p={p!r}; use a probability in [0, 1]")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    apply = rng.random() < p
    alpha = float(rng.uniform(0.0, 1.0))
    if not apply:
        return image, None
    return apply_bias_field(image, alpha, axis), alpha


def random_patch_bias_field(
    patch: np.ndarray, rng: np.random.Generator, *, y_start: int, n_y: int, p: float = 0.5
) -> tuple[np.ndarray, float | None]:
    """With probability `p`, a patch of a volume degraded by the volume's own Eq. 7 field.

    The field spans the whole volume along y (``H = n_y - 1``, as :func:`degrade` does at test),
    and the patch (C, p, p, p) or (p, p, p) gets the part of it over its own rows
    ``y_start .. y_start + p - 1`` (voxels of the volume; rows outside the volume get the field
    extrapolated, which only touches zero padding). The draws (apply?, alpha ~ U[0, 1]) are those of
    :func:`random_bias_field`, in the same order. Returns ``(patch', alpha)`` or ``(patch, None)``.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"random_patch_bias_field p={p!r}; use a probability in [0, 1]")
    if n_y < 2:
        raise DataError(f"bias field: the volume has {n_y} voxel(s) along y; it needs at least 2")
    apply = rng.random() < p
    alpha = float(rng.uniform(0.0, 1.0))
    if not apply:
        return patch, None
    patch = np.asarray(patch)
    size = patch.shape[-2]
    rows = np.arange(y_start, y_start + size, dtype=np.float64)
    ramp = (rows / (n_y - 1) * alpha + (1.0 - alpha)).reshape(size, 1)
    dtype = np.float64 if patch.dtype == np.float64 else np.float32
    return patch.astype(dtype, copy=False) * ramp.astype(dtype), alpha


def degrade(image: np.ndarray, alpha: float, axis: int = 1) -> np.ndarray:
    """The image degraded by a bias field of fixed strength `alpha` (Table 6 uses ALPHAS)."""
    return apply_bias_field(image, alpha, axis)
