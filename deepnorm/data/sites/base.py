"""What every data set is, and the loader behaviour the three sites share.

A :class:`Site` describes one data set completely (display name, modalities, split fractions,
scanner rule, loader and phantom model); each site's own file (``iseg.py``, ``mrbrains.py``,
``abide.py``) builds its ``SITE``. :class:`SiteLoader` finds a site's folder and subjects under
a data root, checks and loads one subject; a site file subclasses it with its file layout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnorm.data.io import check_label_codes, check_mask, check_same_grid, load_volume
from deepnorm.data.phantom.sites import PhantomModel
from deepnorm.data.volume import Subject, Volume
from deepnorm.errors import ConfigError, DataError

HOW_TO_GET = "see data/README.md for where to obtain it, or pass --data-root DIR / data_root=DIR"


def natural_key(text: str) -> list[tuple[int, int, str]]:
    """Sort key that orders the numbers inside `text` numerically ("2" before "10")."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def map_codes(data: np.ndarray, table: Mapping[int, int], where: str) -> np.ndarray:
    """Labels with `table`'s raw codes replaced by tissue classes (np.int64); DataError on other codes."""
    check_label_codes(data, table, where)
    codes = np.asarray(data).astype(np.int64)
    out = np.zeros(codes.shape, dtype=np.int64)
    for code, tissue in table.items():
        out[codes == code] = tissue
    return out


def tissue_codes(table: Mapping[int, int]) -> dict[int, int]:
    """Tissue class -> raw code, the inverse of a label table without its background (code 0)."""
    return {tissue: code for code, tissue in table.items() if code != 0}


def first_existing(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of `names` that is a file in `folder`, else None."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


@dataclass(frozen=True)
class Site:
    """Everything one data set is.

    Attributes:
        key: the site key ("iseg", "mrbrains", "abide").
        name: display name, e.g. "iSEG-2017".
        modalities: modality keys the data set provides ("t1", "t2").
        fractions: (train, val, test) fractions of its subjects (paper Sec. 2.2).
        scanner_of: subject id -> acquisition sub-site (the site key for single-scanner sets).
        loader: the class that reads the data set under a data root.
        phantom: how the embedded phantom renders and writes this site.
    """

    key: str
    name: str
    modalities: tuple[str, ...]
    fractions: tuple[float, float, float]
    scanner_of: Callable[[str], str]
    loader: type[SiteLoader]
    phantom: PhantomModel


class SiteLoader:
    """Common behaviour: finding the site folder and subjects, checking and loading a subject.

    Subclasses set `site` (their :class:`Site`), `relative` (site folder under the data root),
    `example` (a file name for messages) and implement ``_find_ids`` and ``_load``.
    """

    site: Site
    #: site folder relative to the data root
    relative: tuple[str, ...] = ()
    example: str = ""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self.folder = self.root.joinpath(*self.relative)
        if not self.folder.is_dir():
            raise DataError(f"{self.name}: folder {self.folder} not found (expected files like "
                            f"{self.folder / self.example}); {HOW_TO_GET}")
        ids = self._find_ids()
        if not ids:
            raise DataError(f"{self.name}: no subject found in {self.folder} (expected files like "
                            f"{self.folder / self.example}); {HOW_TO_GET}")
        self.subject_ids: list[str] = sorted(ids, key=natural_key)

    @property
    def key(self) -> str:
        """The site key, e.g. "iseg"."""
        return self.site.key

    @property
    def name(self) -> str:
        """The data set's display name, e.g. "iSEG-2017"."""
        return self.site.name

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality keys this data set provides."""
        return self.site.modalities

    def __len__(self) -> int:
        return len(self.subject_ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}: {len(self)} subjects)"

    def scanner_of(self, subject_id: str) -> str:
        """The acquisition sub-site of a subject (the site key for single-scanner sets)."""
        self._check_id(subject_id)
        return self.site.scanner_of(subject_id)

    def load(self, subject_id: str, modalities: Sequence[str] | None = None) -> Subject:
        """Load one subject: images by modality key (all of ``.modalities`` unless given), labels
        0/1/2/3 (np.int64) and the brain mask where the set ships one; volumes on the files' voxel
        grids in the closest canonical RAS order (deepnorm.data.io.load_volume: axes permuted and
        flipped, never resampled), spacing in mm. DataError names the missing or inconsistent
        file, including files whose voxel grids (shape or affine) disagree."""
        self._check_id(subject_id)
        wanted = tuple(self.modalities if modalities is None else modalities)
        bad = [m for m in wanted if m not in self.modalities]
        if bad or not wanted:
            raise ConfigError(f"modalities={list(wanted)!r}: {self.name} provides {list(self.modalities)}; "
                              "choose among them")
        files = self._load(subject_id, wanted)
        where = f"{self.name} subject {subject_id}"
        check_same_grid({str(path): volume for path, volume in files.values()}, where)
        images = {m: files[m][1] for m in wanted}
        labels = files["labels"][1]
        mask = files["mask"][1] if "mask" in files else None
        if mask is not None:
            check_mask(mask, f"{where} ({files['mask'][0]})")
        return Subject(self.key, subject_id, images, labels, mask, self.site.scanner_of(subject_id))

    # -- helpers for subclasses
    def _check_id(self, subject_id: str) -> None:
        if subject_id not in self.subject_ids:
            shown = ", ".join(self.subject_ids[:8]) + (" ..." if len(self.subject_ids) > 8 else "")
            raise DataError(f"{self.name}: no subject {subject_id!r} in {self.folder}; "
                            f"available: {shown}")

    def _require(self, folder: Path, names: Sequence[str], subject_id: str) -> Path:
        found = first_existing(folder, names)
        if found is None:
            raise DataError(f"{self.name} subject {subject_id}: missing {folder / names[0]}"
                            + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
                            + "; restore the file from the original download")
        return found

    @staticmethod
    def _labels(path: Path, table: Mapping[int, int]) -> tuple[Path, Volume]:
        """(path, tissue labels) of a label file in a data set's codes `table`."""
        raw = load_volume(path)
        return path, Volume(map_codes(raw.data, table, str(path)), raw.spacing, raw.affine)

    def _find_ids(self) -> list[str]:
        raise NotImplementedError

    def _load(self, subject_id: str, modalities: tuple[str, ...]) -> dict[str, tuple[Path, Volume]]:
        """(file, volume) per modality key, "labels" (tissue classes) and optionally "mask"."""
        raise NotImplementedError
