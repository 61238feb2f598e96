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
# # Algorithm 1, step by step
#
# The paper's method in visible code, on one tiny batch: a patch draw, the three networks (generator G,
# segmenter S, discriminator D), the three losses (Eq. 1, 2, 3) computed by hand and checked against the library,
# one discriminator step, one generator/segmenter step, then a few dozen iterations with the losses plotted.
# The experiment notebooks run the same steps through `deepnorm.training.loop.train`.
#
# **Run time:** `smoke` seconds, `cpu` [docs/timings.md](../docs/timings.md#per-notebook): the networks are those of the profile, untrained, on the CPU.

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
iterations = 40  # Algorithm 1 iterations of the last section

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from deepnorm.data.prepared import prepare_split
from deepnorm.data.sites import SITE_NAMES
from deepnorm.labels import DICE_WEIGHTS, N_CLASSES
from deepnorm.losses import domain_loss, generator_adversarial_loss, weighted_dice_loss
from deepnorm.nets import Discriminator, UNet3D
from deepnorm.sampling import PatchSampler
from deepnorm.study import experiments as ex
from deepnorm.training.algorithm1 import (
    algorithm1_iteration,
    discriminator_update,
    segmentation_update,
)
from deepnorm.training.config import profile as load_profile

ctx = ex.notebook_context(profile=profile, data_root=data_root, seed=seed, device=device,
                         results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir, precision=precision,
                         scale=scale)
config = load_profile(profile, **{"train.seed": seed})
torch.set_num_threads(1)  # a tiny batch: one thread is faster than several
data, model, train = config.data, config.model, config.train
print(f"profile {profile}: sites {[SITE_NAMES[s] for s in data.sites]}, {data.patch_size}³ patches of "
      f"{data.spacing} mm voxels, batch {train.batch_size}, λ = {train.lam}, {train.n_steps} D step(s) per iteration")

# %% [markdown]
# ## What to look for
#
# - The hand-written Eq. 1, 2 and 3 give the library's numbers.
# - The D step and the G/S step written out (zero_grad, forward passes, backward, step) end with the
#   library's weights, to 1e-6.
# - The D step changes only D; the G/S step changes G and S and leaves D untouched (D is frozen while it scores
#   the generated patches).
# - Over a few dozen iterations the curves mostly show the noise of single small batches; raise `iterations` to
#   see the Dice loss fall. D's loss starts near chance, 2 ln(K + 1) for its real and generated halves together,
#   and its accuracy near 1 / (K + 1): neither player has learned anything yet.

# %% [markdown]
# ## 1. A batch of patches (Sec. 2.3)
#
# Patches are cubes centred on foreground voxels of the training volumes, drawn without replacement, the same number
# from each site. Each carries its site index z (0..K−1).

# %%
volumes = {site: prepare_split(ctx.data_root, data, site, "train", runs_dir=ctx.runs_dir, seed=seed)
           for site in data.sites}
images = [v.image for site in data.sites for v in volumes[site]]
labels = [v.labels for site in data.sites for v in volumes[site]]
domains = [z for z, site in enumerate(data.sites) for _ in volumes[site]]
sampler = PatchSampler(images, labels, data.patch_size, domains=domains, seed=seed, balance=True)

batch = sampler.sample(train.batch_size)
x, y, z = batch.images, batch.labels, batch.domains
N, C, K = x.shape[0], x.shape[1], data.n_domains
print("x", tuple(x.shape), "patches (N, C, p, p, p) in [0, 1]")
print("y", tuple(y.shape), "labels 0 BG, 1 CSF, 2 GM, 3 WM")
print("z", z.tolist(), "site of each patch")

