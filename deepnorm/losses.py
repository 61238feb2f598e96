"""Losses of the paper: weighted soft Dice (Eq. 1), domain cross-entropy (Eq. 2) and the
generator's adversarial term of Eq. 3.

Two segmentation losses, chosen by name with :func:`dice_loss_by_name` (config ``train.dice_loss``):

- ``"pooled"``: Eq. 1 as printed, the weighted sums over classes pooled into one ratio per
  sample (:func:`weighted_dice_loss`);
- ``"per_class"``: a soft Dice per class, then their weighted mean (:func:`per_class_dice_loss`),
  what the authors' code computed. Pooling lets the large classes (BG, WM, GM) dominate the
  ratio, so a small class (CSF) may be left unlearned; a mean of per-class ratios gives every
  class its own say.

Conventions: class index K (0-based; the paper's K + 1) of the discriminator is "generated";
every function returns a scalar tensor that its caller *minimises*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import DICE_WEIGHTS

ADVERSARIAL_MODES: tuple[str, ...] = ("nonsaturating", "minimax")
#: Names of the segmentation losses (config ``train.dice_loss``).
DICE_LOSSES: tuple[str, ...] = ("pooled", "per_class")

DiceLoss = Callable[..., torch.Tensor]


def _dice_inputs(name: str, probs: torch.Tensor, target: torch.Tensor,
                 weights: Sequence[float] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked class weights (C,) and one-hot target (N, C, ...) in the dtype of `probs`."""
    if probs.ndim < 2:
        raise DataError(f"{name} probs shape {tuple(probs.shape)}: expected (N, C, ...)")
    n_classes = probs.shape[1]
    w = torch.as_tensor(weights, dtype=probs.dtype, device=probs.device).flatten()
    if w.numel() != n_classes:
        raise ConfigError(
            f"{name} weights has {w.numel()} entries but probs has {n_classes} classes (axis 1): "
            "give one weight per class"
        )
    if tuple(target.shape) != (probs.shape[0], *probs.shape[2:]):
        raise DataError(
            f"{name} target shape {tuple(target.shape)}: expected {(probs.shape[0], *probs.shape[2:])} "
            f"to match probs {tuple(probs.shape)} without its class axis"
        )
    if target.is_floating_point():
        raise DataError(f"{name} target: expected integer labels (torch.long), got a float tensor")
    if target.numel():
        low, high = (int(v) for v in torch.aminmax(target))
        if low < 0 or high >= n_classes:
            raise DataError(
                f"{name} target has labels outside 0..{n_classes - 1} "
                f"(min {low}, max {high}): check the label map"
            )
    onehot = F.one_hot(target.long(), n_classes).movedim(-1, 1).to(probs.dtype)
    return w, onehot


