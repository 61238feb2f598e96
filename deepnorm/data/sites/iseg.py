"""iSEG-2017: 10 infant subjects (isointense phase), T1 + T2, Analyze .hdr/.img, labels 10/150/250.

Layout under the data root (see data/README.md for where to obtain it)::

    <root>/iSEG-2017/iSeg-2017-Training/subject-{i}-{T1,T2,label}.hdr/.img

Subject ids are the ``i`` ("1" ... "10"); no brain mask (the images are skull-stripped; labels
> 0 define the brain); one scanner. Split 8/1/1 (paper Sec. 2.2). An Analyze 7.5 header holds no
orientation: nibabel reads it as LAS (x flipped), and the volumes are loaded with that axis
flipped to RAS like every file (deepnorm.data.io).

Phantom (parameters and sources: the block below and data/README.md): 6-8-month-old brains
(0.60-0.68 of an adult's volume), *isointense* T1 and T2 (GM and WM share one mean; central,
myelinated WM brighter in T1 and darker in T2), a wider extracerebral CSF space, cerebellum and
brainstem removed, skull-stripped (0 outside the brain), noisier than the adult sites, int16
images, the same label codes and files as the real set, written as NIfTI-1 pairs (the same
.hdr/.img files, with a RAS affine).
"""

from __future__ import annotations

import re
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
from deepnorm.data.sites.base import Site, SiteLoader, tissue_codes
from deepnorm.data.volume import Volume
from deepnorm.labels import BG, CSF, GM, WM

KEY = "iseg"
#: Site folder under the data root.
FOLDER: tuple[str, ...] = ("iSEG-2017", "iSeg-2017-Training")
#: Modality key -> the file name's contrast part.
FILES: dict[str, str] = {"t1": "T1", "t2": "T2"}
#: Label file codes -> tissue.
LABELS: dict[int, int] = {0: BG, 10: CSF, 150: GM, 250: WM}


def scanner_of(subject_id: str) -> str:
    """The scanner of a subject: iSEG-2017 has one, named by the site key."""
    return KEY


def file_name(subject_id: str, part: str) -> str:
    """File of one subject: `part` is "T1", "T2" or "label"."""
    return f"subject-{subject_id}-{part}.hdr"


class ISeg2017(SiteLoader):
    """iSEG-2017 training set: 10 infant subjects, T1 + T2, Analyze .hdr/.img, labels 10/150/250."""

    relative = FOLDER
    example = file_name("1", "T1")

    def _find_ids(self) -> list[str]:
        pattern = re.compile(r"^subject-(\d+)-T1\.hdr$")
        return sorted({m.group(1) for p in self.folder.iterdir() if (m := pattern.match(p.name))})

    def _load(self, subject_id: str, modalities: tuple[str, ...]) -> dict[str, tuple[Path, Volume]]:
        files: dict[str, tuple[Path, Volume]] = {}
        for m in modalities:
            path = self._require(self.folder, [file_name(subject_id, FILES[m])], subject_id)
            files[m] = (path, load_volume(path))
        files["labels"] = self._labels(self._require(self.folder, [file_name(subject_id, "label")], subject_id), LABELS)
        return files


