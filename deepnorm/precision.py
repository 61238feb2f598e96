"""The arithmetic a training runs in: float32, or bf16 autocast where the processor has bf16 units.

``train.precision`` is ``"float32"``, ``"bf16"`` or ``"auto"``. A configuration resolves
``"auto"`` on construction with :func:`choose_precision`, so what is stored (``config.yaml``, the
run key, ``run.json``) is the arithmetic that ran: bf16 changes the numbers, so it changes the run.

Under bf16 autocast the convolutions and matrix products run in bfloat16; the networks return
float32 outputs (``UNet3D`` and ``Discriminator`` cast before their last activation), so softmax,
the losses (Eq. 1-3), the Dice sums and the metrics stay float32, and weights and Adam's state are
float32 throughout (autocast casts a copy of each weight per operation).

The rule (measured with torch 2.13.0+cpu on 2 cores, one U-Net training step, median of 8):

- AMX (``amx_tile``, Intel): bf16 wherever a convolution runs. At the cpu widths 8-16-32-64 with
  8 x 16³ patches, 25.8 ms in bf16 against 46.6 ms in float32 channels-last; at the paper's widths
  (2 x 32³) 963 ms against 2,546.
- AVX-512 BF16 without AMX (AMD Zen 4): bf16 only from a first width of 16 up (widths 16-32-64-128,
  8 x 32³: 556 ms against 811); at the cpu widths it gains nothing (62.3 against 63.2 ms).
- No bf16 units (AVX2 and below, or capped with ``ONEDNN_MAX_CPU_ISA``): float32; bf16 there falls
  back to slow emulated paths.
- Measured again through the training loop's own path (``benchmarks/bench_step.py``, Intel
  Xeon with AMX, 2 threads, quiet; ``docs/timings.md``): at the cpu widths bf16 makes a segmenter
  iteration 1.40x and an Algorithm-1 iteration 1.28x faster than the float32 channels-last
  training before it; at widths 32-64-128-256 2.12x and 2.03x. Channels-last and the default
  layout are within 6 % of each other in bf16 at the cpu widths, and channels-last is 17-26 %
  faster from widths 16 up, so the cpu profile keeps channels-last.
- CUDA: float32 (on one H100 bf16 autocast made a paper-profile iteration 1.07x faster, and a
  4-epoch cpu-profile segmenter's validation Dice moved by up to 0.14; ``train.amp`` still opts in).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deepnorm.errors import ConfigError

if TYPE_CHECKING:
    import torch

#: The values of ``train.precision`` (and ``--precision``).
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")

#: The first U-Net width from which bf16 pays on a processor with AVX-512 BF16 but no AMX.
BF16_MIN_WIDTH_WITHOUT_AMX = 16

#: oneDNN's instruction-set names in increasing order (``ONEDNN_MAX_CPU_ISA``); bf16 units from
#: ``AVX512_CORE_BF16`` up, AMX from ``AVX10_1_512_AMX`` up.
_ONEDNN_ISAS: tuple[str, ...] = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                                 "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16",
                                 "AVX10_1_512_AMX", "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16", "AVX512_CORE_AMX_FP16")


def _isa_cap() -> int | None:
    """The rank of ``ONEDNN_MAX_CPU_ISA`` in :data:`_ONEDNN_ISAS` (None when unset or ``ALL``)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if not cap or cap in ("ALL", "DEFAULT"):
        return None
    return _ONEDNN_ISAS.index(cap) if cap in _ONEDNN_ISAS else None


def bf16_units() -> str:
    """The processor's bf16 matrix units as oneDNN may use them: ``"amx"``, ``"avx512_bf16"`` or ``"none"``.

    Reads the processor (PyTorch's ``cpuinfo``) and honours a cap set with ``ONEDNN_MAX_CPU_ISA``.
    """
    import torch

    amx = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and torch.backends.mkldnn.is_available()
    cap = _isa_cap()
    if cap is not None:
        amx = amx and cap >= _ONEDNN_ISAS.index("AVX10_1_512_AMX")
        bf16 = bf16 and cap >= _ONEDNN_ISAS.index("AVX512_CORE_BF16")
    return "amx" if amx and bf16 else ("avx512_bf16" if bf16 else "none")


def choose_precision(widths: Sequence[int], device: str, units: str | None = None) -> str:
    """``"bf16"`` or ``"float32"`` for U-Nets of `widths` trained on `device` ("cpu", "cuda", "auto").

    `units` is :func:`bf16_units` unless given (for tests). See the module docstring for the rule
    and the measurements behind it.
    """
    import torch

    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return "float32"
    units = bf16_units() if units is None else units
    if units == "amx":
        return "bf16"
    if units == "avx512_bf16" and widths and widths[0] >= BF16_MIN_WIDTH_WITHOUT_AMX:
        return "bf16"
    return "float32"


def check_precision(name: str, value: Any) -> str:
    """`value` when it is one of :data:`PRECISIONS`, else ConfigError naming `name`."""
    if value not in PRECISIONS:
        raise ConfigError(f"{name} = {value!r}: expected one of {', '.join(PRECISIONS)}")
    return str(value)


def runs_in_bf16(config: Any, device: torch.device) -> bool:
    """Whether a run of `config` (a :class:`~deepnorm.training.config.Config`) computes on `device`
    under bf16 autocast, in training, validation and evaluation alike: ``train.precision`` bf16
    (CPU or GPU), or ``train.amp`` on CUDA."""
    return config.train.precision == "bf16" or (bool(config.train.amp) and device.type == "cuda")


def autocast(enabled: bool, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Inside: bf16 autocast on `device` when `enabled` (:func:`runs_in_bf16`), else nothing."""
    import torch

    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
