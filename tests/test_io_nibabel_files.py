"""deepnorm's I/O on files it did not write: nibabel's and nilearn's own example files.

3D files load with the header's spacing and the exact voxels, by default in nibabel's closest
canonical (RAS) order; the example files that are not loadable 3D volumes (a header without its
.img, a 4D MGH) get a DataError that says why.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import nilearn
import numpy as np
import pytest

from deepnorm.data.io import CANONICAL, load_volume, orientation
from deepnorm.errors import DataError

NIBABEL = Path(nib.__file__).parent / "tests" / "data"
NILEARN = Path(nilearn.__file__).parent / "datasets" / "data"

READABLE = [
    NIBABEL / "anatomical.nii",
    NIBABEL / "standard.nii.gz",
    NILEARN / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
]
REJECTED = [
    (NIBABEL / "analyze.hdr", "analyze.img is missing"),  # nibabel ships the header alone
    (NIBABEL / "test.mgz", "expected a 3D volume"),  # a 4D MGH series
]


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_reads_example_files_with_their_header_spacing(path):
    if not path.is_file():
        pytest.skip(f"{path} is not shipped by this installation")
    image = nib.load(str(path))
    volume = load_volume(path, canonical=False)
    assert volume.shape == tuple(int(s) for s in image.shape[:3])
    np.testing.assert_allclose(volume.spacing, np.asarray(image.header.get_zooms()[:3], dtype=float), rtol=1e-6)
    np.testing.assert_allclose(volume.affine, image.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(volume.data), np.asanyarray(image.dataobj).reshape(volume.shape))
    # by default: nibabel's closest canonical image (anatomical.nii is stored LAS)
    canonical, oracle = load_volume(path), nib.as_closest_canonical(image)
    assert orientation(canonical.affine) == CANONICAL
    np.testing.assert_allclose(canonical.spacing, np.asarray(oracle.header.get_zooms()[:3], dtype=float), rtol=1e-6)
    np.testing.assert_allclose(canonical.affine, oracle.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(canonical.data), np.asanyarray(oracle.dataobj).reshape(canonical.shape))


@pytest.mark.parametrize("path,message", REJECTED, ids=lambda v: getattr(v, "name", ""))
def test_example_files_that_are_not_3d_volumes_are_refused_with_the_reason(path, message):
    if not path.is_file():
        pytest.skip(f"{path} is not shipped by this installation")
    with pytest.raises(DataError, match=message):
        load_volume(path)
