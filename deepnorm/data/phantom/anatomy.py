"""Phantom anatomy: the MNI ICBM152 2009 tissue maps bundled with nilearn, randomly deformed.

The source anatomy is the 1 mm ICBM152 2009 (symmetric, "a") template that ships inside the
nilearn package (``load_mni152_{gm,wm}_template``, ``load_mni152_brain_mask``): these read
files under ``nilearn/datasets/data`` and download nothing. CSF is the brain mask minus GM and
WM probabilities, clipped to [0, 1], so the three tissue maps keep the template's partial volume;
the template mask is first grown by a 1.5 mm shell of extracerebral CSF.

A subject is the template under a random smooth deformation: an anisotropic head scale, a
rotation of a few degrees and a smooth elastic displacement (a few mm), sampled on the
subject's own voxel grid. Its labels are the argmax of the deformed tissue probabilities inside
the deformed brain mask (probability > 0.5). Pure numpy/scipy; no file I/O except the bundled
template.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from deepnorm.errors import ConfigError
from deepnorm.labels import BG, CSF, GM, WM

#: Zero padding (voxels = mm) around the template's brain box, room for a skull and scalp.
_PAD_MM = 24
#: Thickness (mm) of extracerebral CSF added around the template's brain mask.
_CSF_SHELL_MM = 1.5


@dataclass(frozen=True)
class Atlas:
    """Tissue maps on an isotropic grid, all float32 arrays of one shape (X, Y, Z).

    Attributes:
        gm, wm, brain: GM / WM probabilities and brain-mask fraction in [0, 1].
        distance: signed distance to the brain surface in mm (< 0 inside, > 0 outside).
        spacing: isotropic voxel size in mm.
        centre: voxel index (3 floats) of the centre of the brain's bounding box.
        extent_mm: size (3 floats, mm) of the brain's bounding box.
    """

    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    distance: np.ndarray
    spacing: float
    centre: tuple[float, float, float]
    extent_mm: tuple[float, float, float]


@lru_cache(maxsize=1)
def _mni_1mm() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gm, wm, brain, signed distance mm) of the bundled 1 mm template, cropped + padded."""
    from nilearn import datasets  # heavy import, only when a phantom is built

    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata(), dtype=np.float32)
    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(), dtype=np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), dtype=np.float32)
    inside = brain > 0.5
    # a thin subarachnoid CSF shell: the template mask hugs the cortex
    shell = ndimage.distance_transform_edt(~inside) <= _CSF_SHELL_MM
    brain = np.where(shell, 1.0, brain)
    inside = brain > 0.5
    lo = np.argwhere(inside).min(axis=0)
    hi = np.argwhere(inside).max(axis=0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    out = []
    for arr in (gm, wm, brain):
        arr = np.clip(arr[box], 0.0, 1.0) * (arr[box] > 0)
        out.append(np.pad(arr, _PAD_MM).astype(np.float32))
    gm, wm, brain = out
    gm = np.minimum(gm, brain)
    wm = np.minimum(wm, np.clip(brain - gm, 0.0, 1.0))
    inside = brain > 0.5
    distance = ndimage.distance_transform_edt(~inside) - ndimage.distance_transform_edt(inside)
    return gm, wm, brain, distance.astype(np.float32)


@lru_cache(maxsize=4)
def load_atlas(spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Atlas:
    """The template tissue maps prepared for a target voxel size `spacing` (mm, X/Y/Z).

    Partial-volume blurring: each map is smoothed with a Gaussian whose FWHM brings the 1 mm
    template to the target voxel size along each axis (sigma = sqrt(s^2 - 1) / 2.355 mm), then
    subsampled by an integer factor when the target voxels are 3 mm or coarser in every axis.
    """
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ConfigError(f"phantom spacing={spacing!r} must be three positive voxel sizes in mm")
    gm, wm, brain, distance = _mni_1mm()
    sigma = [np.sqrt(max(s * s - 1.0, 0.0)) / 2.355 for s in spacing]
    factor = max(1, int(min(spacing) // 1.5))
    maps = []
    for arr in (gm, wm, brain):
        if max(sigma) > 0.05:
            arr = ndimage.gaussian_filter(arr, sigma, mode="constant", truncate=3.0)
        maps.append(np.ascontiguousarray(arr[::factor, ::factor, ::factor], dtype=np.float32))
    dist = np.ascontiguousarray(distance[::factor, ::factor, ::factor])
    inside = np.argwhere(maps[2] > 0.5)
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    centre = tuple(float(c) for c in (lo + hi) / 2.0)
    extent = tuple(float(e) for e in (hi - lo + 1) * factor)
    return Atlas(maps[0], maps[1], maps[2], dist, float(factor), centre, extent)  # type: ignore[arg-type]


def smooth_random_field(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    control_mm: float,
    rng: np.random.Generator,
    n: int = 1,
) -> np.ndarray:
    """`n` smooth random scalar fields on a grid, float32 (n, X, Y, Z), each of unit std.

    Gaussian random coefficients on control points `control_mm` apart, interpolated with
    separable Gaussian radial basis functions (width = control spacing): features smaller than
    `control_mm` are absent. `shape` in voxels, `spacing` in mm per voxel.
    """
    bases = []
    for size, step in zip(shape, spacing):
        x = (np.arange(size) - (size - 1) / 2.0) * step
        half = (size - 1) * step / 2.0 + control_mm
        centres = np.arange(-half, half + 1e-6, control_mm)
        basis = np.exp(-0.5 * ((x[:, None] - centres[None, :]) / control_mm) ** 2)
        bases.append(basis.astype(np.float32))
    coef = rng.standard_normal((n, *(b.shape[1] for b in bases))).astype(np.float32)
    field = np.einsum("nabc,ia->nibc", coef, bases[0])
    field = np.einsum("nibc,jb->nijc", field, bases[1])
    field = np.einsum("nijc,kc->nijk", field, bases[2])
    field -= field.mean(axis=(1, 2, 3), keepdims=True)
    field /= field.std(axis=(1, 2, 3), keepdims=True) + 1e-12
    return field.astype(np.float32)


def rotation_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """3x3 rotation from three angles in degrees about X, Y, Z (applied X, then Y, then Z)."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class Anatomy:
    """One deformed subject on its voxel grid; arrays (X, Y, Z).

    Attributes:
        csf, gm, wm: tissue probabilities (float32, sum <= 1, 0 outside the brain).
        brain: boolean brain mask (deformed template mask > 0.5).
        distance: signed distance to the brain surface (float32, mm; < 0 inside).
        labels: int64, 0 BG / 1 CSF / 2 GM / 3 WM (argmax of the tissue maps inside `brain`).
        spacing: voxel size in mm (X, Y, Z).
        scale: head scale factors applied to the template (X, Y, Z).
    """

    csf: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    distance: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    scale: tuple[float, float, float]


def deformed_anatomy(
    rng: np.random.Generator,
    spacing: tuple[float, float, float],
    *,
    scale: float,
    margin_mm: float = 10.0,
    rotation_deg: float = 4.0,
    elastic_mm: float = 2.0,
    elastic_control_mm: float = 30.0,
) -> Anatomy:
    """A randomly deformed copy of the template anatomy on a grid of voxel size `spacing` (mm).

    The head is the template scaled by `scale` (x (1 + N(0, 0.03)) per axis), rotated by up to
    `rotation_deg` degrees (uniform, per axis) and displaced by a smooth elastic field of
    `elastic_mm` mm std (control points `elastic_control_mm` apart). The grid covers the
    deformed brain's box plus `margin_mm` on each side.
    """
    spacing = tuple(float(s) for s in spacing)  # type: ignore[assignment]
    atlas = load_atlas(spacing)  # type: ignore[arg-type]
    scales = scale * (1.0 + 0.03 * rng.standard_normal(3))
    rot = rotation_matrix(rng.uniform(-rotation_deg, rotation_deg, 3))
    extent = np.asarray(atlas.extent_mm) * scales * 1.06 + 2 * margin_mm
    shape = tuple(int(np.ceil(e / s)) for e, s in zip(extent, spacing))
    elastic = elastic_mm * smooth_random_field(shape, spacing, elastic_control_mm, rng, n=3)  # type: ignore[arg-type]

    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s for n, s in zip(shape, spacing)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))  # (3, X, Y, Z) mm, centred
    grid /= scales.astype(np.float32)[:, None, None, None]
    source = np.einsum("ij,jxyz->ixyz", rot.T.astype(np.float32), grid) + elastic
    del grid
    source /= atlas.spacing
    source += np.asarray(atlas.centre, dtype=np.float32)[:, None, None, None]

    def sample(arr: np.ndarray, cval: float) -> np.ndarray:
        return ndimage.map_coordinates(arr, source, order=1, mode="constant", cval=cval).astype(np.float32)

    gm, wm, brain_p = sample(atlas.gm, 0.0), sample(atlas.wm, 0.0), sample(atlas.brain, 0.0)
    distance = sample(atlas.distance, 1e3) * float(np.mean(scales))
    brain = brain_p > 0.5
    gm = np.clip(gm, 0.0, 1.0)
    wm = np.clip(wm, 0.0, 1.0)
    csf = np.clip(brain_p - gm - wm, 0.0, 1.0)
    probs = np.stack([csf, gm, wm])
    labels = np.where(brain, np.argmax(probs, axis=0) + CSF, BG).astype(np.int64)
    assert (CSF, GM, WM) == (1, 2, 3)
    return Anatomy(
        csf, gm, wm, brain, distance.astype(np.float32), labels,
        spacing, tuple(float(s) for s in scales),  # type: ignore[arg-type]
    )
