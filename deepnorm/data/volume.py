"""In-memory volumes and subjects (pure numpy, no file format knowledge)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import SupportsFloat, SupportsInt

import numpy as np


def int_triple(values: Iterable[SupportsInt]) -> tuple[int, int, int]:
    """Three values (a shape, a voxel index) as three ints; ValueError when there are not three."""
    x, y, z = (int(v) for v in values)
    return x, y, z


def float_triple(values: Iterable[SupportsFloat]) -> tuple[float, float, float]:
    """Three values (a voxel size, a position) as three floats; ValueError when there are not three."""
    x, y, z = (float(v) for v in values)
    return x, y, z


@dataclass(frozen=True)
class Volume:
    """A 3D image with its geometry.

    Attributes:
        data: 3D array, shape (X, Y, Z), voxel values in the file's units.
        spacing: voxel size in mm along (X, Y, Z).
        affine: 4x4 voxel-to-world (mm) matrix.
        source: the file it was read from ("" for a volume made in memory); error messages name it.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    source: str = field(default="", compare=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (X, Y, Z) in voxels."""
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]  # data's own length: 3 for a volume, unchecked

    @classmethod
    def from_array(cls, data: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Volume:
        """A volume whose affine is the diagonal of `spacing` (mm), origin at voxel 0."""
        affine = np.diag([*map(float, spacing), 1.0])
        return cls(np.asarray(data), tuple(float(s) for s in spacing), affine)  # type: ignore[arg-type]  # unchecked, as given


@dataclass(frozen=True)
class Subject:
    """One subject of one site: its images by modality key ("t1", "t2") and its labels.

    `labels.data` holds the deepnorm convention 0 BG, 1 CSF, 2 GM, 3 WM; `mask` is the brain
    mask when the data set ships one (else None: the labels > 0 define the brain).
    `scanner` names the acquisition sub-site (ABIDE's SITE prefix; the site key otherwise).
    """

    site: str
    subject_id: str
    images: dict[str, Volume]
    labels: Volume
    mask: Volume | None = None
    scanner: str = ""
