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
# # Table 3: normalizing the intensities before segmenting
#
# Three ways to make several sites look alike, each followed by the same segmenter: per-volume z-score
# (*Standardization*), a generator trained only for segmentation (*Pre-processor*, λ = 0) and the paper's generator
# trained with the K+1-class discriminator (*Ours*, λ = 1.5), on two and three sites. Claims C2, C3 and C9.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook), the longest of the paper's tables (eight trainings;
# trained runs are reused, so a second run only evaluates); `paper` hours on one GPU with the real data.

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
settings = ["dual", "multi"]  # iSEG + MRBrainS, and + ABIDE

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
# - Mean Dice of Pre-processor and Ours above Standardization (C2), and Ours within 0.01 of the Pre-processor (C3):
#   the adversarial term must not cost segmentation quality.
# - Ours on three sites against Ours on two, on the same iSEG-2017 and MRBrainS13 test subjects (C9).
# - In the training curves: the discriminator's accuracy should fall towards chance as the generator learns to fool
#   it. In Fig. 6, the normalized patches of different sites should look alike while keeping the anatomy.

# %% [markdown]
# ## Train and evaluate the three normalizers in each setting
#
# Algorithm 1 (shown step by step in `00b_algorithm1_walkthrough`): for n_steps the discriminator learns real
# patches as their site and generated patches as class K+1; then the segmenter and generator step on the Dice loss
# plus λ times the generator's adversarial term.

# %%
rows = ex.table3(ctx, settings)
display(Markdown(show.markdown(rows)))
display(Markdown(show.evaluated_on(ctx.data_root, ex.SETTINGS["multi"], ctx.seed)))

# %% [markdown]
# ## The main result at a glance
#
# Dice per tissue for each method and setting; the paper's values are the black ticks (error bars appear when several
# seeds were run).

# %%
figs.table3_bars(ctx, rows)

# %% [markdown]
# ## Input beside normalized
#
# Ours on two sites: each test subject's input (left) beside its normalized image (right), with its ground-truth
# labels. The site and subject dropdowns switch the scan. Both panels share one intensity window, so a change of
# brightness or contrast made by the generator shows; "per panel" gives each its own window.
#
# Faint straight seams in the normalized image are where patches meet: G sees one patch at a time, and the volume
# is the mean of the overlapping patch outputs (the patch and stride of the profile); near a patch's border the
# U-Net sees padding instead of the neighbouring tissue, so its output changes slightly where the number of
# overlapping patches does.

# %%
figs.normalized_viewer(ctx)

# %% [markdown]
# ## Training curves of Ours (two sites)

# %%
figs.training_curves(ctx, "adversarial", ex.SETTINGS["dual"])

# %% [markdown]
# ## Fig. 5: segmentations of one test subject per site

# %%
figs.fig5_overlays(ctx)

# %% [markdown]
# ## Fig. 6: input patches and their normalized versions
#
# The generator keeps the anatomy and moves every site's intensities towards one shared appearance.

# %%
figs.fig6_patches(ctx)

# %% [markdown]
# ## Fig. 2 and 7: per-tissue histograms before and after normalization

# %%
figs.fig7_histograms(ctx)

# %% [markdown]
# ## The paper beside ours, and the verdicts

# %%
display(Markdown(show.conclusion("table3", ctx.results_dir)))
