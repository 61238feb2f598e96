"""Laws of the train/val/test splits."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from deepnorm.data.splits import load_splits, make_splits, save_splits, split_sizes
from deepnorm.errors import ConfigError, DataError


def _check_partition(splits, ids):
    assert set(splits) == {"train", "val", "test"}
    all_ids = splits["train"] + splits["val"] + splits["test"]
    assert len(all_ids) == len(set(all_ids)), "splits overlap"
    assert set(all_ids) == set(ids), "splits do not cover the subjects"
    for v in splits.values():
        assert v == sorted(v)


@pytest.mark.parametrize(
    "site,n,expected",
    [("iseg", 10, (8, 1, 1)), ("mrbrains", 5, (3, 1, 1)), ("abide", 100, (60, 20, 20)), ("abide", 1103, (661, 221, 221))],
)
def test_paper_counts(site, n, expected):
    # 1103 * 0.2 = 220.6 rounds half up to 221 for val and test
    ids = [f"S{i:04d}" for i in range(n)]
    splits = make_splits(ids, site, seed=3)
    _check_partition(splits, ids)
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == expected


@pytest.mark.parametrize("site", ["iseg", "mrbrains", "abide"])
@pytest.mark.parametrize("n", [2, 3, 4, 7, 12, 33])
def test_other_counts_keep_a_test_subject(site, n):
    ids = [f"{i}" for i in range(n)]
    splits = make_splits(ids, site)
    _check_partition(splits, ids)
    assert len(splits["test"]) >= 1 and len(splits["train"]) >= 1
    if n >= 3:
        assert len(splits["val"]) >= 1
    assert (len(splits["train"]), len(splits["val"]), len(splits["test"])) == split_sizes(n, site)


def test_deterministic_and_order_free():
    ids = [f"sub{i}" for i in range(10)]
    a = make_splits(ids, "iseg", seed=7)
    b = make_splits(list(reversed(ids)), "iseg", seed=7)
    assert a == b
    tests = {tuple(make_splits(ids, "iseg", seed=s)["test"]) for s in range(20)}
    assert len(tests) > 3, "the seed does not change the split"


def test_stratified_by_scanner():
    sizes = {"NYU": 40, "UM_1": 25, "LEUVEN_2": 15, "KKI": 20}
    ids = [f"{site}_{50000 + i}" for site, k in sizes.items() for i in range(k)]
    for seed in range(5):
        splits = make_splits(ids, "abide", seed=seed)  # scanners from the id prefix
        _check_partition(splits, ids)
        n = len(ids)
        for name in ("train", "val", "test"):
            counts = Counter(s.rsplit("_", 1)[0] for s in splits[name])
            assert set(counts) <= set(sizes)
            total = len(splits[name])
            for scanner, k in sizes.items():
                assert abs(counts[scanner] - k * total / n) <= 1.0, (name, scanner, counts)


def test_explicit_scanners_mapping():
    ids = [f"x{i}" for i in range(30)]
    scanners = {s: ("A" if i < 10 else "B") for i, s in enumerate(ids)}
    splits = make_splits(ids, "abide", seed=1, scanners=scanners)
    test_a = sum(scanners[s] == "A" for s in splits["test"])
    assert test_a == 2 and len(splits["test"]) == 6
    with pytest.raises(DataError, match="no scanner"):
        make_splits(ids, "abide", scanners={ids[0]: "A"})


def test_round_trip(tmp_path):
    splits = make_splits([f"s{i}" for i in range(5)], "mrbrains")
    path = save_splits(splits, tmp_path / "sub" / "splits.json")
    assert load_splits(path) == splits
    assert [p.name for p in path.parent.iterdir()] == ["splits.json"]  # no temporary file left


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(DataError, match="missing.json"):
        load_splits(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        load_splits(bad)
    bad.write_text(json.dumps({"train": ["a"], "test": ["b"]}))
    with pytest.raises(DataError, match="keys"):
        load_splits(bad)
    bad.write_text(json.dumps({"train": ["a"], "val": ["a"], "test": ["b"]}))
    with pytest.raises(DataError, match="disjoint"):
        load_splits(bad)
    bad.write_text(json.dumps({"train": "a", "val": [], "test": ["b"]}))
    with pytest.raises(DataError, match="list"):
        load_splits(bad)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="site"):
        make_splits(["a", "b"], "nowhere")
    with pytest.raises(DataError, match="at least 2"):
        make_splits(["a"], "iseg")
    with pytest.raises(DataError, match="duplicate"):
        make_splits(["a", "a", "b"], "iseg")
