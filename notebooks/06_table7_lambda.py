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
# # Table 7 and Fig. 9: the weight λ of the adversarial term
#
# λ trades segmentation for realism. A small λ lets the discriminator win (it tells generated patches apart); a
# large λ makes the generator's images pass for real sites. Claims C7 and C8.
#
# **Run time:** `smoke` under a minute; `cpu` [docs/timings.md](../docs/timings.md#per-notebook) (two trainings and I1; trained runs are reused);
# `paper` hours on one GPU with the real data.

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
lambdas = [0.1, 1.5, 5.0]

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
# - Mean Dice falling as λ rises, and the discriminator's train accuracy falling from about 99 % at λ = 0.1 to
#   about 44 % at λ ≥ 1.5 (C7).
# - In the confusion matrices, the last row (generated patches): at λ ≥ 1.5 the discriminator should call them
#   real sites, spread evenly, rather than "generated" (C8).

# %%
rows = ex.table7(ctx, lambdas)
display(Markdown(show.markdown(rows)))
display(Markdown(show.evaluated_on(ctx.data_root, ex.SETTINGS["dual"], ctx.seed)))

# %% [markdown]
# ## I1: can this discriminator tell generated patches apart at all?
#
# C7's first half (D wins at λ = 0.1) means something only if D can do its job at this scale. I1 trains a fresh D
# alone, with this profile's D budget (3 D steps per iteration of a run), against the frozen generator of the
# dual-site Pre-processor (trained for Table 3, reused), and asks it to call ≥ 95 % of the validation generated
# patches "generated" (the criterion was fixed before its runs). `cpu`: a few minutes, with a progress bar.

# %%
from deepnorm.study import instruments

i1 = instruments.i1_table(ctx)
verdict = instruments.judge_i1(i1[0])
display(Markdown(f"**I1 {verdict.verdict}:** {verdict.evidence}"))

# %% [markdown]
# ## Fig. 9: the discriminator's confusion matrix per λ
#
# Rows are the true class (the sites, then *generated*), columns the discriminator's answer.

# %%
figs.fig9_confusion(ctx)

# %%
display(figs.confusion_viewer(ctx))

# %% [markdown]
# ## The paper beside ours, and the verdicts

# %%
display(Markdown(show.conclusion("table7", ctx.results_dir)))
