"""ABIDE I FreeSurfer outputs: T1 only, one folder per subject named <SITE>_<subject>.

Layout under the data root (see data/README.md for where to obtain it)::

    <root>/ABIDE/<SITE>_<subject>/mri/{T1.mgz,brainmask.mgz,aparc+aseg.mgz}

FreeSurfer writes them in its conformed space, 256^3 voxels of 1 mm in LIA order; like every file
they are loaded in RAS order (deepnorm.data.io). The image is mri/T1.mgz (mri/brain.mgz when
T1.mgz is absent), the mask mri/brainmask.mgz > 0
(brain.mgz > 0 when brainmask.mgz is absent), labels mri/aparc+aseg.mgz mapped by
:mod:`deepnorm.data.aseg`. The scanner is the SITE prefix: the folder name up to its last "_"
(e.g. "UM_1" for "UM_1_0050272"). Split 60 %/20 %/20 %, stratified by scanner (paper Sec. 2.2).

Phantom (parameters and sources: the block below and data/README.md): child and adult T1
(ages as brain size) from scanner sub-sites of several vendors and sequences that differ in
tissue means, contrast curve (gamma) and noise; a faint skull and scalp outside the brain;
cerebellum and brainstem inside the brain and labelled; a uint8 T1.mgz like FreeSurfer's (white
matter near 110), its ``brainmask.mgz`` and a FreeSurfer-coded ``aparc+aseg.mgz`` (:func:`aparc_aseg`),
written in FreeSurfer's conformed voxel order LIA (not its 256^3 1 mm grid); the loader reads
them back in RAS like every file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from deepnorm.data.aseg import aseg_to_tissue
from deepnorm.data.io import load_volume
from deepnorm.data.phantom.anatomy import Anatomy
from deepnorm.data.phantom.sites import (
    AnatomyModel,
    Contrast,
    PhantomModel,
    Scanner,
    SiteProfile,
    scaled,
    to_stored,
)
from deepnorm.data.sites.base import Site, SiteLoader, first_existing
from deepnorm.data.volume import Volume
from deepnorm.labels import BG, CSF, GM, WM

KEY = "abide"
#: Site folder under the data root.
FOLDER: tuple[str, ...] = ("ABIDE",)
#: Subject folder names: <SITE>_<subject>, where SITE may itself hold "_" (UM_1, LEUVEN_2).
SUBJECT_PATTERN = re.compile(r"^(.+)_([^_]+)$")


def scanner_of(subject_id: str) -> str:
    """The ABIDE acquisition site of a subject: its id up to the last "_" (the id if it has none)."""
    return subject_id.rsplit("_", 1)[0] if "_" in subject_id else subject_id


class ABIDE(SiteLoader):
    """ABIDE I FreeSurfer outputs: T1 only, one folder per subject named <SITE>_<subject>.

    See the module docstring for the files read and the scanner rule.
    """

    relative = FOLDER
    example = "NYU_0050952/mri/T1.mgz"

    def _find_ids(self) -> list[str]:
        return [p.name for p in self.folder.iterdir()
                if p.is_dir() and SUBJECT_PATTERN.match(p.name)
                and first_existing(p / "mri", ["T1.mgz", "brain.mgz"]) is not None]

    def _load(self, subject_id: str, modalities: tuple[str, ...]) -> dict[str, tuple[Path, Volume]]:
        mri = self.folder / subject_id / "mri"
        t1_path = self._require(mri, ["T1.mgz", "brain.mgz"], subject_id)
        image = load_volume(t1_path)
        mask_path = first_existing(mri, ["brainmask.mgz"])
        if mask_path is None and t1_path.name != "brain.mgz":
            mask_path = self._require(mri, ["brainmask.mgz", "brain.mgz"], subject_id)
        files: dict[str, tuple[Path, Volume]] = {"t1": (t1_path, image)}
        if mask_path is not None:
            mask_src = load_volume(mask_path)
            files["mask"] = (mask_path, Volume(np.asarray(mask_src.data) > 0, mask_src.spacing, mask_src.affine))
        else:
            files["mask"] = (t1_path, Volume(np.asarray(image.data) > 0, image.spacing, image.affine))
        path = self._require(mri, ["aparc+aseg.mgz"], subject_id)
        raw = load_volume(path)
        files["labels"] = (path, Volume(aseg_to_tissue(raw.data), raw.spacing, raw.affine))
        return files


# ------------------------------------------------------------------------------------- phantom
# Every number: the fact it comes from, its source, and where the source gives only an order or
# a range, that the exact value is a choice within it.
#
# ABIDE I: 17 sites, ages 7-64 (Di Martino et al., Mol Psychiatry 2014); the images deepnorm
# reads are FreeSurfer's T1.mgz, conformed to 256^3 at 1 mm and intensity-normalized so that
# white matter is near 110 (FreeSurfer recon-all, mri_normalize) -> every scanner at one
# isotropic voxel size per profile, WM stored near 110 (store_max = 110 / wm), a residual field
# of 0.03 after FreeSurfer's N3 correction (choice). What differs between scanners is the rest
# of the contrast curve: GM and CSF relative to WM and its shape. Sequences: MPRAGE (Siemens,
# Philips) has a higher cortical GM/WM contrast-to-noise ratio than a spoiled gradient echo
# (FLASH, the SPGR family; Tardif et al., NeuroImage 2009) ->
# GM/WM means 0.62-0.65 for MPRAGE, 0.72 for SPGR, each curve bent by a gamma of 0.85-1.2, so the
# stored GM/WM ratio is 0.56-0.66 for MPRAGE and 0.76 for SPGR (choices); noise 0.02-0.03 (choice). Sub-sites, their vendor and sequence as listed on the ABIDE site pages,
# and age ranges rounded from Di Martino et al. 2014 (Table 1): NYU (Siemens Allegra, MPRAGE,
# 7-39), STANFORD (GE Signa, SPGR, 8-13), USM (Siemens Trio, MPRAGE, 9-50), KKI (Philips
# Achieva, MPRAGE, 8-13).
SCANNERS: tuple[Scanner, ...] = (
    Scanner("NYU", {"t1": Contrast(0.26, 0.53, 0.82, 0.05, 0.30, 1.00)}, (1.5, 1.5, 1.5), 0.020, 0.03, (7, 39), 110 / 0.82),
    Scanner("STANFORD", {"t1": Contrast(0.34, 0.60, 0.83, 0.07, 0.25, 0.85)}, (1.5, 1.5, 1.5), 0.030, 0.03, (8, 13), 110 / 0.83),
    Scanner("USM", {"t1": Contrast(0.22, 0.52, 0.84, 0.04, 0.35, 1.20)}, (1.5, 1.5, 1.5), 0.025, 0.03, (9, 50), 110 / 0.84),
    Scanner("KKI", {"t1": Contrast(0.28, 0.54, 0.86, 0.06, 0.20, 0.90)}, (1.5, 1.5, 1.5), 0.025, 0.03, (8, 13), 110 / 0.86),
)


def _phantom_subjects(profile: SiteProfile) -> list[tuple[str, str]]:
    """Subjects dealt to the profile's scanners in turn; ids <SCANNER>_<5-digit number>."""
    out = []
    names = [s.name for s in SCANNERS]
    for i in range(profile.n_subjects):
        scanner = profile.scanners[i % len(profile.scanners)]
        number = 50002 + 300 * names.index(scanner.name) + i // len(profile.scanners)
        out.append((f"{scanner.name}_{number:05d}", scanner.name))
    return out


