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


#: The variables that cap the instruction sets PyTorch's CPU kernels use (oneDNN's and ATen's).
ISA_VARIABLES: tuple[str, ...] = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def _cpu_model() -> str:
    """The processor's model name from ``/proc/cpuinfo`` ('' where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor()


def cpu_description() -> dict[str, str | int]:
    """What decides the last digits of a CPU training: the processor and the kernels PyTorch picks on it.

    Returns ``processor`` (model name), ``cpu capability`` (ATen's vectorised kernels as PyTorch
    sees them: ``torch.backends.cpu.get_cpu_capability()``, e.g. ``AVX512``, ``AVX2``), ``amx`` (whether
    the processor has AMX tiles, which oneDNN uses for its matrix products), ``isa caps`` (the
    :data:`ISA_VARIABLES` that are set, else ``none``) and ``threads`` (intra-op threads of this
    process, ``torch.get_num_threads()``). Two trainings with the same seed give the same bytes only
    where all of these agree.
    """
    import torch

    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    caps = [f"{name}={os.environ[name]}" for name in ISA_VARIABLES if os.environ.get(name)]
    return {
        "processor": _cpu_model() or "unknown",
        "cpu capability": torch.backends.cpu.get_cpu_capability(),
        "amx": ("yes" if amx() else "no") if amx is not None else "unknown",
        "isa caps": ", ".join(caps) or "none",
        "threads": torch.get_num_threads(),
    }
