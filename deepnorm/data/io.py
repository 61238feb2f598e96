"""Reading and writing volumes: the only module that imports nibabel.

Formats, chosen by the file name's extension:

- ``.nii`` / ``.nii.gz``: NIfTI-1 single file (MRBrainS13).
- ``.hdr`` (+ its ``.img``): an Analyze 7.5 pair on reading (iSEG-2017); NIfTI-1 pairs are read
  too. On writing, deepnorm writes a NIfTI-1 *pair* (``.hdr`` + ``.img``, the same two-file layout
  and the same raw ``.img`` voxel block): a plain Analyze header cannot hold an affine (it keeps
  only the voxel sizes and flips the x axis), so it could not give an exact round trip.
- ``.mgz``: FreeSurfer MGH, gzipped (ABIDE; FreeSurfer's conformed files are LIA).

Orientation: a loaded volume is in the *closest canonical* orientation, RAS (voxel axes 0, 1, 2
pointing as near as possible to the patient's right, anterior and superior), whatever the file's
order: the axes are only permuted and flipped, never resampled, and the affine is changed to
match, so every voxel keeps its place in world space (nibabel's ``as_closest_canonical``; see
:func:`reorient`). ``load_volume(path, canonical=False)`` gives the file's own order, which is
how ``deepnorm normalize``/``segment`` write their outputs back in the input's orientation.
Analyze 7.5 headers (``.hdr``/``.img`` that are not NIfTI pairs, e.g. iSEG-2017) store voxel sizes
and an origin but no orientation (nibabel ignores their ``orient`` byte, and an affine given when
saving one is lost): nibabel, like SPM, gives them an affine with the x axis flipped, i.e. LAS
(radiological storage). They are treated like every other file: the first axis is flipped to
reach RAS and the affine follows, so each voxel keeps the world position nibabel assigns it (the
left/right sense of such a file is that convention's guess, as in any nibabel-based tool).

A loaded volume is always 3D, finite, in native byte order, with the dtype stored in the file;
a trailing singleton 4th axis (as Analyze files often carry) is dropped. Header values stored as
float32 (voxel sizes, affine entries) come back as the shortest decimal that rounds to them, so a
volume saved with spacing 0.958 mm is read back with spacing 0.958 mm, not 0.95800000429. MGH
files rebuild the affine from a float32 centre point, so .mgz affines are rounded to 1e-6 mm
(exact for voxel sizes and origins given to a few decimals; within float32 precision otherwise).
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations
from nibabel.analyze import AnalyzeHeader
from nibabel.freesurfer.mghformat import MGHHeader
from nibabel.spatialimages import SpatialImage

from deepnorm.data.volume import Volume, float_triple
from deepnorm.errors import ConfigError, DataError
from deepnorm.files import atomic_write_bytes

#: The orientation every loaded volume is in (nibabel axis codes: x to the right, y anterior, z superior).
CANONICAL: tuple[str, str, str] = ("R", "A", "S")
#: The axis codes of each world axis, (negative end, positive end), as nibabel names them.
_AXIS_PAIRS = (("L", "R"), ("P", "A"), ("I", "S"))

#: Extensions deepnorm can read and write, longest first.
EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".hdr", ".img", ".mgz")

#: Dtypes each format stores as-is. Other dtypes are narrowed only when that is lossless.
_NIFTI_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32,
                                       np.int64, np.uint64, np.float32, np.float64)}
_MGH_DTYPES = {np.dtype(t) for t in (np.uint8, np.int16, np.int32, np.float32)}
_NARROWER = (np.uint8, np.int16, np.int32, np.float32)
#: gzip level of .nii.gz/.mgz files (nibabel's default: fast, deterministic with mtime 0).
_GZIP_LEVEL = 1

#: Most a deflate stream expands (zlib's limit is about 1032:1): a gzipped file whose header claims
#: more bytes than this ratio allows cannot hold them, and is refused before any allocation.
MAX_GZIP_RATIO = 1032
#: A gzipped image claiming more bytes than this is decompressed once in streaming (constant memory)
#: to check that it holds them, before its array is allocated.
STREAM_CHECK_BYTES = 256 * 2**20

#: Largest distance (mm) between the world positions that two affines give the grid origin, and
#: largest difference of their direction cosines, for two volumes to share one voxel grid.
GRID_TOLERANCE_MM = 1e-3
GRID_TOLERANCE_ROTATION = 1e-4


def _extension(path: Path) -> str:
    name = path.name.lower()
    for ext in EXTENSIONS:
        if name.endswith(ext):
            return ext
    raise DataError(
        f"{path}: unsupported file type {''.join(path.suffixes) or '(no extension)'!r}; "
        f"deepnorm reads and writes {', '.join(EXTENSIONS)} (convert the file, e.g. with "
        "FreeSurfer's mri_convert, or rename it with the right extension)"
    )


def _stem(path: Path, ext: str) -> str:
    return path.name[: len(path.name) - len(ext)]


def _tidy(value: float) -> float:
    """A float32-stored header value as its shortest decimal (e.g. 0.958, not 0.95800000429)."""
    value = float(value)
    as32 = np.float32(value)
    if np.isfinite(as32) and float(as32) == value:
        return float(str(as32))
    return value


def load_volume(path: str | os.PathLike, *, canonical: bool = True) -> Volume:
    """Read one 3D volume from a .nii, .nii.gz, .hdr/.img (Analyze or NIfTI pair) or .mgz file.

    Returns a Volume whose ``data`` has shape (X, Y, Z) in the file's dtype (native byte order),
    ``spacing`` is the header's voxel size in mm along (X, Y, Z) and ``affine`` the 4x4
    voxel-to-world (mm) matrix of the image. With `canonical` (the default) the volume is in the
    closest canonical RAS orientation (:func:`reorient` to :data:`CANONICAL`: axes permuted and
    flipped, spacing and affine following them, no resampling); with ``canonical=False`` it is
    in the file's own voxel order.

    Raises DataError (naming the file and the fix) for a missing file, an .hdr without its .img,
    a truncated or corrupt file (a header claiming more voxels than the file holds is refused
    before any allocation: :func:`check_claimed_size`), a 4D image with more than one volume, NaN/inf voxels or an
    unsupported extension.
    """
    path = Path(path).expanduser()
    ext = _extension(path)
    if ext in (".hdr", ".img"):
        header = path.with_name(_stem(path, ext) + ".hdr")
        image = path.with_name(_stem(path, ext) + ".img")
        if not header.is_file():
            raise DataError(f"{header}: file not found; an Analyze image needs both {header.name} "
                            f"and {image.name} in the same folder (check the data root)")
        if not image.is_file():
            raise DataError(f"{header}: its voxel file {image.name} is missing; copy {image.name} "
                            "next to the .hdr (an Analyze image is a .hdr/.img pair)")
        path = header
    elif not path.is_file():
        raise DataError(f"{path}: file not found; check the path and the data root "
                        "(see data/README.md for the expected layout)")
    try:
        img = nib.load(str(path))
    except Exception as err:  # nibabel raises many types for damaged files
        raise DataError(f"{path}: cannot read the image ({type(err).__name__}: {err}); the file is "
                        "truncated or corrupt, copy or download it again") from err
    if isinstance(img, nib.Cifti2Image) or ".dtseries." in path.name or ".dscalar." in path.name \
            or ".dlabel." in path.name:
        raise DataError(f"{path}: this is a CIFTI-2 file (grayordinates on the cortical surface), "
                        "not a 3D volume; pass the volumetric scan (.nii, .nii.gz, .hdr/.img or .mgz) "
                        "it was derived from")
    if not isinstance(img, SpatialImage):
        raise DataError(f"{path}: nibabel reads it as a {type(img).__name__}, not a 3D volume; pass a volumetric "
                        f"scan ({', '.join(EXTENSIONS)})")
    check_claimed_size(img, path)
    try:
        data = np.asanyarray(img.dataobj)
        zooms = img.header.get_zooms()
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as err:  # nibabel raises many types for damaged files
        raise DataError(f"{path}: cannot read the image ({type(err).__name__}: {err}); the file is "
                        "truncated or corrupt, copy or download it again") from err
    data = np.asarray(data)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim < 3:
        raise DataError(f"{path}: expected a 3D volume, found a {data.ndim}D image of shape "
                        f"{tuple(img.shape)} (a single slice); pass the whole 3D scan, not one slice")
    if data.ndim != 3:
        raise DataError(f"{path}: expected a 3D volume, found shape {tuple(img.shape)}; "
                        "split a 4D series into 3D files (e.g. fslsplit) and pass one of them")
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"{path}: {bad} voxel(s) are NaN or infinite; fix or re-export the image "
                        "(e.g. replace them with 0) before using it")
    spacing = tuple(_tidy(z) for z in zooms[:3])
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise DataError(f"{path}: invalid voxel size {tuple(map(float, zooms))} in the header; "
                        "the voxel sizes (mm) must be three positive numbers, fix the header")
    if not np.all(np.isfinite(affine)):
        raise DataError(f"{path}: the affine in the header is not finite; fix the header")
    if ext == ".mgz":  # MGH derives the affine from a float32 centre: drop the rounding noise
        affine = np.round(affine, 6) + 0.0
    affine = np.vectorize(_tidy, otypes=[np.float64])(affine)
    volume = Volume(np.ascontiguousarray(data), spacing, affine, source=str(path))
    if not canonical:
        return volume
    try:
        return reorient(volume, CANONICAL)
    except DataError as err:
        raise DataError(f"{path}: {err}; fix the header's affine") from err


def _decompressed_at_least(path: Path, wanted: int) -> int:
    """The decompressed size of the gzip file `path`, read in streaming and stopped at `wanted` bytes."""
    total = 0
    with gzip.open(path, "rb") as handle:
        while total < wanted:
            chunk = handle.read(min(2**22, wanted - total))
            if not chunk:
                break
            total += len(chunk)
    return total


def check_claimed_size(img: nib.spatialimages.SpatialImage, path: Path) -> None:
    """DataError naming `path` when its header claims more voxel bytes than its file can hold.

    Checked before any array is allocated: an uncompressed voxel file (.nii, .img) must hold the
    header's shape x dtype after its data offset; a gzipped one (.nii.gz, .mgz) must not claim more
    than :data:`MAX_GZIP_RATIO` times its size, and one claiming over :data:`STREAM_CHECK_BYTES` is
    decompressed once in streaming to count its bytes.
    """
    header = img.header
    if not isinstance(header, (AnalyzeHeader, MGHHeader)):  # NIfTI is an Analyze header too
        raise DataError(f"{path}: a {type(img).__name__} is not one of the formats deepnorm reads "
                        f"({', '.join(EXTENSIONS)}); convert it, e.g. with FreeSurfer's mri_convert")
    try:
        shape = tuple(int(d) for d in header.get_data_shape())
        dtype = np.dtype(header.get_data_dtype())
        offset = int(header.get_data_offset())
        source = Path(img.file_map["image"].filename or path)
    except Exception as err:  # nibabel raises many types for damaged headers
        raise DataError(f"{path}: cannot read the image header ({type(err).__name__}: {err}); the file is "
                        "truncated or corrupt, copy or download it again") from err
    claimed = math.prod(shape) * dtype.itemsize
    size = source.stat().st_size
    with source.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    what = f"{path}: the header claims {' x '.join(map(str, shape))} voxels of {dtype} ({claimed} bytes)"
    fix = "the file is truncated or its header is corrupt, copy or download it again"
    if not gzipped:
        if offset + claimed > size:
            raise DataError(f"{what} but {source.name} holds {max(size - offset, 0)} bytes of voxels; {fix}")
        return
    bound = size * MAX_GZIP_RATIO
    if offset + claimed > bound:
        raise DataError(f"{what} but a gzipped file of {size} bytes cannot hold more than {bound}; {fix}")
    if claimed > STREAM_CHECK_BYTES:
        try:
            found = _decompressed_at_least(source, offset + claimed)
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise DataError(f"{what} but {source.name} cannot be decompressed ({type(err).__name__}: {err}); "
                            f"{fix}") from err
        if found < offset + claimed:
            raise DataError(f"{what} but {source.name} decompresses to {found} bytes; {fix}")


def orientation(affine: np.ndarray) -> tuple[str, str, str]:
    """The axis codes of a 4x4 voxel-to-world affine, as nibabel's ``aff2axcodes`` gives them.

    Code i is the world direction voxel axis i points to (the nearest one for an oblique
    affine): ("R", "A", "S") for RAS, ("L", "I", "A") for FreeSurfer's conformed space, ("L",
    "A", "S") for a plain Analyze header. DataError for an affine whose axes are degenerate.
    """
    affine = np.asarray(affine, dtype=np.float64)
    ok = affine.shape == (4, 4) and bool(np.all(np.isfinite(affine)))
    ornt = orientations.io_orientation(affine) if ok else None
    if ornt is None or np.any(np.isnan(ornt)):
        raise DataError(f"the affine {affine.tolist()} has no orientation (an axis of length 0 or two "
                        "parallel axes)")
    return tuple(orientations.ornt2axcodes(ornt))


def _check_axcodes(axcodes: Sequence[str]) -> tuple[str, str, str]:
    codes = tuple(str(c).upper() for c in axcodes)
    pairs = sorted(next((i for i, pair in enumerate(_AXIS_PAIRS) if c in pair), -1) for c in codes)
    if len(codes) != 3 or pairs != [0, 1, 2]:
        raise ConfigError(f"orientation {tuple(axcodes)!r} is invalid: give three axis codes, one of "
                          "L/R, one of P/A and one of I/S, in voxel-axis order, e.g. ('R', 'A', 'S') or "
                          "('L', 'I', 'A')")
    return codes


def reorient(volume: Volume, axcodes: Sequence[str] = CANONICAL) -> Volume:
    """`volume` with its voxel axes permuted and flipped to point along `axcodes` (e.g. "LIA").

    No resampling: the voxels are the same values in another order, the spacing is permuted with
    the axes and the affine changed so that each voxel keeps its world position (mm). For an
    oblique affine the axes go to the nearest codes and the rotation stays in the affine. With
    ``axcodes=CANONICAL`` this is nibabel's ``as_closest_canonical``; in general
    ``as_reoriented(ornt_transform(io_orientation(affine), axcodes2ornt(axcodes)))``. Pure (no
    I/O); returns `volume` itself when it already has that orientation. ConfigError for codes
    that are not one of L/R, P/A and I/S each; DataError for an affine without an orientation.
    """
    target = _check_axcodes(axcodes)
    if orientation(volume.affine) == target:
        return volume
    affine = np.asarray(volume.affine, dtype=np.float64)
    transform = orientations.ornt_transform(orientations.io_orientation(affine), orientations.axcodes2ornt(target))
    data = orientations.apply_orientation(np.asarray(volume.data), transform)
    spacing = [0.0, 0.0, 0.0]
    for axis, (new_axis, _) in enumerate(transform):
        spacing[int(new_axis)] = float(volume.spacing[axis])
    moved = affine @ orientations.inv_ornt_aff(transform, volume.shape)
    moved = np.round(moved, 9) + 0.0  # the sums of decimals above leave ~1e-14 mm of float noise
    return Volume(np.ascontiguousarray(data), float_triple(spacing), moved, source=volume.source)


def reorient_like(volume: Volume, reference: Volume) -> Volume:
    """`volume`, computed on the canonical grid of `reference`, put back in `reference`'s own order.

    The inverse of ``reorient(reference, CANONICAL)`` for a volume on that grid: the data get
    `reference`'s axis order and shape, and the result takes `reference`'s spacing and affine
    exactly (so an output overlays its input voxel for voxel). DataError when `volume`'s shape is
    not that of the canonical grid of `reference`.
    """
    back = reorient(volume, orientation(reference.affine))
    if back.shape != reference.shape:
        raise DataError(f"a volume of shape {volume.shape} is not on the canonical grid of "
                        f"{reference.source or 'the reference'} (shape {reference.shape} in its own order)")
    return Volume(back.data, reference.spacing, np.asarray(reference.affine, dtype=np.float64).copy(),
                  source=reference.source)


def _storable(data: np.ndarray, allowed: set[np.dtype], path: Path) -> np.ndarray:
    """`data` in a dtype the format stores: its own, else the narrowest lossless one."""
    if data.dtype in allowed:
        return data
    if data.dtype == np.bool_:
        return data.astype(np.uint8)
    for candidate in _NARROWER:
        cand = np.dtype(candidate)
        if cand not in allowed or cand.kind not in "uif":
            continue
        if cand.kind in "ui" and data.dtype.kind not in "uib":
            continue
        with np.errstate(all="ignore"):
            narrowed = data.astype(cand)
        if np.array_equal(narrowed, data):
            return narrowed
    raise DataError(f"{path}: dtype {data.dtype} cannot be stored losslessly in this format "
                    f"(it stores {', '.join(sorted(str(d) for d in allowed))}); cast the data "
                    "first or save it as .nii.gz")


def save_volume(volume: Volume, path: str | os.PathLike) -> Path:
    """Write `volume` to `path` atomically; the format follows the extension.

    ``.nii``/``.nii.gz`` -> NIfTI-1, ``.hdr`` (or ``.img``) -> NIfTI-1 pair (.hdr + .img),
    ``.mgz`` -> FreeSurfer MGH. The data (shape (X, Y, Z)), its dtype and the 4x4 affine (mm)
    are kept exactly, except that bool is stored as uint8 and a dtype the format lacks (MGH:
    only uint8/int16/int32/float32) is narrowed when that loses nothing (else DataError). The file
    (both files of a pair) is written under a temporary name in the same folder and then renamed,
    so a reader never sees half a file and a failed save leaves nothing behind. The folder is
    created if needed (deepnorm.files.atomic_write_bytes). Returns the path of the written
    (.hdr for a pair) file.
    """
    path = Path(path).expanduser()
    ext = _extension(path)
    if ext == ".img":
        ext, path = ".hdr", path.with_name(_stem(path, ".img") + ".hdr")
    data = np.asarray(volume.data)
    if data.ndim != 3:
        raise DataError(f"{path}: expected a 3D volume to save, got shape {data.shape}; "
                        "save each 3D volume to its own file")
    if data.dtype.kind in "fc" and not np.all(np.isfinite(data)):
        raise DataError(f"{path}: refusing to save NaN/inf voxels; replace them first "
                        "(e.g. np.nan_to_num)")
    affine = np.asarray(volume.affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise DataError(f"{path}: the affine must be a finite 4x4 matrix, got {affine.shape}")
    img: nib.Nifti1Pair | nib.MGHImage
    if ext == ".mgz":
        data = _storable(data, _MGH_DTYPES, path)
        img = nib.MGHImage(data, affine)
    else:
        data = _storable(data, _NIFTI_DTYPES, path)
        cls = nib.Nifti1Pair if ext == ".hdr" else nib.Nifti1Image
        img = cls(data, affine, dtype=data.dtype)
        img.header.set_xyzt_units("mm")
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
    try:
        files = _encode(img, path, ext)
    except Exception as err:
        raise DataError(f"{path}: could not encode the image ({type(err).__name__}: {err})") from err
    try:
        for target, data_bytes in files:  # the .img first: a visible .hdr always has its .img
            atomic_write_bytes(target, data_bytes)
    except OSError as err:
        raise DataError(f"{path}: could not write the image ({type(err).__name__}: {err}); "
                        "check the folder is writable and has free space") from err
    return path


def _encode(img: nib.Nifti1Pair | nib.MGHImage, path: Path, ext: str) -> list[tuple[Path, bytes]]:
    """The bytes of each file of `img` saved at `path`: [(.img, .hdr)] for a pair, else [(path,)]."""
    if ext == ".hdr":
        header, image = io.BytesIO(), io.BytesIO()
        img.to_file_map({"header": nib.FileHolder(fileobj=header), "image": nib.FileHolder(fileobj=image)})
        return [(path.with_name(_stem(path, ext) + ".img"), image.getvalue()), (path, header.getvalue())]
    assert isinstance(img, (nib.Nifti1Image, nib.MGHImage)), "only a .hdr/.img pair is a Nifti1Pair"
    raw = img.to_bytes()
    if ext in (".nii.gz", ".mgz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", compresslevel=_GZIP_LEVEL, fileobj=buffer, mtime=0) as handle:
            handle.write(raw)
        raw = buffer.getvalue()
    return [(path, raw)]


def check_same_grid(volumes: Mapping[str, Volume], where: str) -> None:
    """Raise DataError if the named volumes (file path -> Volume) do not share one voxel grid.

    Two volumes share a grid when they have the same shape (voxels) and affines that agree
    within GRID_TOLERANCE_MM (mm, the world position of every voxel of the grid's box corners)
    and GRID_TOLERANCE_ROTATION (direction cosines). The message names both files and `where`.
    """
    items = list(volumes.items())
    if not items:
        return
    first_name, first = items[0]
    for name, volume in items[1:]:
        if volume.shape != first.shape:
            raise DataError(f"{where}: {name} has shape {volume.shape} but {first_name} has {first.shape}; "
                            "every modality, the labels and the mask of a subject must share one voxel "
                            "grid (resample them onto the same grid)")
        problem = grid_difference(first.affine, volume.affine, first.shape)
        if problem:
            raise DataError(f"{where}: {name} and {first_name} have the same shape but are not in the same "
                            f"place ({problem}); register or resample {name} onto the grid of {first_name}")


def grid_difference(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> str:
    """"" if the 4x4 affines `a` and `b` place a grid of `shape` voxels at the same place (within
    GRID_TOLERANCE_MM and GRID_TOLERANCE_ROTATION), else what differs, e.g. "shifted by 50 mm"."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    corners = np.array([[i, j, k, 1.0] for i in (0, max(shape[0] - 1, 0))
                        for j in (0, max(shape[1] - 1, 0)) for k in (0, max(shape[2] - 1, 0))]).T
    shift = float(np.max(np.linalg.norm((a @ corners - b @ corners)[:3], axis=0)))
    cos_a = a[:3, :3] / np.maximum(np.linalg.norm(a[:3, :3], axis=0), 1e-12)
    cos_b = b[:3, :3] / np.maximum(np.linalg.norm(b[:3, :3], axis=0), 1e-12)
    turn = float(np.max(np.abs(cos_a - cos_b)))
    parts = []
    if turn > GRID_TOLERANCE_ROTATION:
        flipped = np.any(np.sign(np.diag(cos_a)) * np.sign(np.diag(cos_b)) < 0)
        parts.append("the axes are flipped" if flipped else f"the axes are rotated (direction cosines differ by {turn:.3g})")
    if shift > GRID_TOLERANCE_MM:
        parts.append(f"voxels are up to {shift:.3g} mm apart in world space")
    return "; ".join(parts)