def _phantom_files(subject_id: str, images: Mapping[str, np.ndarray], anatomy: Anatomy,
                   scanner: Scanner) -> dict[str, np.ndarray]:
    t1 = to_stored(images["t1"], scanner.store_max, np.uint8)
    t1 = np.where(anatomy.brain, np.maximum(t1, 1), t1).astype(np.uint8)
    mri = "/".join((*FOLDER, subject_id, "mri"))
    return {
        f"{mri}/T1.mgz": t1,
        f"{mri}/brainmask.mgz": np.where(anatomy.brain, t1, 0).astype(np.uint8),
        f"{mri}/aparc+aseg.mgz": aparc_aseg(anatomy),
    }


#: A few Desikan-Killiany parcels (code - 1000) assigned to the cortex by position.
_PARCELS = (28, 3, 24, 22, 29, 8, 11, 15)


def aparc_aseg(anatomy: Anatomy, *, deep_mm: float = 14.0) -> np.ndarray:
    """FreeSurfer-style aparc+aseg codes (int32, (X, Y, Z)) for the anatomy's tissue labels.

    Hemisphere by the grid's mid-X plane (left = low X). WM -> 2/41; GM deeper than `deep_mm`
    mm from the brain surface -> subcortical (caudate 11/50 front, hippocampus 17/53 low,
    thalamus 10/49 otherwise); cortical GM -> aparc parcels 1000+k/2000+k by an antero-posterior
    band, every third band left as the plain cortex code 3/42; CSF deeper than `deep_mm` ->
    lateral ventricles 4/43, else extracerebral CSF 24; in the posterior fossa (anatomy.fossa >
    0.5) GM -> cerebellar cortex 8/47 and WM -> cerebellar WM 7/46 (the brainstem included: both
    map to WM). Maps back to the same tissues through FreeSurfer's table (deepnorm.data.aseg).
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
    if anatomy.fossa is not None:
        fossa = anatomy.fossa > 0.5
        out[fossa & gm] = np.where(side, 47, 8)[fossa & gm]
        out[fossa & (labels == WM)] = np.where(side, 46, 7)[fossa & (labels == WM)]
    assert BG == 0
    return out


PHANTOM = PhantomModel(
    profiles={
        "smoke": SiteProfile(5, tuple(scaled(s, (4.0, 4.0, 4.0)) for s in SCANNERS[:2]), (1.0, 1.0)),
        "cpu": SiteProfile(20, SCANNERS, (1.0, 1.0)),
        "paper": SiteProfile(40, tuple(scaled(s, (1.0, 1.0, 1.0)) for s in SCANNERS), (1.0, 1.0)),
    },
    margin_mm=14.0,
    scale_by_age=True,
    subjects=_phantom_subjects,
    files=_phantom_files,
    orientation=("L", "I", "A"),  # FreeSurfer's conformed voxel order
    anatomy=AnatomyModel(fossa="brain"),  # FreeSurfer labels cerebellum (8/47, 7/46) and brainstem (16)
)

SITE = Site(
    key=KEY,
    name="ABIDE",
    modalities=("t1",),
    fractions=(0.6, 0.2, 0.2),
    scanner_of=scanner_of,
    loader=ABIDE,
    phantom=PHANTOM,
)
ABIDE.site = SITE
