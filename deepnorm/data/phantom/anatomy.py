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

Site anatomy on top of that warp (each site's file says which, with its sources):

- posterior fossa: cerebellum + brainstem, a map computed from the template's geometry in MNI
  coordinates (:func:`posterior_fossa`): a tent below the tentorium cerebelli fitted by eye to
  the template's sagittal slices, plus a brainstem box below the cerebral peduncles;
- extra extracerebral CSF: the brain mask grown by `csf_shell_mm` more mm of CSF;
- atrophy: GM and WM within `atrophy_mm` mm of CSF (or of the brain's edge) become CSF, which
  widens sulci and ventricles and thins the cortex (the outer brain mask, the skull, is kept);
- white-matter lesions: smooth blobs inside deep and periventricular WM, of a given volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage, special

from deepnorm.data.volume import float_triple, int_triple
from deepnorm.errors import ConfigError
from deepnorm.labels import BG, CSF, GM, WM

#: Zero padding (voxels = mm) around the template's brain box, room for a skull and scalp.
_PAD_MM = 24
#: Thickness (mm) of extracerebral CSF added around the template's brain mask.
_CSF_SHELL_MM = 1.5
#: Posterior fossa in MNI mm (see posterior_fossa): tentorium height z = a + b (y + 60) w(x) - c |x|
#: with w(x) = max(0, 1 - |x| / 40), anterior edge y < d - e |x|; brainstem box |x| < 14 mm,
#: -45 < y < -12 mm, z < -14 mm. Fitted by eye to the template's sagittal slices at x = 0, 12,
#: 28 and 45 mm (cerebellum top about -3 mm at the vermis, -22 mm at x = 28, -26 mm at x = 45).
_TENT = {"a": -4.0, "b": 0.35, "c": 0.5, "d": -30.0, "e": 0.35}


@dataclass(frozen=True)
class Atlas:
    """Tissue maps on an isotropic grid, all float32 arrays of one shape (X, Y, Z).

    Attributes:
        gm, wm, brain: GM / WM probabilities and brain-mask fraction in [0, 1].
        distance: signed distance to the brain surface in mm (< 0 inside, > 0 outside).
        spacing: isotropic voxel size in mm.
        centre: voxel index (3 floats) of the centre of the brain's bounding box.
        extent_mm: size (3 floats, mm) of the brain's bounding box.
        fossa: posterior fossa (cerebellum + brainstem) fraction in [0, 1].
        csf_depth: distance (mm) to the nearest CSF-dominated or outside voxel (0 there).
    """

    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    distance: np.ndarray
    spacing: float
    centre: tuple[float, float, float]
    extent_mm: tuple[float, float, float]
    fossa: np.ndarray
    csf_depth: np.ndarray


def posterior_fossa(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Cerebellum + brainstem indicator (bool) at MNI coordinates x, y, z (mm, broadcastable).

    Below a tent that follows the tentorium cerebelli (high and sloped at the midline, low and
    flat laterally) and behind its anterior edge, or inside a brainstem box below the cerebral
    peduncles; the constants are ``_TENT`` (fitted by eye, not from an atlas: nilearn bundles no
    cerebellum label).
    """
    t = _TENT
    ax = np.abs(x)
    slope = t["b"] * np.clip(1.0 - ax / 40.0, 0.0, None)
    cerebellum = (z < t["a"] + slope * (y + 60.0) - t["c"] * ax) & (y < t["d"] - t["e"] * ax)
    brainstem = (ax < 14.0) & (y > -45.0) & (y < -12.0) & (z < -14.0)
    return cerebellum | brainstem


@lru_cache(maxsize=1)
def _mni_1mm() -> tuple[np.ndarray, ...]:
    """(gm, wm, brain, signed distance mm, fossa, CSF depth mm) of the 1 mm template, cropped + padded.

    `fossa` is the posterior fossa (:func:`posterior_fossa`) inside the mask, 0/1; `CSF depth`
    the distance (mm) from each voxel to the nearest voxel where CSF dominates or that lies
    outside the mask (0 there).
    """
    from nilearn import datasets  # heavy import, only when a phantom is built

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    brain = np.asarray(mask_img.get_fdata(), dtype=np.float32)
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
    world = [mask_img.affine[k, k] * np.arange(n, dtype=np.float32) + mask_img.affine[k, 3]
             for k, n in enumerate(brain.shape)]
    assert np.allclose(mask_img.affine[:3, :3], np.diag(np.diag(mask_img.affine)[:3])), "template not axis-aligned"
    fossa = posterior_fossa(world[0][:, None, None], world[1][None, :, None], world[2][None, None, :])
    out = []
    for arr in (gm, wm, brain, fossa.astype(np.float32)):
        arr = np.clip(arr[box], 0.0, 1.0) * (arr[box] > 0)
        out.append(np.pad(arr, _PAD_MM).astype(np.float32))
    gm, wm, brain, fossa = out
    gm = np.minimum(gm, brain)
    wm = np.minimum(wm, np.clip(brain - gm, 0.0, 1.0))
    inside = brain > 0.5
    fossa = fossa * inside
    distance = ndimage.distance_transform_edt(~inside) - ndimage.distance_transform_edt(inside)
    csf_like = ~inside | (brain - gm - wm > np.maximum(gm, wm))
    depth = ndimage.distance_transform_edt(~csf_like)
    return gm, wm, brain, distance.astype(np.float32), fossa.astype(np.float32), depth.astype(np.float32)


@lru_cache(maxsize=4)
def load_atlas(spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Atlas:
    """The template tissue maps prepared for a target voxel size `spacing` (mm, X/Y/Z).

    Partial-volume blurring: each map is smoothed with a Gaussian whose FWHM brings the 1 mm
    template to the target voxel size along each axis (sigma = sqrt(s^2 - 1) / 2.355 mm), then
    subsampled by an integer factor when the target voxels are 3 mm or coarser in every axis.
    Along a thick-slice axis (at least 2 mm and twice the finest voxel size, e.g. MRBrainS13's
    3 mm slices) the Gaussian is replaced by the slice profile itself: a box average over the
    slice thickness, what a thick-slice acquisition records.
    """
    sizes = tuple(float(s) for s in spacing)
    if len(sizes) != 3 or min(sizes) <= 0:
        raise ConfigError(f"phantom spacing={sizes!r} must be three positive voxel sizes in mm")
    spacing = sizes
    gm, wm, brain, distance, fossa, depth = _mni_1mm()
    thick = [s >= 2.0 and s >= 2.0 * min(spacing) for s in spacing]
    sigma = [0.0 if t else np.sqrt(max(s * s - 1.0, 0.0)) / 2.355 for s, t in zip(spacing, thick)]
    factor = max(1, int(min(spacing) // 1.5))
    maps = []
    for arr in (gm, wm, brain, fossa):
        if max(sigma) > 0.05:
            arr = ndimage.gaussian_filter(arr, sigma, mode="constant", truncate=3.0)
        for axis, (t, s) in enumerate(zip(thick, spacing)):
            if t:
                arr = ndimage.uniform_filter1d(arr, int(round(s)), axis=axis, mode="constant")
        maps.append(np.ascontiguousarray(arr[::factor, ::factor, ::factor], dtype=np.float32))
    dist = np.ascontiguousarray(distance[::factor, ::factor, ::factor])
    csf_depth = np.ascontiguousarray(depth[::factor, ::factor, ::factor])
    inside = np.argwhere(maps[2] > 0.5)
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    centre = float_triple((lo + hi) / 2.0)
    extent = float_triple((hi - lo + 1) * factor)
    return Atlas(maps[0], maps[1], maps[2], dist, float(factor), centre, extent, maps[3], csf_depth)


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
        fossa: posterior fossa (cerebellum + brainstem) fraction, float32 (zeros if not computed).
        lesion: white-matter lesion fraction, float32, a part of `wm` (zeros without lesions).
    """

    csf: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    distance: np.ndarray
    labels: np.ndarray
    spacing: tuple[float, float, float]
    scale: tuple[float, float, float]
    fossa: np.ndarray | None = None
    lesion: np.ndarray | None = None


#: What a site does with the posterior fossa: labelled brain (ABIDE's FreeSurfer labels),
#: in the image but labelled background (MRBrainS13), or removed from image and labels (iSEG-2017).
FOSSA_MODES: tuple[str, ...] = ("brain", "unlabelled", "removed")


def _resample(arr: np.ndarray, coords: np.ndarray, cval: float) -> np.ndarray:
    """`arr` interpolated (trilinear) at the voxel coordinates `coords` (3, X, Y, Z), `cval` outside it."""
    return ndimage.map_coordinates(arr, coords, order=1, mode="constant", cval=cval).astype(np.float32)


def deformed_anatomy(
    rng: np.random.Generator,
    spacing: tuple[float, float, float],
    *,
    scale: float,
    margin_mm: float = 10.0,
    rotation_deg: float = 4.0,
    elastic_mm: float = 2.0,
    elastic_control_mm: float = 30.0,
    csf_shell_mm: float = 0.0,
    atrophy_mm: float = 0.0,
    fossa: str = "brain",
    lesion_ml: float = 0.0,
) -> Anatomy:
    """A randomly deformed copy of the template anatomy on a grid of voxel size `spacing` (mm).

    The head is the template scaled by `scale` (x (1 + N(0, 0.03)) per axis), rotated by up to
    `rotation_deg` degrees (uniform, per axis) and displaced by a smooth elastic field of
    `elastic_mm` mm std (control points `elastic_control_mm` apart). The grid covers the
    deformed brain's box plus `margin_mm` on each side.

    Site anatomy (module docstring): `csf_shell_mm` more mm of extracerebral CSF around the
    brain; `atrophy_mm` mm of GM/WM next to CSF turned into CSF; `fossa` one of FOSSA_MODES;
    `lesion_ml` mL of white-matter lesions (labelled WM).
    """
    if fossa not in FOSSA_MODES:
        raise ConfigError(f"phantom fossa={fossa!r}; use one of {FOSSA_MODES}")
    atlas = load_atlas(tuple(float(s) for s in spacing))  # checks the three sizes
    spacing = float_triple(spacing)
    scales = scale * (1.0 + 0.03 * rng.standard_normal(3))
    rot = rotation_matrix(rng.uniform(-rotation_deg, rotation_deg, 3))
    grow = 1.0 + 2.0 * csf_shell_mm / float(np.min(atlas.extent_mm))
    extent = np.asarray(atlas.extent_mm) * scales * 1.06 * grow + 2 * margin_mm
    shape = int_triple(np.ceil(e / s) for e, s in zip(extent, spacing))
    elastic = elastic_mm * smooth_random_field(shape, spacing, elastic_control_mm, rng, n=3)

    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s for n, s in zip(shape, spacing)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"))  # (3, X, Y, Z) mm, centred
    grid /= scales.astype(np.float32)[:, None, None, None]
    source = np.einsum("ij,jxyz->ixyz", rot.T.astype(np.float32), grid) + elastic
    del grid
    source /= atlas.spacing
    source += np.asarray(atlas.centre, dtype=np.float32)[:, None, None, None]

    mm = float(np.mean(scales))  # template mm -> subject mm
    gm, wm = _resample(atlas.gm, source, 0.0), _resample(atlas.wm, source, 0.0)
    brain_p = _resample(atlas.brain, source, 0.0)
    distance = _resample(atlas.distance, source, 1e3) * mm
    fossa_p = _resample(atlas.fossa, source, 0.0)
    if atrophy_mm > 0:
        keep = np.clip(_resample(atlas.csf_depth, source, 0.0) * mm - atrophy_mm + 0.5, 0.0, 1.0)
        gm *= keep
        wm *= keep
    del source
    if csf_shell_mm > 0:
        shell = np.clip(csf_shell_mm - distance + 0.5, 0.0, 1.0)
        brain_p = np.maximum(brain_p, shell)
        distance = distance - np.float32(csf_shell_mm)
    if fossa == "removed":
        gm *= 1.0 - fossa_p
        wm *= 1.0 - fossa_p
        brain_p *= 1.0 - fossa_p
    brain = brain_p > 0.5
    gm = np.clip(gm, 0.0, 1.0)
    wm = np.clip(wm, 0.0, 1.0)
    csf = np.clip(brain_p - gm - wm, 0.0, 1.0)
    probs = np.stack([csf, gm, wm])
    labels = np.where(brain, np.argmax(probs, axis=0) + CSF, BG).astype(np.int64)
    del probs
    if fossa == "unlabelled":
        labels[fossa_p > 0.5] = BG
    lesion = white_matter_lesions(rng, wm, labels, distance, spacing, lesion_ml) if lesion_ml > 0 \
        else np.zeros_like(wm)
    assert (CSF, GM, WM) == (1, 2, 3)
    return Anatomy(
        csf, gm, wm, brain, distance.astype(np.float32), labels,
        spacing, float_triple(scales),
        fossa_p, lesion,
    )


def white_matter_lesions(rng: np.random.Generator, wm: np.ndarray, labels: np.ndarray, distance: np.ndarray,
                         spacing: tuple[float, ...], volume_ml: float, *, deep_mm: float = 12.0,
                         blob_mm: float = 8.0) -> np.ndarray:
    """Lesion fraction (float32, <= `wm`) of about `volume_ml` mL inside deep white matter.

    Smooth blobs: a random field with `blob_mm` mm control spacing, kept where it is highest
    among WM-labelled voxels deeper than `deep_mm` mm below the brain surface (deep and
    periventricular WM, where age-related lesions lie), up to the requested volume.
    """
    field = smooth_random_field(int_triple(wm.shape), float_triple(spacing), blob_mm, rng)[0]
    where = (labels == WM) & (distance < -deep_mm)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    n = int(round(volume_ml / voxel_ml))
    if n <= 0 or not where.any():
        return np.zeros_like(wm)
    values = field[where]
    threshold = np.sort(values)[::-1][min(n, values.size) - 1]
    soft = special.expit((field - threshold) / 0.05)
    return (wm * soft * where).astype(np.float32)
