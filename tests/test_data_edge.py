"""The data edge: every bad input file or scan is refused with one message naming the file.

Table-driven: each case writes an input, calls the public entry point and states the expected
DataError/ConfigError and the words (the file's name first of all) the message must hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.preprocess import preprocess_image
from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, DataError

SHAPE = (24, 26, 22)


def _sphere(shape=SHAPE, spacing=(1.0, 1.0, 1.0), value=None, seed=0) -> np.ndarray:
    """A 'brain' ball of radius ~8 mm: noisy intensities (or a constant `value`), 0 outside."""
    g = np.indices(shape).astype(float)
    r = np.sqrt(sum(((g[i] - (n - 1) / 2) * s) ** 2 for i, (n, s) in enumerate(zip(shape, spacing))))
    inside = r < 8.0
    if value is not None:
        return np.where(inside, float(value), 0.0).astype(np.float32)
    noise = np.random.default_rng(seed).uniform(50, 150, shape)
    return np.where(inside, noise, 0.0).astype(np.float32)


def _scan(tmp_path: Path, data: np.ndarray, spacing=(1.0, 1.0, 1.0), name="scan.nii.gz") -> Path:
    return save_volume(Volume.from_array(data, spacing), tmp_path / name)


def _two_d(tmp_path: Path):
    path = tmp_path / "slice.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((30, 30), np.float32), np.eye(4)), str(path))
    return lambda: load_volume(path), path, ("2D", "slice", "3D scan"), ("4D",)


def _cifti(tmp_path: Path):
    from nibabel import cifti2

    mask = np.zeros((3, 3, 3), bool)
    mask[1, 1, 1] = mask[0, 1, 2] = True
    axes = (cifti2.ScalarAxis(["thickness"]), cifti2.BrainModelAxis.from_mask(mask, affine=np.eye(4)))
    path = tmp_path / "sub-01.dscalar.nii"
    nib.save(cifti2.Cifti2Image(np.zeros((1, 2), np.float32), cifti2.Cifti2Header.from_axes(axes)), str(path))
    return lambda: load_volume(path), path, ("CIFTI",), ("corrupt",)


def _micrometre_voxels(tmp_path: Path):
    path = _scan(tmp_path, _sphere(shape=(40, 40, 40), spacing=(0.001,) * 3), spacing=(0.001,) * 3)
    return lambda: preprocess_image([load_volume(path)], 1.0), path, ("voxel size", "mm"), ("constant",)


def _tiny_image(tmp_path: Path):
    data = np.random.default_rng(1).uniform(1, 100, (4, 5, 7)).astype(np.float32)
    path = _scan(tmp_path, data)
    return lambda: preprocess_image([load_volume(path)], 1.0), path, ("4 x 5 x 7 voxels",), ("constant",)


def _constant_brain(tmp_path: Path):
    # resampled to 1.3 mm, the ball's edge blends with the zero background: without the check
    # on the input, the constant image would come out "normalized" to a ramp at its edge
    path = _scan(tmp_path, _sphere(value=100.0))
    return lambda: preprocess_image([load_volume(path)], 1.3), path, ("constant", "nothing to normalize"), ()


def _constant_second_channel(tmp_path: Path):
    t1 = _scan(tmp_path, _sphere(), name="t1.nii.gz")
    t2 = _scan(tmp_path, _sphere(value=7.0), name="t2.nii.gz")
    return (lambda: preprocess_image([load_volume(t1), load_volume(t2)], 1.0, mask=_sphere() > 0),
            t2, ("constant",), ())


def _empty_scan(tmp_path: Path):
    path = _scan(tmp_path, np.zeros(SHAPE, np.float32))
    return lambda: preprocess_image([load_volume(path)], 1.0), path, ("brain mask is empty",), ("preprocess_image",)


def _mask_other_shape(tmp_path: Path):
    t1 = _scan(tmp_path, _sphere(), name="t1.nii.gz")
    return (lambda: preprocess_image([load_volume(t1)], 1.0, mask=np.ones((5, 5, 5), bool)),
            t1, ("shape",), ("preprocess_image",))


CASES = {
    "2D image": _two_d,
    "CIFTI file": _cifti,
    "1 micrometre voxels": _micrometre_voxels,
    "4x5x7 image": _tiny_image,
    "constant image": _constant_brain,
    "constant second contrast": _constant_second_channel,
    "empty scan": _empty_scan,
    "mask of another shape": _mask_other_shape,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_scan_gives_one_message_naming_the_file(tmp_path: Path, case: str) -> None:
    call, path, words, not_words = CASES[case](tmp_path)
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for word in words:
        assert word in message
    for word in not_words:
        assert word not in message


def test_plausible_scans_pass_the_sanity_checks(tmp_path: Path) -> None:
    """The checks refuse no ordinary scan: 8 voxels per axis, 0.05 mm and 12 mm voxels."""
    for shape, spacing in (((8, 8, 8), (1.0, 1.0, 1.0)), ((40, 40, 40), (0.5, 0.5, 0.5)), ((12, 12, 12), (3.0, 3.0, 12.0))):
        data = np.random.default_rng(2).uniform(1, 100, shape).astype(np.float32)
        prepared = preprocess_image([load_volume(_scan(tmp_path, data, spacing))], 1.0)
        assert prepared.image.shape[0] == 1 and 0.0 <= prepared.image.min() and prepared.image.max() <= 1.0


# ------------------------------------------------------------------------------ phantom edge
@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_phantom_seed_is_validated_before_any_work(tmp_path: Path, seed) -> None:
    from deepnorm.data.phantom.build import build_phantom, ensure_phantom

    for call in (lambda: ensure_phantom("smoke", seed, root=tmp_path / "p", progress=False),
                 lambda: build_phantom(tmp_path / "p", "smoke", seed, progress=False)):
        with pytest.raises(ConfigError, match=r"seed=.*whole number >= 0"):
            call()
    assert not any(tmp_path.iterdir())


def test_cli_phantom_negative_seed_is_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "deepnorm", "data", "phantom", "--profile", "smoke",
                             "--seed", "-1", "--root", str(tmp_path / "p")],
                            check=False, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert re.search(r"seed\W{0,2}-1", lines[0]) and "Traceback" not in result.stderr


def test_stale_build_folders_of_dead_processes_are_removed(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys

    from deepnorm.data.phantom import build as ph

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    root = tmp_path / "phantom"
    stale = [tmp_path / f".phantom.building-{dead_pid}", tmp_path / f".phantom.old-{dead_pid}"]
    alive = tmp_path / f".phantom.building-{os_getppid()}"  # a running process: kept
    other = tmp_path / f".other.building-{dead_pid}"  # another root's: not ours to judge
    for folder in (*stale, alive, other):
        (folder / "ABIDE").mkdir(parents=True)
    monkeypatch.setattr(ph, "plan", lambda profile: [])  # an empty build is enough here
    ph.build_phantom(root, "smoke", 0, progress=False)
    assert not any(f.exists() for f in stale)
    assert alive.exists() and other.exists() and (root / ph.MARKER).is_file()


def os_getppid() -> int:
    """The parent of this test process: alive while the test runs."""
    import os

    return os.getppid()
