"""Laws of the 3D U-Net and the Discriminator: shapes, activations, layer layout, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepnorm.errors import ConfigError
from deepnorm.nets import CPU_WIDTHS, PAPER_WIDTHS, Discriminator, UNet3D, nearest_valid_size
from deepnorm.nets.unet import ConvBlock

torch.set_num_threads(1)


@pytest.mark.parametrize(
    ("c_in", "c_out", "widths", "size"),
    [(1, 4, (4, 8), (8, 8, 8)), (2, 2, (4, 8, 8), (8, 12, 16)), (1, 4, CPU_WIDTHS, (16, 16, 16))],
)
def test_unet_shape(c_in, c_out, widths, size):
    net = UNet3D(c_in, c_out, widths=widths)
    out = net(torch.randn(2, c_in, *size))
    assert out.shape == (2, c_out, *size)
    assert net.depth_multiple == 2 ** (len(widths) - 1)


def test_unet_activations():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 8, 8, 8) * 10
    g = UNet3D(2, 2, widths=(4, 8), out_activation="sigmoid").eval()
    y = g(x)
    assert y.min() >= 0 and y.max() <= 1
    s = UNet3D(2, 4, widths=(4, 8), out_activation="softmax").eval()
    logits_net = UNet3D(2, 4, widths=(4, 8)).eval()
    logits_net.load_state_dict(s.state_dict())
    torch.testing.assert_close(s(x), torch.softmax(logits_net(x), dim=1))
    torch.testing.assert_close(s(x).sum(1), torch.ones(2, 8, 8, 8))


def test_unet_layout_paper_widths():
    net = UNet3D(1, 4, widths=PAPER_WIDTHS)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv3d)]
    # 2 convs per encoder level + 2 per decoder level + the 1x1x1 head; no transposed convolution
    assert len(convs) == 2 * len(PAPER_WIDTHS) + 2 * (len(PAPER_WIDTHS) - 1) + 1
    assert not any(isinstance(m, nn.ConvTranspose3d) for m in net.modules())
    assert [b[0].out_channels for b in net.encoders] == list(PAPER_WIDTHS)
    assert net.head.kernel_size == (1, 1, 1) and net.head.in_channels == 64
    # decoder input = upsampled deeper features + skip
    assert net.decoders[0][0].in_channels == 512 + 512
    assert net.decoders[-1][0].in_channels == 128 + 64
    assert net.depth_multiple == 16


def test_conv_block_matches_functional_oracle():
    torch.manual_seed(1)
    block = ConvBlock(2, 3).eval()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.randn(1, 2, 5, 6, 7)
    ref = x
    for conv, bn in ((block[0], block[1]), (block[3], block[4])):
        ref = F.conv3d(F.pad(ref, (1,) * 6, mode="replicate"), conv.weight)
        ref = (ref - bn.running_mean.view(1, -1, 1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1, 1) + bn.eps)
        ref = F.relu(ref * bn.weight.view(1, -1, 1, 1, 1) + bn.bias.view(1, -1, 1, 1, 1))
    torch.testing.assert_close(block(x), ref)


def test_unet_gradients_reach_every_parameter():
    net = UNet3D(1, 4, widths=(4, 8, 8))
    net(torch.randn(2, 1, 8, 8, 8)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_unet_indivisible_size_names_nearest_valid():
    net = UNet3D(1, 4, widths=(4, 8, 8, 8))
    with pytest.raises(ConfigError, match=r"\(30, 32, 37\).*divisible by 8.*\(32, 32, 40\)"):
        net(torch.zeros(1, 1, 30, 32, 37))
    with pytest.raises(ConfigError, match="expected \\(N, 1, X, Y, Z\\)"):
        net(torch.zeros(1, 2, 8, 8, 8))
    assert nearest_valid_size(3, 8) == 8 and nearest_valid_size(12, 8) == 16 and nearest_valid_size(11, 8) == 8


@pytest.mark.parametrize(
    "kwargs",
    [{"widths": ()}, {"widths": (8, 0)}, {"widths": (8.5, 16)}, {"out_activation": "tanh"}, {"upsample": "transposed"}],
)
def test_unet_rejects_bad_config(kwargs):
    with pytest.raises(ConfigError):
        UNet3D(1, 4, **kwargs)
    with pytest.raises(ConfigError, match="in_channels"):
        UNet3D(0, 4)


def test_unet_trilinear_upsample_runs():
    net = UNet3D(1, 2, widths=(4, 8), upsample="trilinear")
    assert net(torch.randn(1, 1, 8, 8, 8)).shape == (1, 2, 8, 8, 8)


@pytest.mark.parametrize(("patch", "flat"), [(16, 128 * 1), (32, 128 * 8)])
def test_discriminator_shapes_default_widths(patch, flat):
    d = Discriminator(2, 3, patch_size=patch)
    assert d.flat_size == flat
    assert d(torch.randn(4, 2, patch, patch, patch)).shape == (4, 4)
    assert d.classifier.out_features == 3 + 1  # K sites and "generated"


def test_discriminator_layout_and_no_sigmoid():
    d = Discriminator(1, 2, patch_size=16).eval()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv3d)]
    assert [c.stride for c in convs] == [(2, 2, 2)] * 4
    assert [c.out_channels for c in convs] == [16, 32, 64, 128]
    assert sum(isinstance(m, nn.Dropout3d) for m in d.modules()) == 4
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in d.modules()) == 4
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())
    # the output is the linear layer itself: logits outside (0, 1) come through untouched
    with torch.no_grad():
        d.classifier.weight.zero_()
        d.classifier.bias.copy_(torch.tensor([-7.0, 3.0, 12.0]))
    torch.testing.assert_close(d(torch.randn(2, 1, 16, 16, 16)), torch.tensor([[-7.0, 3.0, 12.0]] * 2))


def test_discriminator_dropout_only_in_train_mode():
    torch.manual_seed(0)
    d = Discriminator(1, 2, widths=(4, 8, 8, 8), patch_size=16, dropout=0.5)
    x = torch.randn(4, 1, 16, 16, 16)
    d.eval()
    torch.testing.assert_close(d(x), d(x))
    d.train()
    assert not torch.equal(d(x), d(x))


def test_discriminator_rejects_bad_input():
    d = Discriminator(1, 2, patch_size=16)
    with pytest.raises(ConfigError, match="patch_size"):
        d(torch.zeros(1, 1, 32, 32, 32))
    with pytest.raises(ConfigError, match="dropout"):
        Discriminator(1, 2, dropout=1.0)
    with pytest.raises(ConfigError, match="n_domains"):
        Discriminator(1, 0)


@pytest.mark.parametrize("activation", [None, "sigmoid"])
def test_unet_channels_last_matches_default_layout(activation):
    torch.manual_seed(0)
    plain = UNet3D(1, 2, widths=(4, 8), out_activation=activation)
    last = UNet3D(1, 2, widths=(4, 8), out_activation=activation, channels_last=True)
    last.load_state_dict(plain.state_dict())
    assert last.encoders[0][0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    x = torch.rand(2, 1, 8, 8, 8)
    a, b = plain(x), last(x)
    assert b.is_contiguous()
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)  # float rounding only
    a.square().sum().backward()
    b.square().sum().backward()
    torch.testing.assert_close(last.head.weight.grad, plain.head.weight.grad, rtol=1e-3, atol=1e-5)
