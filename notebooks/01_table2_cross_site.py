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
# # Table 2: a segmenter does not travel between sites
#
# The paper trains the 3D U-Net segmenter alone on min-max scaled images of one data set and tests it on the test
# subjects of both. Claim C1: testing on the other site loses at least 30 % of the mean Dice.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (two trainings; trained runs are reused, so a second
# run only evaluates); `paper` hours on one GPU with the real data.

# %% tags=["parameters"]
profile = "cpu"  # smoke (seconds, tests), cpu (the default, 2-core laptop) or paper (GPU, real data)
data_root = ""  # empty: the embedded phantom of the profile, built on first use; else a real data root
seed = 0  # one seed for data splits, patch sampling and network initialisation
device = "auto"  # auto (CUDA if available), cpu or cuda
results_dir = ""  # empty: results/notebooks/scratch/ (ignored by git); make reproduce passes results/
figures_dir = ""  # empty: results/notebooks/scratch/figures/; make reproduce passes figures/
runs_dir = ""  # empty: runs/ (trained models, reused when the configuration is the same)
precision = ""  # empty: the profile's (cpu: auto, smoke: float32); float32, bf16, or auto (bf16 where the processor's units pay)
scale = ""  # empty: the profile's networks and epochs; WxE (e.g. 2x1): U-Net widths xW and epochs xE (08_scale's points)
sites = ["iseg", "mrbrains"]  # train on each, test on each

# %%
from IPython.display import Markdown, display

from deepnorm.study import display as show
from deepnorm.study import experiments as ex
from deepnorm.study import figures as figs

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=scale)

# %% [markdown]
# ## What to look for
#
# - The diagonal (trained and tested on the same site) against the off-diagonal (tested on the other site): the
#   paper loses about half of the mean Dice across sites.
# - Which direction hurts more: the paper's MRBrainS13 → iSEG-2017 collapses on GM (Dice 0.08), because infant GM
#   barely differs from WM in the infant's isointense T1.

# %% [markdown]
# ## Train (or reuse) one segmenter per site, test on every site
#
# Whole test volumes go through the sliding window (class probabilities averaged over overlapping patches); Dice
# per tissue (Eq. 4) and mean Hausdorff distance in mm (Eq. 5).

# %%
rows = ex.table2(ctx, sites)
display(Markdown(show.markdown(rows)))
display(Markdown(show.evaluated_on(ctx.data_root, sites, ctx.seed)))

# %%
figs.table2_bars(ctx, rows)

# %% [markdown]
# ## The paper beside ours, and the verdict

# %%
display(Markdown(show.conclusion("table2", ctx.results_dir)))
