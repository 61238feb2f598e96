"""The scale study: at what capacity and budget does the method show itself?

On the cpu profile every verdict about Ours is decided by the scale (U-Net widths 8-64 against
the paper's 64-512, 1,920 iterations against 600,000). This study trains, dual-site (iSEG +
MRBrainS), Ours at λ = 1.5 and λ = 0.1, the Pre-processor and Standardization over a grid of

- capacity: the profile's U-Net widths (G and S) times 1, 2 or 4 (D keeps its widths);
- budget: the profile's epochs times 1, 3 or 9 (the schedule keeps its fractions of the run);

and reads at each point: the test mean Dice of each method (Ours − Pre-processor is the price or
gain of realism), D's validation accuracy on generated and on real patches at the last epoch of
each Ours run, the JSD between the sites' normalized histograms, I1 (D alone against the frozen
Pre-processor G of that point, with that point's D budget), and the compute: GFLOP of the
trainings (``torch.utils.flop_counter`` on one iteration of each, times its iterations) and the
hours they take on this machine when it is quiet (the runs' fastest epoch times their epochs, :func:`training_hours`).

The rule that picks a profile from the study was written before any of its runs and looks at no
claim (:data:`CHOICE_RULE`, :func:`choose_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepnorm.errors import ConfigError

#: Multipliers of the profile's U-Net widths and of its epochs.
WIDTH_FACTORS: tuple[int, ...] = (1, 2, 4)
BUDGET_FACTORS: tuple[int, ...] = (1, 3, 9)

#: The grid's diagonal and its two far corners, in the order they are run (cheapest first).
DEFAULT_POINTS: tuple[tuple[int, int], ...] = ((1, 1), (2, 3), (4, 1), (1, 9), (4, 9))

#: (method, λ) trained at every point.
ARMS: tuple[tuple[str, float | None], ...] = (("adversarial", 1.5), ("adversarial", 0.1), ("preprocessor", None),
                                              ("standardization", None))

#: The rule that chooses a profile from the study, fixed before its runs; it reads no claim.
CHOICE_RULE = (
    "the smallest point (by GFLOP) at which I1 holds and the Pre-processor's validation Dice is within "
    "0.01 of its value at the largest point run, provided one seed's `make reproduce` at that point is "
    "estimated within 2 h on the machine that ran the study; else keep the cpu profile as the quick "
    "default and name the chosen point as a further profile"
)

#: How much of the Pre-processor's best validation Dice the chosen point must keep.
CHOICE_DICE_TOLERANCE = 0.01

#: One seed's `make reproduce` trains the dual-site methods of a point about this many times over
#: (Tables 2-7), the basis of :func:`reproduce_hours` (fixed with the rule, before the runs).
REPRODUCE_TIMES_A_POINT = 5


def training_hours(history: Sequence[dict[str, Any]]) -> float:
    """Hours of a training on a quiet machine, from its history: the fastest epoch's seconds times its epochs.

    Epoch 1 also reads and prepares the data (the first batches fill the prepared cache, once per
    point), and another job sharing the cores only ever slows an epoch down: every epoch does the same
    work, so the fastest one is the best estimate of each (915 s for epoch 1 of the first cpu run,
    24 s for the quiet ones after it, up to 575 s while tests shared the 2 cores)."""
    seconds = [float(row["seconds"]) for row in history]
    return min(seconds) * len(seconds) / 3600 if seconds else math.nan


def parse_points(text: str) -> tuple[tuple[int, int], ...]:
    """``"1x1,2x3"`` -> ((1, 1), (2, 3)): width and budget factors of each point."""
    points = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            width, budget = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise ConfigError(f"scale point {item!r}: write WIDTHxBUDGET, e.g. 2x3 (widths x2, epochs x3)") from None
        if width not in WIDTH_FACTORS or budget not in BUDGET_FACTORS:
            raise ConfigError(f"scale point {item!r}: width factor in {WIDTH_FACTORS}, budget factor in {BUDGET_FACTORS}")
        points.append((width, budget))
    if not points:
        raise ConfigError("no scale point given: e.g. 1x1,2x3")
    return tuple(points)


def parse_scale(text: str) -> tuple[int, int]:
    """``"2x1"`` -> (2, 1): the one point of the grid a whole reproduction trains at (``"" -> (1, 1)``)."""
    if not text:
        return (1, 1)
    points = parse_points(text)
    if len(points) != 1:
        raise ConfigError(f"scale {text!r}: give one point, e.g. 2x1 (a reproduction trains at one scale)")
    return points[0]


def scale_name(width: float, budget: float) -> str:
    """The folder and label of a scale: ``"2x1"`` (factors read back from a table as 2.0 and 1.0 too)."""
    return f"{int(width)}x{int(budget)}"


def scaled(config: Any, width: int, budget: int, *, precision: str = "") -> Any:
    """`config` with U-Net widths (G and S, not D) x `width` and epochs x `budget`; the schedule keeps
    its fractions of the run. Where `precision` is empty and the profile's is "auto", the profile's
    rule decides again for the wider networks (:func:`deepnorm.precision.choose_precision`)."""
    if (width, budget) == (1, 1):
        return config
    changes: dict[str, Any] = {"train.epochs": config.train.epochs * budget}
    if width != 1:
        changes["model.widths"] = tuple(w * width for w in config.model.widths)
        from deepnorm.training.config import PROFILE_CHANGES

        if not precision and PROFILE_CHANGES.get(config.profile, {}).get("train.precision") == "auto":
            changes["train.precision"] = "auto"
    return config.replace(**changes)


def scale_config(ctx: Any, method: str, width: int, budget: int, *, lam: float | None = None,
                 bias_augment: float | None = None) -> Any:
    """The profile's dual-site configuration of `method` with U-Net widths x `width` and epochs x `budget`
    (the scale of the study's point, whatever the context's own scale)."""
    from deepnorm.study import experiments as ex

    return ex.config_for(ctx, method, ex.SETTINGS["dual"], lam=lam, bias_augment=bias_augment, scale=(width, budget))


def iteration_gflop(config: Any) -> float:
    """Floating-point work (GFLOP) of one training iteration of `config`, counted on random patches."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from deepnorm.sampling import PatchBatch
    from deepnorm.training.methods import method_for

    method = method_for(config)
    nets = method.build(0)
    opts = method.optimizers(nets)
    gen = torch.Generator().manual_seed(0)
    b, c, p = config.train.batch_size, config.data.n_channels, config.data.patch_size

    def batches():
        while True:
            yield PatchBatch(torch.rand(b, c, p, p, p, generator=gen), torch.randint(0, 4, (b, p, p, p), generator=gen),
                             torch.arange(b) % config.data.n_domains)

    counter = FlopCounterMode(display=False)
    with counter:
        method.train_iteration(nets, opts, batches())
    return counter.get_total_flops() / 1e9


