"""Atomic checkpoints that load with ``torch.load(weights_only=True)``, and RNG state capture.

A checkpoint holds only tensors, numbers, strings, lists and dicts (no pickled objects), so it
is safe to load from an untrusted folder. RNG states are stored as tensors (torch, CUDA) and
lists (numpy's legacy global generator, Python's ``random``).
"""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepnorm.errors import RunError
from deepnorm.files import atomic_write_bytes


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write `state` (torch.save) atomically with :func:`deepnorm.files.atomic_write_bytes`."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(path, buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; RunError naming the file when it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"checkpoint {path} does not exist; train the run (deepnorm train) to create it")
    try:
        with warnings.catch_warnings():  # torch's advice about weights_only is not for a user: the error says it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise RunError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: it is truncated, corrupt, or holds objects "
            "other than tensors and plain values, which are never loaded); delete it and train again"
        ) from None
    if not isinstance(state, dict):
        raise RunError(f"checkpoint {path} holds a {type(state).__name__}, not a checkpoint; delete it and train again")
    return state


def rng_state() -> dict[str, Any]:
    """The states of torch (CPU and CUDA), numpy's global generator and Python's random."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": [str(kind), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [int(py_version), list(py_state), py_gauss],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, py_state, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in py_state), gauss))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator and Python's random with `seed`."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
