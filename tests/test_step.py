"""Algorithm 1's updates: who learns in which step, losses against an independent recomputation,
step counts, determinism, and the G=None / D=None baselines."""

from __future__ import annotations

import copy
import itertools
from typing import NamedTuple

import pytest
import torch

from deepnorm.errors import ConfigError, RunError
from deepnorm.losses import domain_loss, weighted_dice_loss
from deepnorm.nets import Discriminator, UNet3D
from deepnorm.training.algorithm1 import algorithm1_iteration, discriminator_update, segmentation_update

torch.set_num_threads(1)
P = 8  # patch side (voxels)


class Batch(NamedTuple):
    images: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor


def make_batches(seed: int, m: int = 4, k: int = 2):
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield Batch(
            torch.rand(m, 1, P, P, P, generator=gen),
            torch.randint(0, 4, (m, P, P, P), generator=gen),
            torch.randint(0, k, (m,), generator=gen),
        )


def make_models(seed: int = 0, dropout: float = 0.25):
    torch.manual_seed(seed)
    G = UNet3D(1, 1, widths=(4, 8), out_activation="sigmoid")
    S = UNet3D(1, 4, widths=(4, 8))
    D = Discriminator(1, 2, widths=(4, 4, 8, 8), patch_size=P, dropout=dropout)
    opt_gs = torch.optim.Adam([*G.parameters(), *S.parameters()], lr=1e-2, weight_decay=1e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2, weight_decay=1e-3)
    return G, S, D, opt_gs, opt_d


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_segmentation_update_leaves_discriminator_untouched():
    G, S, D, opt_gs, _ = make_models()
    batch = next(make_batches(1))
    d0, g0, s0 = state(D), state(G), state(S)
    out = segmentation_update(G, S, opt_gs, batch.images, batch.labels, D=D, lam=1.5)
    assert same(state(D), d0)  # parameters and BatchNorm statistics
    assert all(p.grad is None for p in D.parameters())
    assert all(p.requires_grad for p in D.parameters())
    assert not same(state(G), g0) and not same(state(S), s0)
    assert out["loss"] == pytest.approx(out["seg_loss"] + 1.5 * out["adversarial"], rel=1e-6)


def test_discriminator_update_leaves_generator_untouched():
    G, _, D, _, opt_d = make_models()
    batch = next(make_batches(2))
    generated = G(batch.images)  # still attached to G's graph
    g0, d0 = state(G), state(D)
    discriminator_update(D, opt_d, batch.images, batch.domains, generated)
    assert same(state(G), g0)
    assert all(p.grad is None for p in G.parameters())
    assert not same(state(D), d0)


def test_discriminator_loss_and_accuracy_against_recomputation():
    G, _, D, _, opt_d = make_models(dropout=0.0)
    batch = next(make_batches(3))
    with torch.no_grad():
        generated = G(batch.images)
        oracle = copy.deepcopy(D).train()
        # real and generated patches in separate passes: each BatchNorm batch has one source
        logits = torch.cat([oracle(batch.images), oracle(generated)])
    m = batch.images.shape[0]
    fake = torch.full((m,), 2)
    expected = domain_loss(logits[:m], batch.domains) + domain_loss(logits[m:], fake)
    target = torch.cat([batch.domains, fake])
    out = discriminator_update(D, opt_d, batch.images, batch.domains, generated)
    assert out["loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == target).float().mean().item())


def test_discriminator_accuracy_counts_real_and_generated():
    _, _, D, _, _ = make_models()
    with torch.no_grad():  # D always answers "generated"
        D.classifier.weight.zero_()
        D.classifier.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))
    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    real = torch.rand(6, 1, P, P, P)
    out = discriminator_update(D, opt, real, torch.tensor([0, 1, 0, 1, 0, 1]), torch.rand(2, 1, P, P, P))
    assert out["accuracy"] == pytest.approx(2 / 8)
    assert out["accuracy_real"] == 0.0 and out["accuracy_generated"] == 1.0


def test_lambda_zero_is_plain_segmentation_loss():
    runs = []
    batch = next(make_batches(4))
    for d_given in (True, False):
        G, S, D, opt_gs, _ = make_models()
        with torch.no_grad():
            G_, S_ = copy.deepcopy(G).train(), copy.deepcopy(S).train()
            expected = weighted_dice_loss(torch.softmax(S_(G_(batch.images)), 1), batch.labels).item()
        out = segmentation_update(G, S, opt_gs, batch.images, batch.labels, D=D if d_given else None, lam=0.0)
        assert out["loss"] == pytest.approx(expected, rel=1e-6) and out["seg_loss"] == out["loss"]
        runs.append((state(G), state(S)))
    assert same(runs[0][0], runs[1][0]) and same(runs[0][1], runs[1][1])