def check_same_shape(volumes: Mapping[str, Volume | np.ndarray], where: str) -> None:
    """Raise DataError if the named 3D volumes (images, labels, mask) differ in shape (voxels).

    `where` names the subject or file set in the message.
    """
    shapes = {name: tuple(np.shape(v.data if isinstance(v, Volume) else v)) for name, v in volumes.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise DataError(f"{where}: the volumes differ in shape ({listed}); every modality, the "
                        "labels and the mask of a subject must share one voxel grid (resample "
                        "them onto the same grid)")


def check_label_codes(labels: Volume | np.ndarray, allowed: Iterable[int], where: str) -> None:
    """Raise DataError if `labels` holds a code outside `allowed` (the data set's label table).

    The message lists the unexpected codes with their voxel counts.
    """
    data = np.asarray(labels.data if isinstance(labels, Volume) else labels)
    allowed = sorted({int(a) for a in allowed})
    codes, counts = np.unique(data, return_counts=True)
    unexpected = [(c, n) for c, n in zip(codes.tolist(), counts.tolist()) if c not in allowed]
    if unexpected:
        shown = ", ".join(f"{c} ({n} voxels)" for c, n in unexpected[:10])
        more = f" and {len(unexpected) - 10} more" if len(unexpected) > 10 else ""
        raise DataError(f"{where}: label codes {shown}{more} are not in the label table {allowed}; "
                        "check that this is the right label file for this data set")


def check_mask(mask: Volume | np.ndarray, where: str) -> None:
    """Raise DataError if the brain mask (voxels > 0 are brain) holds no brain voxel."""
    data = np.asarray(mask.data if isinstance(mask, Volume) else mask)
    if data.size == 0 or not np.any(data > 0):
        raise DataError(f"{where}: the brain mask is empty (no voxel > 0); check the mask file "
                        "or recompute it (e.g. FreeSurfer brainmask.mgz)")
