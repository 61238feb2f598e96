"""``adversarial``: the paper's method, G + S + D trained with Algorithm 1 (Eq. 3)."""

from __future__ import annotations

from collections.abc import Iterator

from deepnorm.training.methods.base import Method, Nets, Optimizers, _floats


class Adversarial(Method):
    """G and S minimise L_seg + lambda * L_adv(D(G(x))) while D learns the K+1 domain classes."""

    name = "adversarial"
    uses_generator = True
    uses_discriminator = True

    def train_iteration(self, nets: Nets, opts: Optimizers, batches: Iterator) -> dict[str, float]:
        """One Algorithm 1 iteration: n_steps D updates, then one G+S update (see deepnorm.training.algorithm1)."""
        from deepnorm.training.algorithm1 import algorithm1_iteration

        t = self.config.train
        out = algorithm1_iteration(
            nets.generator,
            nets.segmenter,
            nets.discriminator,
            opts.gs,
            opts.d,
            batches,
            lam=t.lam,
            n_steps=t.n_steps,
            mode=t.generator_loss,
            dice_loss=t.dice_loss,
        )
        return _floats(out)
