"""A trained normalizer on your own scans: ``deepnorm normalize`` and ``deepnorm segment``.

    deepnorm normalize --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]
    deepnorm segment   --run runs/<hash> T1.nii.gz OUT.nii.gz [--t2 T2.nii.gz] [--mask MASK.nii.gz]

The scan is pre-processed exactly as in training (skull strip with the mask or the voxels > 0,
crop, resample to the run's voxel size, [0, 1] scaling), passed through the run's
normalizer (a generator, or the method's volume transform: a z-score, or a classical
normalizer with the run's saved fit) and segmenter, and written back **on the input's
voxel grid with the input's affine**: the output overlays the input in any viewer.

Orientation: the scan is processed in the closest canonical RAS orientation, as in training (the
site loaders give every volume in RAS: deepnorm.data.io), whatever its file's voxel order (LIA
for FreeSurfer's .mgz, LAS for a plain Analyze header, ...); the outputs are then put back in the
input's own order, shape, spacing and affine (:func:`deepnorm.data.io.reorient_like`). So a scan
and the same scan stored in another orientation give the same outputs, once reoriented.

Inputs are checked before any inference: a second contrast and a mask must share the T1's
shape *and* its affine once in RAS order (same voxels in the same place, within
:data:`AFFINE_TOLERANCE_MM`; a file that stores the same grid in another voxel order is
accepted), and a constant or empty image is refused. Without a mask the brain is the voxels
> 0, as in training (skull-stripped scans with a zero background): a scan with negative voxels
is refused with a line that says to pass ``--mask``, rather than silently losing them. Only
runs that transform the image before S (see :func:`normalizing_methods`) can normalize: the
segmenter alone and contrast randomisation have no normalized image to give.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from deepnorm.data.preprocess import Prepared, preprocess_image, restore
from deepnorm.data.volume import Volume
from deepnorm.errors import DataError, RunError
from deepnorm.training.config import Config
from deepnorm.training.runs import Run

#: Largest difference (mm) allowed between two inputs' affines (translations and the columns).
AFFINE_TOLERANCE_MM = 1e-2


def normalizing_methods() -> list[str]:
    """The training methods whose runs have a normalized image to give: a generator (preprocessor,
    adversarial) or a volume transform (standardization, standardization_brain and the classical
    normalizers, nyul with the run's saved fit)."""
    from deepnorm.training.methods import REGISTRY

    return [name for name, cls in REGISTRY.items() if cls.normalizes()]


def require_normalizer(config: Config, folder: str | Path) -> None:
    """Raise RunError unless the run of `config` (in `folder`) transforms the image before S."""
    methods = normalizing_methods()
    if config.train.method not in methods:
        raise RunError(
            f"run {folder} was trained with method {config.train.method!r}, which gives S the pre-processed image "
            f"unchanged, so it has no normalized image to give; normalize with a run of method "
            f"{', '.join(methods[:-1])} or {methods[-1]}, or use `deepnorm segment` with this run"
        )


def _same_space(path: Path, volume: Volume, ref_path: Path, ref: Volume, what: str) -> None:
    """Raise DataError unless `volume` lies on the grid of `ref` (both as stored in their files).

    The grids are compared in RAS order: the same shape and (within :data:`AFFINE_TOLERANCE_MM`)
    the same affine once both are reoriented, so a file that stores the T1's grid in another voxel
    order passes. The message gives the shapes as stored and each file's orientation.
    """
    from deepnorm.data.io import orientation

    here, there = _canonical(path, volume), _canonical(ref_path, ref)
    codes, ref_codes = "".join(orientation(volume.affine)), "".join(orientation(ref.affine))
    if here.shape != there.shape:
        order = "" if codes == ref_codes else f" ({codes} voxel order; the T1 is {ref_codes})"
        raise DataError(f"{what} {path} has shape {volume.shape}{order} but {ref_path} has {ref.shape}: "
                        "resample it onto the T1's voxel grid first")
    a, b = np.asarray(here.affine, dtype=np.float64), np.asarray(there.affine, dtype=np.float64)
    if not np.allclose(a, b, rtol=0.0, atol=AFFINE_TOLERANCE_MM):
        shift = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
        if codes != ref_codes:
            axes = f", and its axes are oriented differently ({codes}; the T1 is {ref_codes})"
        elif not np.allclose(a[:3, :3], b[:3, :3], rtol=0.0, atol=AFFINE_TOLERANCE_MM):
            axes = ", and its axes are oriented or scaled differently"
        else:
            axes = ""
        raise DataError(f"{what} {path} has the shape of {ref_path} but not its place in space (origin "
                        f"{shift:.2f} mm away{axes}): resample it onto the T1's grid (e.g. with FSL flirt "
                        "-applyxfm or FreeSurfer mri_vol2vol) first")


def _no_negative(path: Path, volume: Volume) -> None:
    """DataError when `volume` has negative voxels and no mask was given.

    The default brain is the voxels > 0 (a skull-stripped scan with a zero background, as the
    training data): negative voxels would silently become background, and a scan whose
    background is offset (CT-like values, some converters' output) cannot be told from its brain.
    """
    data = np.asarray(volume.data)
    negative = int(np.count_nonzero(data < 0)) if data.dtype.kind in "if" else 0
    if negative:
        raise DataError(f"{path} has {negative} negative voxel(s) (min {float(data.min()):g}): the default brain "
                        "mask is the voxels > 0, which would drop them; pass the brain mask with --mask")


def _not_constant(path: Path, volume: Volume, brain: np.ndarray, mask: Path | None = None) -> None:
    values = np.asarray(volume.data)[brain]
    if values.size == 0 and mask is not None:
        raise DataError(f"the mask {mask} has no voxel > 0 (an empty mask): check the mask file")
    if values.size == 0:
        raise DataError(f"{path} has no voxel > 0 inside the brain (an empty image or mask): check the file, "
                        "or pass the brain mask with --mask")
    if float(values.min()) == float(values.max()):
        raise DataError(f"{path} is constant ({float(values.min()):g}) on the brain: it holds no image to "
                        "normalize; check that this is the right file")


def _canonical(path: Path, volume: Volume) -> Volume:
    """`volume` in RAS order; a DataError about its affine names the file."""
    from deepnorm.data.io import CANONICAL, reorient

    try:
        return reorient(volume, CANONICAL)
    except DataError as err:
        raise DataError(f"{path}: {err}; fix the header's affine") from None


def _inputs(run: Run, t1: str | Path, t2: str | Path | None, mask: str | Path | None
            ) -> tuple[list[Path], list[Volume], Volume | None, Volume]:
    """(paths, the contrasts in RAS order, the mask in RAS order or None, the T1 as stored).

    The T1 as stored (its file's voxel order, spacing and affine) is what outputs go back to.
    """
    from deepnorm.data.io import load_volume

    modalities = tuple(run.config.data.modalities)
    paths = [Path(t1)] + ([Path(t2)] if t2 is not None else [])
    if len(paths) != len(modalities):
        if len(modalities) == 2:
            raise DataError(f"the run {run.folder} was trained on T1 + T2 ({'+'.join(modalities)}): "
                            "give the second contrast with --t2 PATH")
        raise DataError(f"the run {run.folder} was trained on T1 alone: drop --t2 {t2}")
    stored = [load_volume(p, canonical=False) for p in paths]
    for path, volume in zip(paths[1:], stored[1:]):
        _same_space(path, volume, paths[0], stored[0], "the second contrast")
    mask_stored = None
    if mask is not None:
        mask_stored = load_volume(mask, canonical=False)
        _same_space(Path(mask), mask_stored, paths[0], stored[0], "the mask")
    if mask_stored is None:
        for path, volume in zip(paths, stored):
            _no_negative(path, volume)
    volumes = [_canonical(p, v) for p, v in zip(paths, stored)]
    mask_volume = _canonical(Path(mask), mask_stored) if mask is not None and mask_stored is not None else None
    as_stored = stored[0]
    brain = _input_mask(volumes, mask_volume)
    for path, volume in zip(paths, volumes):
        _not_constant(path, volume, brain, Path(mask) if mask is not None else None)
    return paths, volumes, mask_volume, as_stored


def _prepare(run: Run, paths: list[Path], volumes: list[Volume], mask: Volume | None) -> Prepared:
    """The scan pre-processed as in training; a DataError names the input file, not the step."""
    try:
        return preprocess_image(volumes, run.config.data.spacing, mask)
    except DataError as err:
        message = re.sub(r"^preprocess_image:\s*", "", str(err))
        for i, path in enumerate(paths):
            message = message.replace(f"image 'channel {i}'", str(path))
        raise DataError(message if str(paths[0]) in message else f"{paths[0]}: {message}") from err


def _input_mask(volumes: list[Volume], mask: Volume | None) -> np.ndarray:
    """The brain on the input grid: the mask when given, else the voxels where any contrast is > 0."""
    if mask is not None:
        return np.asarray(mask.data) > 0
    return np.any([np.asarray(v.data) > 0 for v in volumes], axis=0)


def _as_stored(data: np.ndarray, volumes: list[Volume], as_stored: Volume) -> Volume:
    """`data`, computed on the RAS grid of `volumes[0]`, in the T1's own voxel order, spacing and affine."""
    from deepnorm.data.io import reorient_like

    return reorient_like(Volume(data, volumes[0].spacing, volumes[0].affine), as_stored)


def normalize_scan(run: Run, t1: str | Path, *, t2: str | Path | None = None,
                   mask: str | Path | None = None) -> list[Volume]:
    """The run's normalized image of each input contrast, on the input's grid (float32, 0 outside the brain).

    The scale is the method's: [0, 1] for G(x) (preprocessor, adversarial), z-scores for
    standardization and standardization_brain, the fitted standard scale for nyul, a WM stripe
    of mean 0 and sd 1 for whitestripe, WM near 1 for fcm and kde. Computed in RAS order and
    returned in the T1 file's own voxel order, with its spacing and affine. Raises RunError when
    the run has no normalized image (methods other than :func:`normalizing_methods`), DataError
    for inputs that disagree in shape or space, or a constant/empty image.
    """
    require_normalizer(run.config, run.folder)
    paths, volumes, mask_volume, as_stored = _inputs(run, t1, t2, mask)
    prepared = _prepare(run, paths, volumes, mask_volume)
    normalized = run.normalize_volume(prepared.image, prepared.mask)
    restored = restore(prepared, normalized, order=1).astype(np.float32) * _input_mask(volumes, mask_volume)
    return [_as_stored(restored[c], volumes, as_stored) for c in range(restored.shape[0])]


def segment_scan(run: Run, t1: str | Path, *, t2: str | Path | None = None,
                 mask: str | Path | None = None) -> Volume:
    """The run's tissue labels (0 BG, 1 CSF, 2 GM, 3 WM) of the scan, on the input's grid (uint8).

    Computed in RAS order and returned in the T1 file's own voxel order, with its spacing and
    affine. Raises DataError for inputs that disagree in shape or space, or a constant/empty image.
    """
    paths, volumes, mask_volume, as_stored = _inputs(run, t1, t2, mask)
    prepared = _prepare(run, paths, volumes, mask_volume)
    probs = run.segment_volume(prepared.image, prepared.mask)
    labels = np.argmax(probs, axis=0).astype(np.uint8)
    labels[~np.asarray(prepared.mask, dtype=bool)] = 0
    restored = (restore(prepared, labels, order=0) * _input_mask(volumes, mask_volume)).astype(np.uint8)
    return _as_stored(restored, volumes, as_stored)