fig, axes = plt.subplots(2, N, figsize=(1.6 * N, 3.4), squeeze=False)
for i in range(N):
    axes[0, i].imshow(x[i, 0, :, :, data.patch_size // 2].T, cmap="gray", vmin=0, vmax=1, origin="lower")
    axes[0, i].set_title(SITE_NAMES[data.sites[int(z[i])]], fontsize=7)
    axes[1, i].imshow(y[i, :, :, data.patch_size // 2].T, cmap="viridis", vmin=0, vmax=3, origin="lower")
for ax in axes.flat:
    ax.set_axis_off()
fig.suptitle("central slice of each patch (top) and its labels (bottom)")
plt.show()

# %% [markdown]
# ## 2. The three networks and one forward pass
#
# G is a 3D U-Net ending in a sigmoid (images in [0, 1]); S the same U-Net ending in 4 class logits; D a strided
# CNN ending in K + 1 logits: the K sites, then class K+1, "generated".

# %%
torch.manual_seed(seed)
G = UNet3D(C, C, widths=model.widths, out_activation="sigmoid")
S = UNet3D(C, N_CLASSES, widths=model.widths)
D = Discriminator(C, K, widths=model.disc_widths, patch_size=data.patch_size, dropout=model.dropout)
opt_gs = torch.optim.Adam([*G.parameters(), *S.parameters()], lr=train.lr_gs, weight_decay=train.weight_decay)
opt_d = torch.optim.Adam(D.parameters(), lr=train.lr_d, weight_decay=train.weight_decay)

torch.manual_seed(seed)  # D's dropout draws from torch's generator
normalized = G(x)                              # (N, C, p, p, p)
probs = torch.softmax(S(normalized), dim=1)    # (N, 4, p, p, p): S's class probabilities
logits_real = D(x)                             # (N, K + 1)
logits_generated = D(normalized)               # (N, K + 1)
low, high = float(normalized.detach().min()), float(normalized.detach().max())
print("G(x)", tuple(normalized.shape), f"in [{low:.3f}, {high:.3f}]")
print("S(G(x)) probabilities", tuple(probs.shape))
print("D(x) logits", tuple(logits_real.shape), "· D(G(x)) logits", tuple(logits_generated.shape))

# %% [markdown]
# ## 3. Eq. 1: the weighted soft Dice loss of S
#
# $L_{seg} = 1 - \dfrac{2 \sum_c w_c \sum_v s_{vc}\, y_{vc}}{\sum_c w_c \sum_v (s_{vc} + y_{vc})}$ per patch, with
# the class weights w (BG 0.22, CSF 0.30, GM 0.20, WM 0.28), averaged over the batch.

# %%
eps = 1e-6
w = torch.tensor(DICE_WEIGHTS)
onehot = F.one_hot(y, N_CLASSES).movedim(-1, 1).float()   # (N, 4, p, p, p)
intersection = (probs * onehot).sum(dim=(2, 3, 4))        # (N, 4): Σ_v s·y per class
total = (probs + onehot).sum(dim=(2, 3, 4))               # (N, 4): Σ_v (s + y) per class
seg_by_hand = (1 - (eps + 2 * (w * intersection).sum(1)) / (eps + (w * total).sum(1))).mean()
seg_library = weighted_dice_loss(probs, y, DICE_WEIGHTS)
print(f"Eq. 1 by hand {float(seg_by_hand):.6f} · library {float(seg_library):.6f}")

# %% [markdown]
# ## 4. Eq. 2: the discriminator's loss
#
# $L_{dis}(D(x), z) = -\log D_z(x)$, with $D_z$ the softmax probability of class z. D learns real patches as their
# site z and generated patches G(x) as class K+1 (index K here, counting from 0). Its loss in Algorithm 1 is the
# sum of the two means, real and generated.

# %%
log_p_real = torch.log_softmax(logits_real, dim=1)
log_p_generated = torch.log_softmax(logits_generated, dim=1)
dis_real = -log_p_real[torch.arange(N), z].mean()
dis_generated = -log_p_generated[:, K].mean()
print(f"Eq. 2 on real patches:      by hand {float(dis_real):.6f} · library {float(domain_loss(logits_real, z)):.6f}")
fake = torch.full((N,), K)
print(f"Eq. 2 on generated patches: by hand {float(dis_generated):.6f} · "
      f"library {float(domain_loss(logits_generated, fake)):.6f}")
print(f"D loss {float(dis_real + dis_generated):.6f}; at chance each half is ln(K + 1) = {np.log(K + 1):.6f}")

# %% [markdown]
# ## 5. Eq. 3: the generator's adversarial term
#
# G and S minimise $L_{seg} + \lambda\, L_{adv}$. In its non-saturating form (our default),
# $L_{adv} = -\log(1 - D_{K+1}(G(x)))$: small when D takes G's patches for one of the real sites. The exact minimax
# form is $\log D_{K+1}(G(x)) = -L_{dis}(D(G(x)), K+1)$.

# %%
p_generated = torch.softmax(logits_generated, dim=1)[:, K]   # D's probability that a patch is generated
adv_nonsaturating = -torch.log(1 - p_generated).mean()
adv_minimax = torch.log(p_generated).mean()
print(f"non-saturating: by hand {float(adv_nonsaturating):.6f} · "
      f"library {float(generator_adversarial_loss(logits_generated, 'nonsaturating')):.6f}")
print(f"minimax:        by hand {float(adv_minimax):.6f} · "
      f"library {float(generator_adversarial_loss(logits_generated, 'minimax')):.6f}")
print(f"G/S loss L_seg + λ L_adv = {float(seg_by_hand):.4f} + {train.lam} × {float(adv_nonsaturating):.4f} "
      f"= {float(seg_by_hand + train.lam * adv_nonsaturating):.4f}")

# %% [markdown]
# ## 6. One discriminator step
#
# D steps on a fresh batch: real patches as their site z, G's outputs as "generated" (class K+1, index K).
# Written out below on deep copies of D and its optimizer, then done by the library's `discriminator_update`
# on the originals; the two must end with the same weights. The losses are the library's Eq. 2
# (`domain_loss`), checked by hand in section 4. D's dropout draws from torch's generator, so the library call
# starts from the generator's state before the written-out step: both draw the same dropout masks.

# %%
import copy


def weights(net):
    """All parameters of `net` as one flat vector (a copy)."""
    return torch.cat([p.detach().flatten() for p in net.parameters()]).clone()


def max_difference(a, b):
    """Largest absolute difference between the parameters of two networks of the same architecture."""
    return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))


TOLERANCE = 1e-6
before = {"G": weights(G), "S": weights(S), "D": weights(D)}
d_batch = sampler.sample(train.batch_size)
real, real_z = d_batch.images, d_batch.domains
with torch.no_grad():  # G(x) without gradient to G: the D step does not train G
    generated = G(real)

# one deepcopy call for both, so that the copied optimizer steps the copied D's parameters
D_hand, opt_d_hand = copy.deepcopy((D, opt_d))
rng_state = torch.get_rng_state()
D_hand.train()
opt_d_hand.zero_grad(set_to_none=True)
logits_real = D_hand(real)                                    # D on real patches, (N, K + 1)
logits_generated = D_hand(generated)                          # D on G(x), (N, K + 1); a separate pass
d_loss = (domain_loss(logits_real, real_z)                    # Eq. 2, real patches as their site z
          + domain_loss(logits_generated, torch.full((N,), K)))  # Eq. 2, G(x) as "generated"
d_loss.backward()                                             # gradients reach D only
opt_d_hand.step()

torch.set_rng_state(rng_state)  # the same dropout masks for the library's step
d_stats = discriminator_update(D, opt_d, real, real_z, generated)
print({k: round(v, 4) for k, v in d_stats.items()})
print(f"D loss: by hand {float(d_loss):.6f} · library {d_stats['loss']:.6f}")
for name, net in (("G", G), ("S", S), ("D", D)):
    print(f"{name} changed: {not torch.equal(before[name], weights(net))}")
d_difference = max_difference(D_hand, D)
print(f"D step: by hand and library agree, max abs weight difference {d_difference:.1e} (tolerance {TOLERANCE:.0e})")
assert d_difference <= TOLERANCE, d_difference

# %% [markdown]
# ## 7. One generator/segmenter step
#
# G and S step on Eq. 1 + λ Eq. 3 on another fresh batch; D only scores G's patches: its parameters take no
# gradient, and its buffers are put back after (the paper's D has none, having no normalisation layer; the
# library restores them in any case, as a D with BatchNorm would update its statistics here).
# Written out on deep copies of G, S, D and the optimizer, then done by `segmentation_update` on the originals.

# %%
before = {"G": weights(G), "S": weights(S), "D": weights(D)}
gs_batch = sampler.sample(train.batch_size)
x_gs, y_gs = gs_batch.images, gs_batch.labels

G_hand, S_hand, D_hand, opt_gs_hand = copy.deepcopy((G, S, D, opt_gs))
rng_state = torch.get_rng_state()
for net in (G_hand, S_hand, D_hand):                          # training mode, as the library sets it
    net.train()
opt_gs_hand.zero_grad(set_to_none=True)
normalized = G_hand(x_gs)                                     # G(x), with gradient to G this time
probs = torch.softmax(S_hand(normalized), dim=1)              # S(G(x)), (N, 4, p, p, p)
seg = weighted_dice_loss(probs, y_gs, DICE_WEIGHTS)           # Eq. 1
for p in D_hand.parameters():                                 # D frozen: no gradient reaches its weights
    p.requires_grad_(False)
saved_buffers = [b.clone() for b in D_hand.buffers()]  # BatchNorm statistics, if D had any
adversarial = generator_adversarial_loss(D_hand(normalized), train.generator_loss)  # Eq. 3 on D(G(x))
gs_loss = seg + train.lam * adversarial                       # Eq. 1 + λ Eq. 3
gs_loss.backward()                                            # gradients reach S and, through D's input, G
opt_gs_hand.step()                                            # steps G and S; D is not in this optimizer
with torch.no_grad():                                         # D thawed, its buffers restored
    for b, saved in zip(D_hand.buffers(), saved_buffers):
        b.copy_(saved)
for p in D_hand.parameters():
    p.requires_grad_(True)

torch.set_rng_state(rng_state)  # the same dropout masks for the library's step
gs_stats = segmentation_update(G, S, opt_gs, x_gs, y_gs, D=D, lam=train.lam, mode=train.generator_loss)
print({k: round(v, 4) for k, v in gs_stats.items()})
print(f"G/S loss: by hand {float(gs_loss):.6f} · library {gs_stats['loss']:.6f}")
for name, net in (("G", G), ("S", S), ("D", D)):
    print(f"{name} changed: {not torch.equal(before[name], weights(net))}")
assert torch.equal(before["D"], weights(D)) and torch.equal(before["D"], weights(D_hand)), "the G/S step moved D"
gs_difference = max(max_difference(G_hand, G), max_difference(S_hand, S), max_difference(D_hand, D))
print(f"G/S step: by hand and library agree, max abs weight difference {gs_difference:.1e} "
      f"(tolerance {TOLERANCE:.0e})")
assert gs_difference <= TOLERANCE, gs_difference

# %% [markdown]
# ## 8. A few dozen iterations of Algorithm 1
#
# Each iteration: `n_steps` discriminator steps, then one generator/segmenter step, each on a fresh batch
# (`deepnorm.training.algorithm1.algorithm1_iteration`). Training proper also adds random bias fields to the
# patches, validates each epoch and lowers the learning rates on schedule.

# %%
def fresh_batches():
    while True:
        yield sampler.sample(train.batch_size)


batches = fresh_batches()
history = [algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=train.lam, n_steps=train.n_steps,
                                mode=train.generator_loss) for _ in range(iterations)]

steps = np.arange(1, iterations + 1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
axes[0].plot(steps, [h["seg_loss"] for h in history], label="Dice loss (Eq. 1)")
axes[0].plot(steps, [h["loss"] for h in history], label="Eq. 1 + λ Eq. 3")
axes[0].set_title("generator and segmenter")
axes[1].plot(steps, [h["adversarial"] for h in history], color="C2", label="adversarial term (Eq. 3)")
axes[1].plot(steps, [h["d_loss"] for h in history], color="C3", label="D loss (Eq. 2)")
axes[1].axhline(2 * np.log(K + 1), color="gray", ls=":", label="D loss at chance, 2 ln(K + 1)")
axes[1].set_title("adversarial game")
axes[2].plot(steps, [100 * h["d_accuracy"] for h in history], color="C3")
axes[2].axhline(100 / (K + 1), color="gray", ls=":", label="chance")
axes[2].set_title("discriminator")
axes[2].set_ylabel("accuracy (%)")
for ax in axes:
    ax.set_xlabel("iteration")
    ax.legend(fontsize=7)
axes[0].set_ylabel("loss")
axes[1].set_ylabel("loss (nats)")
fig.tight_layout()
fig.savefig(ctx.figure("algorithm1_walkthrough"), dpi=120)
plt.show()
