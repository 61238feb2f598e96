"""deepnorm.data.io: exact save -> load round trips, nibabel as the oracle, clean rejection of bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deepnorm.data.io import check_label_codes, check_mask, check_same_shape, load_volume, save_volume
from deepnorm.data.volume import Volume
from deepnorm.errors import DataError

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
    back = load_volume(written)
    assert back.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, vol.data)
    np.testing.assert_array_equal(back.affine, vol.affine)
    assert back.spacing == SPACING
    # nibabel, read directly, agrees on the voxels and the geometry
    img = nib.load(str(written))
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), vol.data)
    np.testing.assert_allclose(img.affine, AFFINE, atol=1e-4)
    assert sorted(p.name for p in written.parent.iterdir()) == (
        ["image.hdr", "image.img"] if ext == ".hdr" else [f"image{ext}"])


def test_mgz_narrows_losslessly_or_refuses(tmp_path: Path) -> None:
    labels = Volume(np.array([0, 2, 41, 2035] * 6, dtype=np.int64).reshape(2, 3, 4), SPACING, AFFINE)
    back = load_volume(save_volume(labels, tmp_path / "aseg.mgz"))
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, labels.data)
    mask = Volume(np.eye(4, dtype=bool)[:, :, None].repeat(2, axis=2), SPACING, AFFINE)
    np.testing.assert_array_equal(load_volume(save_volume(mask, tmp_path / "mask.mgz")).data, mask.data)
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
    np.testing.assert_array_equal(load_volume(target).data, second.data)
    np.testing.assert_array_equal(load_volume(tmp_path / "t1.img").data, second.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t1.hdr", "t1.img"]


def test_reads_a_plain_analyze_pair_with_a_singleton_4th_axis(tmp_path: Path) -> None:
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5, 1)
    img = nib.AnalyzeImage(data, np.diag([1.0, 1.0, 1.0, 1.0]))
    img.header.set_zooms((1.0, 1.0, 1.0, 1.0))
    nib.save(img, str(tmp_path / "subject-1-T1.hdr"))
    vol = load_volume(tmp_path / "subject-1-T1.hdr")
    assert vol.shape == (3, 4, 5) and vol.data.dtype == np.int16
    np.testing.assert_array_equal(vol.data, data[..., 0])
    assert vol.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(vol.affine, nib.load(str(tmp_path / "subject-1-T1.hdr")).affine)


def test_big_endian_mgz_is_read_in_native_order(tmp_path: Path) -> None:
    vol = _volume(np.float32, seed=3)
    save_volume(vol, tmp_path / "T1.mgz")
    back = load_volume(tmp_path / "T1.mgz")
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
