"""Checks of the command line's output paths, made before any work starts."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from deepnorm.errors import DataError


def writable_folder(path: Path, option: str, *, what: str | None = None) -> Path:
    """`path` as a folder to write into (it or its nearest existing ancestor is a writable folder).

    Raises NotADirectoryError or PermissionError naming the blocking path and what it is for
    (`what`, default "`option` `path`"); the command line prints it on one line and exits with 1.
    """
    what = what or f"{option} {path}"
    path = Path(path).expanduser()
    for parent in (path, *path.parents):
        if parent.exists():
            break
    else:  # pragma: no cover - "/" exists
        parent = Path("/")
    if not parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"is a file, not a folder (for {what})", str(parent))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"{os.strerror(errno.EACCES)} (for {what})", str(parent))
    return path


def output_file(path: Path, *, force: bool, option: str = "output") -> Path:
    """Check an image output before the work: known extension, a writable folder, no file to overwrite."""
    from deepnorm.data.io import EXTENSIONS

    path = Path(path).expanduser()
    if not path.name.lower().endswith(EXTENSIONS):
        raise DataError(f"{option} {path}: unknown image type {''.join(path.suffixes) or '(no extension)'!r}; "
                        f"name it with one of {', '.join(EXTENSIONS)} (.nii.gz recommended)")
    if path.is_dir():
        raise DataError(f"{option} {path} is a folder: give a file name, or a folder as input for folder mode")
    if path.exists() and not force:
        raise DataError(f"{path} exists: choose another output path or pass --force to overwrite it")
    if not path.parent.exists():
        raise DataError(f"the output folder {path.parent} does not exist: create it first")
    writable_folder(path.parent, option, what=f"{option} {path}")
    return path