def _train(ctx: Any, config: Any) -> Any:
    from deepnorm.training.loop import train
    from deepnorm.training.runs import load_run

    key = config.stable_hash()
    if key not in ctx._runs:
        folder = train(config, data_root=ctx.data_root, runs_dir=ctx.runs_dir, progress=ctx.progress, resume=True)
        ctx._runs[key] = load_run(folder, device=ctx.device)
    return ctx._runs[key]


def _i1(ctx: Any, run: Any, adversarial: Any) -> dict[str, Any]:
    """I1 at one point: a fresh D with `adversarial`'s D budget against `run`'s frozen G."""
    import torch

    from deepnorm.nets import Discriminator
    from deepnorm.precision import runs_in_bf16
    from deepnorm.sampling import PatchSampler
    from deepnorm.study import experiments as ex
    from deepnorm.study.instruments import I1_MIN_GENERATED, train_discriminator_alone

    t, data, model = adversarial.train, adversarial.data, adversarial.model
    steps = t.n_steps * t.epochs * adversarial.batches_per_epoch

    def compute() -> dict[str, Any]:
        def sampler(split: str, offset: int) -> PatchSampler:
            subjects = [(z, s) for z, site in enumerate(data.sites) for s in ex.split_subjects(ctx, run, site, split)]
            return PatchSampler([s.image for _, s in subjects], [s.labels for _, s in subjects], data.patch_size,
                                domains=[z for z, _ in subjects], seed=t.seed + offset, balance=True)

        val = sampler("val", 1).sample(data.n_domains * data.val_patches_per_site)
        torch.manual_seed(t.seed)
        D = Discriminator(data.n_channels, data.n_domains, widths=model.disc_widths, patch_size=data.patch_size,
                          dropout=model.dropout).to(run.device)
        return train_discriminator_alone(run.generator, D, sampler("train", 0), val, steps=steps,
                                         batch_size=t.batch_size, lr=t.lr_d, weight_decay=t.weight_decay, seed=t.seed,
                                         bf16=runs_in_bf16(adversarial, run.device), progress=ctx.progress)

    return ex._cached(run, "i1", ctx, compute, steps=steps, disc_widths=list(model.disc_widths), lr_d=t.lr_d,
                      criterion=I1_MIN_GENERATED)