# ------------------------------------------------------------------------------------- phantom
# Every number: the fact it comes from, its source, and where the source gives only an order or
# a range, that the exact value is a choice within it.
#
# Contrast. Wang et al. (IEEE TMI 2019, the iSEG-2017 paper): at about 6 months (the isointense
# phase) "WM and GM exhibit similar levels of intensity in both T1w and T2w" -> the images' GM
# and WM voxels share one mean in each modality. The template's partial volume puts CSF (11 %)
# and WM (14 %) into GM-labelled voxels and GM (17 %) into WM-labelled ones, so the pure-GM mean
# that gives equal labelled means is solved from the WM and CSF means: T1 GM 0.555 (WM 0.50,
# CSF 0.22), T2 GM 0.474 (WM 0.55, CSF 0.95). Pure GM then sits above WM in T1 and below it in
# T2: between the infantile pattern (WM darker than GM in T1, brighter in T2) and the adult one,
# as the isointense phase is. CSF is dark in T1 and bright in T2 (water); the CSF and WM values
# are choices. Myelination proceeds from central to peripheral WM (Barkovich et al., Radiology
# 1988): myelinated WM is brighter in T1 and darker in T2 -> myelin = +/-0.16 (the relative WM
# change from peripheral to central WM around the WM mean; its size is a choice, the signs are
# the fact).
T1 = Contrast(csf=0.22, gm=0.555, wm=0.50, myelin=0.16)
T2 = Contrast(csf=0.95, gm=0.474, wm=0.55, myelin=-0.16)
# Acquisition. 3 T, 1 mm isotropic (Delisle et al. 2021, Sec. 2.2; Wang et al. 2019). "Noisier
# because of the shorter scanning time used to avoid motion artifacts" (Delisle et al. 2021,
# Sec. 2.2) -> noise 0.035 against MRBrainS13's 0.02 (the ratio is a choice). Released after
# intensity-inhomogeneity correction (Wang et al. 2019) -> a residual field of 0.03 (choice).
NOISE = 0.035
BIAS = 0.03
# Anatomy. Brain volume: about 1/3 of an elderly adult's at birth and "just more than half" at
# 3 months (Holland et al., JAMA Neurol 2014), +101 % over the first year (Knickmeyer et al.,
# J Neurosci 2008; the ~72 % of adult at 1 year is from secondary sources) -> 0.60-0.68 at 6-8
# months (a choice in that interval; isointense phase ~6-9 months, Wang et al. 2019),
# i.e. a linear scale of its cube root. Extracerebral CSF is wider in infants than in adults
# (craniocortical width 0.3-6.3 mm, 95th-percentile upper limit 4 mm, in 89 healthy infants by
# ultrasound, Libicher & Troger, Radiology 1992)
# -> 1 mm more than the template's 1.5 mm shell (choice). Released with "cerebellum and brain
# stem removed" after skull stripping (Wang et al. 2019) -> fossa "removed".
VOLUME = (0.60, 0.68)
HEAD_SCALE = (VOLUME[0] ** (1 / 3), VOLUME[1] ** (1 / 3))
ANATOMY = AnatomyModel(csf_shell_mm=1.0, fossa="removed")


def _scanner(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner(KEY, {"t1": T1, "t2": T2}, spacing, NOISE, BIAS, (0.5, 0.7), 1000)


def _phantom_subjects(profile: SiteProfile) -> list[tuple[str, str]]:
    return [(str(i + 1), KEY) for i in range(profile.n_subjects)]


def _phantom_files(subject_id: str, images: Mapping[str, np.ndarray], anatomy: Anatomy,
                   scanner: Scanner) -> dict[str, np.ndarray]:
    folder = "/".join(FOLDER)
    # released skull-stripped: 0 outside the brain (and where the cerebellum was removed)
    out = {f"{folder}/{file_name(subject_id, FILES[m])}": to_stored(images[m] * anatomy.brain, scanner.store_max)
           for m in FILES}
    out[f"{folder}/{file_name(subject_id, 'label')}"] = encode_labels(anatomy.labels, tissue_codes(LABELS))
    return out


PHANTOM = PhantomModel(
    profiles={
        "smoke": SiteProfile(10, (_scanner((4.0, 4.0, 4.0)),), HEAD_SCALE),
        "cpu": SiteProfile(10, (_scanner((1.5, 1.5, 1.5)),), HEAD_SCALE),
        "paper": SiteProfile(10, (_scanner((1.0, 1.0, 1.0)),), HEAD_SCALE),
    },
    margin_mm=4.0,
    scale_by_age=False,
    subjects=_phantom_subjects,
    files=_phantom_files,
    anatomy=ANATOMY,
)

SITE = Site(
    key=KEY,
    name="iSEG-2017",
    modalities=("t1", "t2"),
    fractions=(0.8, 0.1, 0.1),
    scanner_of=scanner_of,
    loader=ISeg2017,
    phantom=PHANTOM,
)
ISeg2017.site = SITE
