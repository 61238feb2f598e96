"""train.precision: the rule that picks bf16 or float32, its place in the configuration, and bf16's numerics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepnorm.errors import ConfigError
from deepnorm.nets.discriminator import Discriminator
from deepnorm.nets.unet import UNet3D
from deepnorm.precision import autocast, bf16_units, choose_precision
from deepnorm.training.config import Config, profile

CPU_WIDTHS = (8, 16, 32, 64)
WIDE = (16, 32, 64, 128)


@pytest.mark.parametrize(("units", "widths", "expected"), [
    ("amx", CPU_WIDTHS, "bf16"), ("amx", WIDE, "bf16"),
    ("avx512_bf16", CPU_WIDTHS, "float32"), ("avx512_bf16", WIDE, "bf16"),
    ("none", CPU_WIDTHS, "float32"), ("none", WIDE, "float32"),
])
def test_the_rule_follows_the_processor_and_the_widths(units, widths, expected):
    assert choose_precision(widths, "cpu", units=units) == expected


def test_cuda_trains_in_float32_by_rule():
    assert choose_precision(WIDE, "cuda", units="amx") == "float32"


def test_a_cap_on_onednn_hides_the_bf16_units(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert bf16_units() == "none"
    assert choose_precision(CPU_WIDTHS, "cpu") == "float32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert bf16_units() in ("avx512_bf16", "none")  # never AMX below the AMX ISAs


def test_auto_is_resolved_on_construction_and_stored():
    config = profile("cpu", **{"train.precision": "auto"})
    assert config.train.precision == choose_precision(CPU_WIDTHS, "cpu")
    assert Config.from_yaml(config.to_yaml()) == config


def test_float32_keeps_the_run_key_and_bf16_changes_it():
    plain = profile("cpu", **{"train.precision": "float32"})
    values = plain.to_dict()
    assert "precision" not in values["train"]
    # a config.yaml written before train.precision existed loads as float32, with its old key
    assert Config.from_dict(values) == plain and Config.from_dict(values).stable_hash() == plain.stable_hash()
    bf16 = profile("cpu", **{"train.precision": "bf16"})
    assert bf16.to_dict()["train"]["precision"] == "bf16" and bf16.stable_hash() != plain.stable_hash()


def test_an_unknown_precision_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="train.precision"):
        profile("cpu", **{"train.precision": "fp16"})


def test_the_networks_return_float32_under_bf16_autocast():
    torch.manual_seed(0)
    unet, disc = UNet3D(1, 4, widths=(4, 8), out_activation="softmax"), Discriminator(1, 2, widths=(4, 8), patch_size=8)
    x = torch.rand(2, 1, 8, 8, 8)
    with torch.no_grad(), autocast(True, torch.device("cpu")):
        out, logits = unet(x), disc(x)
    assert out.dtype == torch.float32 and logits.dtype == torch.float32
    assert torch.allclose(out.sum(dim=1), torch.ones(2, 8, 8, 8), atol=1e-5)  # softmax in float32
    assert next(unet.parameters()).dtype == torch.float32


def test_the_discriminators_last_strided_convolution_is_right_in_bf16():
    """oneDNN's bf16 conv3d has been reported wrong on AMX when the output is 1 voxel wide with stride
    > 1, which is D's last layer at the cpu profile (2³ -> 1³). Checked against float64 arithmetic
    on the same bf16 operands: only the output's rounding to bf16 (2^-8 relative) may differ."""
    torch.manual_seed(0)
    disc = Discriminator(1, 2, widths=WIDE, patch_size=16)
    conv = [m for m in disc.modules() if isinstance(m, torch.nn.Conv3d)][-1]
    h = F.pad(torch.rand(8, conv.in_channels, 2, 2, 2), (1, 1, 1, 1, 1, 1), mode="replicate").bfloat16()
    w, b = conv.weight.detach().bfloat16(), conv.bias.detach().bfloat16()
    exact = F.conv3d(h.double(), w.double(), b.double(), stride=2)
    got = F.conv3d(h, w, b, stride=2).double()
    assert got.shape == (8, conv.out_channels, 1, 1, 1)
    assert (got - exact).abs().max() <= 2 ** -7 * exact.abs().max()
    x = torch.rand(8, 1, 16, 16, 16)
    disc.eval()
    with torch.no_grad():
        ref = disc(x)
        with autocast(True, torch.device("cpu")):
            low = disc(x)
    assert (low - ref).abs().max() <= 2e-2 * ref.abs().max() + 1e-3


def test_a_bf16_training_runs_keeps_float32_weights_and_differs_from_float32(smoke_root, tmp_path):
    from deepnorm.training.loop import train
    from deepnorm.training.runs import load_run, read_run_info

    base = profile("smoke", **{"train.method": "segmenter", "data.sites": ("iseg",)})
    folders = {p: train(base.replace(**{"train.precision": p}), data_root=smoke_root, runs_dir=tmp_path, progress=False)
               for p in ("float32", "bf16")}
    assert folders["float32"] != folders["bf16"]
    for precision, folder in folders.items():  # run.json says what arithmetic ran, and on what
        info = read_run_info(folder)
        assert info["precision"] == precision and info["processor"]["cpu capability"]
    nets = {p: load_run(f, device="cpu") for p, f in folders.items()}
    a, b = (dict(nets[p].segmenter.state_dict()) for p in ("float32", "bf16"))
    assert all(v.dtype == torch.float32 for k, v in b.items() if v.is_floating_point())
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
