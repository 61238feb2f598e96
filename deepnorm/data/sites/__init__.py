"""Loaders of the three data sets, each found under one data root by its file layout.

Layouts (see data/README.md for where to obtain each set)::

    <root>/iSEG-2017/iSeg-2017-Training/subject-{i}-{T1,T2,label}.hdr/.img
    <root>/MRBrainS13/TrainingData/{i}/{T1.nii,T2_FLAIR.nii,LabelsForTesting.nii}
    <root>/ABIDE/<SITE>_<subject>/mri/{T1.mgz,brainmask.mgz,aparc+aseg.mgz}

Every loader returns Subjects with labels 0 BG, 1 CSF, 2 GM, 3 WM (np.int64) and modality keys
"t1"/"t2" (MRBrainS's "t2" is its T2-FLAIR). Subject ids are the ``i`` of the layout (iSEG,
MRBrainS) or the ABIDE folder name; ``subject_ids`` is sorted with numbers in numeric order
("2" before "10"). A subject exists when its T1 file exists; its other files are checked on load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepnorm.data.aseg import aseg_to_tissue
from deepnorm.data.io import check_label_codes, check_mask, check_same_shape, load_volume
from deepnorm.data.volume import Subject, Volume
from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import BG, CSF, GM, SITE_NAMES, SITES, WM

#: iSEG-2017 label codes -> tissue.
ISEG_LABELS: dict[int, int] = {0: BG, 10: CSF, 150: GM, 250: WM}
#: MRBrainS13 LabelsForTesting.nii codes -> tissue.
MRBRAINS_TEST_LABELS: dict[int, int] = {0: BG, 1: CSF, 2: GM, 3: WM}
#: MRBrainS13 LabelsForTraining.nii codes (cortical GM, basal ganglia, WM, WM lesions, CSF,
#: ventricles, cerebellum, brainstem) -> tissue; used only when LabelsForTesting is absent.
MRBRAINS_TRAIN_LABELS: dict[int, int] = {0: BG, 1: GM, 2: GM, 3: WM, 4: WM, 5: CSF, 6: CSF, 7: BG, 8: BG}

_HOW_TO_GET = "see data/README.md for where to obtain it, or pass --data-root DIR / data_root=DIR"


def _natural_key(text: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def _map_codes(data: np.ndarray, table: dict[int, int], where: str) -> np.ndarray:
    """Labels with `table`'s codes replaced by tissue classes (np.int64); DataError on other codes."""
    check_label_codes(data, table, where)
    codes = np.asarray(data).astype(np.int64)
    out = np.zeros(codes.shape, dtype=np.int64)
    for code, tissue in table.items():
        out[codes == code] = tissue
    return out


def _first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


