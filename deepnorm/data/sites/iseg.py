"""iSEG-2017: 10 infant subjects (isointense phase), T1 + T2, Analyze .hdr/.img, labels 10/150/250.

Layout under the data root (see data/README.md for where to obtain it)::

    <root>/iSEG-2017/iSeg-2017-Training/subject-{i}-{T1,T2,label}.hdr/.img

Subject ids are the ``i`` ("1" ... "10"); no brain mask (the images are skull-stripped; labels
> 0 define the brain); one scanner. Split 8/1/1 (paper Sec. 2.2). An Analyze 7.5 header holds no
orientation: nibabel reads it as LAS (x flipped), and the volumes are loaded with that axis
flipped to RAS like every file (deepnorm.data.io).

Phantom: infant-like heads (scale 0.75-0.85), *isointense* T1 (GM ~ WM, CSF dark) and a
low-contrast T2 (CSF bright), skull-stripped (no skull or scalp), int16 images, the same label
codes and files as the real set, written as NIfTI-1 pairs (the same .hdr/.img files, with a RAS
affine).
"""

from __future__ import annotations

import re
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
T1 = Contrast(csf=0.20, gm=0.50, wm=0.54)
T2 = Contrast(csf=0.92, gm=0.52, wm=0.60)


def _scanner(spacing: tuple[float, float, float]) -> Scanner:
    return Scanner(KEY, {"t1": T1, "t2": T2}, spacing, 0.02, 0.08, (0.5, 0.7), 1000)


def _phantom_subjects(profile: SiteProfile) -> list[tuple[str, str]]:
    return [(str(i + 1), KEY) for i in range(profile.n_subjects)]


def _phantom_files(subject_id: str, images: Mapping[str, np.ndarray], anatomy: Anatomy,
                   scanner: Scanner) -> dict[str, np.ndarray]:
    folder = "/".join(FOLDER)
    out = {f"{folder}/{file_name(subject_id, FILES[m])}": to_stored(images[m], scanner.store_max) for m in FILES}
    out[f"{folder}/{file_name(subject_id, 'label')}"] = encode_labels(anatomy.labels, tissue_codes(LABELS))
    return out


PHANTOM = PhantomModel(
    profiles={
        "smoke": SiteProfile(10, (_scanner((4.0, 4.0, 4.0)),), (0.75, 0.85)),
        "cpu": SiteProfile(10, (_scanner((1.5, 1.5, 1.5)),), (0.75, 0.85)),
        "paper": SiteProfile(10, (_scanner((1.0, 1.0, 1.0)),), (0.75, 0.85)),
    },
    margin_mm=4.0,
    scale_by_age=False,
    subjects=_phantom_subjects,
    files=_phantom_files,
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
