"""Result tables on disk: ``results/<name>.csv`` (rows of floats/strings) and ``<name>.json``.

Notebooks write them, the report and the tests read them: never notebook outputs. Writes are
atomic (temporary file + rename), so a reader never sees half a table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepnorm.paths import results_dir


def current_umask() -> int:
    """The process's file-creation mask (read from /proc where possible, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file; parent folders are created. The file gets the
    mode an ordinary ``open(path, "w")`` would give (0666 minus the umask), not the 0600 of a
    temporary file. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _convert(value: str) -> Any:
    try:
        return float(value)
    except ValueError:
        return value


def write_table(name: str, rows: Sequence[Mapping[str, Any]], folder: Path | None = None) -> Path:
    """Write `rows` (dicts with the same keys, in order) to ``<folder>/<name>.csv``; returns the path."""
    folder = Path(folder) if folder is not None else results_dir()
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return atomic_write_text(folder / f"{name}.csv", buffer.getvalue())


def read_table(name: str, folder: Path | None = None) -> list[dict[str, Any]]:
    """Rows of ``<folder>/<name>.csv`` with numbers as floats; [] if the table was never written."""
    path = (Path(folder) if folder is not None else results_dir()) / f"{name}.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: _convert(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def write_json(name: str, data: Any, folder: Path | None = None) -> Path:
    """Write `data` to ``<folder>/<name>.json`` (atomic)."""
    folder = Path(folder) if folder is not None else results_dir()
    return atomic_write_text(folder / f"{name}.json", json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(name: str, folder: Path | None = None) -> Any:
    """The content of ``<folder>/<name>.json``, or None if it was never written."""
    path = (Path(folder) if folder is not None else results_dir()) / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