class _Site:
    """Common behaviour: finding the site folder and subjects, checking and loading a subject."""

    key: str = ""
    modalities: tuple[str, ...] = ()
    #: site folder relative to the data root
    relative: tuple[str, ...] = ()
    example: str = ""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.folder = self.root.joinpath(*self.relative)
        name = SITE_NAMES[self.key]
        if not self.folder.is_dir():
            raise DataError(f"{name}: folder {self.folder} not found (expected files like "
                            f"{self.folder / self.example}); {_HOW_TO_GET}")
        ids = self._find_ids()
        if not ids:
            raise DataError(f"{name}: no subject found in {self.folder} (expected files like "
                            f"{self.folder / self.example}); {_HOW_TO_GET}")
        self.subject_ids: list[str] = sorted(ids, key=_natural_key)

    @property
    def name(self) -> str:
        """The data set's display name, e.g. "iSEG-2017"."""
        return SITE_NAMES[self.key]

    def __len__(self) -> int:
        return len(self.subject_ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}: {len(self)} subjects)"

    def scanner_of(self, subject_id: str) -> str:
        """The acquisition sub-site of a subject (the site key for single-scanner sets)."""
        self._check_id(subject_id)
        return self.key

    def load(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        """Load one subject: images by modality key (all of ``.modalities`` unless given), labels
        0/1/2/3 (np.int64) and the brain mask where the set ships one; volumes in voxels of the
        files, spacing in mm. DataError names the missing or inconsistent file."""
        self._check_id(subject_id)
        wanted = tuple(self.modalities if modalities is None else modalities)
        bad = [m for m in wanted if m not in self.modalities]
        if bad or not wanted:
            raise ConfigError(f"modalities={list(wanted)!r}: {self.name} provides {list(self.modalities)}; "
                              "choose among them")
        images, labels, mask = self._load(subject_id, wanted)
        where = f"{self.name} subject {subject_id}"
        check_same_shape({**images, "labels": labels, **({"mask": mask} if mask is not None else {})}, where)
        if mask is not None:
            check_mask(mask, where)
        return Subject(self.key, subject_id, images, labels, mask, self.scanner_of(subject_id))

    # -- helpers for subclasses
    def _check_id(self, subject_id: str) -> None:
        if subject_id not in self.subject_ids:
            shown = ", ".join(self.subject_ids[:8]) + (" ..." if len(self.subject_ids) > 8 else "")
            raise DataError(f"{self.name}: no subject {subject_id!r} in {self.folder}; "
                            f"available: {shown}")

    def _require(self, folder: Path, names: Sequence[str], subject_id: str) -> Path:
        found = _first_existing(folder, names)
        if found is None:
            raise DataError(f"{self.name} subject {subject_id}: missing {folder / names[0]}"
                            + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
                            + "; restore the file from the original download")
        return found

    def _find_ids(self) -> list[str]:
        raise NotImplementedError

    def _load(self, subject_id: str, modalities: tuple[str, ...]) -> tuple[dict[str, Volume], Volume, Volume | None]:
        raise NotImplementedError


class ISeg2017(_Site):
    """iSEG-2017 training set: 10 infant subjects, T1 + T2, Analyze .hdr/.img, labels 10/150/250."""

    key = "iseg"
    modalities = ("t1", "t2")
    relative = ("iSEG-2017", "iSeg-2017-Training")
    example = "subject-1-T1.hdr"
    _files = {"t1": "T1", "t2": "T2"}

    def _find_ids(self) -> list[str]:
        pattern = re.compile(r"^subject-(\d+)-T1\.hdr$")
        return sorted({m.group(1) for p in self.folder.iterdir() if (m := pattern.match(p.name))})

    def _load(self, subject_id, modalities):
        images = {m: load_volume(self._require(self.folder, [f"subject-{subject_id}-{self._files[m]}.hdr"], subject_id))
                  for m in modalities}
        path = self._require(self.folder, [f"subject-{subject_id}-label.hdr"], subject_id)
        raw = load_volume(path)
        labels = Volume(_map_codes(raw.data, ISEG_LABELS, str(path)), raw.spacing, raw.affine)
        return images, labels, None


class MRBrainS13(_Site):
    """MRBrainS13 training set: 5 adults, T1 + T2-FLAIR (key "t2"), NIfTI, labels 1 CSF 2 GM 3 WM."""

    key = "mrbrains"
    modalities = ("t1", "t2")
    relative = ("MRBrainS13", "TrainingData")
    example = "1/T1.nii"
    _files = {"t1": "T1", "t2": "T2_FLAIR"}

    @staticmethod
    def _names(stem: str) -> list[str]:
        return [f"{stem}.nii", f"{stem}.nii.gz"]

    def _find_ids(self) -> list[str]:
        return [p.name for p in self.folder.iterdir()
                if p.is_dir() and _first_existing(p, self._names("T1")) is not None]

    def _load(self, subject_id, modalities):
        folder = self.folder / subject_id
        images = {m: load_volume(self._require(folder, self._names(self._files[m]), subject_id)) for m in modalities}
        path = _first_existing(folder, self._names("LabelsForTesting"))
        table = MRBRAINS_TEST_LABELS
        if path is None:
            path = self._require(folder, self._names("LabelsForTesting") + self._names("LabelsForTraining"), subject_id)
            table = MRBRAINS_TRAIN_LABELS
        raw = load_volume(path)
        labels = Volume(_map_codes(raw.data, table, str(path)), raw.spacing, raw.affine)
        return images, labels, None


class ABIDE(_Site):
    """ABIDE I FreeSurfer outputs: T1 only, one folder per subject named <SITE>_<subject>.

    The image is mri/T1.mgz (mri/brain.mgz when T1.mgz is absent), the mask mri/brainmask.mgz > 0
    (brain.mgz > 0 when brainmask.mgz is absent), labels mri/aparc+aseg.mgz mapped by
    deepnorm.data.aseg. The scanner is the SITE prefix: the folder name up to its last "_"
    (e.g. "UM_1" for "UM_1_0050272").
    """

    key = "abide"
    modalities = ("t1",)
    relative = ("ABIDE",)
    example = "NYU_0050952/mri/T1.mgz"
    _pattern = re.compile(r"^(.+)_([^_]+)$")

    def _find_ids(self) -> list[str]:
        return [p.name for p in self.folder.iterdir()
                if p.is_dir() and self._pattern.match(p.name)
                and _first_existing(p / "mri", ["T1.mgz", "brain.mgz"]) is not None]

    def scanner_of(self, subject_id: str) -> str:
        """The ABIDE acquisition site of a subject: its folder name up to the last "_"."""
        self._check_id(subject_id)
        return self._pattern.match(subject_id).group(1)  # type: ignore[union-attr]

    def _load(self, subject_id, modalities):
        mri = self.folder / subject_id / "mri"
        t1_path = self._require(mri, ["T1.mgz", "brain.mgz"], subject_id)
        image = load_volume(t1_path)
        mask_path = _first_existing(mri, ["brainmask.mgz"])
        if mask_path is None and t1_path.name != "brain.mgz":
            mask_path = self._require(mri, ["brainmask.mgz", "brain.mgz"], subject_id)
        mask_src = load_volume(mask_path) if mask_path is not None else image
        mask = Volume(np.asarray(mask_src.data) > 0, mask_src.spacing, mask_src.affine)
        raw = load_volume(self._require(mri, ["aparc+aseg.mgz"], subject_id))
        labels = Volume(aseg_to_tissue(raw.data), raw.spacing, raw.affine)
        return {"t1": image}, labels, mask


_CLASSES: dict[str, type[_Site]] = {"iseg": ISeg2017, "mrbrains": MRBrainS13, "abide": ABIDE}


def open_site(root: str | os.PathLike, site_key: str) -> ISeg2017 | MRBrainS13 | ABIDE:
    """The loader of one site ("iseg", "mrbrains" or "abide") under the data root `root`."""
    if site_key not in _CLASSES:
        raise ConfigError(f"site={site_key!r}: unknown site; choose among {list(SITES)}")
    return _CLASSES[site_key](root)  # type: ignore[return-value]


def available_sites(root: str | os.PathLike) -> list[str]:
    """The site keys (in SITES order) whose folder exists under `root` with at least one subject."""
    found = []
    for key in SITES:
        try:
            open_site(root, key)
        except DataError:
            continue
        found.append(key)
    return found
