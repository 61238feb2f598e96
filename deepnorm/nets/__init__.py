"""Networks: the 3D U-Net (Generator G, Segmenter S) and the domain Discriminator D."""

from __future__ import annotations

from deepnorm.nets.discriminator import Discriminator
from deepnorm.nets.unet import CPU_WIDTHS, PAPER_WIDTHS, UNet3D, nearest_valid_size

__all__ = ["CPU_WIDTHS", "PAPER_WIDTHS", "Discriminator", "UNet3D", "nearest_valid_size"]
