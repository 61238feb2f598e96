"""deepnorm.data.io: exact save -> load round trips, canonical (RAS) loading, nibabel as the oracle,
clean rejection of bad files."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deepnorm.data.io import (
    CANONICAL,
    check_label_codes,
    check_mask,
    check_same_shape,
    load_volume,
    orientation,
    reorient,
    reorient_like,
    save_volume,
)
from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, DataError

# A rotated, anisotropic, shifted affine: a plain diagonal would hide axis mix-ups.
AFFINE = np.array([[0.0, -0.958, 0.0, 90.5], [0.958, 0.0, 0.0, -126.25], [0.0, 0.0, 3.0, -72.0], [0.0, 0.0, 0.0, 1.0]])
SPACING = (0.958, 0.958, 3.0)


def _volume(dtype, seed: int = 0, shape=(5, 6, 7)) -> Volume:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        data = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dtype)
    return Volume(data, SPACING, AFFINE.copy())


ROUND_TRIPS = [(ext, dtype) for ext in (".nii", ".nii.gz", ".hdr") for dtype in
               (np.uint8, np.int16, np.int32, np.int64, np.float32, np.float64)]
ROUND_TRIPS += [(".mgz", dtype) for dtype in (np.uint8, np.int16, np.int32, np.float32)]


@pytest.mark.parametrize("ext,dtype", ROUND_TRIPS)
def test_round_trip_is_exact(tmp_path: Path, ext: str, dtype) -> None:
    vol = _volume(dtype)
    written = save_volume(vol, tmp_path / "sub" / f"image{ext}")
    back = load_volume(written, canonical=False)
    assert back.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, vol.data)
    np.testing.assert_array_equal(back.affine, vol.affine)
    assert back.spacing == SPACING
    # nibabel, read directly, agrees on the voxels and the geometry
    img = nib.load(str(written))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), vol.data)
    np.testing.assert_allclose(img.affine, AFFINE, atol=1e-4)
    # by default the volume comes in nibabel's closest canonical (RAS) order
    canonical, oracle = load_volume(written), nib.as_closest_canonical(img)
    assert orientation(AFFINE) == ("A", "L", "S") and orientation(canonical.affine) == CANONICAL
    assert canonical.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(canonical.data, np.asanyarray(oracle.dataobj))
    np.testing.assert_allclose(canonical.affine, oracle.affine, atol=1e-4)
    assert canonical.spacing == (0.958, 0.958, 3.0)
    assert sorted(p.name for p in written.parent.iterdir()) == (
        ["image.hdr", "image.img"] if ext == ".hdr" else [f"image{ext}"])


def test_mgz_narrows_losslessly_or_refuses(tmp_path: Path) -> None:
    labels = Volume(np.array([0, 2, 41, 2035] * 6, dtype=np.int64).reshape(2, 3, 4), SPACING, AFFINE)
    back = load_volume(save_volume(labels, tmp_path / "aseg.mgz"), canonical=False)
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, labels.data)
    mask = Volume(np.eye(4, dtype=bool)[:, :, None].repeat(2, axis=2), SPACING, AFFINE)
    np.testing.assert_array_equal(load_volume(save_volume(mask, tmp_path / "mask.mgz"), canonical=False).data, mask.data)
    precise = Volume(np.full((2, 2, 2), 0.1, dtype=np.float64), SPACING, AFFINE)
    with pytest.raises(DataError, match="losslessly"):
        save_volume(precise, tmp_path / "precise.mgz")
    assert not (tmp_path / "precise.mgz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aseg.mgz", "mask.mgz"]


def test_save_overwrites_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "t1.hdr"
    save_volume(_volume(np.int16, seed=1), target)
    second = _volume(np.int16, seed=2)
    save_volume(second, tmp_path / "t1.img")  # either name of a pair means the pair
    np.testing.assert_array_equal(load_volume(target, canonical=False).data, second.data)
    np.testing.assert_array_equal(load_volume(tmp_path / "t1.img", canonical=False).data, second.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t1.hdr", "t1.img"]


def test_reads_a_plain_analyze_pair_with_a_singleton_4th_axis(tmp_path: Path) -> None:
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5, 1)
    img = nib.AnalyzeImage(data, np.diag([1.0, 1.0, 1.0, 1.0]))
    img.header.set_zooms((1.0, 1.0, 1.0, 1.0))
    nib.save(img, str(tmp_path / "subject-1-T1.hdr"))
    read = nib.load(str(tmp_path / "subject-1-T1.hdr"))
    raw = load_volume(tmp_path / "subject-1-T1.hdr", canonical=False)
    assert raw.shape == (3, 4, 5) and raw.data.dtype == np.int16
    np.testing.assert_array_equal(raw.data, data[..., 0])
    assert raw.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(raw.affine, read.affine)
    # a plain Analyze header holds no orientation: nibabel assumes the x axis flipped (LAS),
    # whatever affine the image was saved with, and the canonical volume flips it back
    assert orientation(read.affine) == ("L", "A", "S")
    vol = load_volume(tmp_path / "subject-1-T1.hdr")
    np.testing.assert_array_equal(vol.data, data[::-1, :, :, 0])
    np.testing.assert_array_equal(vol.affine, nib.as_closest_canonical(read).affine)
    assert orientation(vol.affine) == CANONICAL and vol.spacing == (1.0, 1.0, 1.0)


# ---------------------------------------------------------------- orientation
def _lia(ras: Volume) -> Volume:
    """`ras` (a RAS volume with a diagonal affine) by hand in FreeSurfer's LIA order: voxel axis 0
    runs right to left, axis 1 superior to inferior, axis 2 posterior to anterior."""
    data = np.transpose(ras.data, (0, 2, 1))[::-1, ::-1, :]
    nx, _, nz = ras.shape
    (sx, sy, sz), a = ras.spacing, ras.affine
    affine = np.zeros((4, 4))
    affine[0, 0], affine[2, 1], affine[1, 2] = -sx, -sz, sy
    affine[:, 3] = a @ np.array([nx - 1, 0, nz - 1, 1.0])  # voxel (0, 0, 0) of LIA is this RAS voxel
    return Volume(data, (sx, sz, sy), affine)


@pytest.mark.parametrize("ext", [".nii.gz", ".mgz", ".hdr"])
def test_a_volume_saved_in_lia_loads_as_its_ras_array(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(7)
    affine = np.diag([1.2, 0.9, 1.5, 1.0])
    affine[:3, 3] = [-10.8, 20.25, -31.5]
    ras = Volume(rng.integers(0, 255, size=(9, 10, 11)).astype(np.uint8), (1.2, 0.9, 1.5), affine)
    lia = _lia(ras)
    assert orientation(lia.affine) == ("L", "I", "A") and lia.shape == (9, 11, 10)
    written = save_volume(lia, tmp_path / f"T1{ext}")
    assert orientation(nib.load(str(written)).affine) == ("L", "I", "A")
    back = load_volume(written)
    np.testing.assert_array_equal(back.data, ras.data)
    np.testing.assert_allclose(back.affine, ras.affine, rtol=0, atol=1e-6)
    assert back.spacing == ras.spacing
    as_stored = load_volume(written, canonical=False)
    np.testing.assert_array_equal(as_stored.data, lia.data)
    assert as_stored.spacing == lia.spacing


#: The 48 orientations: one code of each axis pair, in any order.
ALL_ORIENTATIONS = ["".join(codes) for perm in itertools.permutations(range(3))
                    for codes in itertools.product(*(("LR", "PA", "IS")[p] for p in perm))]


@pytest.mark.parametrize("codes", ALL_ORIENTATIONS)
def test_reorient_keeps_every_voxel_in_its_place_and_round_trips(codes: str) -> None:
    vol = _volume(np.float32, seed=4)
    moved = reorient(vol, codes)
    assert orientation(moved.affine) == tuple(codes)
    assert sorted(moved.shape) == sorted(vol.shape) and moved.data.dtype == vol.data.dtype
    # every voxel of the new grid sits where the same value sat in the old one
    index = np.indices(moved.shape).reshape(3, -1)
    old = np.linalg.inv(vol.affine) @ moved.affine @ np.vstack([index, np.ones(index.shape[1])])
    old_index = np.rint(old[:3]).astype(int)
    np.testing.assert_allclose(old[:3], old_index, atol=1e-6)
    np.testing.assert_array_equal(moved.data[tuple(index)], vol.data[tuple(old_index)])
    np.testing.assert_allclose(np.linalg.norm(moved.affine[:3, :3], axis=0), moved.spacing)
    # back to the start, and from the canonical grid back to the file's own order
    back = reorient(moved, orientation(vol.affine))
    np.testing.assert_array_equal(back.data, vol.data)
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-9)
    assert back.spacing == vol.spacing
    restored = reorient_like(reorient(moved, CANONICAL), moved)
    np.testing.assert_array_equal(restored.data, moved.data)
    np.testing.assert_array_equal(restored.affine, moved.affine)
    assert restored.spacing == moved.spacing


def test_reorient_rejects_bad_codes_and_degenerate_affines() -> None:
    vol = _volume(np.int16)
    assert reorient(vol, orientation(vol.affine)) is vol  # nothing to do
    for bad in ("LRS", "RA", "XYZ", ("R", "A", "S", "L")):
        with pytest.raises(ConfigError, match="one of L/R"):
            reorient(vol, bad)
    flat = Volume(vol.data, SPACING, np.diag([1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(DataError, match="no orientation"):
        reorient(flat)
    with pytest.raises(DataError, match="not on the canonical grid"):
        reorient_like(Volume.from_array(np.zeros((2, 3, 4))), vol)


def test_big_endian_mgz_is_read_in_native_order(tmp_path: Path) -> None:
    vol = _volume(np.float32, seed=3)
    save_volume(vol, tmp_path / "T1.mgz")
    back = load_volume(tmp_path / "T1.mgz", canonical=False)
    assert back.data.dtype.byteorder in ("=", "|") or back.data.dtype.isnative
    np.testing.assert_array_equal(back.data, vol.data)


# ---------------------------------------------------------------- bad input, one row per case
def _write(vol: Volume, path: Path) -> Path:
    nib.save(nib.Nifti1Image(vol.data, vol.affine, dtype=vol.data.dtype), str(path))
    return path


def _missing(tmp: Path):
    return lambda: load_volume(tmp / "nothing.nii.gz"), "nothing.nii.gz"


def _hdr_without_img(tmp: Path):
    save_volume(_volume(np.int16), tmp / "subject-3-T1.hdr")
    (tmp / "subject-3-T1.img").unlink()
    return lambda: load_volume(tmp / "subject-3-T1.hdr"), "subject-3-T1.img"


def _truncated_gz(tmp: Path):
    path = save_volume(_volume(np.float32, shape=(20, 20, 20)), tmp / "T1.nii.gz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return lambda: load_volume(path), "T1.nii.gz"


def _truncated_nii(tmp: Path):
    path = save_volume(_volume(np.float32, shape=(20, 20, 20)), tmp / "T2_FLAIR.nii")
    path.write_bytes(path.read_bytes()[:1000])
    return lambda: load_volume(path), "T2_FLAIR.nii"


def _garbage_mgz(tmp: Path):
    path = tmp / "brainmask.mgz"
    path.write_bytes(gzip.compress(b"not an mgh header at all"))
    return lambda: load_volume(path), "brainmask.mgz"


def _four_d(tmp: Path):
    path = tmp / "bold.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), np.float32), np.eye(4)), str(path))
    return lambda: load_volume(path), "bold.nii.gz"


def _nan(tmp: Path):
    vol = _volume(np.float32)
    vol.data[1, 2, 3] = np.nan
    path = _write(vol, tmp / "nan.nii")
    return lambda: load_volume(path), "nan.nii"


def _inf(tmp: Path):
    vol = _volume(np.float64)
    vol.data[0, 0, 0] = -np.inf
    path = _write(vol, tmp / "inf.nii.gz")
    return lambda: load_volume(path), "inf.nii.gz"


def _unsupported_read(tmp: Path):
    path = tmp / "scan.dcm"
    path.write_bytes(b"DICM")
    return lambda: load_volume(path), "scan.dcm"


def _unsupported_write(tmp: Path):
    return lambda: save_volume(_volume(np.int16), tmp / "scan.png"), "scan.png"


def _nan_write(tmp: Path):
    vol = _volume(np.float32)
    vol.data[0, 0, 0] = np.nan
    return lambda: save_volume(vol, tmp / "out.nii.gz"), "out.nii.gz"


def _shape_mismatch(tmp: Path):
    vols = {"t1": _volume(np.float32), "t2": _volume(np.float32, shape=(5, 6, 8)), "labels": _volume(np.uint8)}
    return lambda: check_same_shape(vols, "iSEG-2017 subject 4"), "subject 4"


def _label_codes(tmp: Path):
    labels = np.zeros((3, 3, 3), np.uint8)
    labels[0, 0, 0], labels[1, 1, 1] = 10, 99
    return lambda: check_label_codes(labels, (0, 10, 150, 250), "subject-2-label.hdr"), "99 (1 voxels)"


def _empty_mask(tmp: Path):
    return lambda: check_mask(Volume.from_array(np.zeros((3, 3, 3), np.uint8)), "ABIDE NYU_0051"), "NYU_0051"


BAD_INPUTS = {
    "missing file": _missing,
    "hdr without img": _hdr_without_img,
    "truncated nii.gz": _truncated_gz,
    "truncated nii": _truncated_nii,
    "corrupt mgz header": _garbage_mgz,
    "4D image": _four_d,
    "NaN voxel": _nan,
    "inf voxel": _inf,
    "unsupported extension (read)": _unsupported_read,
    "unsupported extension (write)": _unsupported_write,
    "NaN voxel (write)": _nan_write,
    "modality/label shape mismatch": _shape_mismatch,
    "label code outside the table": _label_codes,
    "empty brain mask": _empty_mask,
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_data_error_naming_the_file(tmp_path: Path, case: str) -> None:
    call, named = BAD_INPUTS[case](tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(DataError) as info:
        call()
    assert named in str(info.value)
    assert isinstance(info.value, ValueError)
    assert {p.name for p in tmp_path.iterdir()} == before  # nothing written, nothing left behind


def test_helpers_accept_good_input() -> None:
    vol = _volume(np.uint8)
    check_same_shape({"t1": vol, "labels": vol.data}, "x")
    check_label_codes(np.array([[[0, 10], [150, 250]]]), (0, 10, 150, 250), "x")
    check_mask(np.array([[[0, 1]]]), "x")