def weighted_dice_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    weights: Sequence[float] | torch.Tensor = DICE_WEIGHTS,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Weighted soft Dice loss, Eq. 1 of the paper, averaged over the batch.

    For each sample: ``1 - (eps + 2 Σ_c w_c Σ_v s_vc y_vc) / (eps + Σ_c w_c Σ_v (s_vc + y_vc))``,
    where the weight w_c multiplies both the numerator and the denominator terms of class c (the
    authors' code weighted only the numerator; we follow the equation). The batch loss is the mean
    of the per-sample losses, matching Algorithm 1's (1/m) Σ_i.

    Args:
        probs: (N, C, ...) class probabilities (softmax output of S), C = len(weights).
        target: (N, ...) integer labels in 0..C-1 (long).
        weights: C class weights indexed by label (default BG 0.22, CSF 0.30, GM 0.20, WM 0.28).
        eps: smoothing constant of Eq. 1.

    Returns:
        Scalar tensor in [0, 1] (0 for a perfect one-hot prediction).
    """
    w, onehot = _dice_inputs("weighted_dice_loss", probs, target, weights)
    dims = tuple(range(2, probs.ndim))
    intersection = (probs * onehot).sum(dim=dims)  # (N, C)
    total = (probs + onehot).sum(dim=dims)  # (N, C)
    numerator = eps + 2.0 * (intersection * w).sum(dim=1)
    denominator = eps + (total * w).sum(dim=1)
    return (1.0 - numerator / denominator).mean()


def per_class_dice_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    weights: Sequence[float] | torch.Tensor = DICE_WEIGHTS,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Weighted mean over classes of the per-class soft Dice loss (``dice_loss: "per_class"``).

    For each class c, over the whole batch (all samples and voxels pooled):
    ``D_c = (eps + 2 Σ_{i,v} s_ivc y_ivc) / (eps + Σ_{i,v} (s_ivc + y_ivc))``; the loss is
    ``1 - Σ_c w_c D_c / Σ_c w_c``.

    The authors' code (docs/reproduction.md, section 5) multiplied only the numerator of each class's Dice by
    w_c and took the plain mean over the C classes, ``1 - (1/C) Σ_c w_c D_c``: with weights summing
    to 1 that loss never falls below ``1 - 1/C``. Dividing by ``Σ_c w_c`` instead gives the same
    minimiser and gradient direction (a constant factor) with a loss in [0, 1] that is 0 for a
    perfect prediction and does not depend on the scale of the weights. Each class's sums run over
    the whole batch (the usual per-channel Dice): a patch without CSF then adds its false
    positives to the CSF ratio instead of contributing a ratio of its own that is ~0 whatever S does.

    Args:
        probs: (N, C, ...) class probabilities (softmax output of S), C = len(weights).
        target: (N, ...) integer labels in 0..C-1 (long).
        weights: C non-negative class weights indexed by label, not all zero (default the paper's).
        eps: smoothing constant (a class absent from target and prediction has Dice 1).

    Returns:
        Scalar tensor in [0, 1].
    """
    w, onehot = _dice_inputs("per_class_dice_loss", probs, target, weights)
    if bool((w < 0).any()) or not float(w.sum()) > 0:
        raise ConfigError(f"per_class_dice_loss weights {w.tolist()}: expected non-negative weights, not all zero")
    dims = (0, *range(2, probs.ndim))
    intersection = (probs * onehot).sum(dim=dims)  # (C,)
    total = (probs + onehot).sum(dim=dims)  # (C,)
    per_class = (eps + 2.0 * intersection) / (eps + total)
    return 1.0 - (w * per_class).sum() / w.sum()


def dice_loss_by_name(name: str) -> DiceLoss:
    """The segmentation loss called `name` (one of :data:`DICE_LOSSES`): ``f(probs, target, weights, eps)``."""
    losses: dict[str, DiceLoss] = {"pooled": weighted_dice_loss, "per_class": per_class_dice_loss}
    if name not in losses:
        raise ConfigError(f"dice_loss={name!r}: choose one of {DICE_LOSSES} (train.dice_loss in the config)")
    return losses[name]


def domain_loss(
    logits: torch.Tensor,
    domain: torch.Tensor,
    class_weights: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Domain classification loss, Eq. 2: ``-log D_z(x)`` with D_z the softmax probability.

    Args:
        logits: (N, K + 1) discriminator logits.
        domain: (N,) long class indices: 0..K-1 for real patches of domain z, K for generated.
        class_weights: optional K + 1 weights; as in ``torch.nn.functional.cross_entropy`` the
            result is then the weighted mean ``Σ_i w_{z_i} L_i / Σ_i w_{z_i}``.

    Returns:
        Scalar mean cross-entropy in nats.
    """
    if logits.ndim != 2 or domain.shape != (logits.shape[0],):
        raise DataError(
            f"domain_loss: logits {tuple(logits.shape)} and domain {tuple(domain.shape)}: expected (N, K+1) and (N,)"
        )
    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device).flatten()
        if weight.numel() != logits.shape[1]:
            raise ConfigError(
                f"domain_loss class_weights has {weight.numel()} entries for {logits.shape[1]} classes: "
                "give one weight per domain plus one for the generated class"
            )
    if logits.is_cuda and torch.are_deterministic_algorithms_enabled():
        return _deterministic_cross_entropy(logits, domain.long(), weight)
    return F.cross_entropy(logits, domain.long(), weight=weight)


def _deterministic_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``F.cross_entropy(logits, target, weight=weight)`` (mean reduction) written with gathers and
    sums, whose CUDA kernels are deterministic (CUDA's NLLLoss adds in an arbitrary order and is
    refused in deterministic mode)."""
    picked = -F.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
    if weight is None:
        return picked.mean()
    w = weight[target]
    return (w * picked).sum() / w.sum()


def generator_adversarial_loss(logits_of_generated: torch.Tensor, mode: str = "nonsaturating") -> torch.Tensor:
    """The generator's adversarial term (without λ), to be *minimised* by G.

    With p_K = softmax(logits)[:, K] the discriminator's probability that a patch is generated:

    - ``"minimax"``: ``mean log p_K`` = ``-L_dis(D(G(x)), K+1)``, the exact G-side term of Eq. 3
      (G minimises ``L_seg - λ L_dis(D(G(x)), K+1)``).
    - ``"nonsaturating"`` (default): ``mean -log(1 - p_K)`` = ``-log Σ_{z≤K} D_z(G(x))``, the
      probability that D takes the patch for any real domain. Both are minimised by p_K -> 0, but
      the gradient of ``log p_K`` with respect to the logits is ``(onehot_K - p)``, which vanishes
      when D confidently spots generated patches (p_K -> 1), i.e. early in training; the
      non-saturating form keeps a strong gradient there (Goodfellow et al. 2014).

    Both are computed from log-softmax / logsumexp forms, stable for large logits.

    Args:
        logits_of_generated: (N, K + 1) discriminator logits of generated patches.
        mode: "nonsaturating" or "minimax".

    Returns:
        Scalar tensor (nats): nonsaturating in [0, inf), minimax in (-inf, 0].
    """
    if mode not in ADVERSARIAL_MODES:
        raise ConfigError(f"generator_adversarial_loss mode={mode!r}: choose one of {ADVERSARIAL_MODES}")
    if logits_of_generated.ndim != 2 or logits_of_generated.shape[1] < 2:
        raise DataError(
            f"generator_adversarial_loss logits shape {tuple(logits_of_generated.shape)}: expected (N, K+1) with K >= 1"
        )
    log_all = torch.logsumexp(logits_of_generated, dim=1)
    if mode == "minimax":
        return (logits_of_generated[:, -1] - log_all).mean()
    log_real = torch.logsumexp(logits_of_generated[:, :-1], dim=1)
    return (log_all - log_real).mean()
