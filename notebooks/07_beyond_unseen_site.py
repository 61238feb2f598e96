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
# # Beyond the paper: classical normalizers, contrast randomisation, and a site training never saw
#
# The paper compares its normalizer with a z-score and a learned pre-processor, on the sites it trained on. This
# notebook adds what users already run and the field's main rival idea, each followed by the same segmenter and
# trained with the same effort:
#
# - **classical normalizers** from the `intensity-normalization` library: Nyúl–Udupa histogram matching (its standard
#   scale fitted on the training subjects of every site), WhiteStripe, FCM-based and KDE-based white-matter
#   normalization;
# - **contrast randomisation** (SynthSeg, Billot et al. 2023): no normalizer, a segmenter trained on images whose
#   per-tissue contrast, gamma, bias field, noise and blur are drawn at random;
#
# and asks the question every user asks: **does it work on a scanner it never saw?** Every method is trained on two
# sites and tested on the third, for each of the three rotations, and on all three sites without one ABIDE scanner,
# tested on that scanner. Claims B1-B3 (criteria in
# `deepnorm/study/claims.py`, fixed before the runs).
#
# **Run time:** `smoke` a few minutes; `cpu` 38 trainings a seed (the paper's methods on iSEG + MRBrainS are Table 3's
# runs, reused), several times the paper's tables ([docs/timings.md](../docs/timings.md#per-notebook)); `paper` days on one GPU. `make reproduce-beyond`
# runs it (`JOBS=N` runs seeds side by side).

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
settings = ["dual", "multi"]  # Table 3's settings for the extra rows: iSEG + MRBrainS, and + ABIDE
holdout_scanner = "STANFORD"  # the ABIDE scanner held out of the four-site case ("" to skip it)

# %%
from IPython.display import Markdown, display

from deepnorm.study import beyond
from deepnorm.study import display as show
from deepnorm.study import experiments as ex
from deepnorm.study import figures as figs

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=scale)

# %% [markdown]
# ## What to look for
#
# - On the training sites (Table 3's settings), where do the classical normalizers land between Standardization and
#   the learned ones (B1)?
# - On the held-out site, how much of its Dice on the training sites (`seen`) does each method keep? A normalizer
#   fitted or trained on some sites may not transfer; contrast randomisation was built for exactly this (B2, B3).

# %% [markdown]
# ## Extra rows of Table 3 and Table 4

# %%
rows3 = beyond.table3_beyond(ctx, settings)
display(Markdown(show.markdown(rows3)))

# %%
rows4 = beyond.table4_beyond(ctx, settings)
display(Markdown(show.markdown(rows4)))

# %% [markdown]
# ## Unseen site: train on two sites, test on the third

# %%
rows = beyond.unseen_site(ctx)
display(Markdown(show.markdown(rows)))

# %% [markdown]
# ## Unseen scanner: train on the three sites without one ABIDE scanner, test on it
#
# The case closest to a user's new scanner: every site in training, one of ABIDE's scanners left out entirely.

# %%
scanner_rows = []
if holdout_scanner:
    scanner_rows = beyond.unseen_scanner(ctx, holdout_scanner)
    display(Markdown(show.markdown(scanner_rows)))

# %% [markdown]
# ## At a glance
#
# Dice per tissue and method, one panel per held-out site, one for the mean over the three rotations and one for the
# held-out scanner (error bars appear when several seeds were run).

# %%
figs.unseen_site_bars(ctx, rows, scanner_rows)

# %% [markdown]
# ## Verdicts

# %%
from deepnorm.files import read_table
from deepnorm.study import claims

tables = {name: read_table(name, ctx.results_dir) for name in ("table3", "table3_beyond", "unseen_site")}
display(Markdown(show.markdown([{"claim": v.claim, "statement": v.text, "verdict": v.verdict, "numbers": v.evidence}
                                for v in claims.judge_beyond(tables)])))
