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
# # Data tour: three sites and their domain shift
#
# The paper trains on iSEG-2017 (infants, isointense T1/T2), MRBrainS13 (adults, T1/FLAIR, 3 mm slices) and ABIDE
# (children and adults from many scanners, T1). Without the real data, deepnorm builds an embedded phantom with the
# same layouts and file formats, each site built from published facts about the real set (infant brain size and
# isointense contrast, elderly atrophy and white-matter lesions, per-scanner contrast curves; `data/README.md`) on
# the MNI ICBM152 anatomy shipped in nilearn, so the very same loaders and pre-processing run on both. This notebook
# loads one subject per site, shows each in the slice viewer, compares the sites' tissue intensity histograms (the
# domain shift the paper's normalizer removes) and measures the data-only patterns of the paper's data.
#
# **Run time:** `smoke` seconds; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (the first run builds the phantom); `paper` minutes with the
# real data.

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
from deepnorm.study import figures as figs

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=scale)

# %% [markdown]
# ## What to look for
#
# - Three anatomies at three resolutions: the small infant brain, the elderly brain's wide sulci and ventricles,
#   and MRBrainS13's 3 mm slices, blocky along one axis.
# - iSEG-2017's isointense infant contrast: in T1, grey and white matter are nearly the same grey; T2 separates them.
# - In the histograms, the same tissue peaks at different intensities per site, and in iSEG-2017 the GM and WM
#   peaks overlap. A segmenter trained on one site meets unfamiliar intensities on the others (Table 2).

# %% [markdown]
# ## The sites on disk
#
# Each site is read by its own loader (`deepnorm.data.sites`) from its real layout; labels are mapped to
# 0 background, 1 CSF, 2 GM, 3 WM.

# %%
tour = figs.data_tour(ctx)
display(Markdown(show.markdown(tour.rows)))

# %% [markdown]
# ## One subject per site, pre-processed
#
# Skull-stripped, cropped to the brain, resampled to the profile's voxel size and min-max scaled to [0, 1]: the
# generator's input. Pick the site, move the slider (the title gives the slice's position in mm), switch the axis,
# toggle the ground-truth labels. T1 is on the left; on the right each site's second contrast (T2 for iSEG-2017,
# T2-FLAIR for MRBrainS13), blank for a site that has none (ABIDE).

# %%
display(figs.tour_viewer(ctx, tour))

# %% [markdown]
# ## Tissue intensity histograms per site (Fig. 2)
#
# The same tissue sits at different intensities in different sites.

# %%
figs.tour_histograms(ctx, tour)

# %%
display(figs.tour_histogram_viewer(ctx, tour))

# %% [markdown]
# ## Properties of the data, before any normalizer (D2, D3; D1 comes with Table 2)
#
# Per site: brain volume, CSF fraction, how much GM and WM overlap in intensity (Bayes error: 0 separable, 0.5
# identical) and how much of CSF lies on the brain's one-voxel rim. Then the inputs' Jensen–Shannon divergence between
# sites and between ABIDE scanners. The report judges these patterns (`deepnorm/study/data_checks.py`); on the
# phantom they check that it has the paper's site shift.

# %%
checks = ex.data_checks(ctx)
display(Markdown(show.markdown(checks["data_sites"])))
display(Markdown(show.markdown(checks["data_jsd"])))
