"""MRBrainS13: 5 adults, T1 + T2-FLAIR (modality key "t2"), NIfTI, 0.958 x 0.958 x 3.0 mm voxels.

Layout under the data root (see data/README.md for where to obtain it)::

    <root>/MRBrainS13/TrainingData/{i}/{T1.nii,T2_FLAIR.nii,LabelsForTesting.nii}

``.nii.gz`` is accepted too; ``LabelsForTraining.nii`` (8 structures) is used only when
``LabelsForTesting`` is absent. Subject ids are the ``i`` ("1" ... "5"); no brain mask (labels
> 0 define the brain, the skull is kept in the images); one scanner. Split 3/1/1 (paper Sec. 2.2).

Phantom (parameters and sources: the block below and data/README.md): elderly brains (65-80)
with atrophy (wider sulci and ventricles) and white-matter lesions (bright in FLAIR, dark in T1,
labelled WM), T1 (WM > GM > CSF) and T2-FLAIR (CSF dark, GM > WM) with skull and scalp,
cerebellum and brainstem in the images but labelled background, acquired in 3 mm axial slices
(0.958 x 0.958 x 3.0 mm voxels, a box slice profile), int16 images, ``LabelsForTesting`` codes 1/2/3.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from deepnorm.data.io import load_volume
from deepnorm.data.phantom.anatomy import Anatomy
from deepnorm.data.phantom.sites import (
    AnatomyModel,
    Contrast,
    PhantomModel,
    Scanner,
    SiteProfile,
    encode_labels,
    to_stored,
)
from deepnorm.data.sites.base import Site, SiteLoader, first_existing, tissue_codes
from deepnorm.data.volume import Volume
from deepnorm.labels import BG, CSF, GM, WM

KEY = "mrbrains"
#: Site folder under the data root.
FOLDER: tuple[str, ...] = ("MRBrainS13", "TrainingData")
#: Modality key -> file stem.
FILES: dict[str, str] = {"t1": "T1", "t2": "T2_FLAIR"}
#: LabelsForTesting.nii codes -> tissue.
TEST_LABELS: dict[int, int] = {0: BG, 1: CSF, 2: GM, 3: WM}
#: LabelsForTraining.nii codes (cortical GM, basal ganglia, WM, WM lesions, CSF, ventricles,
#: cerebellum, brainstem) -> tissue; used only when LabelsForTesting is absent.
TRAIN_LABELS: dict[int, int] = {0: BG, 1: GM, 2: GM, 3: WM, 4: WM, 5: CSF, 6: CSF, 7: BG, 8: BG}


def scanner_of(subject_id: str) -> str:
    """The scanner of a subject: MRBrainS13 has one, named by the site key."""
    return KEY


def file_names(stem: str) -> list[str]:
    """Accepted file names of one image or label file, e.g. ["T1.nii", "T1.nii.gz"]."""
    return [f"{stem}.nii", f"{stem}.nii.gz"]


class MRBrainS13(SiteLoader):
    """MRBrainS13 training set: 5 adults, T1 + T2-FLAIR (key "t2"), NIfTI, labels 1 CSF 2 GM 3 WM."""

    relative = FOLDER
    example = "1/T1.nii"

    def _find_ids(self) -> list[str]:
        return [p.name for p in self.folder.iterdir()
                if p.is_dir() and first_existing(p, file_names("T1")) is not None]

    def _load(self, subject_id: str, modalities: tuple[str, ...]) -> dict[str, tuple[Path, Volume]]:
        folder = self.folder / subject_id
        files: dict[str, tuple[Path, Volume]] = {}
        for m in modalities:
            path = self._require(folder, file_names(FILES[m]), subject_id)
            files[m] = (path, load_volume(path))
        labels = first_existing(folder, file_names("LabelsForTesting"))
        table = TEST_LABELS
        if labels is None:
            labels = self._require(folder, file_names("LabelsForTesting") + file_names("LabelsForTraining"), subject_id)
            table = TRAIN_LABELS
        files["labels"] = self._labels(labels, table)
        return files


# ------------------------------------------------------------------------------------- phantom
# Every number: the fact it comes from, its source, and where the source gives only an order or
# a range, that the exact value is a choice within it.
#
# Contrast. Adult T1: WM > GM > CSF; FLAIR: CSF suppressed (dark), GM > WM. Grey-white contrast
# in T1 falls with age (Salat et al., NeuroImage 2009) -> GM/WM 0.67 here against 0.56-0.66 for
# ABIDE's younger MPRAGE scanners (the values are choices in that order). White-matter hyperintensities
# are bright in FLAIR and iso- to hypointense in T1 (STRIVE, Wardlaw et al., Lancet Neurol 2013)
# -> lesion means 0.85 in FLAIR (above GM) and 0.58 in T1 (between GM and WM); choices.
T1 = Contrast(csf=0.18, gm=0.52, wm=0.78, skull=0.06, scalp=0.40, lesion=0.58)
FLAIR = Contrast(csf=0.08, gm=0.62, wm=0.45, skull=0.05, scalp=0.30, lesion=0.85)
# Acquisition. 3 T; every sequence on the FLAIR grid of 0.958 x 0.958 x 3.0 mm, manual labels
# drawn on those 3 mm slices (Mendrik et al. 2015; mrbrains13.isi.uu.nl/data) -> the cpu and
# paper profiles use that grid, with a 3 mm box slice profile (anatomy.load_atlas). Noise 0.02
# (choice; below iSEG's, see iseg.py). Bias-corrected before release (Mendrik et al. 2015) ->
# a residual field of 0.03 (choice).
NOISE = 0.02
BIAS = 0.03
# Anatomy. "3T brain MRI scans of elderly subjects (65-80 y)" (Mendrik et al. 2015), released
# with a "white matter lesions" label (4). Atrophy: the brain parenchymal fraction falls from
# about 0.86-0.87 in young adults to about 0.78-0.80 at 70-80 (Vagberg et al., PLoS ONE 2017, a
# review of healthy adults; values from its per-study table, the young ones checked there, the
# elderly ones not re-checked) -> 0.9-1.5 mm of GM/WM next to CSF turned into CSF, which brings the phantom's CSF
# fraction from 0.13 (the template, a young adult) to 0.18-0.22 (measured: data/README.md). WM
# lesions are nearly universal at 60-90 (only 5 % of 1077 subjects had none, de Leeuw et al.,
# JNNP 2001) -> 1-10 mL per
# subject (choice), deep and periventricular, labelled WM as LabelsForTesting does (labels 3 and
# 4 merged). Cerebellum (7) and brainstem (8) are not among LabelsForTesting's classes -> in the
# image, labelled background (fossa "unlabelled"). Head size: adult (scale 1).
ANATOMY = AnatomyModel(atrophy_mm=(0.9, 1.5), lesion_ml=(1.0, 10.0), fossa="unlabelled")


def _scanner(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner(KEY, {"t1": T1, "t2": FLAIR}, spacing, NOISE, BIAS, (65, 80), 1500)


def _phantom_subjects(profile: SiteProfile) -> list[tuple[str, str]]:
    return [(str(i + 1), KEY) for i in range(profile.n_subjects)]


def _phantom_files(subject_id: str, images: Mapping[str, np.ndarray], anatomy: Anatomy,
                   scanner: Scanner) -> dict[str, np.ndarray]:
    folder = "/".join((*FOLDER, subject_id))
    out = {f"{folder}/{file_names(FILES[m])[0]}": to_stored(images[m], scanner.store_max) for m in FILES}
    out[f"{folder}/{file_names('LabelsForTesting')[0]}"] = encode_labels(anatomy.labels, tissue_codes(TEST_LABELS))
    return out


PHANTOM = PhantomModel(
    profiles={
        "smoke": SiteProfile(5, (_scanner((2.874, 2.874, 6.0)),), (1.0, 1.0)),
        "cpu": SiteProfile(5, (_scanner((0.958, 0.958, 3.0)),), (1.0, 1.0)),
        "paper": SiteProfile(5, (_scanner((0.958, 0.958, 3.0)),), (1.0, 1.0)),
    },
    margin_mm=14.0,
    scale_by_age=False,
    subjects=_phantom_subjects,
    files=_phantom_files,
    anatomy=ANATOMY,
)

SITE = Site(
    key=KEY,
    name="MRBrainS13",
    modalities=("t1", "t2"),
    fractions=(0.6, 0.2, 0.2),
    scanner_of=scanner_of,
    loader=MRBrainS13,
    phantom=PHANTOM,
)
MRBrainS13.site = SITE
