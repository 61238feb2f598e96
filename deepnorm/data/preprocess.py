"""Pre-processing (paper Sec. 2.2): skull strip, crop to the brain, resample, scale to [0, 1].

For one subject, :func:`preprocess_subject`

1. takes the brain mask: the subject's own mask when it has one (ABIDE's ``brainmask.mgz``),
   else ``labels > 0``; labels outside the mask are set to 0 (BG);
2. skull strips every image (0 outside the mask) and crops images, labels and mask to the mask's
   bounding box plus `margin` voxels (clipped to the volume);
3. resamples to an isotropic grid of `spacing` mm: images linear (order 1), labels and mask
   nearest neighbour (order 0). The new size along an axis is
   ``round(n * spacing_in / spacing)`` voxels, centred on the crop's field of view, so that the
   extent in mm is kept within one output voxel; with ``spacing_in == spacing`` the grid is the
   input grid, exactly. Anisotropic inputs (MRBrainS13: 0.958 x 0.958 x 3.0 mm) are respected;
4. scales each channel to [0, 1] on the brain with a robust min-max: ``lo`` and ``hi`` are the
   0.5th and 99.5th percentiles of the channel's brain voxels, ``(x - lo) / (hi - lo)`` is clipped
   to [0, 1], and voxels outside the (resampled) mask are 0.

Works in voxel space only (no re-orientation); :class:`Geometry` records what :func:`restore`
needs to map an array of the prepared grid back onto the input's voxel grid. :func:`pad_to`
zero-pads volumes to a common shape ("zero-pad to the largest brain"); :func:`standardize` is
the per-volume z-score of the "Standardization" baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from deepnorm.data.volume import Subject, Volume, int_triple
from deepnorm.errors import ConfigError, DataError

#: Percentiles (in %) of the brain intensities mapped to 0 and 1 by the robust min-max.
PERCENTILES: tuple[float, float] = (0.5, 99.5)
#: Fewest voxels along each axis of a scan deepnorm accepts (a brain scan has far more).
MIN_VOXELS = 8
#: Plausible voxel sizes (mm) of a brain MRI; outside, the header's units are likely wrong.
VOXEL_SIZE_MM: tuple[float, float] = (0.05, 12.0)

Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class Geometry:
    """How a prepared array sits in the original voxel grid (all sizes in voxels, spacings in mm).

    Attributes:
        original_shape: (X, Y, Z) of the input volume.
        original_spacing: input voxel size in mm.
        crop_start, crop_stop: the crop box in input voxels (start inclusive, stop exclusive).
        spacing: output isotropic voxel size in mm.
        resampled_shape: shape of the crop after resampling.
        pad_before: zero voxels added before the resampled block by :func:`pad_to`.
        shape: shape of the prepared arrays (resampled_shape plus padding).
        affine: the input's 4x4 voxel-to-world matrix.
    """

    original_shape: Shape3
    original_spacing: tuple[float, float, float]
    crop_start: Shape3
    crop_stop: Shape3
    spacing: float
    resampled_shape: Shape3
    pad_before: Shape3 = (0, 0, 0)
    shape: Shape3 = (0, 0, 0)
    affine: np.ndarray = field(default_factory=lambda: np.eye(4), compare=False, repr=False)

    @property
    def crop_shape(self) -> Shape3:
        """Size of the crop box in input voxels."""
        return int_triple(b - a for a, b in zip(self.crop_start, self.crop_stop))

    @property
    def scale(self) -> np.ndarray:
        """Input voxels per output voxel along each axis (``spacing / original_spacing``)."""
        return self.spacing / np.asarray(self.original_spacing, dtype=np.float64)

    @property
    def offset(self) -> np.ndarray:
        """Input crop coordinate (voxels) of the centre of resampled voxel 0 along each axis."""
        n_in = np.asarray(self.crop_shape, dtype=np.float64)
        n_out = np.asarray(self.resampled_shape, dtype=np.float64)
        return (n_in - 1) / 2 - (n_out - 1) / 2 * self.scale

    @property
    def prepared_affine(self) -> np.ndarray:
        """4x4 voxel-to-world (mm) matrix of the prepared grid, from the input's affine."""
        step = np.eye(4)
        step[:3, :3] = np.diag(self.scale)
        step[:3, 3] = np.asarray(self.crop_start) + self.offset - self.scale * np.asarray(self.pad_before)
        return np.asarray(self.affine, dtype=np.float64) @ step


