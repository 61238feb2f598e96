"""The sites registry: one file per data set is the one home of everything that site is."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import deepnorm
from deepnorm.data import sites
from deepnorm.data.phantom.sites import PROFILES, encode_labels
from deepnorm.data.sites import (
    SITE_NAMES,
    SITES,
    abide,
    get_site,
    iseg,
    mrbrains,
    open_site,
)
from deepnorm.data.sites.base import map_codes, tissue_codes
from deepnorm.data.splits import make_splits, split_sizes
from deepnorm.errors import ConfigError
from deepnorm.labels import BG, CSF, GM, WM

FILES = {"iseg": iseg, "mrbrains": mrbrains, "abide": abide}
PACKAGE = Path(deepnorm.__file__).resolve().parent


def test_registry_order_and_names_come_from_the_site_files() -> None:
    assert SITES == ("iseg", "mrbrains", "abide")  # the domain index z of each site (docs/reproduction.md)
    for key, module in FILES.items():
        assert get_site(key) is module.SITE and module.SITE.key == key
        assert SITE_NAMES[key] == module.SITE.name
        assert module.SITE.loader.site is module.SITE
    with pytest.raises(ConfigError, match="site='brats'"):
        get_site("brats")


def test_sites_have_one_home() -> None:
    """The site order and names live in deepnorm.data.sites only (labels.py is the class convention)."""
    from deepnorm import labels

    assert not hasattr(labels, "SITES") and not hasattr(labels, "SITE_NAMES")
    assert sites.SITES == tuple(sites.SITE_NAMES)


@pytest.mark.parametrize("key", SITES)
def test_every_site_has_a_phantom_model_for_every_profile(key: str) -> None:
    model = get_site(key).phantom
    assert set(model.profiles) == set(PROFILES)
    for name in PROFILES:
        profile = model.profile(name)
        subjects = model.subjects(profile)
        assert len(subjects) == profile.n_subjects == len({s for s, _ in subjects})
        assert {scanner for _, scanner in subjects} <= {s.name for s in profile.scanners}
        for scanner in profile.scanners:
            assert set(scanner.contrasts) == set(get_site(key).modalities)
    with pytest.raises(ConfigError, match="profile='huge'"):
        model.profile("huge")


@pytest.mark.parametrize("table", [iseg.LABELS, mrbrains.TEST_LABELS], ids=["iseg", "mrbrains"])
def test_phantom_codes_are_the_inverse_of_the_loader_table(table) -> None:
    tissues = np.random.default_rng(0).integers(0, 4, (7, 6, 5))
    written = encode_labels(tissues, tissue_codes(table))
    assert set(np.unique(written).tolist()) <= set(table)
    np.testing.assert_array_equal(map_codes(written, table, "test"), tissues)


def test_scanner_rule_is_shared_by_the_loader_and_the_splits(tmp_path: Path) -> None:
    ids = [f"{scanner}_{n:07d}" for scanner in ("NYU", "UM_1", "LEUVEN_2") for n in range(6)]
    for subject_id in ids:
        (tmp_path / "ABIDE" / subject_id / "mri").mkdir(parents=True)
        (tmp_path / "ABIDE" / subject_id / "mri" / "T1.mgz").write_bytes(b"")
    loader = open_site(tmp_path, "abide")
    expected = {s: s.rsplit("_", 1)[0] for s in ids}
    assert {s: loader.scanner_of(s) for s in ids} == expected
    assert make_splits(ids, "abide", seed=3) == make_splits(ids, "abide", seed=3, scanners=expected)
    assert {iseg.SITE.scanner_of("7"), mrbrains.SITE.scanner_of("2")} == {"iseg", "mrbrains"}


@pytest.mark.parametrize("key", SITES)
def test_split_sizes_follow_the_site_fractions(key: str) -> None:
    fractions = np.asarray(get_site(key).fractions)
    assert fractions.sum() == pytest.approx(1.0)
    for n in (20, 100, 1000):
        assert np.all(np.abs(np.asarray(split_sizes(n, key)) - fractions * n) <= 1.0)


def test_label_tables_have_one_home() -> None:
    """The raw-code tables appear only in their site file (no copies elsewhere in the package)."""
    patterns = {"iseg.py": r"10\s*:\s*CSF|CSF\s*:\s*10\b", "mrbrains.py": r"5\s*:\s*CSF|CSF\s*:\s*1\b"}
    for home, pattern in patterns.items():
        found = [p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if re.search(pattern, p.read_text())]
        assert [p.name for p in found] == [home], found
    assert {BG, CSF, GM, WM} == set(iseg.LABELS.values()) == set(mrbrains.TEST_LABELS.values())
