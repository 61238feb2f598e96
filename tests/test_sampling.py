"""Laws of the foreground patch sampler, checked against direct numpy slicing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepnorm.errors import ConfigError, DataError
from deepnorm.sampling import PatchBatch, PatchSampler, extract_patch


def _volumes(n=3, shape=(20, 18, 22), channels=2, seed=0):
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(n):
        images.append(rng.random((channels, *shape), dtype=np.float32))
        lab = np.zeros(shape, np.int64)
        lo = rng.integers(0, 5, 3)
        hi = lo + rng.integers(8, 14, 3)
        lab[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = rng.integers(1, 4, tuple(hi - lo))
        labels.append(lab)
    return images, labels


def _keys(batch: PatchBatch) -> list[tuple[int, int, int, int]]:
    return [(int(v), *map(int, c)) for v, c in zip(batch.volumes, batch.centres)]


def test_patches_are_direct_slices_centred_on_foreground():
    images, labels = _volumes()
    p = 8
    sampler = PatchSampler(images, labels, p, domains=[0, 1, 1], seed=3, grid=2)
    batch = sampler.sample(40)
    assert batch.images.shape == (40, 2, p, p, p) and batch.images.dtype == torch.float32
    assert batch.labels.shape == (40, p, p, p) and batch.labels.dtype == torch.int64
    h = p // 2
    for k, (v, c) in enumerate(zip(batch.volumes.tolist(), batch.centres.tolist())):
        x, y, z = c
        assert labels[v][x, y, z] > 0
        assert x % 2 == 0 and y % 2 == 0 and z % 2 == 0
        assert batch.labels[k, h, h, h] == labels[v][x, y, z]
        # oracle: pad by a full patch, then a plain slice
        img = np.pad(images[v], ((0, 0), (p, p), (p, p), (p, p)))
        lab = np.pad(labels[v], p)
        sl = tuple(slice(q + p - h, q + p - h + p) for q in c)
        np.testing.assert_array_equal(batch.images[k].numpy(), img[(slice(None), *sl)])
        np.testing.assert_array_equal(batch.labels[k].numpy(), lab[sl])
        assert batch.domains[k] == [0, 1, 1][v]


def test_border_centre_is_zero_padded():
    lab = np.zeros((6, 6, 6), np.int64)
    lab[0, 0, 0] = 2
    img = np.arange(216, dtype=np.float32).reshape(1, 6, 6, 6) + 1
    sampler = PatchSampler([img], [lab], 4, domains=[0], grid=1)
    batch = sampler.sample(1)
    assert batch.centres.tolist() == [[0, 0, 0]]
    patch = batch.images[0, 0].numpy()
    assert (patch[:2] == 0).all() and (patch[:, :2] == 0).all() and (patch[:, :, :2] == 0).all()
    np.testing.assert_array_equal(patch[2:, 2:, 2:], img[0, :2, :2, :2])
    assert batch.labels[0, 2, 2, 2] == 2


def test_extract_patch_far_outside_is_fill():
    a = np.ones((3, 3, 3))
    np.testing.assert_array_equal(extract_patch(a, (20, 1, 1), 4), np.zeros((4, 4, 4)))


def test_same_seed_same_batches_different_seed_different():
    images, labels = _volumes()
    a = PatchSampler(images, labels, 6, domains=[0, 1, 2], seed=7)
    b = PatchSampler(images, labels, 6, domains=[0, 1, 2], seed=7)
    for ba, bb in zip(a.batches(5, 3), b.batches(5, 3)):
        assert torch.equal(ba.images, bb.images) and torch.equal(ba.labels, bb.labels)
        assert torch.equal(ba.domains, bb.domains)
    a2 = PatchSampler(images, labels, 6, domains=[0, 1, 2], seed=7)
    c2 = PatchSampler(images, labels, 6, domains=[0, 1, 2], seed=8)
    assert _keys(a2.sample(20)) != _keys(c2.sample(20))


def test_no_repeats_before_exhaustion_and_full_coverage():
    images, labels = _volumes(n=2)
    g = 3
    sampler = PatchSampler(images, labels, 4, domains=[0, 1], seed=1, grid=g)
    expected = {
        (v, *map(int, c))
        for v, lab in enumerate(labels)
        for c in np.argwhere(lab > 0)
        if all(q % g == 0 for q in c)
    }
    assert sampler.n_candidates == len(expected)
    seen = []
    chunk = 7
    while len(seen) + chunk <= len(expected):
        seen += _keys(sampler.sample(chunk))
    assert len(set(seen)) == len(seen)
    rest = len(expected) - len(seen)
    seen += _keys(sampler.sample(rest))
    assert set(seen) == expected and len(seen) == len(expected)
    # a new permutation starts: another full pass covers everything again, in another order
    second = _keys(sampler.sample(len(expected)))
    assert set(second) == expected and second != seen


def test_balance_law():
    images, labels = _volumes(n=4)
    # domain 0 has one volume, domain 1 has three: balance ignores pool sizes
    sampler = PatchSampler(images, labels, 4, domains=[0, 1, 1, 1], seed=0, balance=True)
    for batch in sampler.batches(6, 5):
        assert torch.bincount(batch.domains, minlength=2).tolist() == [3, 3]
    totals = np.zeros(2, int)
    for batch in sampler.batches(5, 6):  # uneven batches: the extra patch alternates
        counts = torch.bincount(batch.domains, minlength=2).numpy()
        assert sorted(counts.tolist()) == [2, 3]
        totals += counts
    assert totals.tolist() == [15, 15]
    # unbalanced: proportions follow the candidate counts, not the domains
    plain = PatchSampler(images, labels, 4, domains=[0, 1, 1, 1], seed=0, balance=False)
    assert plain.pool_sizes() == [plain.n_candidates]


def test_balanced_pool_has_no_repeats_before_exhaustion():
    images, labels = _volumes(n=3)
    sampler = PatchSampler(images, labels, 4, domains=[5, 2, 5], seed=4, balance=True, grid=2)
    assert sampler.pool_domains == (2, 5)
    small = min(sampler.pool_sizes())
    batch = sampler.sample(2 * small)
    keys = _keys(batch)
    assert len(set(keys)) == len(keys)


def test_state_round_trip_continues_identically():
    images, labels = _volumes()
    for balance in (False, True):
        a = PatchSampler(images, labels, 6, domains=[0, 1, 1], seed=11, grid=2, balance=balance)
        n = a.n_candidates
        a.sample(n - 3)  # stop near the end of a permutation
        a.sample(5)
        state = json.loads(json.dumps(a.state_dict()))
        expected = [_keys(b) for b in a.batches(n // 3 + 1, 5)]
        b = PatchSampler(images, labels, 6, domains=[0, 1, 1], seed=11, grid=2, balance=balance)
        b.load_state_dict(state)
        got = [_keys(x) for x in b.batches(n // 3 + 1, 5)]
        assert got == expected


def test_state_from_other_settings_is_rejected():
    images, labels = _volumes()
    a = PatchSampler(images, labels, 6, domains=[0, 1, 1], seed=1)
    b = PatchSampler(images, labels, 6, domains=[0, 1, 1], seed=2)
    with pytest.raises(ConfigError, match="seed"):
        b.load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"patch_size": 0}, ConfigError, "patch_size"),
        ({"grid": 0}, ConfigError, "grid"),
        ({"domains": [0, 1]}, DataError, "domain"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    images, labels = _volumes()
    args = {"patch_size": 4, "domains": [0, 1, 2], **kwargs}
    with pytest.raises(error, match=match):
        PatchSampler(images, labels, args.pop("patch_size"), **args)


def test_bad_volumes():
    images, labels = _volumes(n=1)
    with pytest.raises(DataError, match="channel"):
        PatchSampler([images[0][0]], labels, 4, domains=[0])
    with pytest.raises(DataError, match="labels 0"):
        PatchSampler(images, [labels[0][:-1]], 4, domains=[0])
    with pytest.raises(DataError, match="no foreground"):
        PatchSampler(images, [np.zeros_like(labels[0])], 4, domains=[0])