@dataclass(frozen=True)
class Prepared:
    """One pre-processed subject.

    Attributes:
        image: float32 (C, X, Y, Z), each channel in [0, 1] on the brain and 0 outside.
        labels: int64 (X, Y, Z), 0 BG, 1 CSF, 2 GM, 3 WM (all 0 for scans without labels).
        mask: bool (X, Y, Z), the brain.
        spacing: voxel size in mm (isotropic).
        geometry: the mapping back to the input grid (see :func:`restore`).
        site, subject_id, scanner: identity of the subject.
        modalities: the modality key of each channel.
    """

    image: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, float, float]
    geometry: Geometry
    site: str = ""
    subject_id: str = ""
    scanner: str = ""
    modalities: tuple[str, ...] = ()

    @property
    def shape(self) -> Shape3:
        """Spatial shape (X, Y, Z) in voxels."""
        return int_triple(self.labels.shape)


def _check_spacing(spacing: float) -> float:
    try:
        value = float(spacing)
    except (TypeError, ValueError):
        raise ConfigError(f"spacing={spacing!r} must be one number of mm (isotropic), e.g. 1.0") from None
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(f"spacing={spacing!r} mm must be > 0; the paper uses 1.0")
    return value


def check_scan_geometry(shape: Sequence[int], spacing: Sequence[float], where: str) -> None:
    """DataError unless a scan of `shape` voxels of `spacing` mm looks like a 3D brain MRI.

    At least MIN_VOXELS voxels along each axis, and voxel sizes within VOXEL_SIZE_MM (mm).
    `where` (the file) starts the message.
    """
    shape = tuple(int(n) for n in shape)
    spacing = tuple(float(s) for s in spacing)
    fov = " x ".join(f"{n * s:.3g}" for n, s in zip(shape, spacing))
    if len(shape) != 3 or min(shape) < MIN_VOXELS:
        raise DataError(f"{where}: the image is only {' x '.join(map(str, shape))} voxels ({fov} mm); a "
                        f"brain scan has at least {MIN_VOXELS} voxels along each axis: pass the whole 3D "
                        "scan, not a crop, a slice or a thumbnail")
    low, high = VOXEL_SIZE_MM
    if not all(low <= s <= high for s in spacing):
        raise DataError(f"{where}: voxel size {' x '.join(f'{s:g}' for s in spacing)} mm (field of view "
                        f"{fov} mm) is not that of a brain MRI (expected {low:g}-{high:g} mm per axis); "
                        "fix the voxel size in the header (it was probably written in another unit "
                        "than mm)")


def _check_not_constant(image: np.ndarray, mask: np.ndarray, where: str) -> None:
    """DataError if `image` is (nearly) constant on the brain `mask`: nothing to normalize."""
    values = image[mask]
    lo, hi = np.percentile(values, PERCENTILES)
    if not hi > lo:
        share = 100.0 * np.count_nonzero(values == lo) / values.size
        raise DataError(f"{where}: the image is constant on the brain ({share:.3g} % of its "
                        f"{values.size} brain voxels equal {lo:g}); there is nothing to normalize: "
                        "check that this is the right file and, if a mask is given, the right mask")


def _bbox(mask: np.ndarray, margin: int) -> tuple[Shape3, Shape3]:
    coords = np.nonzero(mask)
    start = int_triple(max(0, int(c.min()) - margin) for c in coords)
    stop = int_triple(min(n, int(c.max()) + 1 + margin) for c, n in zip(coords, mask.shape))
    return start, stop


def _resample(array: np.ndarray, geometry: Geometry, order: int) -> np.ndarray:
    """Crop-grid array (X, Y, Z) -> resampled grid; identity when spacings are equal."""
    if geometry.resampled_shape == array.shape and np.allclose(geometry.scale, 1.0):
        return array.copy()
    return ndimage.affine_transform(
        array,
        geometry.scale,
        offset=geometry.offset,
        output_shape=geometry.resampled_shape,
        order=order,
        mode="nearest",
    )


