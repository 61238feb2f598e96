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
# # Table 4: how different are the sites' intensity distributions?
#
# The Jensen–Shannon divergence between the brain intensity histograms of each pair of sites, averaged over pairs,
# for the inputs and for the outputs of the two learned normalizers. We report the true JSD (nats, at most ln 2)
# and, beside it, the quantity the authors' code computed, which explains why the paper's values (2.08 and 12.22)
# exceed ln 2. Claim C4.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (no training when Table 3's runs exist); `paper` minutes.

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
settings = ["dual", "multi"]

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
# - The inputs' JSD against the normalized images' JSD: normalization should at least halve it (C4).
# - Ours at or below the Pre-processor: the discriminator pushes the sites' appearances together, the Pre-processor
#   only learns what helps segmentation.
# - The true JSD never exceeds ln 2 ≈ 0.693 nats; the authors' quantity does, and grows with the number of sites.

# %%
rows = ex.table4(ctx, settings)
display(Markdown(show.markdown(rows, digits=4)))

# %%
figs.table4_bars(ctx, rows)

# %% [markdown]
# ## The paper beside ours, and the verdict

# %%
display(Markdown(show.conclusion("table4", ctx.results_dir)))
