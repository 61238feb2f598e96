"""MRBrainS13: 5 adults, T1 + T2-FLAIR (modality key "t2"), NIfTI, 0.958 x 0.958 x 3.0 mm voxels.

Layout under the data root (see data/README.md for where to obtain it)::

    <root>/MRBrainS13/TrainingData/{i}/{T1.nii,T2_FLAIR.nii,LabelsForTesting.nii}

``.nii.gz`` is accepted too; ``LabelsForTraining.nii`` (8 structures) is used only when
``LabelsForTesting`` is absent. Subject ids are the ``i`` ("1" ... "5"); no brain mask (labels
> 0 define the brain, the skull is kept in the images); one scanner. Split 3/1/1 (paper Sec. 2.2).

Phantom: adult T1 (WM > GM > CSF) and T2-FLAIR (CSF dark, GM > WM) with skull and scalp, the
real anisotropic voxels (cpu, paper profiles), int16 images, ``LabelsForTesting`` codes 1/2/3.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from deepnorm.data.io import load_volume
from deepnorm.data.phantom.anatomy import Anatomy
from deepnorm.data.phantom.sites import (
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
        path = first_existing(folder, file_names("LabelsForTesting"))
        table = TEST_LABELS
        if path is None:
            path = self._require(folder, file_names("LabelsForTesting") + file_names("LabelsForTraining"), subject_id)
            table = TRAIN_LABELS
        files["labels"] = self._labels(path, table)
        return files


# ------------------------------------------------------------------------------------- phantom
T1 = Contrast(csf=0.18, gm=0.50, wm=0.78, skull=0.06, scalp=0.40)
FLAIR = Contrast(csf=0.08, gm=0.62, wm=0.45, skull=0.05, scalp=0.30)


def _scanner(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner(KEY, {"t1": T1, "t2": FLAIR}, spacing, 0.025, 0.10, (50, 80), 1500)


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
