"""Eq. 1 and Eq. 2 against hand-computed numbers and a numpy loop oracle, plus their laws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import DICE_WEIGHTS
from deepnorm.losses import (
    DICE_LOSSES,
    dice_loss_by_name,
    domain_loss,
    generator_adversarial_loss,
    per_class_dice_loss,
    weighted_dice_loss,
)


def _dice_oracle(probs: np.ndarray, target: np.ndarray, w, eps: float) -> float:
    """Eq. 1 with explicit loops, per sample, then the batch mean."""
    losses = []
    for s, y in zip(probs, target):
        num, den = eps, eps
        for c in range(s.shape[0]):
            yc = (y == c).astype(np.float64)
            num += 2 * w[c] * float((s[c] * yc).sum())
            den += w[c] * float((s[c] + yc).sum())
        losses.append(1 - num / den)
    return float(np.mean(losses))


def _random_probs(shape, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=shape)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def test_dice_hand_computed_two_voxels():
    # voxel 1: label BG, voxel 2: label GM
    probs = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.1, 0.2, 0.6, 0.1]], dtype=torch.float64).T.reshape(1, 4, 2)
    target = torch.tensor([[0, 2]])
    # numerator 2 * (0.22*0.7 + 0.20*0.6); denominator 0.22*1.8 + 0.30*0.3 + 0.20*1.7 + 0.28*0.2
    expected = 1 - 2 * (0.22 * 0.7 + 0.20 * 0.6) / (0.22 * 1.8 + 0.30 * 0.3 + 0.20 * 1.7 + 0.28 * 0.2)
    assert weighted_dice_loss(probs, target, eps=0.0).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.3786848, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dice_matches_loop_oracle(seed):
    probs = _random_probs((3, 4, 5, 4, 6), seed)
    target = np.random.default_rng(seed + 10).integers(0, 4, size=(3, 5, 4, 6))
    got = weighted_dice_loss(torch.from_numpy(probs), torch.from_numpy(target), eps=1e-6).item()
    assert got == pytest.approx(_dice_oracle(probs, target, DICE_WEIGHTS, 1e-6), rel=1e-10)


def test_dice_weights_multiply_the_denominator_too():
    probs = _random_probs((1, 4, 6, 6, 6), 3)
    target = np.random.default_rng(4).integers(0, 4, size=(1, 6, 6, 6))
    got = weighted_dice_loss(torch.from_numpy(probs), torch.from_numpy(target), eps=0.0).item()
    onehot = np.eye(4)[target[0]].transpose(3, 0, 1, 2)
    w = np.asarray(DICE_WEIGHTS)[:, None, None, None]
    numerator_only = 1 - 2 * (w * probs[0] * onehot).sum() / (probs[0] + onehot).sum()  # the authors' code
    assert got != pytest.approx(numerator_only, rel=1e-3)


def test_dice_laws():
    target = torch.from_numpy(np.random.default_rng(5).integers(0, 4, size=(2, 6, 6, 6)))
    perfect = torch.nn.functional.one_hot(target, 4).movedim(-1, 1).double()
    assert weighted_dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-9)
    probs = torch.from_numpy(_random_probs((2, 4, 6, 6, 6), 6))
    base = weighted_dice_loss(probs, target, eps=0.0)
    scaled = weighted_dice_loss(probs, target, weights=[3 * w for w in DICE_WEIGHTS], eps=0.0)
    torch.testing.assert_close(base, scaled)
    assert 0.0 < base.item() < 1.0
    # the batch loss is the mean of the per-sample losses
    singles = [weighted_dice_loss(probs[i : i + 1], target[i : i + 1], eps=0.0) for i in range(2)]
    torch.testing.assert_close(base, torch.stack(singles).mean())
    # a prediction that is entirely wrong gives 1 (with eps = 0)
    wrong = torch.nn.functional.one_hot((target + 1) % 4, 4).movedim(-1, 1).double()
    assert weighted_dice_loss(wrong, target, eps=0.0).item() == pytest.approx(1.0)


def test_dice_gradient_finite_and_decreasing_towards_target():
    target = torch.from_numpy(np.random.default_rng(7).integers(0, 4, size=(1, 4, 4, 4)))
    logits = torch.zeros(1, 4, 4, 4, 4, requires_grad=True)
    loss = weighted_dice_loss(torch.softmax(logits, 1), target)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    with torch.no_grad():
        stepped = weighted_dice_loss(torch.softmax(logits - 10 * logits.grad, 1), target)
    assert stepped < loss


def test_dice_rejects_bad_input():
    probs = torch.rand(1, 4, 2, 2, 2)
    with pytest.raises(DataError, match="target shape"):
        weighted_dice_loss(probs, torch.zeros(1, 2, 2, 3, dtype=torch.long))
    with pytest.raises(DataError, match="outside 0..3"):
        weighted_dice_loss(probs, torch.full((1, 2, 2, 2), 4))
    with pytest.raises(DataError, match="integer"):
        weighted_dice_loss(probs, torch.zeros(1, 2, 2, 2))
    with pytest.raises(ConfigError, match="weights"):
        weighted_dice_loss(probs, torch.zeros(1, 2, 2, 2, dtype=torch.long), weights=(1.0, 1.0))


def _np_log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def test_domain_loss_matches_numpy_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)) * 3
    z = np.array([0, 1, 2, 3, 3, 1])
    nll = -_np_log_softmax(logits)[np.arange(6), z]
    got = domain_loss(torch.from_numpy(logits), torch.from_numpy(z)).item()
    assert got == pytest.approx(nll.mean(), rel=1e-12)
    w = np.array([1.0, 1.0, 1.0, 0.33])
    got_w = domain_loss(torch.from_numpy(logits), torch.from_numpy(z), class_weights=w).item()
    assert got_w == pytest.approx((w[z] * nll).sum() / w[z].sum(), rel=1e-12)


def test_domain_loss_hand_case():
    # uniform logits over K+1 = 3 classes: -log(1/3)
    assert domain_loss(torch.zeros(2, 3), torch.tensor([0, 2])).item() == pytest.approx(np.log(3))
    with pytest.raises(ConfigError, match="class_weights"):
        domain_loss(torch.zeros(2, 3), torch.tensor([0, 2]), class_weights=[1.0, 1.0])


def test_generator_adversarial_matches_numpy():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 3)) * 2
    p = np.exp(_np_log_softmax(logits))
    t = torch.from_numpy(logits)
    assert generator_adversarial_loss(t).item() == pytest.approx(np.mean(-np.log(1 - p[:, -1])), rel=1e-10)
    assert generator_adversarial_loss(t, "minimax").item() == pytest.approx(np.mean(np.log(p[:, -1])), rel=1e-10)
    # Eq. 2 identities: minimax = -L_dis(D(G(x)), K+1); nonsaturating = -log sum_{z<=K} D_z
    fake = torch.full((5,), 2)
    torch.testing.assert_close(generator_adversarial_loss(t, "minimax"), -domain_loss(t, fake))
    assert generator_adversarial_loss(t).item() == pytest.approx(np.mean(-np.log(p[:, :2].sum(1))), rel=1e-10)


def test_generator_adversarial_stable_and_nonsaturating():
    confident_fake = torch.tensor([[0.0, 0.0, 200.0]], requires_grad=True)
    ns = generator_adversarial_loss(confident_fake)
    assert torch.isfinite(ns) and ns.item() == pytest.approx(200.0 - np.log(2), rel=1e-6)
    ns.backward()
    ns_grad = confident_fake.grad.abs().max().item()
    confident_fake.grad = None
    mm = generator_adversarial_loss(confident_fake, "minimax")
    assert torch.isfinite(mm)
    mm.backward()
    assert ns_grad > 0.4 and confident_fake.grad.abs().max().item() < 1e-10
    # both decrease when D's "generated" logit decreases (G minimises both)
    lower = torch.tensor([[0.0, 0.0, 1.0]])
    higher = torch.tensor([[0.0, 0.0, 2.0]])
    for mode in ("nonsaturating", "minimax"):
        assert generator_adversarial_loss(lower, mode) < generator_adversarial_loss(higher, mode)


def test_generator_adversarial_rejects_bad_mode():
    with pytest.raises(ConfigError, match="mode"):
        generator_adversarial_loss(torch.zeros(2, 3), "wasserstein")
    with pytest.raises(DataError):
        generator_adversarial_loss(torch.zeros(2, 1))


# --------------------------------------------------------------------------- per-class mean Dice
def _per_class_oracle(probs: np.ndarray, target: np.ndarray, w, eps: float) -> float:
    """Each class's soft Dice over the whole batch (loops), then the weighted mean over classes."""
    dices = []
    for c in range(probs.shape[1]):
        inter, total = 0.0, 0.0
        for s, y in zip(probs, target):
            yc = (y == c).astype(np.float64)
            inter += float((s[c] * yc).sum())
            total += float((s[c] + yc).sum())
        dices.append((eps + 2 * inter) / (eps + total))
    return 1 - float(np.dot(w, dices)) / float(np.sum(w))


