"""A trained normalizer on your own scans: ``deepnorm normalize`` and ``deepnorm segment``.

    deepnorm normalize --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
    deepnorm segment   --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]

The scan is pre-processed exactly as in training (skull strip with the mask or the non-zero
voxels, crop, resample to the run's voxel size, [0, 1] scaling), passed through the run's
generator (normalize) or generator + segmenter (segment), and written back **on the input's
voxel grid with the input's affine**: the output overlays the input in any viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.data.volume import Volume
from deepnorm.errors import DataError


def _inputs(run: Any, t1: str | Path, t2: str | Path | None, mask: str | Path | None) -> tuple[list[Volume], Volume | None]:
    from deepnorm.data.io import load_volume

    modalities = tuple(run.config.data.modalities)
    paths = [Path(t1)] + ([Path(t2)] if t2 is not None else [])
    if len(paths) != len(modalities):
        if len(modalities) == 2:
            raise DataError(f"the run {run.folder} was trained on T1 + T2 ({'+'.join(modalities)}): "
                            "give the second contrast with --t2 PATH")
        raise DataError(f"the run {run.folder} was trained on T1 alone: drop --t2 {t2}")
    volumes = [load_volume(p) for p in paths]
    for path, volume in zip(paths[1:], volumes[1:]):
        if volume.shape != volumes[0].shape:
            raise DataError(f"{path} has shape {volume.shape} but {paths[0]} has {volumes[0].shape}: "
                            "register the contrasts to the T1 grid first")
    mask_volume = load_volume(mask) if mask is not None else None
    if mask_volume is not None and mask_volume.shape != volumes[0].shape:
        raise DataError(f"mask {mask} has shape {mask_volume.shape} but {paths[0]} has {volumes[0].shape}")
    return volumes, mask_volume


def _prepare(run: Any, volumes: list[Volume], mask: Volume | None) -> Any:
    from deepnorm.data.preprocess import preprocess_image

    return preprocess_image(volumes, run.config.data.spacing, mask)


def _input_mask(volumes: list[Volume], mask: Volume | None) -> np.ndarray:
    """The brain on the input grid: the mask when given, else the voxels where any contrast is > 0."""
    if mask is not None:
        return np.asarray(mask.data) > 0
    return np.any([np.asarray(v.data) > 0 for v in volumes], axis=0)


def normalize_scan(run: Any, t1: str | Path, *, t2: str | Path | None = None,
                   mask: str | Path | None = None) -> list[Volume]:
    """The run's normalized image of each input contrast, on the input's grid (values in [0, 1])."""
    from deepnorm.data.preprocess import restore

    volumes, mask_volume = _inputs(run, t1, t2, mask)
    prepared = _prepare(run, volumes, mask_volume)
    normalized = run.normalize_volume(prepared.image, prepared.mask)
    restored = restore(prepared, normalized, order=1).astype(np.float32) * _input_mask(volumes, mask_volume)
    return [Volume(restored[c], volumes[0].spacing, volumes[0].affine) for c in range(restored.shape[0])]


def segment_scan(run: Any, t1: str | Path, *, t2: str | Path | None = None,
                 mask: str | Path | None = None) -> Volume:
    """The run's tissue labels (0 BG, 1 CSF, 2 GM, 3 WM) of the scan, on the input's grid (uint8)."""
    from deepnorm.data.preprocess import restore

    volumes, mask_volume = _inputs(run, t1, t2, mask)
    prepared = _prepare(run, volumes, mask_volume)
    probs = run.segment_volume(prepared.image, prepared.mask)
    labels = np.argmax(probs, axis=0).astype(np.uint8)
    labels[~np.asarray(prepared.mask, dtype=bool)] = 0
    restored = (restore(prepared, labels, order=0) * _input_mask(volumes, mask_volume)).astype(np.uint8)
    return Volume(restored, volumes[0].spacing, volumes[0].affine)
