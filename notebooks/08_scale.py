# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The scale study: at what capacity and budget does the method show itself?
#
# On the `cpu` profile the generator has U-Net widths 8–64 (the paper's: 64–512) and trains 1,920 iterations
# (the paper's: 600,000). Every verdict about Ours may then be a verdict about the scale. This notebook trains,
# on iSEG + MRBrainS, Ours at λ = 1.5 and λ = 0.1, the Pre-processor and Standardization at several points of a
# grid — U-Net widths ×1, ×2, ×4 and epochs ×1, ×3, ×9 of the profile — and reads, at each point, what realism
# costs in Dice (Ours − Pre-processor), whether D still tells generated patches apart (λ = 0.1, λ = 1.5, and
# the instrument check I1: D alone against the frozen Pre-processor G), and the JSD between the sites'
# normalized histograms, against the compute the point took.
#
# The rule that picks a profile from the study was written in `deepnorm.study.scale.CHOICE_RULE` before any of
# its runs, and reads no claim.
#
# **Run time:** `smoke` about a minute for one point; `cpu`: each point its compute (printed below, hours measured on
# this machine; the first points' in [docs/timings.md](../docs/timings.md#per-notebook)); the whole default grid is days on 2 cores.
# `make reproduce-scale` runs it; trained runs are reused.

# %% tags=["parameters"]
profile = "cpu"  # smoke (seconds, tests), cpu (the default, 2-core laptop) or paper (GPU, real data)
data_root = ""  # empty: the embedded phantom of the profile, built on first use; else a real data root
seed = 0  # one seed for data splits, patch sampling and network initialisation
device = "auto"  # auto (CUDA if available), cpu or cuda
results_dir = ""  # empty: results/notebooks/scratch/ (ignored by git); make reproduce-scale passes results/
figures_dir = ""  # empty: results/notebooks/scratch/figures/; make reproduce-scale passes figures/
runs_dir = ""  # empty: runs/ (trained models, reused when the configuration is the same)
precision = ""  # empty: the profile's (cpu: auto, smoke: float32); float32, bf16, or auto (bf16 where the processor's units pay)
scale = ""  # must stay empty: the points below are factors of the profile's own scale
points = "1x1,2x3,4x1,1x9,4x9"  # WIDTHxEPOCHS factors: the grid's diagonal and its two far corners
augment_points = "1x1"  # points also trained with the robustness augmentation (bias fields, Table 6)

# %%
context_scale = scale  # the parameter, before the study's module takes the name

import pandas as pd
from IPython.display import Markdown, display

from deepnorm.plots.scale import plot_scale
from deepnorm.study import experiments as ex
from deepnorm.study import scale
from deepnorm.study.instruments import I1_MIN_GENERATED

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=context_scale)
print("rule that picks a profile (fixed before the runs):", scale.CHOICE_RULE)

# %% [markdown]
# ## What to look for
#
# - Ours − Pre-processor: the paper finds Ours within about a point of Dice of the Pre-processor (C4). A gap
#   that closes as widths and epochs grow says the cpu profile's verdict is a verdict about its scale.
# - D's accuracy on generated patches at λ = 0.1: near 100 % means D can tell G's output apart at this
#   scale (the premise of C7); near the 1/(K+1) of chance means G fools D even when barely asked to.
# - I1: D trained alone against the frozen Pre-processor G must call at least 95 % of generated patches
#   "generated"; where it does not, D cannot see what G does at that point and C7/C8 say nothing about the method.
# - The bias-augmented point against the plain one at ×1/×1: what the robustness training costs in Dice.

# %% [markdown]
# ## Every point's runs
#
# One row per training: its widths, epochs and iterations, its test mean Dice (one test subject per site:
# 2 volumes), the last epoch's validation Dice, D's validation accuracy on generated and on real patches,
# the JSD of its normalized images, its compute (GFLOP) and the hours it trained on this machine. Each point
# prints a progress bar per training; a stopped study keeps its finished points (`results/scale.csv`).

# %%
rows = scale.scale_table(ctx, scale.parse_points(points),
                         scale.parse_points(augment_points) if augment_points else ())
display(pd.DataFrame(rows).rename(columns={"dice_mean": "test mean Dice", "val_dice": "validation Dice",
                                           "d_val_accuracy_generated": "D: generated called generated",
                                           "d_val_accuracy_real": "D: real called their site",
                                           "jsd": "JSD (nats)", "gflop": "GFLOP", "hours": "hours"}).round(4))

# %% [markdown]
# ## The answer per point, and the figure

# %%
summary = scale.differences(rows)
display(pd.DataFrame(summary).round(4))
plot_scale(summary, i1_criterion=I1_MIN_GENERATED, path=ctx.figure("scale"))

# %% [markdown]
# ## The profile the rule picks
#
# One seed's `make reproduce` at a point is estimated from the point's own hours: the reproduction trains the
# dual-site methods of the point about 5 times over (Tables 2–7), so 5 × the point's hours, plus the
# evaluations (`scale.reproduce_hours`). The estimate is an extrapolation from this machine's measured hours.

# %%
choice = scale.choose_scale(summary, scale.reproduce_hours(summary))
display(Markdown(f"**Chosen:** {choice['why']}"))
