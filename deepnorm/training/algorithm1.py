"""One training step of the paper's Algorithm 1, and its two halves.

`discriminator_update` trains D to tell real patches (class z) from generated ones (class K);
`segmentation_update` trains S (and G) on the Dice loss plus λ times G's adversarial term, with D
frozen (no parameter, gradient or BatchNorm statistic of D changes); `algorithm1_iteration` runs
n_steps D updates then one G/S update. Models are put in train() mode. Randomness (D's dropout)
comes from torch's global generator: seed it with ``torch.manual_seed`` for repeatable steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from deepnorm.errors import ConfigError, RunError
from deepnorm.labels import DICE_WEIGHTS
from deepnorm.losses import (
    ADVERSARIAL_MODES,
    dice_loss_by_name,
    domain_loss,
    generator_adversarial_loss,
)


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within the block, `module` gets no gradients and its buffers (BatchNorm running statistics)
    are restored on exit; it stays in its current mode (train: dropout and batch statistics on)."""
    flags = [p.requires_grad for p in module.parameters()]
    buffers = [b.detach().clone() for b in module.buffers()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)
        with torch.no_grad():
            for b, saved in zip(module.buffers(), buffers):
                b.copy_(saved)


def discriminator_update(
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    real_domain: torch.Tensor,
    generated: torch.Tensor,
    *,
    class_weights: Sequence[float] | torch.Tensor | None = None,
) -> dict[str, float]:
    """One optimizer step of D on real patches (class z) and generated patches (class K).

    The loss is Algorithm 1's ``mean_i L_dis(D(x_i), z_i) + mean_i L_dis(D(G(x_i)), K)`` (each
    mean optionally class-weighted, see `domain_loss`). Real and generated patches go through D
    in two separate forward passes, as in DCGAN training: in the G/S step D scores a batch of
    generated patches alone, so here too each BatchNorm batch comes from one source. One pass
    over the concatenation lets D tell the two apart by mixed-batch statistics that the G/S step
    never shows it, and G then optimises against a different function from the D that is judged.

    Args:
        D: the discriminator, (N, C, p, p, p) -> (N, K + 1) logits.
        opt_d: optimizer over D's parameters.
        real: (m, C, p, p, p) real patches.
        real_domain: (m,) long domain indices 0..K-1.
        generated: (m', C, p, p, p) generator outputs (detached here in any case).
        class_weights: optional K + 1 weights of the cross-entropy.

    Returns:
        ``loss`` (nats), ``accuracy`` (fraction of argmax == target over real + generated),
        ``accuracy_real``, ``accuracy_generated``.
    """
    device = _device_of(D)
    real = real.to(device, non_blocking=True)
    generated = generated.detach().to(device, non_blocking=True)
    real_domain = real_domain.to(device, non_blocking=True).long()
    D.train()
    opt_d.zero_grad(set_to_none=True)
    logits_real = D(real)
    logits_generated = D(generated)
    logits = torch.cat([logits_real, logits_generated], dim=0)
    k = logits.shape[1] - 1
    if real_domain.numel() and (int(real_domain.min()) < 0 or int(real_domain.max()) >= k):
        raise ConfigError(
            f"discriminator_update real_domain has values outside 0..{k - 1} "
            f"for a discriminator with {k} domains: check the site order / n_domains"
        )
    fake = torch.full((generated.shape[0],), k, dtype=torch.long, device=device)
    target = torch.cat([real_domain, fake])
    loss = domain_loss(logits_real, real_domain, class_weights) + domain_loss(logits_generated, fake, class_weights)
    loss.backward()
    opt_d.step()
    with torch.no_grad():
        hit = (logits.argmax(dim=1) == target).float()
        m = real.shape[0]
        return {
            "loss": float(loss.detach()),
            "accuracy": float(hit.mean()),
            "accuracy_real": float(hit[:m].mean()) if m else math.nan,
            "accuracy_generated": float(hit[m:].mean()) if generated.shape[0] else math.nan,
        }


