"""The domain classifier D: a DCGAN discriminator adapted to 3D patches (paper Sec. 2.1).

The paper (Sec. 2.1): "For the domain classifier D, we chose the DCGAN (Radford et al., 2016)
discriminator's architecture with 5 layers and adapted its implementation to 3D volumes. The first
4 layers consist of a 3D convolutional operation, a LeakyReLU activation, and a dropout operation.
A final linear layer follows to ensure classification."

So D is 4 x (conv 3x3x3 stride 2 pad 1 - LeakyReLU 0.2 - Dropout3d), flatten, Linear to K + 1
logits (K source domains + 1 "generated" class), and nothing else:

- **No normalisation layer.** The authors' code appended a BatchNorm3d to each block; the paper
  does not have it. With BatchNorm, D trained on batches of one kind (all real, all generated) and
  judged in eval mode with running statistics averaged over both kinds computes another function
  than the one it was trained as. Without it, train and eval mode differ only by dropout (eval is
  deterministic; with ``dropout=0`` both modes give identical logits), and a patch's logits never
  depend on the other patches of its batch.
- **Spectral norm** (Miyato et al., 2018) on every convolution and on the linear layer is an
  option, ``spectral_norm=True``, off by default: the paper does not use it.
- **No sigmoid.** The authors' code ends with a Sigmoid before the log-softmax, which caps the
  confidence of the classifier; that is a bug, so D returns plain logits and callers apply
  softmax / cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from deepnorm.errors import ConfigError
from deepnorm.nets.unet import _check_channels, _check_widths


def conv_output_size(size: int, n_layers: int) -> int:
    """Spatial size (voxels) after `n_layers` convolutions of kernel 3, stride 2, padding 1."""
    for _ in range(n_layers):
        size = (size - 1) // 2 + 1
    return size


class Discriminator(nn.Module):
    """Domain classifier: (N, in_channels, p, p, p) -> (N, n_domains + 1) logits, no sigmoid.

    Args:
        in_channels: input channels C (modalities).
        n_domains: K, the number of source domains; class index K (0-based) is "generated".
        widths: channels of the strided convolutions (4 in the paper: 16, 32, 64, 128).
        patch_size: p, the cubic patch side in voxels; fixes the size of the linear layer.
        dropout: Dropout3d probability (0.25 in the authors' code).
        spectral_norm: wrap every convolution and the linear layer in spectral normalisation
            (``torch.nn.utils.parametrizations.spectral_norm``); off by default, not the paper's.

    Example:
        >>> d = Discriminator(1, 2, patch_size=16)
        >>> d(torch.zeros(3, 1, 16, 16, 16)).shape
        torch.Size([3, 3])
    """

    def __init__(
        self,
        in_channels: int,
        n_domains: int,
        *,
        widths: Sequence[int] = (16, 32, 64, 128),
        patch_size: int = 32,
        dropout: float = 0.25,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = _check_channels(in_channels, "in_channels", "Discriminator")
        self.n_domains = _check_channels(n_domains, "n_domains", "Discriminator")
        self.widths = _check_widths(widths, "Discriminator")
        self.patch_size = _check_channels(patch_size, "patch_size", "Discriminator")
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"Discriminator dropout={dropout!r}: must be in [0, 1)")
        self.dropout = float(dropout)
        self.spectral_norm = bool(spectral_norm)
        wrap = nn.utils.parametrizations.spectral_norm if self.spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        c_prev = self.in_channels
        for w in self.widths:
            layers += [
                wrap(nn.Conv3d(c_prev, w, 3, stride=2, padding=1, padding_mode="replicate")),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Dropout3d(self.dropout),
            ]
            c_prev = w
        self.features = nn.Sequential(*layers)
        side = conv_output_size(self.patch_size, len(self.widths))
        self.flat_size = c_prev * side**3
        self.classifier = wrap(nn.Linear(self.flat_size, self.n_domains + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, p, p, p) -> (N, n_domains + 1) logits."""
        p = self.patch_size
        if x.ndim != 5 or tuple(x.shape[1:]) != (self.in_channels, p, p, p):
            raise ConfigError(
                f"Discriminator input shape {tuple(x.shape)}: expected (N, {self.in_channels}, {p}, {p}, {p}); "
                "build the Discriminator with the patch_size and in_channels of the patches you feed it"
            )
        # float32 logits under bf16 autocast, so Eq. 2 and Eq. 3 are computed in float32
        return self.classifier(torch.flatten(self.features(x), 1)).float()
