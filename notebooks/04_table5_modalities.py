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
# # Table 5: one modality or two?
#
# Ours on iSEG + MRBrainS with T1 alone and with T1 plus the second contrast (T2 for iSEG, FLAIR for MRBrainS).
# Claim C5: two modalities segment better.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (one T1 + T2 training; trained runs are reused, so a second run only
# evaluates); `paper` hours on one GPU with the real data.

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

# %%
from IPython.display import Markdown, display

from deepnorm.study import display as show
from deepnorm.study import experiments as ex

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=scale)

# %% [markdown]
# ## What to look for
#
# - Mean Dice with T1 + T2 above T1 alone (C5).
# - Where the gain comes from: iSEG-2017's isointense infant T1 barely separates GM from WM, so its GM and WM should
#   gain most from T2; MRBrainS13's FLAIR mostly helps CSF.

# %%
rows = ex.table5(ctx)
display(Markdown(show.markdown(rows)))
display(Markdown(show.evaluated_on(ctx.data_root, ex.SETTINGS["dual"], ctx.seed)))

# %% [markdown]
# ## Dice per tissue and site, T1 against T1 + T2
#
# The per-subject scores behind the table (cached in each run folder by `ex.table5`).

# %%
from deepnorm.plots.table5 import plot_table5

inputs = {"t1": ("t1",), "t1+t2": ("t1", "t2")}
per_subject = {name: ex.scores(ctx, ex.run_for(ctx, "adversarial", ex.SETTINGS["dual"], modalities=mods),
                               ex.SETTINGS["dual"]) for name, mods in inputs.items()}
plot_table5(per_subject, path=ctx.figure("table5_modalities"))

# %% [markdown]
# ## The paper beside ours, and the verdict

# %%
display(Markdown(show.conclusion("table5", ctx.results_dir)))
