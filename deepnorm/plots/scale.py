"""The scale study's figure: what Ours gains or pays, and how D fares, against compute."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepnorm.errors import DataError
from deepnorm.plots.figures import _new_figure, save_figure


def _label(row: Mapping[str, Any]) -> str:
    tag = f"w×{float(row['width']):g}, e×{float(row['budget']):g}"  # factors read back from a CSV are floats
    return tag + (", bias aug." if row.get("bias_augment") else "")


def plot_scale(summary: Sequence[Mapping[str, Any]], *, i1_criterion: float, path: str | Path | None = None) -> Any:
    """Three panels against the training compute of each point (GFLOP, log scale; hours in the labels).

    `summary` holds :func:`deepnorm.study.scale.differences` rows. Panels: Ours (λ = 1.5) − the
    Pre-processor in test mean Dice (a line at 0: below it realism costs Dice); D's validation
    accuracy on generated patches at λ = 0.1 and λ = 1.5, with I1 (D alone against the frozen
    Pre-processor G) and its criterion `i1_criterion` (a fraction: the study passes
    ``deepnorm.study.instruments.I1_MIN_GENERATED``); the JSD between the sites' normalized histograms,
    Ours and the Pre-processor. Each point is labelled by its width and epoch factors. Lines join
    the un-augmented points in order of compute. Returns the Figure.
    """
    rows = sorted((r for r in summary if math.isfinite(float(r.get("gflop", math.nan)))), key=lambda r: r["gflop"])
    if not rows:
        raise DataError("plot_scale: no point with a measured compute; run the scale study first")
    plain = [r for r in rows if not r.get("bias_augment")]
    figure = _new_figure((13.0, 5.0))
    axes = figure.subplots(1, 3)
    panels = (
        (axes[0], "Ours − Pre-processor, test mean Dice", "Dice difference (fraction)",
         (("ours_minus_preprocessor", "Ours (λ = 1.5) − Pre-processor", "o"),)),
        (axes[1], "D on generated patches (validation)", 'share called "generated" (fraction)',
         (("d_generated_lam_0.1", "Ours, λ = 0.1", "o"), ("d_generated_lam_1.5", "Ours, λ = 1.5", "s"),
          ("i1", "I1: D alone vs frozen Pre-processor G", "^"))),
        (axes[2], "JSD between the sites' histograms", "JSD (nats)",
         (("jsd_ours", "Ours (λ = 1.5)", "o"), ("jsd_preprocessor", "Pre-processor", "s"))),
    )
    for ax, title, ylabel, series in panels:
        for key, name, marker in series:
            xs = [r["gflop"] for r in plain if math.isfinite(float(r.get(key, math.nan)))]
            ys = [float(r[key]) for r in plain if math.isfinite(float(r.get(key, math.nan)))]
            (line,) = ax.plot(xs, ys, marker=marker, label=name)
            line.set_gid(key)
            extra = [r for r in rows if r.get("bias_augment") and math.isfinite(float(r.get(key, math.nan)))]
            if extra:
                ax.scatter([r["gflop"] for r in extra], [float(r[key]) for r in extra], marker=marker,
                           facecolors="none", edgecolors=line.get_color(), label=f"{name}, with bias augmentation")
        for r in plain:
            value = r.get(series[0][0], math.nan)
            if math.isfinite(float(value)):
                ax.annotate(f"{_label(r)}\n{r['hours']:.2f} h", (r["gflop"], float(value)), fontsize=6,
                            textcoords="offset points", xytext=(3, 3))
        ax.set_xscale("log")
        ax.set_xlabel("compute of the point's trainings (GFLOP, log)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].axhline(0.0, color="gray", ls=":", lw=1).set_gid("zero")
    axes[1].axhline(i1_criterion, color="gray", ls="--", lw=0.8, label=f"I1 criterion, {i1_criterion:.0%}")
    axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:  # below the panel, where it hides no point
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1, frameon=False)
    return save_figure(figure, path)