def test_segmenter_learns_from_dice_only():
    """S's gradient does not contain the adversarial term: one step with λ=0 and λ=5 moves S alike."""
    batch = next(make_batches(5))
    results = []
    for lam in (0.0, 5.0):
        G, S, D, opt_gs, _ = make_models()
        torch.manual_seed(9)
        segmentation_update(G, S, opt_gs, batch.images, batch.labels, D=D, lam=lam)
        results.append((state(G), state(S)))
    assert same(results[0][1], results[1][1])
    assert not same(results[0][0], results[1][0])


def test_algorithm1_runs_n_steps_discriminator_updates():
    G, S, D, opt_gs, opt_d = make_models()
    counts = {"d": 0, "gs": 0}
    opt_d.register_step_post_hook(lambda *a: counts.__setitem__("d", counts["d"] + 1))
    opt_gs.register_step_post_hook(lambda *a: counts.__setitem__("gs", counts["gs"] + 1))
    source = make_batches(6)
    drawn = []
    batches = (drawn.append(b) or b for b in source)
    out = algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=1.5, n_steps=3, mode="nonsaturating")
    assert counts == {"d": 3, "gs": 1} and out["d_steps"] == 3 and len(drawn) == 4
    assert 0.0 <= out["d_accuracy"] <= 1.0 and out["d_loss"] > 0


def test_algorithm1_is_deterministic_with_a_seed():
    finals = []
    for _ in range(2):
        G, S, D, opt_gs, opt_d = make_models(seed=3)
        torch.manual_seed(11)
        batches = make_batches(7)
        outs = [algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=1.5, n_steps=2, mode="minimax") for _ in range(2)]
        finals.append((outs, state(G), state(S), state(D)))
    assert finals[0][0] == finals[1][0]
    assert all(same(a, b) for a, b in zip(finals[0][1:], finals[1][1:]))


def test_generator_none_trains_segmenter_alone():
    _, S, _, _, _ = make_models()
    opt = torch.optim.Adam(S.parameters(), lr=1e-2)
    batch = next(make_batches(8))
    s0 = state(S)
    out = segmentation_update(None, S, opt, batch.images, batch.labels)
    assert not same(state(S), s0) and out["loss"] == out["seg_loss"]
    counted = []
    batches = (counted.append(1) or b for b in make_batches(9))
    out = algorithm1_iteration(None, S, None, opt, None, batches, lam=0.0, n_steps=3, mode="nonsaturating")
    assert len(counted) == 1 and out["d_steps"] == 0
    with pytest.raises(ConfigError, match="generator"):
        segmentation_update(None, S, opt, batch.images, batch.labels, lam=1.0)


def test_training_lowers_dice_loss_on_a_fixed_batch():
    G, S, D, opt_gs, opt_d = make_models()
    batch = next(make_batches(10))
    fixed = itertools.repeat(batch)
    first = algorithm1_iteration(G, S, D, opt_gs, opt_d, fixed, lam=0.1, n_steps=1, mode="nonsaturating")
    for _ in range(15):
        last = algorithm1_iteration(G, S, D, opt_gs, opt_d, fixed, lam=0.1, n_steps=1, mode="nonsaturating")
    assert last["seg_loss"] < first["seg_loss"]


def test_errors_name_the_fix():
    G, S, D, opt_gs, opt_d = make_models()
    short = iter([next(make_batches(11))] * 2)
    with pytest.raises(RunError, match="n_steps \\+ 1 = 4"):
        algorithm1_iteration(G, S, D, opt_gs, opt_d, short, lam=1.0, n_steps=3, mode="nonsaturating")
    with pytest.raises(ConfigError, match="n_steps"):
        algorithm1_iteration(G, S, D, opt_gs, opt_d, make_batches(0), lam=1.0, n_steps=0, mode="nonsaturating")
    batch = next(make_batches(12))
    with pytest.raises(ConfigError, match="mode"):
        segmentation_update(G, S, opt_gs, batch.images, batch.labels, D=D, lam=1.0, mode="hinge")
    with pytest.raises(ConfigError, match="real_domain"):
        discriminator_update(D, opt_d, batch.images, torch.full((4,), 2), batch.images)