def scale_point(ctx: Any, width: int, budget: int, *, bias_augment: float | None = None) -> list[dict[str, Any]]:
    """One row per arm (:data:`ARMS`) at one point of the grid; trains (or reuses) its runs."""
    from deepnorm.study import experiments as ex

    sites = ex.SETTINGS["dual"]
    rows: list[dict[str, Any]] = []
    i1: dict[str, Any] | None = None
    for method, lam in ARMS:
        config = scale_config(ctx, method, width, budget, lam=lam, bias_augment=bias_augment)
        run = _train(ctx, config)
        mean = ex._mean_row(ex.scores(ctx, run, sites))
        last = run.history[-1]
        iterations = config.train.epochs * config.batches_per_epoch
        row: dict[str, Any] = {
            "width": width, "budget": budget, "bias_augment": config.data.bias_augment,
            "method": method, "lam": lam if lam is not None else math.nan,
            "widths": "-".join(str(w) for w in config.model.widths), "epochs": config.train.epochs,
            "iterations": iterations, "precision": config.train.precision,
            "dice_mean": mean["dice_mean"], "val_dice": float(last["val_dice"]),
            "d_val_accuracy_generated": float(last.get("d_val_accuracy_generated", math.nan)),
            "d_val_accuracy_real": float(last.get("d_val_accuracy_real", math.nan)),
            "d_accuracy": float(last.get("d_accuracy", math.nan)),
            "jsd": ex.jsd_of(ctx, run, sites, normalized=True)["jsd"] if method != "standardization" else math.nan,
            "gflop": iteration_gflop(config) * iterations,
            "hours": training_hours(run.history),
        }
        if method == "preprocessor":
            i1 = _i1(ctx, run, scale_config(ctx, "adversarial", width, budget, lam=1.5, bias_augment=bias_augment))
            row["i1_accuracy_generated"] = float(i1["accuracy_generated"])
        rows.append(row)
    for row in rows:
        row.setdefault("i1_accuracy_generated", float(i1["accuracy_generated"]) if i1 else math.nan)
    return rows


def scale_table(ctx: Any, points: Sequence[tuple[int, int]] = DEFAULT_POINTS,
                augment_points: Sequence[tuple[int, int]] = ((1, 1),)) -> list[dict[str, Any]]:
    """Every point's rows (:func:`scale_point`), plus each of `augment_points` with the robustness
    augmentation; written to ``results/scale.csv`` after each point, so a stopped study keeps its rows.

    The table also keeps the rows of the points that an earlier run wrote and this one does not
    train (a study run in sittings, one point at a time); a point trained again replaces its rows.
    Returns this run's rows only."""
    from deepnorm.files import read_table, write_table
    from deepnorm.study import experiments as ex

    if ctx.scale_factors != (1, 1):
        raise ConfigError(f"scale {ctx.scale!r}: the study's points are factors of the profile's own scale; "
                          "run the scale study without a scale (the point 2x1 is trained at widths x2, epochs x1)")
    rows: list[dict[str, Any]] = []
    todo = [(w, b, None) for w, b in points] + [(w, b, ex.ROBUSTNESS_AUGMENT) for w, b in augment_points]
    folder = Path(ctx.results_dir)
    earlier = read_table("scale", folder) if (folder / "scale.csv").is_file() else []
    for width, budget, augment in todo:
        rows += scale_point(ctx, width, budget, bias_augment=augment)
        done = {_point_key(r) for r in rows}
        write_table("scale", [r for r in earlier if _point_key(r) not in done] + rows, folder)
    return rows


