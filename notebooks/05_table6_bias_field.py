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
# # Table 6: does the normalizer remove a bias field?
#
# Test images are degraded by Eq. 7, B(y) = (y/H)·α + (1 − α), a multiplicative ramp along y, then normalized by
# Ours. Pearson ρ between intensity and y in each axial slice measures how much of the ramp is left. Claim C6.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (one robustness training of Ours, with bias fields; trained
# runs are reused); `paper` hours on one GPU with the real data.

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
alphas = [0.3, 0.5, 0.7, 0.9]
figure_site = "iseg"  # the site shown in Fig. 8

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
# - ρ grows with α on the degraded images; after normalization it should be lower at every α and site (C6).
# - In Fig. 8, the mean intensity along y: a ramp on the degraded image, flatter after the generator.

# %%
rows = ex.table6(ctx, alphas)
display(Markdown(show.markdown(rows)))

# %% [markdown]
# ## Fig. 4 and 8: degraded images and the mean intensity along y

# %%
figs.fig8_bias(ctx, site=figure_site, alphas=alphas)

# %% [markdown]
# ## The paper beside ours, and the verdict

# %%
display(Markdown(show.conclusion("table6", ctx.results_dir)))
