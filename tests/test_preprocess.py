"""Laws of pre-processing: shapes, ranges, geometry, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from deepnorm.data.preprocess import (
    Prepared,
    common_shape,
    pad_to,
    preprocess_image,
    preprocess_subject,
    restore,
    standardize,
)
from deepnorm.data.volume import Subject, Volume
from deepnorm.errors import ConfigError, DataError

MRBRAINS_SPACING = (0.958, 0.958, 3.0)


def _phantom(shape=(40, 44, 36), spacing=(1.0, 1.0, 1.0), seed=0, with_mask=False) -> Subject:
    """Nested ellipsoid 'brain' (WM inside GM inside CSF) in a skull-like shell, sizes in mm."""
    rng = np.random.default_rng(seed)
    g = np.indices(shape).astype(float)
    centre = [(n - 1) / 2 for n in shape]
    r = np.sqrt(sum(((g[i] - centre[i]) * spacing[i] / (0.8 + 0.1 * i)) ** 2 for i in range(3)))
    labels = np.zeros(shape, dtype=np.int64)
    labels[r < 13] = 1
    labels[r < 10.5] = 2
    labels[r < 6] = 3
    skull = (r >= 14) & (r < 16)
    t1 = np.where(labels > 0, 60.0 * labels, 0.0) + rng.normal(0, 4, shape) + 300.0 * skull
    t2 = np.where(labels > 0, 200.0 - 50.0 * labels, 0.0) + rng.normal(0, 4, shape) + 100.0 * skull
    mask = Volume.from_array((r < 13.5).astype(np.uint8), spacing) if with_mask else None
    return Subject(
        "mrbrains" if spacing[2] > 1 else "iseg",
        f"s{seed}",
        {"t1": Volume.from_array(t1, spacing), "t2": Volume.from_array(t2, spacing)},
        Volume.from_array(labels, spacing),
        mask=mask,
        scanner="X",
    )


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), MRBRAINS_SPACING])
@pytest.mark.parametrize("modalities", [("t1",), ("t1", "t2")])
def test_shapes_types_range(spacing, modalities):
    subject = _phantom(spacing=spacing, shape=(40, 44, 14) if spacing[2] > 1 else (40, 44, 36))
    p = preprocess_subject(subject, modalities)
    assert isinstance(p, Prepared)
    assert p.image.dtype == np.float32 and p.labels.dtype == np.int64 and p.mask.dtype == bool
    assert p.image.shape == (len(modalities), *p.labels.shape) and p.mask.shape == p.labels.shape
    assert p.spacing == (1.0, 1.0, 1.0) and p.modalities == modalities
    assert (p.site, p.subject_id, p.scanner) == (subject.site, subject.subject_id, "X")
    assert set(np.unique(p.labels)) == {0, 1, 2, 3}
    assert p.image.min() >= 0.0 and p.image.max() <= 1.0
    assert p.image.max() == 1.0  # the 99.5th percentile and above map to 1
    assert np.all(p.image[:, ~p.mask] == 0)
    assert np.array_equal(p.mask, p.labels > 0)  # no given mask: the labels define the brain
    assert p.geometry.shape == p.shape


def test_skull_is_stripped_and_crop_has_margin():
    subject = _phantom()
    p = preprocess_subject(subject, margin=3)
    # the skull (300 + brain values) would dominate the max; stripped, the WM is the brightest
    wm = p.image[0][p.labels == 3].mean()
    csf = p.image[0][p.labels == 1].mean()
    assert wm > 0.8 and csf < 0.5
    idx = np.nonzero(p.mask)
    for axis, n in enumerate(p.shape):
        assert idx[axis].min() == 3 and idx[axis].max() == n - 1 - 3


def test_given_mask_defines_the_brain():
    subject = _phantom(with_mask=True)
    p = preprocess_subject(subject)
    assert p.mask.sum() > (p.labels > 0).sum()
    assert np.all(p.labels[~p.mask] == 0)


@pytest.mark.parametrize("target", [0.7, 1.0, 1.5, 2.0])
def test_extent_in_mm_preserved(target):
    subject = _phantom(shape=(40, 44, 14), spacing=MRBRAINS_SPACING)
    p = preprocess_subject(subject, spacing=target)
    g = p.geometry
    assert p.spacing == (target,) * 3
    for n_in, s_in, n_out in zip(g.crop_shape, g.original_spacing, g.resampled_shape):
        assert abs(n_out * target - n_in * s_in) <= target


@pytest.mark.parametrize("target", [0.7, 1.0, 2.0])
def test_new_grid_is_centred_on_the_crop_and_keeps_the_brain_in_place(target):
    subject = _phantom(shape=(40, 44, 14), spacing=MRBRAINS_SPACING)
    p = preprocess_subject(subject, spacing=target)
    g = p.geometry
    A = g.prepared_affine
    first, last = A[:3, 3], A[:3, :3] @ (np.asarray(p.shape) - 1.0) + A[:3, 3]
    crop_first = np.asarray(g.crop_start) * MRBRAINS_SPACING
    crop_last = (np.asarray(g.crop_stop) - 1.0) * MRBRAINS_SPACING
    np.testing.assert_allclose((first + last) / 2, (crop_first + crop_last) / 2, atol=1e-9)
    # the brain's centre of mass, in world mm, does not move by more than half an output voxel
    com_in = np.asarray(np.nonzero(subject.labels.data > 0)).mean(axis=1) * MRBRAINS_SPACING
    com_out = A[:3, :3] @ np.asarray(np.nonzero(p.mask)).mean(axis=1) + A[:3, 3]
    assert np.abs(com_out - com_in).max() <= target / 2


def test_resampling_follows_the_prepared_affine():
    """A linear ramp in world mm stays a linear ramp at the world positions of the new voxels."""
    shape, spacing = (30, 28, 12), MRBRAINS_SPACING
    world = np.indices(shape).astype(float) * np.asarray(spacing)[:, None, None, None]
    ramp = 1.0 * world[0] + 2.0 * world[1] + 3.0 * world[2]
    subject = Subject("mrbrains", "ramp", {"t1": Volume.from_array(ramp, spacing)},
                      Volume.from_array(np.ones(shape, np.int64), spacing))
    p = preprocess_subject(subject, spacing=1.3, margin=0)
    A = p.geometry.prepared_affine
    idx = np.indices(p.shape).reshape(3, -1).astype(float)
    pos = A[:3, :3] @ idx + A[:3, 3:4]  # world mm of every prepared voxel
    vox = pos / np.asarray(spacing)[:, None]  # input voxel coordinates (input affine is diagonal)
    inside = np.all((vox >= 0) & (vox <= np.asarray(shape)[:, None] - 1), axis=0)
    expected = (np.array([1.0, 2.0, 3.0]) @ pos)[inside]
    got = p.image[0].reshape(-1)[inside].astype(float)
    unclipped = (got > 0) & (got < 1)
    # the robust min-max is an affine map of the intensities: fit it and check the residual
    slope, intercept, r, *_ = stats.linregress(expected[unclipped], got[unclipped])
    assert r > 0.99999
    assert np.abs(got[unclipped] - (slope * expected[unclipped] + intercept)).max() < 1e-4
    assert np.allclose(np.diag(A[:3, :3]), 1.3)


def test_idempotent_on_prepared_1mm_input():
    p = preprocess_subject(_phantom(), ("t1", "t2"))
    again = Subject(
        p.site, p.subject_id,
        {m: Volume.from_array(p.image[i], p.spacing) for i, m in enumerate(p.modalities)},
        Volume.from_array(p.labels, p.spacing),
        mask=Volume.from_array(p.mask.astype(np.uint8), p.spacing),
    )
    q = preprocess_subject(again, ("t1", "t2"))
    assert q.shape == p.shape
    assert np.array_equal(q.labels, p.labels) and np.array_equal(q.mask, p.mask)
    np.testing.assert_allclose(q.image, p.image, atol=1e-3)


def test_restore_labels_exact_on_1mm():
    subject = _phantom()
    p = preprocess_subject(subject)
    back = restore(p, p.labels, order=0)
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back, subject.labels.data)


def test_restore_labels_close_on_anisotropic():
    subject = _phantom(shape=(40, 44, 14), spacing=MRBRAINS_SPACING)
    p = preprocess_subject(subject)
    assert p.shape[2] > 14 * 2  # 3 mm slices became ~1 mm
    back = restore(p, p.labels, order=0)
    assert back.shape == subject.labels.shape
    for c in (1, 2, 3):
        assert _dice(back == c, subject.labels.data == c) > 0.9


def test_restore_image_and_multichannel_after_padding():
    subject = _phantom()
    p = preprocess_subject(subject, ("t1", "t2"))
    padded = pad_to(p, common_shape([p.shape, (50, 41, 47)], multiple=8))
    assert padded.shape == (56, 48, 48)
    np.testing.assert_array_equal(restore(padded, padded.labels, order=0), subject.labels.data)
    img = restore(padded, padded.image, order=1)
    assert img.shape == (2, *subject.labels.shape) and img.dtype == np.float32
    # identity resampling at 1 mm: the restored image is the prepared one, placed in the crop
    box = tuple(slice(a, b) for a, b in zip(p.geometry.crop_start, p.geometry.crop_stop))
    np.testing.assert_array_equal(img[(slice(None), *box)], p.image)
    assert img.sum() == pytest.approx(p.image.sum(), rel=1e-6)
    probs = np.stack([padded.labels == c for c in range(4)]).astype(np.float32)
    assert restore(padded.geometry, probs).shape == (4, *subject.labels.shape)


def test_pad_to_is_centred_and_zero():
    p = preprocess_subject(_phantom())
    target = (p.shape[0] + 5, p.shape[1] + 4, p.shape[2])
    q = pad_to(p, target)
    assert q.shape == target and q.image.shape[1:] == target
    assert q.geometry.pad_before == (2, 2, 0)
    np.testing.assert_array_equal(q.labels[2 : 2 + p.shape[0], 2 : 2 + p.shape[1]], p.labels)
    assert q.image.sum() == pytest.approx(p.image.sum())
    assert q.mask.sum() == p.mask.sum()
    with pytest.raises(DataError, match="common_shape"):
        pad_to(p, (p.shape[0] - 1, *p.shape[1:]))


def test_common_shape():
    assert common_shape([(3, 9, 4), (5, 2, 4)]) == (5, 9, 4)
    assert common_shape([(3, 9, 4), (5, 2, 4)], multiple=4) == (8, 12, 4)
    with pytest.raises(ConfigError, match="multiple"):
        common_shape([(3, 3, 3)], multiple=0)
    with pytest.raises(DataError):
        common_shape([])


def test_standardize_against_scipy_zscore():
    rng = np.random.default_rng(4)
    image = rng.gamma(2.0, 3.0, (2, 9, 8, 7))
    mask = rng.random((9, 8, 7)) > 0.4
    z = standardize(image, mask)
    assert z.dtype == np.float32 and z.shape == image.shape
    for c in range(2):
        np.testing.assert_allclose(z[c][mask], stats.zscore(image[c][mask]), atol=1e-5)
        assert abs(z[c][mask].mean()) < 1e-5 and abs(z[c][mask].std() - 1) < 1e-5
        assert np.all(z[c][~mask] == 0)
    np.testing.assert_allclose(standardize(image[0], mask), z[0])


def test_preprocess_image_without_labels():
    subject = _phantom()
    stripped = [Volume.from_array(np.where(subject.labels.data > 0, v.data, 0), v.spacing)
                for v in subject.images.values()]
    p = preprocess_image(stripped, 1.0)
    assert p.image.shape[0] == 2 and not p.labels.any()
    ref = preprocess_subject(subject, ("t1", "t2"))
    # intensity > 0 on the stripped scan is (almost surely) the labelled brain
    assert p.shape == ref.shape
    np.testing.assert_allclose(p.image, ref.image, atol=1e-6)
    given = preprocess_image(list(subject.images.values()), 1.0, mask=subject.labels.data > 0)
    np.testing.assert_allclose(given.image, ref.image, atol=1e-6)


def test_deterministic():
    a = preprocess_subject(_phantom(spacing=MRBRAINS_SPACING, shape=(30, 30, 12)), ("t1", "t2"))
    b = preprocess_subject(_phantom(spacing=MRBRAINS_SPACING, shape=(30, 30, 12)), ("t1", "t2"))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_errors():
    subject = _phantom(shape=(12, 12, 12))
    empty = Subject("iseg", "empty", subject.images, Volume.from_array(np.zeros((12, 12, 12), np.int64)))
    with pytest.raises(DataError, match="iseg/empty.*empty"):
        preprocess_subject(empty)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="spacing"):
            preprocess_subject(subject, spacing=bad)
    with pytest.raises(DataError, match="flair"):
        preprocess_subject(subject, ("flair",))
    with pytest.raises(ConfigError, match="margin"):
        preprocess_subject(subject, margin=-1)
    wrong = Subject("iseg", "w", {"t1": Volume.from_array(np.ones((12, 12, 11)))}, subject.labels)
    with pytest.raises(DataError, match="shape"):
        preprocess_subject(wrong)
    with pytest.raises(DataError, match="standardize"):
        standardize(np.ones((4, 4, 4)), np.zeros((4, 4, 4), bool))
    p = preprocess_subject(subject)
    with pytest.raises(DataError, match="prepared grid"):
        restore(p, np.zeros((3, 3, 3)))
