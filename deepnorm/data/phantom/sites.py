"""Phantom sites: per-site contrasts, noise and file conventions, rendered on a deformed anatomy.

Three synthetic sites stand in for the paper's data sets (SPEC Sec. 2):

- ``iseg``: infant-like (head scale 0.75-0.85), *isointense* T1 (GM ~ WM, CSF dark) and a
  low-contrast T2 (CSF bright), skull-stripped like iSEG-2017; labels 10 CSF / 150 GM / 250 WM.
- ``mrbrains``: adult T1 (WM > GM > CSF) and T2-FLAIR (CSF dark, GM > WM), 0.958 x 0.958 x
  3.0 mm voxels, skull and scalp kept like MRBrainS13; labels 1 CSF / 2 GM / 3 WM.
- ``abide``: adult and child T1 (ages 7-64 as head size) from several scanner sub-sites that
  differ in tissue means, contrast curve (gamma), noise and voxel size; a faint skull and scalp
  outside the brain; FreeSurfer-coded ``aparc+aseg`` and a ``brainmask``.

Image model, per subject and modality (intensities in arbitrary [0, ~1] units before storage)::

    I = (sum_t p_t mu_t + (1 - brain) * head) ** gamma * exp(b * f) , then Rician noise sigma

with tissue probabilities p_t of the deformed anatomy (partial volume), site means mu_t jittered
per subject (x (1 + N(0, 0.04))), ``head`` a skull (dark) and scalp (faint) shell by distance
outside the brain, f a smooth random field (unit std, 80 mm control spacing; a smooth
multiplicative inhomogeneity, not the Eq. 7 ramp) and Rician noise
``sqrt((I + sigma n1)^2 + (sigma n2)^2)``. Pure numpy; no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from deepnorm.data.phantom.anatomy import Anatomy, smooth_random_field
from deepnorm.errors import ConfigError
from deepnorm.labels import BG, CSF, GM, WM


@dataclass(frozen=True)
class Contrast:
    """Mean intensities of one modality, arbitrary units in [0, 1].

    `csf`, `gm`, `wm` inside the brain; `skull` and `scalp` in the shells 1.5-6 mm and 6-11 mm
    outside the brain (0 where the site is skull-stripped); `gamma` bends the contrast curve.
    """

    csf: float
    gm: float
    wm: float
    skull: float = 0.0
    scalp: float = 0.0
    gamma: float = 1.0


@dataclass(frozen=True)
class Scanner:
    """One acquisition set-up: its modalities' contrasts, noise, inhomogeneity and voxel size (mm)."""

    name: str
    contrasts: dict[str, Contrast]
    spacing: tuple[float, float, float]
    noise: float = 0.02
    bias: float = 0.08
    ages: tuple[float, float] = (20.0, 40.0)
    store_max: float = 1000.0


# ---------------------------------------------------------------------------- site definitions

ISEG_T1 = Contrast(csf=0.20, gm=0.50, wm=0.54)
ISEG_T2 = Contrast(csf=0.92, gm=0.52, wm=0.60)
MRB_T1 = Contrast(csf=0.18, gm=0.50, wm=0.78, skull=0.06, scalp=0.40)
MRB_FLAIR = Contrast(csf=0.08, gm=0.62, wm=0.45, skull=0.05, scalp=0.30)

#: ABIDE-like scanner sub-sites: T1 only, different tissue means, gamma, noise and voxel size.
ABIDE_SCANNERS: tuple[Scanner, ...] = (
    Scanner("NYU", {"t1": Contrast(0.20, 0.52, 0.80, 0.05, 0.30, 1.00)}, (1.5, 1.5, 1.5), 0.020, 0.08, (7, 40), 230),
    Scanner("PITT", {"t1": Contrast(0.26, 0.56, 0.78, 0.07, 0.25, 0.80)}, (1.4, 1.4, 1.6), 0.035, 0.12, (9, 35), 210),
    Scanner("USM", {"t1": Contrast(0.15, 0.45, 0.84, 0.04, 0.35, 1.25)}, (1.6, 1.6, 1.6), 0.025, 0.06, (9, 50), 250),
    Scanner("OLIN", {"t1": Contrast(0.22, 0.60, 0.86, 0.06, 0.20, 0.90)}, (1.3, 1.3, 1.7), 0.045, 0.10, (20, 64), 190),
)


