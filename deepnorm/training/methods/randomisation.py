"""``contrast_randomisation``: S alone, trained on patches of random contrast (beyond the paper).

The SynthSeg idea (Billot et al., Medical Image Analysis 86, 102789, 2023): instead of
normalizing the images, make the segmenter indifferent to contrast by training it on images
synthesised from the label maps with random tissue intensities, gamma, bias field, blur and noise
(:mod:`deepnorm.data.randomise`, laws in ``config.train.randomisation``). No generator, no
discriminator; at test time S is applied to the raw [0, 1] volume, as the segmenter baseline.

Each batch's draws are seeded by a number taken from torch's global generator (and the process
rank under torchrun), which the training seeds (``train.seed``) and whose state every checkpoint
keeps: a seed gives the same training, and a resumed one draws what the uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from deepnorm.data.randomise import randomise_patches
from deepnorm.training.methods.base import Method, Nets, Optimizers, _floats


class ContrastRandomisation(Method):
    """S on contrast-randomised training patches; validation and test images stay real."""

    name = "contrast_randomisation"

    def train_iteration(self, nets: Nets, opts: Optimizers, batches: Iterator) -> dict[str, float]:
        """One segmentation step of S on the next batch, its images redrawn from its labels."""
        from deepnorm.training.algorithm1 import segmentation_update
        from deepnorm.training.distributed import distributed_env

        batch = next(batches)
        rank, world, _ = distributed_env()
        # every rank holds the same global RNG state but its own share of the batch: its own draws
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item()) * world + rank
        images = randomise_patches(batch.images, batch.labels, seed=seed, params=self.config.train.randomisation,
                                   spacing=self.config.data.spacing)
        out = segmentation_update(None, nets.segmenter, opts.gs, images, batch.labels, lam=0.0,
                                  dice_loss=self.config.train.dice_loss)
        return _floats(out)
