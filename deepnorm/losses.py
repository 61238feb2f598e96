"""Losses of the paper: weighted soft Dice (Eq. 1), domain cross-entropy (Eq. 2) and the
generator's adversarial term of Eq. 3.

Conventions: class index K (0-based; the paper's K + 1) of the discriminator is "generated";
every function returns a scalar tensor that its caller *minimises*.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import DICE_WEIGHTS

ADVERSARIAL_MODES: tuple[str, ...] = ("nonsaturating", "minimax")


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
    if probs.ndim < 2:
        raise DataError(f"weighted_dice_loss probs shape {tuple(probs.shape)}: expected (N, C, ...)")
    n_classes = probs.shape[1]
    w = torch.as_tensor(weights, dtype=probs.dtype, device=probs.device).flatten()
    if w.numel() != n_classes:
        raise ConfigError(
            f"weighted_dice_loss weights has {w.numel()} entries but probs has {n_classes} classes (axis 1): "
            "give one weight per class"
        )
    if tuple(target.shape) != (probs.shape[0], *probs.shape[2:]):
        raise DataError(
            f"weighted_dice_loss target shape {tuple(target.shape)}: expected {(probs.shape[0], *probs.shape[2:])} "
            f"to match probs {tuple(probs.shape)} without its class axis"
        )
    if target.is_floating_point():
        raise DataError("weighted_dice_loss target: expected integer labels (torch.long), got a float tensor")
    if target.numel():
        low, high = (int(v) for v in torch.aminmax(target))
        if low < 0 or high >= n_classes:
            raise DataError(
                f"weighted_dice_loss target has labels outside 0..{n_classes - 1} "
                f"(min {low}, max {high}): check the label map"
            )
    onehot = F.one_hot(target.long(), n_classes).movedim(-1, 1).to(probs.dtype)
    dims = tuple(range(2, probs.ndim))
    intersection = (probs * onehot).sum(dim=dims)  # (N, C)
    total = (probs + onehot).sum(dim=dims)  # (N, C)
    numerator = eps + 2.0 * (intersection * w).sum(dim=1)
    denominator = eps + (total * w).sum(dim=1)
    return (1.0 - numerator / denominator).mean()


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
    return F.cross_entropy(logits, domain.long(), weight=weight)


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
