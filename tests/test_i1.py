"""Instrument check I1: D alone against a frozen generator, and its verdict."""

from __future__ import annotations

import numpy as np
import torch

from deepnorm.nets import Discriminator
from deepnorm.sampling import PatchSampler
from deepnorm.study.claims import FAILS, HOLDS, MISSING
from deepnorm.study.instruments import I1_MIN_GENERATED, i1_check, judge_i1, train_discriminator_alone


class _Constant(torch.nn.Module):
    """A 'normalizer' whose output is a constant image: anything worth the name tells it apart."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) + 0.5 + 0 * self.bias


def _sampler(seed: int) -> PatchSampler:
    rng = np.random.default_rng(seed)
    images = [rng.uniform(0.0, 1.0, size=(1, 16, 16, 16)).astype(np.float32) for _ in range(4)]
    labels = [rng.integers(1, 4, size=(16, 16, 16)) for _ in range(4)]
    return PatchSampler(images, labels, 8, domains=[0, 0, 1, 1], seed=seed, balance=True)


def test_d_alone_learns_to_recognise_an_obvious_generator_and_is_deterministic():
    def once():
        torch.manual_seed(0)
        D = Discriminator(1, 2, widths=(4, 4, 8, 8), patch_size=8, dropout=0.0)
        return train_discriminator_alone(_Constant(), D, _sampler(0), _sampler(1).sample(16), steps=60, batch_size=8,
                                         lr=1e-3, weight_decay=0.0, checks=3, seed=0)

    first, second = once(), once()
    assert [h["step"] for h in first["history"]] == [20, 40, 60]
    assert first["accuracy_generated"] >= I1_MIN_GENERATED  # a constant image is recognised
    assert first == second
    assert judge_i1(first).verdict == HOLDS


def test_the_verdict_follows_the_criterion():
    result = {"accuracy_generated": I1_MIN_GENERATED - 0.01, "accuracy_real": 0.5, "steps": 10}
    assert judge_i1(result).verdict == FAILS
    assert judge_i1({**result, "accuracy_generated": I1_MIN_GENERATED}).verdict == HOLDS
    assert judge_i1(None).verdict == MISSING


def test_i1_runs_on_a_trained_preprocessor_and_is_cached(smoke_root, tmp_path):
    from deepnorm.study.experiments import config_for, notebook_context

    ctx = notebook_context(profile="smoke", data_root=str(smoke_root), seed=0, device="cpu",
                           results_dir=str(tmp_path / "r"), figures_dir=str(tmp_path / "f"), runs_dir=str(tmp_path / "runs"))
    result = i1_check(ctx, progress=False)
    # the smoke profile's D budget: n_steps x epochs x batches per epoch
    adversarial = config_for(ctx, "adversarial", ("iseg", "mrbrains"))
    assert result["steps"] == adversarial.train.n_steps * adversarial.train.epochs * adversarial.batches_per_epoch
    assert 0.0 <= result["accuracy_generated"] <= 1.0
    cached = list((tmp_path / "runs").rglob("i1-*.json"))
    assert len(cached) == 1
    assert i1_check(ctx, progress=False) == result
