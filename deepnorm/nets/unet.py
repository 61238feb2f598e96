"""3D U-Net (Çiçek et al. 2016) used as the Generator G and the Segmenter S (paper Sec. 2.1).

Encoder: per level 2 x (conv 3x3x3 - BatchNorm - ReLU), then max-pool 2. Decoder: upsample x2
(nearest by default, trilinear optional; no transposed convolution, as in the paper) + concatenate
the skip + 2 x (conv3 - BN - ReLU). A final 1x1x1 convolution maps to the output channels.
Convolutions pad by replication, as the authors' code does, so borders carry no zero ring.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepnorm.errors import ConfigError

#: Channel widths per level of the authors' code (5 levels), used by the `paper` profile.
PAPER_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: Small widths that train on a laptop CPU (4 levels).
CPU_WIDTHS: tuple[int, ...] = (8, 16, 32, 64)

_ACTIVATIONS = (None, "sigmoid", "softmax")
_UPSAMPLE = ("nearest", "trilinear")


def _check_widths(widths: Sequence[int], owner: str) -> tuple[int, ...]:
    try:
        out = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        raise ConfigError(f"{owner} widths={widths!r}: give a sequence of positive channel counts, e.g. (8, 16, 32, 64)") from None
    if not out or any(w < 1 for w in out) or any(int(w) != w for w in widths):
        raise ConfigError(f"{owner} widths={widths!r}: give a non-empty sequence of positive integers, e.g. (8, 16, 32, 64)")
    return out


def _check_channels(value: int, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner} {name}={value!r}: must be a positive integer")
    return value


def nearest_valid_size(size: int, multiple: int) -> int:
    """The multiple of `multiple` closest to `size` (voxels), at least `multiple` (ties round up)."""
    return max(multiple, int((size + multiple / 2) // multiple) * multiple)


class ConvBlock(nn.Sequential):
    """2 x (conv 3x3x3, replication pad 1 - BatchNorm3d - ReLU): (N, c_in, X, Y, Z) -> (N, c_out, X, Y, Z)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers += [
                nn.Conv3d(c_in, out_channels, 3, padding=1, padding_mode="replicate", bias=False),
                nn.BatchNorm3d(out_channels),
                nn.ReLU(inplace=True),
            ]
        super().__init__(*layers)


class UNet3D(nn.Module):
    """3D U-Net: (N, in_channels, X, Y, Z) -> (N, out_channels, X, Y, Z).

    Args:
        in_channels: input channels C (modalities).
        out_channels: output channels (C for the Generator, 4 classes for the Segmenter).
        widths: channels per level; ``len(widths)`` levels, ``len(widths) - 1`` poolings, so each
            spatial size (voxels) must be a multiple of ``depth_multiple = 2 ** (len(widths) - 1)``.
        out_activation: None (logits), "sigmoid" (Generator: images in [0, 1]) or "softmax" (over
            the channel axis).
        upsample: "nearest" (authors' code) or "trilinear".
        channels_last: keep weights and activations channels-last (``torch.channels_last_3d``):
            faster convolutions on CPU (oneDNN) and GPU (cuDNN), values equal to float rounding
            but not bit for bit, so off by default.

    Example:
        >>> net = UNet3D(1, 4, widths=(4, 8))
        >>> net(torch.zeros(2, 1, 8, 8, 8)).shape
        torch.Size([2, 4, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        widths: Sequence[int] = CPU_WIDTHS,
        out_activation: str | None = None,
        upsample: str = "nearest",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = _check_channels(in_channels, "in_channels", "UNet3D")
        self.out_channels = _check_channels(out_channels, "out_channels", "UNet3D")
        self.widths = _check_widths(widths, "UNet3D")
        if out_activation not in _ACTIVATIONS:
            raise ConfigError(f"UNet3D out_activation={out_activation!r}: choose one of {_ACTIVATIONS}")
        if upsample not in _UPSAMPLE:
            raise ConfigError(f"UNet3D upsample={upsample!r}: choose one of {_UPSAMPLE}")
        self.out_activation = out_activation
        self.upsample = upsample
        self.depth_multiple = 2 ** (len(self.widths) - 1)

        self.encoders = nn.ModuleList()
        c_prev = self.in_channels
        for w in self.widths:
            self.encoders.append(ConvBlock(c_prev, w))
            c_prev = w
        self.pool = nn.MaxPool3d(2)
        self.decoders = nn.ModuleList()
        for level in range(len(self.widths) - 2, -1, -1):
            self.decoders.append(ConvBlock(c_prev + self.widths[level], self.widths[level]))
            c_prev = self.widths[level]
        self.head = nn.Conv3d(c_prev, self.out_channels, 1)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]  # Module.to takes it; torch's overloads omit it

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ConfigError unless `x` is (N, in_channels, X, Y, Z) with sizes multiples of depth_multiple."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ConfigError(
                f"UNet3D input shape {tuple(x.shape)}: expected (N, {self.in_channels}, X, Y, Z); "
                "check the number of modalities (channels) given to the network"
            )
        m = self.depth_multiple
        size = tuple(int(s) for s in x.shape[2:])
        if any(s % m for s in size):
            valid = tuple(nearest_valid_size(s, m) for s in size)
            raise ConfigError(
                f"UNet3D input spatial size {size} voxels: each size must be divisible by {m} "
                f"(= 2**{len(self.widths) - 1} for {len(self.widths)} widths); nearest valid size {valid}. "
                "Pad or crop the input (or use a patch size that is a multiple), or use fewer widths."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, X, Y, Z) -> (N, out_channels, X, Y, Z), activated per `out_activation`."""
        self.check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        skips: list[torch.Tensor] = []
        for i, encoder in enumerate(self.encoders):
            if i:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        skips.pop()
        for decoder in self.decoders:
            skip = skips.pop()
            if self.upsample == "nearest":
                x = nn.functional.interpolate(x, size=skip.shape[2:], mode="nearest")
            else:
                x = nn.functional.interpolate(x, size=skip.shape[2:], mode="trilinear", align_corners=False)
            x = decoder(torch.cat([x, skip], dim=1))
        # under bf16 autocast the convolutions run in bf16; the activation and everything after it
        # (losses, Dice sums, metrics) in float32 (a no-op in float32)
        x = self.head(x).float()
        if self.out_activation == "sigmoid":
            x = torch.sigmoid(x)
        elif self.out_activation == "softmax":
            x = torch.softmax(x, dim=1)
        return x.contiguous() if self.channels_last else x
