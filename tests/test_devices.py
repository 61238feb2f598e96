"""The device resolver and the CUDA determinism switch (laws that hold without a GPU)."""

from __future__ import annotations

import pytest
import torch

from deepnorm.devices import cuda_determinism, resolve_device
from deepnorm.errors import ConfigError


def _flags() -> tuple[bool, bool, bool]:
    return (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
            torch.are_deterministic_algorithms_enabled())


def test_cpu_leaves_every_flag_alone():
    before = _flags()
    with cuda_determinism(torch.device("cpu"), True):
        assert _flags() == before
    assert _flags() == before


@pytest.mark.parametrize("deterministic", [True, False])
def test_cuda_sets_the_flags_and_restores_them(deterministic):
    # setting the flags needs no GPU; the context must undo them even when the body raises
    before = _flags()
    with pytest.raises(RuntimeError, match="inside"):
        with cuda_determinism(torch.device("cuda"), deterministic):
            assert _flags() == (not deterministic, deterministic, deterministic)
            raise RuntimeError("inside")
    assert _flags() == before


def test_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown"):
        resolve_device("tpu")