@dataclass(frozen=True)
class SiteProfile:
    """How many subjects of one site, on which scanners, at which voxel size (mm)."""

    n_subjects: int
    scanners: tuple[Scanner, ...]
    head_scale: tuple[float, float]


def _scaled(scanner: Scanner, spacing: tuple[float, float, float]) -> Scanner:
    return Scanner(scanner.name, scanner.contrasts, spacing, scanner.noise, scanner.bias,
                   scanner.ages, scanner.store_max)


def _iseg(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner("iseg", {"t1": ISEG_T1, "t2": ISEG_T2}, spacing, 0.02, 0.08, (0.5, 0.7), 1000)


def _mrbrains(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner("mrbrains", {"t1": MRB_T1, "t2": MRB_FLAIR}, spacing, 0.025, 0.10, (50, 80), 1500)


#: Profile name -> site key -> SiteProfile. `smoke` is tiny (tests), `cpu` the default,
#: `paper` real-size 1 mm grids (and MRBrainS13's real voxels).
PROFILES: dict[str, dict[str, SiteProfile]] = {
    "smoke": {
        "iseg": SiteProfile(10, (_iseg((4.0, 4.0, 4.0)),), (0.75, 0.85)),
        "mrbrains": SiteProfile(5, (_mrbrains((2.874, 2.874, 6.0)),), (1.0, 1.0)),
        "abide": SiteProfile(5, tuple(_scaled(s, (4.0, 4.0, 4.0)) for s in ABIDE_SCANNERS[:2]), (1.0, 1.0)),
    },
    "cpu": {
        "iseg": SiteProfile(10, (_iseg((1.5, 1.5, 1.5)),), (0.75, 0.85)),
        "mrbrains": SiteProfile(5, (_mrbrains((0.958, 0.958, 3.0)),), (1.0, 1.0)),
        "abide": SiteProfile(20, ABIDE_SCANNERS, (1.0, 1.0)),
    },
    "paper": {
        "iseg": SiteProfile(10, (_iseg((1.0, 1.0, 1.0)),), (0.75, 0.85)),
        "mrbrains": SiteProfile(5, (_mrbrains((0.958, 0.958, 3.0)),), (1.0, 1.0)),
        "abide": SiteProfile(40, tuple(_scaled(s, (1.0, 1.0, 1.0)) for s in ABIDE_SCANNERS), (1.0, 1.0)),
    },
}


def site_profile(profile: str, site: str) -> SiteProfile:
    """The SiteProfile of `site` ("iseg", "mrbrains", "abide") in `profile` (smoke/cpu/paper)."""
    if profile not in PROFILES:
        raise ConfigError(f"phantom profile={profile!r} is unknown; use one of {sorted(PROFILES)}")
    if site not in PROFILES[profile]:
        raise ConfigError(f"phantom site={site!r} is unknown; use one of {sorted(PROFILES[profile])}")
    return PROFILES[profile][site]


def head_scale_for_age(age: float) -> float:
    """Head size relative to an adult (the template) for an age in years: 0.9 at 7, 1.0 from 20."""
    return float(0.9 + 0.1 * np.clip((age - 7.0) / 13.0, 0.0, 1.0))


# ---------------------------------------------------------------------------- rendering


def _shell(distance: np.ndarray, inner: float, outer: float, soft: float = 0.75) -> np.ndarray:
    """Soft indicator of inner < distance (mm) < outer."""
    rise = special.expit((distance - inner) / soft)
    fall = special.expit((outer - distance) / soft)
    return (rise * fall).astype(np.float32)


def render(
    anatomy: Anatomy,
    contrast: Contrast,
    rng: np.random.Generator,
    *,
    noise: float,
    bias: float,
    jitter: float = 0.04,
) -> np.ndarray:
    """One modality of a subject, float32 (X, Y, Z), arbitrary units (brain WM near 0.5-0.9).

    See the module docstring for the model. `noise` is the Rician sigma and `bias` the std of
    the log inhomogeneity field, both in the same units as the tissue means.
    """
    mu = np.array([contrast.csf, contrast.gm, contrast.wm], dtype=np.float32)
    mu *= (1.0 + jitter * rng.standard_normal(3)).astype(np.float32)
    image = anatomy.csf * mu[0] + anatomy.gm * mu[1] + anatomy.wm * mu[2]
    if contrast.skull or contrast.scalp:
        outside = np.clip(1.0 - (anatomy.csf + anatomy.gm + anatomy.wm), 0.0, 1.0)
        head = contrast.skull * _shell(anatomy.distance, 1.5, 6.0) + contrast.scalp * _shell(anatomy.distance, 6.0, 11.0)
        image = image + outside * head
    image = np.clip(image, 0.0, None) ** np.float32(contrast.gamma)
    field = smooth_random_field(image.shape, anatomy.spacing, 80.0, rng)[0]  # type: ignore[arg-type]
    image = image * np.exp(np.float32(bias) * field)
    n1 = rng.standard_normal(image.shape, dtype=np.float32)
    n2 = rng.standard_normal(image.shape, dtype=np.float32)
    sigma = np.float32(noise)
    return np.sqrt((image + sigma * n1) ** 2 + (sigma * n2) ** 2).astype(np.float32)


def to_stored(image: np.ndarray, store_max: float, dtype: type = np.int16) -> np.ndarray:
    """Arbitrary-unit image -> the site's integer file values (x `store_max`, clipped to the dtype)."""
    info = np.iinfo(dtype)
    return np.clip(np.rint(image * store_max), 0, info.max).astype(dtype)


# ---------------------------------------------------------------------------- label codes

#: iSEG-2017 label file codes of CSF / GM / WM.
ISEG_CODES: dict[int, int] = {CSF: 10, GM: 150, WM: 250}
#: MRBrainS13 LabelsForTesting codes of CSF / GM / WM.
MRBRAINS_CODES: dict[int, int] = {CSF: 1, GM: 2, WM: 3}


def encode_labels(labels: np.ndarray, codes: dict[int, int]) -> np.ndarray:
    """Tissue labels (0 BG, 1 CSF, 2 GM, 3 WM) -> a data set's codes (BG stays 0), uint8."""
    out = np.zeros(labels.shape, dtype=np.uint8)
    for tissue, code in codes.items():
        out[labels == tissue] = code
    return out


#: A few Desikan-Killiany parcels (code - 1000) assigned to the cortex by position.
_PARCELS = (28, 3, 24, 22, 29, 8, 11, 15)


def aparc_aseg(anatomy: Anatomy, *, deep_mm: float = 14.0) -> np.ndarray:
    """FreeSurfer-style aparc+aseg codes (int32, (X, Y, Z)) for the anatomy's tissue labels.

    Hemisphere by the grid's mid-X plane (left = low X). WM -> 2/41; GM deeper than `deep_mm`
    mm from the brain surface -> subcortical (caudate 11/50 front, hippocampus 17/53 low,
    thalamus 10/49 otherwise); cortical GM -> aparc parcels 1000+k/2000+k by an antero-posterior
    band, every third band left as the plain cortex code 3/42; CSF deeper than `deep_mm` ->
    lateral ventricles 4/43, else extracerebral CSF 24. Maps back to the same tissues through
    FreeSurfer's table (deepnorm.data.aseg).
    """
    labels = anatomy.labels
    shape = labels.shape
    right = (np.arange(shape[0]) >= shape[0] / 2.0)[:, None, None]
    y = np.broadcast_to((np.arange(shape[1]) / shape[1])[None, :, None], shape)
    z = np.broadcast_to((np.arange(shape[2]) / shape[2])[None, None, :], shape)
    deep = anatomy.distance < -deep_mm
    out = np.zeros(shape, dtype=np.int32)
    side = np.broadcast_to(right, shape)
    out[labels == WM] = np.where(side, 41, 2)[labels == WM]
    gm = labels == GM
    sub = gm & deep
    sub_code = np.where(y > 0.55, np.where(side, 50, 11), np.where(z < 0.4, np.where(side, 53, 17), np.where(side, 49, 10)))
    out[sub] = sub_code[sub]
    cortex = gm & ~deep
    band = np.minimum((y * len(_PARCELS)).astype(np.int64), len(_PARCELS) - 1)
    parcel = np.asarray(_PARCELS)[band] + np.where(side, 2000, 1000)
    plain = (band % 3) == 2
    cortex_code = np.where(plain, np.where(side, 42, 3), parcel)
    out[cortex] = cortex_code[cortex]
    csf = labels == CSF
    out[csf & deep] = np.where(side, 43, 4)[csf & deep]
    out[csf & ~deep] = 24
    assert BG == 0
    return out