def test_per_class_dice_hand_computed_two_voxels():
    # two classes, two voxels; voxel 1 is class 0, voxel 2 is class 1
    probs = torch.tensor([[[0.8, 0.4], [0.2, 0.6]]], dtype=torch.float64)  # (N=1, C=2, V=2)
    target = torch.tensor([[0, 1]])
    d0 = 2 * 0.8 / (1.2 + 1)  # class 0: intersection 0.8, probabilities 1.2 + one voxel
    d1 = 2 * 0.6 / (0.8 + 1)
    expected = 1 - (1 * d0 + 3 * d1) / 4
    assert per_class_dice_loss(probs, target, (1.0, 3.0), eps=0.0).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.3181818, abs=1e-6)
    # Eq. 1 pools the classes before the ratio: another number on the same input
    pooled = 1 - 2 * (1 * 0.8 + 3 * 0.6) / (1 * 2.2 + 3 * 1.8)
    assert weighted_dice_loss(probs, target, (1.0, 3.0), eps=0.0).item() == pytest.approx(pooled, rel=1e-12)
    assert pooled != pytest.approx(expected, rel=1e-3)


def test_per_class_dice_pools_the_batch_for_each_class():
    # sample 1 has no class 1 at all; per class, its voxels count with sample 2's
    probs = torch.tensor([[[0.9, 0.7], [0.1, 0.3]], [[0.5, 0.2], [0.5, 0.8]]], dtype=torch.float64)
    target = torch.tensor([[0, 0], [0, 1]])
    d0 = 2 * (0.9 + 0.7 + 0.5) / ((1.6 + 0.7) + 3)
    d1 = 2 * 0.8 / ((0.4 + 1.3) + 1)
    expected = 1 - (0.5 * d0 + 0.5 * d1)
    assert per_class_dice_loss(probs, target, (1.0, 1.0), eps=0.0).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_per_class_dice_matches_loop_oracle(seed):
    probs = _random_probs((3, 4, 5, 4, 6), seed)
    target = np.random.default_rng(seed + 10).integers(0, 4, size=(3, 5, 4, 6))
    got = per_class_dice_loss(torch.from_numpy(probs), torch.from_numpy(target), eps=1e-6).item()
    assert got == pytest.approx(_per_class_oracle(probs, target, DICE_WEIGHTS, 1e-6), rel=1e-10)


