"""Instrument check I1: can the profile's discriminator do its job at all?

C7's first half (D wins at λ = 0.1) means something only if D, given the profile's budget, can
tell a normalizer's output from real images. I1 answers that without the game: a fresh D, with
the profile's widths, optimizer and number of D steps (``n_steps`` per iteration, every
iteration of a run), is trained alone against the frozen generator of a trained dual-site
Pre-processor run (G in eval mode, as applied; it never sees D), on clean real patches of the
training subjects, and judged on the fixed validation patches and their G(x) copies, as the
training loop validates D (train mode, seeded dropout).

Criterion, fixed before any run judged by it: D recognises at least :data:`I1_MIN_GENERATED`
of the validation generated patches as "generated". lr(D) stays at ``train.lr_d`` (no plateau:
there is no game whose loss could stall).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from deepnorm.nets import Discriminator
    from deepnorm.sampling import PatchSampler

from deepnorm.study.claims import FAILS, HOLDS, MISSING, Verdict

#: I1's criterion: the share of validation generated patches D must call "generated".
I1_MIN_GENERATED = 0.95

#: I1 in words.
I1_TEXT = (f"D alone, with the profile's D budget, against a frozen trained Pre-processor G, recognises "
           f">= {I1_MIN_GENERATED:.0%} of validation generated patches")


def train_discriminator_alone(generator: torch.nn.Module, discriminator: Discriminator, train_sampler: PatchSampler,
                              val: Any, *, steps: int, batch_size: int, lr: float, weight_decay: float,
                              checks: int = 12, seed: int = 0, bf16: bool = False,
                              progress: bool = False) -> dict[str, Any]:
    """Train `discriminator` for `steps` D steps against the frozen `generator`; judge it `checks` times.

    Args:
        generator: G, (N, C, p, p, p) -> (N, C, p, p, p); used in eval mode without gradient.
        discriminator: a fresh D, (N, C, p, p, p) -> (N, K + 1) logits.
        train_sampler: a balanced :class:`~deepnorm.sampling.PatchSampler` of clean training patches.
        val: a :class:`~deepnorm.sampling.PatchBatch` of fixed validation patches (real, with domains).
        steps: D steps (the profile's n_steps x iterations of a run).
        batch_size: real patches per step (as many generated ones).
        lr, weight_decay: Adam's, as the profile's D.
        checks: validations, evenly spaced, the last after the last step.
        seed: seeds D's dropout and the order of patches.
        bf16: compute under bf16 autocast (the run's precision).

    Returns:
        ``history``: per check, ``step``, ``accuracy_generated``, ``accuracy_real`` (own site),
        ``loss`` (Eq. 2: mean over real + mean over generated, nats); and the last check's values.
    """
    import torch

    from deepnorm.losses import domain_loss
    from deepnorm.precision import autocast
    from deepnorm.training.algorithm1 import discriminator_update

    device = next(discriminator.parameters()).device
    generator.eval()
    opt = torch.optim.Adam(discriminator.parameters(), lr=lr, weight_decay=weight_decay)
    k = int(discriminator.n_domains)
    at = sorted({max(1, round(steps * (i + 1) / checks)) for i in range(checks)})
    history: list[dict[str, float]] = []

    def judge(step: int) -> None:
        discriminator.train(True)  # as trained (dropout on), seeded: the loop's validation
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed + 1)
            x = val.images.to(device)
            with autocast(bf16, device):
                fake_x = generator(x)
                real_logits = discriminator(x).float()
                fake_logits = discriminator(fake_x).float()
            domains = val.domains.to(device)
            fake = torch.full((len(x),), k, device=device)
            history.append({
                "step": step,
                "accuracy_generated": float((fake_logits.argmax(1) == k).float().mean()),
                "accuracy_real": float((real_logits.argmax(1) == domains).float().mean()),
                "loss": float(domain_loss(real_logits, domains)) + float(domain_loss(fake_logits, fake)),
            })

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="I1: D alone", leave=False)
    torch.manual_seed(seed)
    for step in range(1, steps + 1):
        batch = train_sampler.sample(batch_size)
        with autocast(bf16, device):
            with torch.no_grad():
                generated = generator(batch.images.to(device))
            discriminator_update(discriminator, opt, batch.images, batch.domains, generated)
        if bar is not None:
            bar.update(1)
        if step in at:
            judge(step)
    if bar is not None:
        bar.close()
    return {"history": history, **{key: history[-1][key] for key in ("accuracy_generated", "accuracy_real", "loss")},
            "steps": steps}


def judge_i1(result: Mapping[str, Any] | None) -> Verdict:
    """I1's verdict from :func:`train_discriminator_alone`'s result (or None: not measured)."""
    if not result or not math.isfinite(float(result.get("accuracy_generated", math.nan))):
        return Verdict("I1", I1_TEXT, MISSING, "no I1 run")
    share = float(result["accuracy_generated"])
    verdict = HOLDS if share >= I1_MIN_GENERATED else FAILS
    evidence = (f"after {int(result['steps'])} D steps: {share:.1%} of validation generated patches called generated "
                f"(criterion >= {I1_MIN_GENERATED:.0%}), {float(result['accuracy_real']):.1%} of real ones their site")
    return Verdict("I1", I1_TEXT, verdict, evidence)


def i1_check(ctx: Any, setting: str = "dual", progress: bool | None = None) -> dict[str, Any]:
    """I1 on the context's dual-site Pre-processor run (trained or reused), cached in its folder."""
    import torch

    from deepnorm.nets import Discriminator
    from deepnorm.precision import runs_in_bf16
    from deepnorm.sampling import PatchSampler
    from deepnorm.study import experiments as ex

    run = ex.run_for(ctx, "preprocessor", ex.SETTINGS[setting])
    adversarial = ex.config_for(ctx, "adversarial", ex.SETTINGS[setting])
    t, data, model = adversarial.train, adversarial.data, adversarial.model
    steps = t.n_steps * t.epochs * adversarial.batches_per_epoch
    seed = t.seed

    def compute() -> dict[str, Any]:
        sites = list(data.sites)

        def sampler(split: str, offset: int) -> PatchSampler:
            subjects = [(z, s) for z, site in enumerate(sites) for s in ex.split_subjects(ctx, run, site, split)]
            return PatchSampler([s.image for _, s in subjects], [s.labels for _, s in subjects], data.patch_size,
                                domains=[z for z, _ in subjects], seed=seed + offset, balance=True)

        val = sampler("val", 1).sample(data.n_domains * data.val_patches_per_site)
        torch.manual_seed(seed)
        D = Discriminator(data.n_channels, data.n_domains, widths=model.disc_widths, patch_size=data.patch_size,
                          dropout=model.dropout).to(run.device)
        show = ctx.progress if progress is None else progress
        assert run.generator is not None, "a Pre-processor run has its G"
        return train_discriminator_alone(run.generator, D, sampler("train", 0), val, steps=steps,
                                         batch_size=t.batch_size, lr=t.lr_d, weight_decay=t.weight_decay, seed=seed,
                                         bf16=runs_in_bf16(adversarial, run.device), progress=show)

    return ex._cached(run, "i1", ctx, compute, steps=steps, disc_widths=list(model.disc_widths), lr_d=t.lr_d,
                      criterion=I1_MIN_GENERATED)


def i1_table(ctx: Any, setting: str = "dual") -> list[dict[str, Any]]:
    """:func:`i1_check` as one row (steps, accuracy on generated and real validation patches, the
    criterion), written to ``results/i1.csv`` for the report."""
    from deepnorm.files import write_table

    result = i1_check(ctx, setting)
    row = {"setting": setting, "steps": int(result["steps"]), "accuracy_generated": float(result["accuracy_generated"]),
           "accuracy_real": float(result["accuracy_real"]), "loss": float(result["loss"]),
           "criterion": I1_MIN_GENERATED}
    write_table("i1", [row], Path(ctx.results_dir))
    return [row]
