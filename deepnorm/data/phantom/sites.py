"""Phantom rendering shared by the sites: contrasts, scanners, profiles and the image model.

What each synthetic site looks like (its contrasts, scanners, subject counts per profile, the
label codes and files it writes) lives in that site's own file under :mod:`deepnorm.data.sites`
(``iseg.py``, ``mrbrains.py``, ``abide.py``) as a :class:`PhantomModel`; this module holds the
types those files fill in and the rendering they share (docs/reproduction.md, section 2).

Image model, per subject and modality (intensities in arbitrary [0, ~1] units before storage)::

    I = (sum_t p_t mu_t + (1 - brain) * head) ** gamma * exp(b * f) , then Rician noise sigma

with tissue probabilities p_t of the deformed anatomy (partial volume), site means mu_t jittered
per subject (x (1 + N(0, 0.04))); the WM mean varies with a myelination degree m in [0, 1]
(0 within 4 mm of the brain surface, 1 from 20 mm deep: central WM myelinates first) as
``mu_wm (1 + myelin (m - m_wm))`` (m_wm: the WM-weighted mean of m, so the WM mean is kept), and white-matter lesions (a part of the WM) take their own
mean; ``head`` a skull (dark) and scalp (faint) shell by distance
outside the brain, f a smooth random field (unit std, 80 mm control spacing; a smooth
multiplicative inhomogeneity, not the Eq. 7 ramp) and Rician noise
``sqrt((I + sigma n1)^2 + (sigma n2)^2)``. Pure numpy; no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from deepnorm.data.phantom.anatomy import Anatomy, smooth_random_field
from deepnorm.errors import ConfigError


@dataclass(frozen=True)
class Contrast:
    """Mean intensities of one modality, arbitrary units in [0, 1].

    `csf`, `gm`, `wm` inside the brain; `skull` and `scalp` in the shells 1.5-6 mm and 6-11 mm
    outside the brain (0 where the site is skull-stripped); `gamma` bends the contrast curve;
    `lesion` is the mean of white-matter lesions (None: the WM mean); `myelin` the relative WM
    change from peripheral to central (myelinated) WM (0: none).
    """

    csf: float
    gm: float
    wm: float
    skull: float = 0.0
    scalp: float = 0.0
    gamma: float = 1.0
    lesion: float | None = None
    myelin: float = 0.0


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


@dataclass(frozen=True)
class SiteProfile:
    """How many subjects of one site, on which scanners, at which voxel size (mm)."""

    n_subjects: int
    scanners: tuple[Scanner, ...]
    head_scale: tuple[float, float]


def scaled(scanner: Scanner, spacing: tuple[float, float, float]) -> Scanner:
    """`scanner` with another voxel size (mm)."""
    return replace(scanner, spacing=spacing)


#: Phantom profiles: `smoke` is tiny (tests), `cpu` the default, `paper` real-size 1 mm grids.
#: Every site's PhantomModel defines a SiteProfile for each of them.
PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")


def check_profile(profile: str) -> str:
    """`profile` if it is a phantom profile, else ConfigError naming the allowed ones."""
    if profile not in PROFILES:
        raise ConfigError(f"phantom profile={profile!r} is unknown; use one of {sorted(PROFILES)}")
    return profile


@dataclass(frozen=True)
class AnatomyModel:
    """A site's anatomy on top of the template warp (deepnorm.data.phantom.anatomy).

    Attributes:
        csf_shell_mm: extra extracerebral CSF (mm) around the brain.
        atrophy_mm: (low, high) mm of GM/WM next to CSF turned into CSF, uniform per subject.
        lesion_ml: (low, high) white-matter lesion volume in mL, uniform per subject.
        fossa: cerebellum + brainstem: "brain", "unlabelled" or "removed" (anatomy.FOSSA_MODES).
    """

    csf_shell_mm: float = 0.0
    atrophy_mm: tuple[float, float] = (0.0, 0.0)
    lesion_ml: tuple[float, float] = (0.0, 0.0)
    fossa: str = "brain"


@dataclass(frozen=True)
class PhantomModel:
    """How the phantom renders and writes one site (filled in by the site's own file).

    Attributes:
        profiles: profile name -> SiteProfile (subject count, scanners, head scale range).
        margin_mm: empty margin (mm) around the deformed brain on each side of the grid.
        scale_by_age: draw the head scale from the scanner's age range (head_scale_for_age)
            instead of the profile's `head_scale` range.
        subjects: SiteProfile -> [(subject id, scanner name)] in build order.
        files: (subject id, rendered images by modality, anatomy, scanner) -> file path relative
            to the data root -> array in the data set's own dtype and codes (in RAS order, as
            rendered).
        orientation: the voxel order the files are written in, as nibabel's ``aff2axcodes``
            names it: ("R", "A", "S") by default, ("L", "I", "A") for FreeSurfer's conformed
            space. The loaders bring every file back to RAS, so it changes the files, not what
            the loaders return.
        anatomy: the site's anatomy (AnatomyModel: CSF spaces, atrophy, lesions, posterior fossa).
    """

    profiles: Mapping[str, SiteProfile]
    margin_mm: float
    scale_by_age: bool
    subjects: Callable[[SiteProfile], list[tuple[str, str]]]
    files: Callable[[str, Mapping[str, np.ndarray], Anatomy, Scanner], dict[str, np.ndarray]]
    orientation: tuple[str, str, str] = ("R", "A", "S")
    anatomy: AnatomyModel = AnatomyModel()

    def profile(self, name: str) -> SiteProfile:
        """The SiteProfile of phantom profile `name` (ConfigError if unknown)."""
        return self.profiles[check_profile(name)]


def head_scale_for_age(age: float) -> float:
    """Linear brain size relative to an adult (the template) for an age in years.

    The brain volume is 0.92 of an adult's at 7 and adult from 14, linear in between: cerebral
    volume is about 95 % of an adult's at age 6 (Giedd et al., Nat Neurosci 1999) and total
    cerebral volume peaks at 10.5 (girls) and 14.5 (boys) years (Lenroot et al., NeuroImage
    2007); the exact numbers are a choice in that range. Returns the cube root of that volume
    fraction.
    """
    return float((0.92 + 0.08 * np.clip((age - 7.0) / 7.0, 0.0, 1.0)) ** (1.0 / 3.0))


def myelination(anatomy: Anatomy, *, shallow_mm: float = 4.0, deep_mm: float = 20.0) -> np.ndarray:
    """Myelination degree in [0, 1], float32: 0 within `shallow_mm` of the brain surface, 1 from
    `deep_mm` deep, linear in between (myelination proceeds from central to peripheral WM)."""
    depth = -np.asarray(anatomy.distance, dtype=np.float32)
    return np.clip((depth - shallow_mm) / (deep_mm - shallow_mm), 0.0, 1.0).astype(np.float32)


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
    wm_mean: np.ndarray | np.float32 = mu[2]
    if contrast.myelin:
        m = myelination(anatomy)
        centre = np.float32((m * anatomy.wm).sum() / max(float(anatomy.wm.sum()), 1e-6))
        wm_mean = mu[2] * (1.0 + np.float32(contrast.myelin) * (m - centre))
    image = anatomy.csf * mu[0] + anatomy.gm * mu[1] + anatomy.wm * wm_mean
    if anatomy.lesion is not None and contrast.lesion is not None and anatomy.lesion.any():
        image = image + anatomy.lesion * (np.float32(contrast.lesion) * mu[2] / np.float32(contrast.wm) - wm_mean)
    if contrast.skull or contrast.scalp:
        outside = np.clip(1.0 - (anatomy.csf + anatomy.gm + anatomy.wm), 0.0, 1.0)
        head = contrast.skull * _shell(anatomy.distance, 1.5, 6.0) + contrast.scalp * _shell(anatomy.distance, 6.0, 11.0)
        image = image + outside * head
    image = np.clip(image, 0.0, None) ** np.float32(contrast.gamma)
    field = smooth_random_field(image.shape, anatomy.spacing, 80.0, rng)[0]
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

def encode_labels(labels: np.ndarray, codes: Mapping[int, int]) -> np.ndarray:
    """Tissue labels (0 BG, 1 CSF, 2 GM, 3 WM) -> a data set's codes (BG stays 0), uint8."""
    out = np.zeros(labels.shape, dtype=np.uint8)
    for tissue, code in codes.items():
        out[labels == tissue] = code
    return out
