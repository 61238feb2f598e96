"""The prepared-volume cache: compressed files, and each cached subject read once per preparation."""

from __future__ import annotations

import zipfile

import pytest

from deepnorm.data import prepared as prep


@pytest.fixture
def counted_loads(monkeypatch):
    """Counts load_prepared calls by file path."""
    calls: list[str] = []
    real = prep.load_prepared

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(prep, "load_prepared", counting)
    return calls


def test_cached_subjects_are_compressed(smoke_root, smoke_config, tmp_path):
    site = smoke_config.data.sites[0]
    prep.prepare_site(smoke_root, smoke_config.data, site, runs_dir=tmp_path)
    files = sorted((prep.cache_dir(smoke_root, smoke_config.data, tmp_path) / site).glob("*.npz"))
    assert files
    with zipfile.ZipFile(files[0]) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}


def test_prepare_all_reads_each_cached_subject_once(smoke_root, smoke_config, tmp_path, counted_loads):
    data = smoke_config.data
    first, _ = prep.prepare_all(smoke_root, data, runs_dir=tmp_path)  # fills the cache
    counted_loads.clear()
    again, _ = prep.prepare_all(smoke_root, data, runs_dir=tmp_path)
    n_subjects = sum(len(v) for v in again.values())
    assert len(counted_loads) == n_subjects == len(set(counted_loads))
    for name in first:  # the padded shape and the arrays come out the same from the index
        assert [v.image.shape for v in again[name]] == [v.image.shape for v in first[name]]


def test_a_lost_shape_index_is_rebuilt(smoke_root, smoke_config, tmp_path, counted_loads):
    data = smoke_config.data
    first, _ = prep.prepare_all(smoke_root, data, runs_dir=tmp_path)
    for index in prep.cache_dir(smoke_root, data, tmp_path).glob(f"*/{prep.SHAPES_INDEX}"):
        index.unlink()
    again, _ = prep.prepare_all(smoke_root, data, runs_dir=tmp_path)
    assert [v.image.shape for v in again["test"]] == [v.image.shape for v in first["test"]]
