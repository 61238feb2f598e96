"""The one place that turns a user's data root (or none) into a folder of data sets."""

from __future__ import annotations

from pathlib import Path

from deepnorm.errors import DataError


def resolve_data_root(data_root: str | Path | None, *, profile: str, seed: int) -> Path:
    """The absolute data root: `data_root` itself, or the embedded phantom of `profile`/`seed`.

    None (or "") builds the phantom on first use (:func:`deepnorm.data.phantom.build.ensure_phantom`).
    Raises DataError when a given root is not a folder.
    """
    if data_root is None or str(data_root) == "":
        from deepnorm.data.phantom.build import ensure_phantom

        return ensure_phantom(profile=profile, seed=seed)
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"data root {root} is not a folder; pass the folder that holds the data sets (--data-root)")
    return root
