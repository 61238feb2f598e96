"""The identity of a data root: manifests, digests, changes, the data-root resolver."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from deepnorm.data.manifest import data_manifest, manifest_changes, manifest_digest
from deepnorm.data.roots import resolve_data_root
from deepnorm.errors import DataError

SITES = ("iseg", "mrbrains")


@pytest.fixture(scope="module")
def copy_root(smoke_root, tmp_path_factory) -> Path:
    """A private copy of the smoke phantom's iSEG and MRBrainS folders, free to edit."""
    root = tmp_path_factory.mktemp("manifest") / "data"
    for name in ("iSEG-2017", "MRBrainS13"):
        shutil.copytree(smoke_root / name, root / name)
    return root


def test_manifest_lists_the_site_files_with_their_hash(copy_root):
    manifest = data_manifest(copy_root, SITES)
    walked = sorted(p.relative_to(copy_root).as_posix() for p in copy_root.rglob("*") if p.is_file())
    assert [e["path"] for e in manifest["files"]] == walked
    entry = manifest["files"][0]
    content = (copy_root / entry["path"]).read_bytes()
    assert entry["size"] == len(content)
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert manifest["root"] == str(copy_root.resolve())


def test_digest_ignores_the_root_and_mtimes_but_not_content(copy_root, smoke_root, tmp_path):
    original = data_manifest(smoke_root, SITES)
    copy = data_manifest(copy_root, SITES)
    assert manifest_digest(copy) == manifest_digest(original)
    assert manifest_changes(original, copy) == []
    path = copy_root / copy["files"][3]["path"]
    os.utime(path, ns=(0, 0))
    assert manifest_digest(data_manifest(copy_root, SITES)) == manifest_digest(copy)
    saved = path.read_bytes()
    try:
        path.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
        changed = data_manifest(copy_root, SITES)
        assert manifest_digest(changed) != manifest_digest(copy)
        assert manifest_changes(copy, changed) == [f"{copy['files'][3]['path']}: content changed"]
    finally:
        path.write_bytes(saved)


def test_changes_name_added_and_removed_files():
    old = {"root": "/a", "sites": [], "files": [{"path": "x", "size": 1, "mtime_ns": 0, "sha256": "0"},
                                               {"path": "y", "size": 1, "mtime_ns": 0, "sha256": "1"}]}
    new = {"root": "/b", "sites": [], "files": [{"path": "y", "size": 2, "mtime_ns": 0, "sha256": "2"},
                                               {"path": "z", "size": 1, "mtime_ns": 0, "sha256": "3"}]}
    assert manifest_changes(old, new) == ["x: removed", "z: added", "y: size changed"]


def test_resolver_gives_the_root_or_refuses(copy_root, tmp_path):
    assert resolve_data_root(str(copy_root), profile="smoke", seed=0) == copy_root.resolve()
    with pytest.raises(DataError, match="not a folder"):
        resolve_data_root(tmp_path / "missing", profile="smoke", seed=0)


def test_cache_key_follows_the_data_not_its_path(copy_root, smoke_config):
    from deepnorm.data.prepared import cache_key

    data = smoke_config.data
    key = cache_key(copy_root, data)
    moved = copy_root.parent / "moved"
    shutil.copytree(copy_root, moved)
    assert cache_key(moved, data) == key
    label = min(moved.rglob("*label*"))
    label.write_bytes(label.read_bytes()[:-1] + b"\x07")  # an edited label file
    assert cache_key(moved, data) != key
    assert cache_key(copy_root, data.__class__(**{**data.__dict__, "spacing": 2.0})) != key