def _point_key(row: Mapping[str, Any]) -> tuple[int, int, float]:
    """(width, budget, bias-field probability) of a scale row: the point it belongs to."""
    return int(row["width"]), int(row["budget"]), float(row["bias_augment"] or 0.0)


def differences(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per point: Ours (λ = 1.5) − Pre-processor test mean Dice, D's accuracies at λ = 0.1 and 1.5,
    Ours' JSD, I1, and the point's total GFLOP and hours (all four arms)."""
    out = []
    keys = sorted({(r["width"], r["budget"], r["bias_augment"]) for r in rows})
    for width, budget, augment in keys:
        at = {(r["method"], None if r["method"] != "adversarial" else float(r["lam"])): r for r in rows
              if (r["width"], r["budget"], r["bias_augment"]) == (width, budget, augment)}
        ours, ours_low, pre = at.get(("adversarial", 1.5)), at.get(("adversarial", 0.1)), at.get(("preprocessor", None))
        if not (ours and pre):
            continue
        point = [r for r in at.values()]
        out.append({
            "width": width, "budget": budget, "bias_augment": augment,
            "ours_minus_preprocessor": ours["dice_mean"] - pre["dice_mean"],
            "ours_dice": ours["dice_mean"], "preprocessor_dice": pre["dice_mean"],
            "preprocessor_val_dice": pre["val_dice"],
            "d_generated_lam_1.5": ours["d_val_accuracy_generated"],
            "d_generated_lam_0.1": ours_low["d_val_accuracy_generated"] if ours_low else math.nan,
            "d_real_lam_0.1": ours_low["d_val_accuracy_real"] if ours_low else math.nan,
            "jsd_ours": ours["jsd"], "jsd_preprocessor": pre["jsd"],
            "i1": pre.get("i1_accuracy_generated", math.nan),
            "precision": " / ".join(sorted({str(r.get("precision") or "float32") for r in point})),
            "gflop": sum(r["gflop"] for r in point), "hours": sum(r["hours"] for r in point),
        })
    return out


def reproduce_hours(summary: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], float]:
    """Estimated hours of one seed's `make reproduce` at each un-augmented point of :func:`differences`'
    rows: :data:`REPRODUCE_TIMES_A_POINT` times the point's own quiet hours (an extrapolation, without
    the evaluations)."""
    return {(r["width"], r["budget"]): REPRODUCE_TIMES_A_POINT * float(r["hours"]) for r in summary
            if not r["bias_augment"]}


def augmentation_effect(summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per point run with and without the robustness augmentation: the Pre-processor's and Ours' test
    mean Dice and JSD without (``*_plain``) and with it (``*_augmented``)."""
    plain = {(r["width"], r["budget"]): r for r in summary if not r["bias_augment"]}
    out = []
    for r in summary:
        base = plain.get((r["width"], r["budget"]))
        if r["bias_augment"] and base is not None:
            out.append({"width": r["width"], "budget": r["budget"], "bias_augment": r["bias_augment"],
                        **{f"{k}_{tag}": row[k] for k in ("preprocessor_dice", "ours_dice", "ours_minus_preprocessor",
                                                          "jsd_preprocessor", "jsd_ours")
                           for tag, row in (("plain", base), ("augmented", r))}})
    return out


def paper_factors(profile: str = "cpu") -> tuple[float, float]:
    """(U-Net width factor, iteration factor) of the ``paper`` profile against `profile`: the first
    U-Net width (64 against 8: x8) and the iterations of a run (600,000 against 1,920: x312.5)."""
    from deepnorm.training.config import profile as load_profile

    paper, ours = load_profile("paper"), load_profile(profile)
    return (paper.model.widths[0] / ours.model.widths[0],
            paper.train.epochs * paper.batches_per_epoch / (ours.train.epochs * ours.batches_per_epoch))


