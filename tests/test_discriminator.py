"""The paper's discriminator (Sec. 2.1): 4 x (conv3d, LeakyReLU, dropout), then a linear layer.

No normalisation layer, so D computes the same function in train and eval mode except for dropout.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from deepnorm.nets import Discriminator

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, NORM_LAYERS)


@pytest.mark.parametrize("spectral", [False, True])
def test_discriminator_has_no_normalisation_layer(spectral: bool) -> None:
    d = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16, spectral_norm=spectral)
    assert not any(_is_norm(m) for m in d.modules())
    kinds = [nn.Conv3d, nn.LeakyReLU, nn.Dropout3d] * 4
    assert len(d.features) == len(kinds)
    assert all(isinstance(m, k) for m, k in zip(d.features, kinds))


def test_train_and_eval_agree_without_dropout() -> None:
    torch.manual_seed(0)
    d = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16, dropout=0.0)
    real = torch.randn(6, 1, 16, 16, 16) + 3.0
    fake = torch.randn(6, 1, 16, 16, 16) * 0.1
    x = torch.cat([real, fake])
    with torch.no_grad():
        d.train()
        train_out = d(x)
        # a batch of other statistics in between: a running-statistics layer would drift here
        d(fake * 50.0)
        d.eval()
        eval_out = d(x)
        eval_alone = d(real)
    torch.testing.assert_close(train_out, eval_out)
    # no batch statistics: a patch's logits do not depend on the other patches of its batch
    torch.testing.assert_close(eval_alone, eval_out[:6])


def test_eval_is_deterministic_and_train_differs_only_by_dropout() -> None:
    torch.manual_seed(0)
    d = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16, dropout=0.5)
    x = torch.randn(4, 1, 16, 16, 16)
    with torch.no_grad():
        d.eval()
        a, b = d(x), d(x)
        d.train()
        c = d(x)
        # switching dropout off turns the train-mode network into the eval-mode one
        for m in d.modules():
            if isinstance(m, nn.Dropout3d):
                m.p = 0.0
        e = d(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(c, a)
    torch.testing.assert_close(e, a)


def test_spectral_norm_is_an_option_off_by_default() -> None:
    plain = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    sn = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16, spectral_norm=True)
    convs = [m for m in sn.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    assert len(convs) == 5 and all(hasattr(m, "parametrizations") for m in convs)
    assert sn(torch.randn(2, 1, 16, 16, 16)).shape == (2, 3)