def test_per_class_dice_is_zero_for_a_perfect_prediction_and_scale_free_in_weights():
    target = torch.from_numpy(np.random.default_rng(5).integers(0, 4, size=(2, 4, 4, 4)))
    onehot = torch.nn.functional.one_hot(target, 4).movedim(-1, 1).double()
    assert per_class_dice_loss(onehot, target).item() == pytest.approx(0.0, abs=1e-12)
    probs = torch.from_numpy(_random_probs((2, 4, 4, 4, 4), 6))
    a = per_class_dice_loss(probs, target, DICE_WEIGHTS)
    b = per_class_dice_loss(probs, target, [10 * w for w in DICE_WEIGHTS])
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_dice_loss_by_name():
    assert DICE_LOSSES == ("pooled", "per_class")
    assert dice_loss_by_name("pooled") is weighted_dice_loss
    assert dice_loss_by_name("per_class") is per_class_dice_loss
    with pytest.raises(ConfigError, match="dice_loss"):
        dice_loss_by_name("mean")


def test_per_class_dice_rejects_bad_input():
    probs = torch.full((1, 4, 2, 2, 2), 0.25)
    with pytest.raises(ConfigError, match="weights"):
        per_class_dice_loss(probs, torch.zeros(1, 2, 2, 2, dtype=torch.long), (1.0, 1.0))
    with pytest.raises(DataError, match="labels outside"):
        per_class_dice_loss(probs, torch.full((1, 2, 2, 2), 4, dtype=torch.long))
    with pytest.raises(ConfigError, match="weights"):
        per_class_dice_loss(probs, torch.zeros(1, 2, 2, 2, dtype=torch.long), (0.0, 0.0, 0.0, 0.0))


@pytest.mark.parametrize("weighted", [False, True])
def test_deterministic_cross_entropy_equals_torch_cross_entropy(weighted):
    # the gather-and-sum form used on CUDA in deterministic mode, against F.cross_entropy
    from deepnorm.losses import _deterministic_cross_entropy

    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(11, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 4, (11,), generator=gen)
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64) if weighted else None
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weight)
    assert torch.allclose(_deterministic_cross_entropy(logits, target, weight), expected, rtol=1e-12, atol=0)
