"""Contrast randomisation of training patches: synthetic images drawn from the label map.

The idea of SynthSeg (Billot et al., "SynthSeg: Segmentation of brain MRI scans of any contrast
and resolution without retraining", Medical Image Analysis 86, 102789, 2023): a segmenter that
only ever sees images whose contrast, bias field and resolution are random learns to segment
any contrast. Beyond the paper this package reproduces (Delisle et al. 2021): a baseline that
needs no normalizer.

For each patch and each channel, with probability ``p_synthetic`` the image is replaced by

1. a Gaussian mixture conditioned on the labels: each label present in the patch (background
   included, as SynthSeg) gets a mean ~ U(mean_range) and a spread ~ U(std_range)
   (``torchio.RandomLabelsToImage``);
2. times a smooth multiplicative bias field, exp of a random polynomial of order ``bias_order``
   with coefficients ~ U(-bias_coefficient, bias_coefficient) (``torchio.RandomBiasField``);
3. min-max rescaled to [0, 1], then raised to the power exp(u), u ~ U(log_gamma_range)
   (``torchio.RandomGamma``);
4. blurred by a Gaussian of standard deviation ~ U(blur_std_mm) mm, drawn per axis
   (``torchio.RandomBlur``);
5. plus white Gaussian noise of standard deviation ~ U(noise_std) (``torchio.RandomNoise``);
6. min-max rescaled to [0, 1] again.

The labels are never changed. Every draw comes from a generator seeded by ``seed`` and the
patch index: the same seed gives the same images, bit for bit, whatever the RNG state outside.

>>> import torch
>>> labels = torch.randint(0, 4, (2, 8, 8, 8), generator=torch.Generator().manual_seed(0))
>>> images = torch.rand(2, 1, 8, 8, 8)
>>> out = randomise_patches(images, labels, seed=0)
>>> out.shape, out.dtype, bool(out.min() >= 0 and out.max() <= 1)
(torch.Size([2, 1, 8, 8, 8]), torch.float32, True)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import N_CLASSES

_RANGES: tuple[str, ...] = ("mean_range", "std_range", "log_gamma_range", "blur_std_mm", "noise_std")


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config field 'train.randomisation.{name}' = {value!r} is invalid: {allowed}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RandomisationParams:
    """The laws of contrast randomisation (see the module docstring for the order of the steps).

    Each ``*_range`` / ``*_std*`` field is a (low, high) pair of a uniform law; (0, 0) switches a
    step off (and the bias field is off at ``bias_coefficient = 0``).

    Attributes:
        p_synthetic: probability that a patch is replaced by its synthetic image (1: every patch,
            as SynthSeg, which trains on synthetic images only; below 1 the other patches stay real).
        mean_range: law of each label's mean, in SynthSeg's 0-255 intensity units. SynthSeg code
            default (``BrainGenerator(prior_means=None)`` means U(25, 225)); only ratios matter,
            as the image is rescaled to [0, 1] afterwards.
        std_range: law of each label's standard deviation, same units. SynthSeg code default
            (``prior_stds=None`` means U(5, 25)).
        bias_order: order of TorchIO's polynomial log bias field over one patch.
        bias_coefficient: bound of its coefficients. A choice: SynthSeg's field is a coarse
            exponentiated Gaussian grid over the whole volume (code: sd ~ U(0, 0.7) at nodes about
            40 mm apart on a 1 mm grid), which TorchIO 1.2 does not offer; order 2 and 0.3 make the
            log field vary across one 32 mm patch by about what that grid gives over 32 mm.
        log_gamma_range: law of log(gamma). SynthSeg draws log(gamma) ~ N(0, 0.5) (code:
            ``IntensityAugmentation(gamma_std=.5)``); TorchIO draws it uniformly: U(-a, a) with
            a = 0.5 * sqrt(3) has the same standard deviation.
        blur_std_mm: law of the Gaussian blur's standard deviation, in mm, drawn for each axis.
            0.75 * 4 mm = 3 mm is the blur SynthSeg's code gives its coarsest isotropic resolution
            (``max_res_iso = 4`` mm, sigma = 0.75 * resolution); a uniform law from 0 is a choice
            (SynthSeg draws the resolution, and also downsamples, which is not done here).
        noise_std: law of the standard deviation of white noise added after the blur, on the
            [0, 1] scale. A choice: SynthSeg's only noise is the mixture's spread (std_range);
            this adds acquisition-like noise that the blur does not smooth away.
    """

    p_synthetic: float = 1.0
    mean_range: tuple[float, float] = (25.0, 225.0)
    std_range: tuple[float, float] = (5.0, 25.0)
    bias_order: int = 2
    bias_coefficient: float = 0.3
    log_gamma_range: tuple[float, float] = (-0.5 * math.sqrt(3.0), 0.5 * math.sqrt(3.0))
    blur_std_mm: tuple[float, float] = (0.0, 3.0)
    noise_std: tuple[float, float] = (0.0, 0.05)

    def __post_init__(self) -> None:
        if not _number(self.p_synthetic) or not 0.0 <= self.p_synthetic <= 1.0:
            _fail("p_synthetic", self.p_synthetic, "expected a probability in [0, 1]")
        object.__setattr__(self, "p_synthetic", float(self.p_synthetic))
        for name in _RANGES:
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(_number(v) for v in value):
                _fail(name, value, "expected a pair [low, high] of finite numbers")
            low, high = float(value[0]), float(value[1])
            if low > high:
                _fail(name, value, "expected low <= high")
            object.__setattr__(self, name, (low, high))
        for name in ("std_range", "blur_std_mm", "noise_std"):
            if getattr(self, name)[0] < 0:
                _fail(name, getattr(self, name), "a standard deviation must be >= 0")
        if not isinstance(self.bias_order, int) or isinstance(self.bias_order, bool) or self.bias_order < 0:
            _fail("bias_order", self.bias_order, "expected a polynomial order >= 0")
        if not _number(self.bias_coefficient) or self.bias_coefficient < 0:
            _fail("bias_coefficient", self.bias_coefficient, "expected a finite number >= 0 (0: no bias field)")
        object.__setattr__(self, "bias_coefficient", float(self.bias_coefficient))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RandomisationParams:
        """From a plain mapping (YAML); missing keys take the defaults, unknown keys raise ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError(f"config field 'train.randomisation' must be a mapping, got {values!r}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ConfigError(f"unknown config field(s) train.randomisation.{unknown}; allowed: {', '.join(allowed)}")
        return cls(**values)


def _minmax(tensor: torch.Tensor) -> torch.Tensor:
    """(x - min) / (max - min) over the whole tensor; a constant tensor becomes 0."""
    low, high = tensor.min(), tensor.max()
    if not high > low:
        return torch.zeros_like(tensor)
    return (tensor - low) / (high - low)


def _pipeline(params: RandomisationParams) -> Any:
    """The TorchIO transforms of one synthetic channel (steps 1-6 of the module docstring), in place."""
    import torchio as tio

    rescale = tio.Lambda(_minmax, types_to_apply=[tio.INTENSITY], copy=False)
    steps: list[tio.Transform] = [tio.RandomLabelsToImage(label_key="label", image_key="image", default_mean=params.mean_range,
                                     default_std=params.std_range, copy=False)]
    if params.bias_coefficient > 0:
        steps.append(tio.RandomBiasField(coefficients=params.bias_coefficient, order=params.bias_order, copy=False))
    steps.append(rescale)
    if params.log_gamma_range != (0.0, 0.0):
        steps.append(tio.RandomGamma(log_gamma=params.log_gamma_range, copy=False))
    if params.blur_std_mm != (0.0, 0.0):
        steps.append(tio.RandomBlur(std=params.blur_std_mm, copy=False))
    if params.noise_std != (0.0, 0.0):
        steps.append(tio.RandomNoise(mean=0.0, std=params.noise_std, copy=False))
    steps.append(rescale)
    return tio.Compose(steps, copy=False)


def _synthetic_channel(labels: torch.Tensor, pipeline: Any, spacing: float) -> torch.Tensor:
    """One synthetic channel (p, p, p) float32 in [0, 1] from `labels` (p, p, p), drawn from torch's global RNG."""
    import torchio as tio

    affine = np.diag([spacing, spacing, spacing, 1.0])
    subject = pipeline(tio.Subject(label=tio.LabelMap(tensor=labels[None].long(), affine=affine)))
    return subject["image"].data[0].float()


def randomise_patches(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int,
    params: RandomisationParams | None = None,
    spacing: float = 1.0,
) -> torch.Tensor:
    """Patches whose intensities are redrawn from their labels (see the module docstring).

    Args:
        images: (N, C, p, p, p) float patches, as the sampler yields them (values in [0, 1]).
        labels: (N, p, p, p) integer labels 0..3 (BG, CSF, GM, WM) of the same patches.
        seed: integer >= 0; patch k draws from a generator seeded by (seed, k).
        params: the laws of the random steps (default :class:`RandomisationParams`).
        spacing: voxel size in mm (isotropic), which turns ``blur_std_mm`` into voxels.

    Returns:
        (N, C, p, p, p) float32 on the device of `images`: each synthetic patch is in [0, 1] per
        channel; a patch kept real (probability 1 - p_synthetic) is `images`' patch unchanged.
        `labels` is not modified.
    """
    params = RandomisationParams() if params is None else params
    if not isinstance(params, RandomisationParams):
        raise ConfigError(f"randomise_patches params={params!r}: give a RandomisationParams")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"randomise_patches seed={seed!r}: give an integer >= 0")
    if not _number(spacing) or not spacing > 0:
        raise ConfigError(f"randomise_patches spacing={spacing!r}: give a voxel size in mm > 0")
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels)
    if images.ndim != 5 or labels.ndim != 4 or images.shape[0] != labels.shape[0] or images.shape[2:] != labels.shape[1:]:
        raise DataError(f"randomise_patches: images {tuple(images.shape)} and labels {tuple(labels.shape)}; "
                        "expected (N, C, p, p, p) and (N, p, p, p) of the same patches")
    if labels.is_floating_point() or (labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= N_CLASSES)):
        raise DataError(f"randomise_patches: labels must be integers 0..{N_CLASSES - 1} (BG, CSF, GM, WM)")
    device = images.device
    out = images.detach().to("cpu", torch.float32).clone()
    cpu_labels = labels.detach().cpu()
    pipeline = _pipeline(params)
    # TorchIO draws from torch's global RNG (and its RandomNoise calls torch.manual_seed, which also
    # seeds CUDA): every generator is restored afterwards, the caller's draws stay its own
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        for k in range(out.shape[0]):
            choice, draws = np.random.SeedSequence([int(seed), k]).spawn(2)
            if np.random.default_rng(choice).random() >= params.p_synthetic:
                continue
            # the CPU generator only: TorchIO draws on the CPU (torch.manual_seed would also queue CUDA seeds)
            torch.default_generator.manual_seed(int(draws.generate_state(1, np.uint64)[0] >> np.uint64(1)))
            for c in range(out.shape[1]):
                out[k, c] = _synthetic_channel(cpu_labels[k], pipeline, float(spacing))
    return out.to(device)
