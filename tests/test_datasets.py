"""Data set loaders on tiny fake trees written in the real layouts; aseg table against a hand list."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deepnorm.data.aseg import aseg_to_tissue
from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.sites import ABIDE, ISeg2017, MRBrainS13, available_sites, open_site
from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, DataError

SHAPE = (6, 5, 4)


def _vol(data: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> Volume:
    return Volume.from_array(data, spacing)


def _codes(seed: int, codes, shape=SHAPE, dtype=np.int16) -> np.ndarray:
    return np.random.default_rng(seed).choice(np.array(codes), size=shape).astype(dtype)


def _image(seed: int, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(100 + seed).uniform(0, 1000, size=shape).astype(np.float32)


def _lookup(raw: np.ndarray, table: dict[int, int]) -> np.ndarray:
    """Voxel-by-voxel oracle of a label mapping."""
    return np.vectorize(lambda c: table[int(c)], otypes=[np.int64])(raw)


# ------------------------------------------------------------------------------------- trees
def make_iseg(root: Path, ids=(1, 2, 10)) -> dict:
    folder = root / "iSEG-2017" / "iSeg-2017-Training"
    raw = {}
    for i in ids:
        t1, t2, lab = _image(i), _image(50 + i), _codes(i, (0, 10, 150, 250), dtype=np.uint8)
        if i == ids[0]:  # the real files: plain Analyze 7.5 with a singleton 4th axis
            folder.mkdir(parents=True, exist_ok=True)
            for name, arr in (("T1", t1), ("T2", t2), ("label", lab)):
                nib.save(nib.AnalyzeImage(arr[..., None], np.eye(4)), str(folder / f"subject-{i}-{name}.hdr"))
        else:
            for name, arr in (("T1", t1), ("T2", t2), ("label", lab)):
                save_volume(_vol(arr), folder / f"subject-{i}-{name}.hdr")
        raw[str(i)] = (t1, t2, lab)
    return raw


def make_mrbrains(root: Path) -> dict:
    base = root / "MRBrainS13" / "TrainingData"
    spacing = (0.958, 0.958, 3.0)
    raw = {}
    for i, label_file, codes in ((1, "LabelsForTesting.nii", range(4)), (2, "LabelsForTraining.nii", range(9))):
        t1, flair, lab = _image(i), _image(20 + i), _codes(7 + i, list(codes), dtype=np.uint8)
        save_volume(_vol(t1, spacing), base / str(i) / "T1.nii")
        save_volume(_vol(flair, spacing), base / str(i) / "T2_FLAIR.nii")
        save_volume(_vol(lab, spacing), base / str(i) / label_file)
        raw[str(i)] = (t1, flair, lab)
    return raw


ASEG_SAMPLE = (0, 2, 3, 4, 5, 7, 8, 10, 16, 24, 30, 41, 42, 47, 77, 80, 85, 251, 1000, 1035, 2017, 2035)


def make_abide(root: Path) -> dict:
    raw = {}
    for n, name in enumerate(("NYU_0050952", "UM_1_0050272", "UM_1_0050273", "Leuven_2_0050700")):
        mri = root / "ABIDE" / name / "mri"
        t1, aseg = _image(30 + n), _codes(40 + n, ASEG_SAMPLE, dtype=np.int32)
        mask = (aseg > 0).astype(np.uint8)
        if name.startswith("Leuven"):  # only the skull-stripped image, no brainmask.mgz
            t1 = t1 * mask
            save_volume(_vol(t1), mri / "brain.mgz")
        else:
            save_volume(_vol(t1), mri / "T1.mgz")
            save_volume(_vol(mask), mri / "brainmask.mgz")
        save_volume(_vol(aseg), mri / "aparc+aseg.mgz")
        raw[name] = (t1, aseg, mask)
    return raw


# ------------------------------------------------------------------------------------- aseg
GM_ORACLE = {3, 42, 8, 47, 10, 11, 12, 13, 17, 18, 26, 28, 49, 50, 51, 52, 53, 54, 58, 60}
GM_ORACLE |= set(range(1000, 1036)) | set(range(2000, 2036))
WM_ORACLE = {2, 41, 7, 46, 77, 78, 79, 85, 251, 252, 253, 254, 255, 16}
CSF_ORACLE = {4, 5, 14, 15, 24, 31, 43, 44, 63, 72}


def test_aseg_table_matches_the_documented_lists() -> None:
    codes = np.arange(-3, 15000).reshape(-1, 1, 1)
    expected = np.array([2 if c in GM_ORACLE else 3 if c in WM_ORACLE else 1 if c in CSF_ORACLE else 0
                         for c in codes.ravel()]).reshape(codes.shape)
    out = aseg_to_tissue(codes)
    assert out.dtype == np.int64 and out.shape == codes.shape
    np.testing.assert_array_equal(out, expected)
    assert aseg_to_tissue(np.array([16.0, 8.0, 1036.0, 80.0])).tolist() == [3, 2, 0, 0]


# ------------------------------------------------------------------------------------- loaders
def test_iseg_loads_subjects_in_natural_order_with_mapped_labels(tmp_path: Path) -> None:
    raw = make_iseg(tmp_path)
    site = ISeg2017(tmp_path)
    assert site.subject_ids == ["1", "2", "10"] and len(site) == 3
    assert site.modalities == ("t1", "t2")
    for sid, arrays in raw.items():
        if sid == "1":  # a plain Analyze header: nibabel reads it as LAS, so RAS flips the x axis
            arrays = tuple(a[::-1] for a in arrays)
        t1, t2, lab = arrays
        subject = site.load(sid)
        assert subject.site == "iseg" and subject.subject_id == sid and subject.scanner == "iseg"
        assert subject.mask is None and set(subject.images) == {"t1", "t2"}
        np.testing.assert_array_equal(subject.images["t1"].data, t1)
        np.testing.assert_array_equal(subject.images["t2"].data, t2)
        assert subject.labels.data.dtype == np.int64
        np.testing.assert_array_equal(subject.labels.data, _lookup(lab, {0: 0, 10: 1, 150: 2, 250: 3}))
    only_t1 = site.load("2", modalities=("t1",))
    assert set(only_t1.images) == {"t1"}


def test_mrbrains_maps_test_labels_and_falls_back_to_training_labels(tmp_path: Path) -> None:
    raw = make_mrbrains(tmp_path)
    site = MRBrainS13(tmp_path)
    assert site.subject_ids == ["1", "2"]
    one, two = site.load("1"), site.load("2")
    np.testing.assert_array_equal(one.images["t2"].data, raw["1"][1])  # t2 is the T2-FLAIR
    np.testing.assert_array_equal(one.labels.data, raw["1"][2].astype(np.int64))
    training = {0: 0, 1: 2, 2: 2, 3: 3, 4: 3, 5: 1, 6: 1, 7: 0, 8: 0}
    np.testing.assert_array_equal(two.labels.data, _lookup(raw["2"][2], training))
    assert one.images["t1"].spacing == (0.958, 0.958, 3.0)
    assert site.scanner_of("2") == "mrbrains"


def test_abide_scanner_mask_and_aseg_labels(tmp_path: Path) -> None:
    raw = make_abide(tmp_path)
    site = ABIDE(tmp_path)
    assert site.subject_ids == ["Leuven_2_0050700", "NYU_0050952", "UM_1_0050272", "UM_1_0050273"]
    assert site.modalities == ("t1",)
    assert [site.scanner_of(s) for s in site.subject_ids] == ["Leuven_2", "NYU", "UM_1", "UM_1"]
    for sid, (t1, aseg, mask) in raw.items():
        subject = site.load(sid)
        assert set(subject.images) == {"t1"} and subject.scanner == site.scanner_of(sid)
        np.testing.assert_array_equal(subject.images["t1"].data, t1)
        np.testing.assert_array_equal(subject.mask.data, mask > 0)
        expected = _lookup(aseg, {c: (2 if c in GM_ORACLE else 3 if c in WM_ORACLE else 1 if c in CSF_ORACLE else 0)
                                  for c in ASEG_SAMPLE})
        np.testing.assert_array_equal(subject.labels.data, expected)


def test_open_site_and_available_sites(tmp_path: Path) -> None:
    assert available_sites(tmp_path) == []
    make_abide(tmp_path)
    make_iseg(tmp_path, ids=(3,))
    (tmp_path / "MRBrainS13" / "TrainingData" / "1").mkdir(parents=True)  # present but empty
    assert available_sites(tmp_path) == ["iseg", "abide"]
    assert isinstance(open_site(tmp_path, "iseg"), ISeg2017)
    assert open_site(str(tmp_path), "abide").subject_ids == ABIDE(tmp_path).subject_ids


# ------------------------------------------------------------------------------------- bad trees
def _no_folder(root: Path):
    return lambda: MRBrainS13(root), "MRBrainS13/TrainingData"


def _empty_folder(root: Path):
    (root / "ABIDE" / "not-a-subject").mkdir(parents=True)
    return lambda: ABIDE(root), "NYU_0050952/mri/T1.mgz"


def _unknown_subject(root: Path):
    make_iseg(root, ids=(2,))
    return lambda: ISeg2017(root).load("7"), "'7'"


def _missing_modality(root: Path):
    make_mrbrains(root)
    (root / "MRBrainS13" / "TrainingData" / "2" / "T2_FLAIR.nii").unlink()
    return lambda: MRBrainS13(root).load("2"), "T2_FLAIR.nii"


def _missing_labels(root: Path):
    make_mrbrains(root)
    (root / "MRBrainS13" / "TrainingData" / "1" / "LabelsForTesting.nii").unlink()
    return lambda: MRBrainS13(root).load("1"), "LabelsForTesting.nii"


def _bad_label_code(root: Path):
    folder = root / "iSEG-2017" / "iSeg-2017-Training"
    save_volume(_vol(_image(1)), folder / "subject-4-T1.hdr")
    save_volume(_vol(_image(2)), folder / "subject-4-T2.hdr")
    save_volume(_vol(_codes(3, (0, 10, 150, 249), dtype=np.uint8)), folder / "subject-4-label.hdr")
    return lambda: ISeg2017(root).load("4"), "subject-4-label.hdr"


def _shape_mismatch(root: Path):
    make_iseg(root, ids=(5,))
    save_volume(_vol(_image(9, shape=(6, 5, 5))), root / "iSEG-2017" / "iSeg-2017-Training" / "subject-5-T2.hdr")
    return lambda: ISeg2017(root).load("5"), "subject 5"


def _empty_mask(root: Path):
    make_abide(root)
    save_volume(_vol(np.zeros(SHAPE, np.uint8)), root / "ABIDE" / "NYU_0050952" / "mri" / "brainmask.mgz")
    return lambda: ABIDE(root).load("NYU_0050952"), "NYU_0050952"


def _missing_aseg(root: Path):
    make_abide(root)
    (root / "ABIDE" / "UM_1_0050272" / "mri" / "aparc+aseg.mgz").unlink()
    return lambda: ABIDE(root).load("UM_1_0050272"), "aparc+aseg.mgz"


def _moved(data: np.ndarray, shift_mm: float = 50.0, flip: bool = True) -> Volume:
    """Same shape, but the grid shifted by `shift_mm` along x and (optionally) flipped in x."""
    affine = np.eye(4)
    affine[0, 0] = -1.0 if flip else 1.0
    affine[0, 3] = shift_mm
    return Volume(data, (1.0, 1.0, 1.0), affine)


def _modality_elsewhere(root: Path):
    make_iseg(root, ids=(5,))
    save_volume(_moved(_image(9)), root / "iSEG-2017" / "iSeg-2017-Training" / "subject-5-T2.hdr")
    return lambda: ISeg2017(root).load("5"), ("subject-5-T1.hdr", "subject-5-T2.hdr", "same place")


def _labels_elsewhere(root: Path):
    make_mrbrains(root)
    folder = root / "MRBrainS13" / "TrainingData" / "1"
    labels = load_volume(folder / "LabelsForTesting.nii")
    save_volume(Volume(labels.data, labels.spacing, labels.affine + _shift(50.0)),
                folder / "LabelsForTesting.nii")
    return lambda: MRBrainS13(root).load("1"), ("T1.nii", "LabelsForTesting.nii", "50 mm")


def _mask_elsewhere(root: Path):
    raw = make_abide(root)
    save_volume(_moved(raw["NYU_0050952"][2], shift_mm=0.0), root / "ABIDE" / "NYU_0050952" / "mri" / "brainmask.mgz")
    # loaded in RAS order, the flipped grid lies beside the T1's: refused for the distance
    return lambda: ABIDE(root).load("NYU_0050952"), ("T1.mgz", "brainmask.mgz", "mm apart")


def _shift(mm: float) -> np.ndarray:
    out = np.zeros((4, 4))
    out[0, 3] = mm
    return out


BAD_TREES = {
    "a modality shifted 50 mm and flipped": _modality_elsewhere,
    "labels shifted 50 mm": _labels_elsewhere,
    "mask flipped": _mask_elsewhere,
    "site folder absent": _no_folder,
    "site folder without subjects": _empty_folder,
    "unknown subject id": _unknown_subject,
    "missing modality file": _missing_modality,
    "missing label file": _missing_labels,
    "label code outside the table": _bad_label_code,
    "modalities differ in shape": _shape_mismatch,
    "empty brain mask": _empty_mask,
    "missing aparc+aseg": _missing_aseg,
}


@pytest.mark.parametrize("case", sorted(BAD_TREES))
def test_bad_tree_raises_data_error_naming_the_path(tmp_path: Path, case: str) -> None:
    call, named = BAD_TREES[case](tmp_path)
    with pytest.raises(DataError) as info:
        call()
    for words in (named,) if isinstance(named, str) else named:
        assert words in str(info.value)


def test_grids_equal_within_tolerance_are_accepted(tmp_path: Path) -> None:
    """Header rounding (1e-5 mm, 1e-6 in the direction cosines) is not a disagreement."""
    raw = make_mrbrains(tmp_path)
    folder = tmp_path / "MRBrainS13" / "TrainingData" / "1"
    t1 = load_volume(folder / "T1.nii")
    nudged = t1.affine.copy()
    nudged[:3, 3] += 1e-5
    nudged[0, 1] = 1e-6
    save_volume(Volume(raw["1"][1], t1.spacing, nudged), folder / "T2_FLAIR.nii")
    subject = MRBrainS13(tmp_path).load("1")
    np.testing.assert_array_equal(subject.images["t2"].data, raw["1"][1])


def test_bad_keys_raise_config_error(tmp_path: Path) -> None:
    make_abide(tmp_path)
    with pytest.raises(ConfigError, match="site='brats'"):
        open_site(tmp_path, "brats")
    with pytest.raises(ConfigError, match="t2"):
        ABIDE(tmp_path).load("NYU_0050952", modalities=("t2",))
