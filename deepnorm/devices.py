"""Where tensors live: one resolver of the device names that configs and commands accept."""

from __future__ import annotations

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