def segmentation_update(
    G: nn.Module | None,
    S: nn.Module,
    opt_gs: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    D: nn.Module | None = None,
    lam: float = 0.0,
    mode: str = "nonsaturating",
    dice_weights: Sequence[float] = DICE_WEIGHTS,
    dice_loss: str = "pooled",
) -> dict[str, float]:
    """One optimizer step of S (and G) on ``L_seg(S(G(x)), y) + lam * generator_adversarial_loss(D(G(x)))``.

    D, when given with ``lam != 0``, only scores G(x): its parameters get no gradient and its
    BatchNorm statistics are restored. With ``lam == 0`` D plays no part in the loss (the
    Pre-processor baseline); the adversarial value is still reported, computed without gradient.
    ``G=None`` trains the segmenter alone on x (the no-normalization baselines).

    Args:
        G: generator (N, C, p, p, p) -> (N, C, p, p, p), or None.
        S: segmenter (N, C, p, p, p) -> (N, 4, p, p, p) logits (softmax applied here).
        opt_gs: optimizer over S's (and G's) parameters.
        x: (N, C, p, p, p) float patches; y: (N, p, p, p) long labels.
        D: discriminator, optional.
        lam: λ of Eq. 3 (>= 0).
        mode: "nonsaturating" or "minimax", see `generator_adversarial_loss`.
        dice_weights: class weights of Eq. 1.
        dice_loss: "pooled" (Eq. 1) or "per_class", see :func:`deepnorm.losses.dice_loss_by_name`.

    Returns:
        ``loss`` (total), ``seg_loss`` (Dice), ``adversarial`` (G's term, nan without D).
    """
    if mode not in ADVERSARIAL_MODES:
        raise ConfigError(f"segmentation_update mode={mode!r}: choose one of {ADVERSARIAL_MODES}")
    if not lam >= 0:
        raise ConfigError(f"segmentation_update lam={lam!r}: λ must be >= 0")
    if lam and G is None:
        raise ConfigError("segmentation_update lam > 0 needs a generator G: set lam=0 to train S alone")
    if lam and D is None:
        raise ConfigError("segmentation_update lam > 0 needs a discriminator D: pass D=... or set lam=0")
    device = _device_of(S)
    x = x.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True).long()
    S.train()
    if G is not None:
        G.train()
    opt_gs.zero_grad(set_to_none=True)
    normalized = G(x) if G is not None else x
    probs = torch.softmax(S(normalized), dim=1)
    seg = dice_loss_by_name(dice_loss)(probs, y, dice_weights)
    adversarial = torch.tensor(math.nan)
    loss = seg
    if D is not None and G is not None:
        D.train()
        with frozen(D):
            if lam:
                adversarial = generator_adversarial_loss(D(normalized), mode)
                loss = seg + lam * adversarial
            else:
                with torch.no_grad():
                    adversarial = generator_adversarial_loss(D(normalized.detach()), mode)
            loss.backward()
    else:
        loss.backward()
    opt_gs.step()
    return {"loss": float(loss.detach()), "seg_loss": float(seg.detach()), "adversarial": float(adversarial.detach())}


def algorithm1_iteration(
    G: nn.Module | None,
    S: nn.Module,
    D: nn.Module | None,
    opt_gs: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer | None,
    batches: Iterator[Any],
    *,
    lam: float,
    n_steps: int = 3,
    mode: str = "nonsaturating",
    class_weights: Sequence[float] | torch.Tensor | None = None,
    dice_weights: Sequence[float] = DICE_WEIGHTS,
    dice_loss: str = "pooled",
) -> dict[str, float]:
    """One iteration of Algorithm 1: `n_steps` D updates, then one S/G update.

    Each D step draws a batch (``.images`` (m, C, p, p, p), ``.domains`` (m,)) and trains D on the
    real patches as their domains and on ``G(images)`` as the generated class K, computed without
    gradient and with G in eval mode: D learns to recognise the normalizer as it is applied and
    judged (validation, Table 7), with its BatchNorm running statistics, not the batch statistics
    of a training batch (and these forward passes leave G's running statistics alone). The real patches D sees are the un-augmented ones (``.clean`` when
    the batch has it): the paper's bias-field argument (Sec. 3.5) rests on D knowing real,
    undegraded images, while G and S see the augmented patches. The S/G step draws a fresh batch (``.images``, ``.labels``) and calls
    `segmentation_update`. With ``D=None`` (or ``G=None``) the D steps are skipped, so the same call
    trains the Pre-processor and the segmenter-only baselines; the iteration then uses one batch.

    Returns:
        ``d_loss``, ``d_accuracy``, ``d_accuracy_real`` (real patches called their own site) and
        ``d_accuracy_generated`` (G's outputs called "generated"): means over the D steps, nan
        when skipped; ``d_steps``; the ``loss``, ``seg_loss``, ``adversarial`` of the S/G step.
    """
    if D is not None and G is not None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ConfigError(f"algorithm1_iteration n_steps={n_steps!r}: must be a positive integer (paper: 3)")
        if opt_d is None:
            raise ConfigError("algorithm1_iteration: a discriminator D needs its optimizer opt_d")

    def draw(purpose: str) -> Any:
        try:
            return next(batches)
        except StopIteration:
            raise RunError(
                f"algorithm1_iteration: the batch iterator ran out before the {purpose}; "
                f"one iteration needs n_steps + 1 = {n_steps + 1} batches"
            ) from None

    d_stats: list[dict[str, float]] = []
    if D is not None and G is not None:
        assert opt_d is not None  # checked above: D comes with its optimizer
        g_device = _device_of(G)
        for step in range(n_steps):
            batch = draw(f"discriminator step {step + 1}")
            G.eval()  # the normalizer as applied; segmentation_update puts G back in train mode
            with torch.no_grad():
                generated = G(batch.images.to(g_device, non_blocking=True))
            real = getattr(batch, "clean", None)
            real = batch.images if real is None else real
            d_stats.append(discriminator_update(D, opt_d, real, batch.domains, generated, class_weights=class_weights))
    batch = draw("segmentation step")
    out = segmentation_update(G, S, opt_gs, batch.images, batch.labels, D=D, lam=lam, mode=mode,
                              dice_weights=dice_weights, dice_loss=dice_loss)
    out["d_steps"] = len(d_stats)
    out["d_loss"] = sum(s["loss"] for s in d_stats) / len(d_stats) if d_stats else math.nan
    for key in ("accuracy", "accuracy_real", "accuracy_generated"):
        out[f"d_{key}"] = sum(s[key] for s in d_stats) / len(d_stats) if d_stats else math.nan
    return out
