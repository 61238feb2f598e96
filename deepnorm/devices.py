"""Where tensors live: one resolver of the device names that configs and commands accept."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from deepnorm.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: Device names a configuration or a command accepts.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device) -> torch.device:
    """"auto" -> cuda when available else cpu; "cuda" (or "cuda:N") without a GPU raises ConfigError."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {name!r} is unknown; use one of {', '.join(DEVICES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} but no CUDA device is visible; use 'auto' or 'cpu'")
    return device


#: cuBLAS needs a fixed workspace for reproducible matrix products (CUDA's documentation).
CUBLAS_WORKSPACE = ":4096:8"


@contextlib.contextmanager
def cuda_determinism(device: torch.device, deterministic: bool) -> Iterator[None]:
    """Inside: CUDA kernels chosen for speed (cuDNN benchmark) or for bit-identical results.

    On CUDA with `deterministic`, cuDNN uses deterministic algorithms and PyTorch takes the
    deterministic kernel of every operation that has one, so the same seed gives the same weights
    on the same GPU and software. An operation with no deterministic CUDA kernel in the installed
    PyTorch warns (``warn_only``) instead of stopping the training: with torch 2.11 that is
    MaxPool3d's backward, whose 2x2x2 windows do not overlap, so no two of its additions meet;
    the torch 2.13 that deepnorm pins has a deterministic one. Without `deterministic`, cuDNN
    benchmarks and picks its fastest kernels, some of which add in an arbitrary order: two
    smoke trainings on an H100 ended 0.005 apart in their weights. On the CPU it changes nothing
    (CPU training is deterministic either way). The global flags are restored on exit.
    """
    import torch

    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