def extrapolate_widths(summary: Sequence[Mapping[str, Any]], width_factor: float) -> dict[str, Any] | None:
    """What the width points (epochs x1, no bias fields) of :func:`differences`' rows predict at widths
    x `width_factor`: an extrapolation, never a measurement.

    The price of realism (Ours − Pre-processor test mean Dice) is modelled as shrinking by a constant
    ratio per doubling of the widths, fitted by least squares on log(−price) against log2(width) (two
    points determine it); the model needs every price negative, else None. Returns the widths run,
    their prices, D's accuracies on generated patches at λ = 0.1 and their arithmetic, the ratio per
    doubling and the predicted price (a negative number: Dice Ours loses against the Pre-processor).
    """
    points = sorted((r for r in summary if not r["bias_augment"] and r["budget"] == 1), key=lambda r: r["width"])
    prices = [float(r["ours_minus_preprocessor"]) for r in points]
    if len(points) < 2 or not all(p < 0 for p in prices):
        return None
    x = [math.log2(float(r["width"])) for r in points]
    y = [math.log(-p) for p in prices]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    predicted = -math.exp(my + slope * (math.log2(width_factor) - mx))
    return {"widths": [float(r["width"]) for r in points], "prices": prices,
            "d_generated_lam_0.1": [float(r["d_generated_lam_0.1"]) for r in points],
            "precisions": [str(r.get("precision") or "float32") for r in points],
            "ratio_per_doubling": math.exp(slope), "width_factor": float(width_factor), "predicted_price": predicted}


def choose_scale(summary: Sequence[dict[str, Any]], reproduce_hours: dict[tuple[int, int], float]) -> dict[str, Any]:
    """:data:`CHOICE_RULE` on :func:`differences`' rows (un-augmented points) and the estimated
    hours of one seed's `make reproduce` at each point; returns the chosen point and why."""
    from deepnorm.study.instruments import I1_MIN_GENERATED

    plain = [r for r in summary if not r["bias_augment"]]
    if not plain:
        return {"point": None, "why": "no point run"}
    largest = max(plain, key=lambda r: r["gflop"])
    for row in sorted(plain, key=lambda r: r["gflop"]):
        point = (row["width"], row["budget"])
        if not row["i1"] >= I1_MIN_GENERATED:
            continue
        if row["preprocessor_val_dice"] < largest["preprocessor_val_dice"] - CHOICE_DICE_TOLERANCE:
            continue
        hours = reproduce_hours.get(point, math.inf)
        if hours > 2.0:
            return {"point": point, "within_budget": False,
                    "why": f"widths x{point[0]:g}, epochs x{point[1]:g}: I1 {row['i1']:.1%}, Pre-processor validation Dice "
                           f"{row['preprocessor_val_dice']:.3f} (largest point {largest['preprocessor_val_dice']:.3f}); "
                           f"one seed's reproduction estimated at {hours:.1f} h > 2 h: a further profile"}
        return {"point": point, "within_budget": True,
                "why": f"widths x{point[0]:g}, epochs x{point[1]:g}: I1 {row['i1']:.1%}, Pre-processor validation Dice "
                       f"{row['preprocessor_val_dice']:.3f} (largest point {largest['preprocessor_val_dice']:.3f}), "
                       f"one seed's reproduction estimated at {hours:.1f} h"}
    return {"point": None, "within_budget": False,
            "why": "no point run satisfies I1 and the Pre-processor's Dice criterion: keep the cpu profile"}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m deepnorm.study.scale --points 1x1,2x3 [--profile cpu] [--results DIR] [--runs DIR]``."""
    import argparse

    from deepnorm.study import experiments as ex

    parser = argparse.ArgumentParser(description="the scale study (dual-site): Ours, Pre-processor, Standardization")
    parser.add_argument("--points", default=",".join(f"{w}x{b}" for w, b in DEFAULT_POINTS))
    parser.add_argument("--augment-points", default="1x1", help="points also trained with the robustness augmentation")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--data-root", default="")
    parser.add_argument("--results", default="")
    parser.add_argument("--runs", default="")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    ctx = ex.Context(profile=args.profile, data_root=args.data_root, seed=args.seed, device="cpu",
                     results_dir=args.results, runs_dir=args.runs, progress=False)
    augment = parse_points(args.augment_points) if args.augment_points else ()
    for row in differences(scale_table(ctx, parse_points(args.points), augment)):
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
