"""Small real scans for the command-line tests, cut from the smoke phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.volume import Volume


def central_eighth(smoke_root: Path, path: Path) -> Path:
    """Write the central eighth of a smoke MRBrainS T1 to `path` (its place in space kept): a real
    scan, quick to process; returns `path`."""
    source = load_volume(smoke_root / "MRBrainS13" / "TrainingData" / "1" / "T1.nii")
    start = np.array(source.shape) // 4
    stop = start + np.array(source.shape) // 2
    affine = source.affine.copy()
    affine[:3, 3] = (source.affine @ np.array([*start, 1.0]))[:3]
    save_volume(Volume(source.data[tuple(slice(a, b) for a, b in zip(start, stop))], source.spacing, affine), path)
    return path
