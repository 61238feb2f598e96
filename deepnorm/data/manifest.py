"""The identity of a data set on disk: which files, how big, when written, and what they hold.

A manifest lists every file of the configured sites' folders under a data root (path relative
to the root, size in bytes, mtime in ns, and the SHA-256 of files smaller than
:data:`HASH_LIMIT`). Its :func:`manifest_digest` depends on the content only (path, size and
hash; the mtime stands in for the hash of larger files), not on where the root lies, so a copy
of the same data gives the same digest. :func:`manifest_changes` says which files differ.

    manifest = data_manifest(root, ("iseg", "mrbrains"))
    key = manifest_digest(manifest)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict

#: Files at least this large (bytes) are identified by size and mtime instead of a content hash.
HASH_LIMIT = 50 * 2**20

#: {(absolute path, size, mtime_ns, inode): sha256}: a file is hashed once per process while unchanged
_HASHES: dict[tuple[str, int, int, int], str] = {}


class FileEntry(TypedDict):
    """One file of a manifest."""

    path: str
    size: int
    mtime_ns: int
    sha256: str | None


class Manifest(TypedDict):
    """The files of `sites` under `root`, sorted by path."""

    root: str
    sites: list[str]
    files: list[FileEntry]


def _sha256(path: Path, stat: os.stat_result) -> str:
    key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def site_files(root: Path, site: str) -> list[Path]:
    """Every non-hidden file of the folder of `site` under `root` (DataError when it has none)."""
    from deepnorm.data.sites import open_site

    folder = open_site(root, site).folder
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / name for name in sorted(filenames) if not name.startswith(".")]
    return files


def data_manifest(root: str | Path, sites: Sequence[str]) -> Manifest:
    """The manifest of the files of `sites` under `root` (see the module docstring)."""
    root = Path(root).expanduser().resolve()
    entries: list[FileEntry] = []
    for site in sites:
        for path in site_files(root, site):
            stat = path.stat()
            sha = _sha256(path, stat) if stat.st_size < HASH_LIMIT else None
            entries.append(FileEntry(path=path.relative_to(root).as_posix(), size=stat.st_size,
                                     mtime_ns=stat.st_mtime_ns, sha256=sha))
    entries.sort(key=lambda e: e["path"])
    return Manifest(root=str(root), sites=list(sites), files=entries)


def _identity(entry: Mapping[str, object]) -> tuple[object, ...]:
    return (entry["size"], entry["sha256"]) if entry.get("sha256") else (entry["size"], entry["mtime_ns"])


def manifest_digest(manifest: Manifest) -> str:
    """16 hex digits of the SHA-256 of the files' relative paths, sizes and contents (not the root)."""
    rows = [[e["path"], *_identity(e)] for e in manifest["files"]]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode("utf-8")).hexdigest()[:16]


def manifest_changes(old: Manifest, new: Manifest) -> list[str]:
    """One line per file that was added, removed or changed between `old` and `new` ([] if none)."""
    before = {e["path"]: e for e in old["files"]}
    after = {e["path"]: e for e in new["files"]}
    lines = [f"{p}: removed" for p in sorted(set(before) - set(after))]
    lines += [f"{p}: added" for p in sorted(set(after) - set(before))]
    for path in sorted(set(before) & set(after)):
        a, b = before[path], after[path]
        if _identity(a) != _identity(b):
            what = "size" if a["size"] != b["size"] else ("content" if a.get("sha256") else "mtime")
            lines.append(f"{path}: {what} changed")
    return lines


def describe_changes(lines: Sequence[str], limit: int = 5) -> str:
    """The first `limit` change lines joined by "; " and how many more there are."""
    text = "; ".join(lines[:limit])
    return text + (f"; and {len(lines) - limit} more" if len(lines) > limit else "")