def _unresample(array: np.ndarray, geometry: Geometry, order: int) -> np.ndarray:
    """Resampled grid (X, Y, Z) -> crop grid, the inverse of :func:`_resample`."""
    if geometry.crop_shape == array.shape and np.allclose(geometry.scale, 1.0):
        return array.copy()
    if array.dtype == bool:
        return _unresample(array.astype(np.uint8), geometry, 0) > 0
    inverse = 1.0 / geometry.scale
    return ndimage.affine_transform(
        array,
        inverse,
        offset=-geometry.offset * inverse,
        output_shape=geometry.crop_shape,
        order=order,
        mode="nearest",
    )


def _robust_minmax(channel: np.ndarray, mask: np.ndarray, what: str) -> np.ndarray:
    values = channel[mask]
    lo, hi = np.percentile(values, PERCENTILES)
    if not hi > lo:
        lo, hi = float(values.min()), float(values.max())
    if not hi > lo:
        raise DataError(f"{what}: the image is constant ({lo}) on the brain mask; check the image and its mask")
    out = np.clip((channel.astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
    out[~mask] = 0.0
    return out.astype(np.float32)


def _prepare(
    images: Sequence[np.ndarray],
    in_spacing: Sequence[float],
    affine: np.ndarray,
    labels: np.ndarray | None,
    mask: np.ndarray,
    spacing: float,
    margin: int,
    what: str,
    names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Geometry]:
    """Crop, resample and scale `images` (one per channel, named `names` in messages: their
    files when known); `what` names the subject or scan."""
    spacing = _check_spacing(spacing)
    if int(margin) != margin or margin < 0:
        raise ConfigError(f"margin={margin!r} must be a whole number of voxels >= 0")
    margin = int(margin)
    in_spacing = tuple(float(s) for s in in_spacing)
    if len(in_spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in in_spacing):
        raise DataError(f"{what}: voxel spacing {in_spacing} mm is invalid; fix the file's header")
    shape = tuple(int(s) for s in mask.shape)
    if len(shape) != 3:
        raise DataError(f"{what}: mask of shape {shape}; expected a 3D (X, Y, Z) volume")
    for name, image in zip(names, images):
        if image.shape != shape:
            raise DataError(f"{name}: image of shape {image.shape} but the mask/labels of {what} have {shape}; resample it onto the same grid")
    if labels is not None and labels.shape != shape:
        raise DataError(f"{what}: labels of shape {labels.shape} but images {shape}; they must share a grid")
    check_scan_geometry(shape, in_spacing, names[0] if names else what)
    if not mask.any():
        raise DataError(f"{what}: the brain mask is empty (no voxel > 0); check the mask or the labels")
    for name, image in zip(names, images):
        _check_not_constant(image, mask, name)

    start, stop = _bbox(mask, margin)
    box = tuple(slice(a, b) for a, b in zip(start, stop))
    crop_shape = np.array([b - a for a, b in zip(start, stop)], dtype=np.float64)
    resampled = int_triple(max(1, int(np.floor(n * s / spacing + 0.5))) for n, s in zip(crop_shape, in_spacing))
    geometry = Geometry(
        original_shape=shape,
        original_spacing=in_spacing,
        crop_start=start,
        crop_stop=stop,
        spacing=spacing,
        resampled_shape=resampled,
        pad_before=(0, 0, 0),
        shape=resampled,
        affine=np.asarray(affine, dtype=np.float64),
    )
    mask_c = mask[box]
    new_mask = _resample(mask_c.astype(np.uint8), geometry, order=0) > 0
    if not new_mask.any():
        raise DataError(f"{what}: the brain mask vanished when resampled to {spacing} mm; use a finer spacing")
    channels = []
    for name, image in zip(names, images):
        stripped = np.where(mask_c, image[box].astype(np.float64), 0.0)
        res = _resample(stripped, geometry, order=1)
        channels.append(_robust_minmax(res, new_mask, name))
    if labels is None:
        new_labels = np.zeros(resampled, dtype=np.int64)
    else:
        lab = np.where(mask_c, labels[box], 0).astype(np.int64)
        new_labels = _resample(lab, geometry, order=0).astype(np.int64)
    return np.stack(channels).astype(np.float32), new_labels, new_mask, geometry


def preprocess_subject(
    subject: Subject,
    modalities: Sequence[str] = ("t1",),
    spacing: float = 1.0,
    *,
    margin: int = 2,
) -> Prepared:
    """Skull strip, crop to the brain + `margin` voxels, resample to `spacing` mm, scale to [0, 1].

    See the module docstring for each step. Returns a :class:`Prepared` whose image has one
    channel per entry of `modalities` (in that order). Raises ConfigError for spacing <= 0,
    DataError for a missing modality, mismatched grids or an empty brain mask.
    """
    what = f"subject {subject.site}/{subject.subject_id}"
    modalities = tuple(modalities)
    if not modalities:
        raise ConfigError("modalities is empty; pass at least one, e.g. ('t1',)")
    missing = [m for m in modalities if m not in subject.images]
    if missing:
        raise DataError(f"{what} has no modality {missing}; it has {sorted(subject.images)}: change `modalities`")
    first = subject.images[modalities[0]]
    for m in modalities[1:]:
        if not np.allclose(subject.images[m].spacing, first.spacing, atol=1e-2):
            raise DataError(f"{what}: {m!r} spacing {subject.images[m].spacing} differs from {first.spacing} mm; co-register the images first")
    labels = np.asarray(subject.labels.data)
    mask = np.asarray(subject.mask.data) > 0 if subject.mask is not None else labels > 0
    image, new_labels, new_mask, geometry = _prepare(
        [np.asarray(subject.images[m].data) for m in modalities],
        first.spacing,
        first.affine,
        labels,
        mask,
        spacing,
        margin,
        what,
        [subject.images[m].source or f"{what} image {m!r}" for m in modalities],
    )
    iso = _check_spacing(spacing)
    return Prepared(
        image=image,
        labels=new_labels,
        mask=new_mask,
        spacing=(iso, iso, iso),
        geometry=geometry,
        site=subject.site,
        subject_id=subject.subject_id,
        scanner=subject.scanner,
        modalities=modalities,
    )


def preprocess_image(
    volume_list: Sequence[Volume],
    spacing: float = 1.0,
    mask: Volume | np.ndarray | None = None,
    *,
    margin: int = 2,
) -> Prepared:
    """Pre-process a user's scan without labels (one Volume per channel, all on one grid).

    The brain is `mask` (> 0) when given, else the voxels where any channel is > 0: pass a
    brain mask for scans whose background is not exactly 0. The labels are all 0. Errors name
    the file each Volume was read from (``Volume.source``), else "channel i". DataError for a
    scan that is not a plausible 3D brain MRI (fewer than MIN_VOXELS voxels along an axis, voxel
    sizes outside VOXEL_SIZE_MM) and for an image that is constant on the brain.
    """
    volumes = list(volume_list)
    if not volumes:
        raise DataError("no volume given to pre-process; pass a list with one Volume per channel")
    names = [v.source or f"channel {i}" for i, v in enumerate(volumes)]
    arrays = [np.asarray(v.data) for v in volumes]
    if mask is None:
        brain = np.zeros(arrays[0].shape, dtype=bool)
        for a in arrays:
            if a.shape == brain.shape:
                brain |= a > 0
    else:
        brain = np.asarray(mask.data if isinstance(mask, Volume) else mask) > 0
    image, labels, new_mask, geometry = _prepare(
        arrays,
        volumes[0].spacing,
        volumes[0].affine,
        None,
        brain,
        spacing,
        margin,
        names[0],
        names,
    )
    iso = _check_spacing(spacing)
    return Prepared(image=image, labels=labels, mask=new_mask, spacing=(iso, iso, iso), geometry=geometry)


def common_shape(shapes: Iterable[Sequence[int]], multiple: int = 1) -> Shape3:
    """The elementwise largest of `shapes` (voxels), each size rounded up to a multiple of `multiple`."""
    sizes = [tuple(int(s) for s in shape) for shape in shapes]
    if not sizes:
        raise DataError("common_shape: no shape given; pass the shapes of the prepared volumes")
    if int(multiple) != multiple or multiple < 1:
        raise ConfigError(f"multiple={multiple!r} must be a whole number >= 1 (e.g. 2**(depth-1) of the U-Net)")
    if len({len(s) for s in sizes}) != 1:
        raise DataError(f"common_shape: shapes of different dimensions {sorted(set(sizes))}")
    largest = np.max(np.asarray(sizes), axis=0)
    m = int(multiple)
    return tuple(int(-(-n // m) * m) for n in largest)  # type: ignore[return-value]  # as long as the shapes: 3 for volumes


def pad_to(prepared: Prepared, shape: Sequence[int]) -> Prepared:
    """`prepared` zero-padded, centred, to spatial `shape` (voxels); the extra voxel of an odd
    difference goes after. The geometry records the padding so :func:`restore` still works."""
    target = tuple(int(s) for s in shape)
    current = prepared.shape
    if len(target) != 3 or any(t < c for t, c in zip(target, current)):
        raise DataError(f"pad_to: cannot pad {prepared.subject_id or 'a volume'} of shape {current} to {target}; use common_shape() of all volumes")
    before = tuple((t - c) // 2 for t, c in zip(target, current))
    widths = [(b, t - c - b) for b, t, c in zip(before, target, current)]
    geometry = replace(
        prepared.geometry,
        pad_before=int_triple(p + b for p, b in zip(prepared.geometry.pad_before, before)),
        shape=target,
    )
    return replace(
        prepared,
        image=np.pad(prepared.image, [(0, 0), *widths]),
        labels=np.pad(prepared.labels, widths),
        mask=np.pad(prepared.mask, widths),
        geometry=geometry,
    )


def standardize(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel z-score on the brain: mean 0, std 1 over `mask`, 0 outside (float32).

    `image` is (X, Y, Z) or (C, X, Y, Z), `mask` (X, Y, Z) bool; the "Standardization" baseline.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, dtype=bool)
    squeeze = image.ndim == 3
    stack = image[None] if squeeze else image
    if stack.ndim != 4 or stack.shape[1:] != mask.shape:
        raise DataError(f"standardize: image {image.shape} and mask {mask.shape} do not match; expected (C,) + mask shape")
    if not mask.any():
        raise DataError("standardize: the mask is empty; pass the brain mask of this image")
    out = np.zeros(stack.shape, dtype=np.float32)
    for c, channel in enumerate(stack):
        values = channel[mask].astype(np.float64)
        std = values.std()
        if not std > 0:
            raise DataError(f"standardize: channel {c} is constant on the mask; check the image")
        out[c][mask] = ((values - values.mean()) / std).astype(np.float32)
    return out[0] if squeeze else out


def restore(prepared_or_geometry: Prepared | Geometry, array: np.ndarray, order: int = 1) -> np.ndarray:
    """Map `array` of the prepared grid back onto the input's voxel grid.

    `array` is (X, Y, Z) or (C, X, Y, Z) with spatial shape ``geometry.shape``; the result has
    the input's ``original_shape`` and is 0 outside the crop box. `order` 1 (linear, float
    output) for images and probabilities, 0 (nearest, dtype kept) for labels.
    """
    geometry = prepared_or_geometry.geometry if isinstance(prepared_or_geometry, Prepared) else prepared_or_geometry
    if order not in (0, 1):
        raise ConfigError(f"restore order={order!r}; use 0 (labels, nearest) or 1 (images, linear)")
    array = np.asarray(array)
    squeeze = array.ndim == 3
    stack = array[None] if squeeze else array
    if stack.ndim != 4 or tuple(stack.shape[1:]) != tuple(geometry.shape):
        raise DataError(f"restore: array of shape {array.shape} does not match the prepared grid {geometry.shape}")
    block = tuple(slice(p, p + n) for p, n in zip(geometry.pad_before, geometry.resampled_shape))
    box = tuple(slice(a, b) for a, b in zip(geometry.crop_start, geometry.crop_stop))
    dtype = stack.dtype if order == 0 else np.result_type(stack.dtype, np.float32)
    out = np.zeros((stack.shape[0], *geometry.original_shape), dtype=dtype)
    for c, channel in enumerate(stack):
        data = channel[block]
        if order == 1:
            data = data.astype(dtype, copy=False)
        out[c][box] = _unresample(data, geometry, order)
    return out[0] if squeeze else out
