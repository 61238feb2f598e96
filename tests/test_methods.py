"""Methods: the networks each one builds, its volume transform, one training iteration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepnorm.errors import ConfigError
from deepnorm.sampling import PatchBatch
from deepnorm.training.config import profile
from deepnorm.training.methods import REGISTRY, get_method, method_for

torch.set_num_threads(1)

EXPECTED = {  # name -> (has G, has D)
    "segmenter": (False, False),
    "standardization": (False, False),
    "standardization_brain": (False, False),
    "preprocessor": (True, False),
    "adversarial": (True, True),
    "nyul": (False, False),
    "whitestripe": (False, False),
    "fcm": (False, False),
    "kde": (False, False),
    "contrast_randomisation": (False, False),
}


def _config(name: str):
    return profile("smoke", **{"train.method": name})


def _batches(n_channels: int = 1, p: int = 8, n: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    while True:
        images = torch.rand(n, n_channels, p, p, p, generator=gen)
        labels = torch.randint(0, 4, (n, p, p, p), generator=gen)
        domains = torch.arange(n) % 2
        yield PatchBatch(images, labels, domains)


def test_registry_names_and_unknown_name():
    assert set(REGISTRY) == set(EXPECTED)
    with pytest.raises(ConfigError, match="unknown method 'cyclegan'"):
        get_method("cyclegan")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_method_builds_its_networks(name):
    method = method_for(_config(name))
    nets = method.build()
    has_g, has_d = EXPECTED[name]
    assert (nets.generator is not None, nets.discriminator is not None) == (has_g, has_d)
    x = torch.rand(3, 1, 8, 8, 8)
    nets.train(False)
    with torch.no_grad():
        probs = method.segment(nets, x)
        assert probs.shape == (3, 4, 8, 8, 8)
        torch.testing.assert_close(probs.sum(1), torch.ones(3, 8, 8, 8))
        normalized = method.normalize(nets, x)
        assert normalized.shape == x.shape
        if has_g:
            assert float(normalized.min()) >= 0 and float(normalized.max()) <= 1  # sigmoid output
        else:
            assert torch.equal(normalized, x)
        if has_d:
            assert nets.discriminator(x).shape == (3, 3)  # K + 1 = 3 logits


def test_build_is_seeded():
    method = method_for(_config("adversarial"))
    a, b, c = method.build(seed=1), method.build(seed=1), method.build(seed=2)
    for (name, net_a), (_, net_b), (_, net_c) in zip(a.items(), b.items(), c.items()):
        for key, value in net_a.state_dict().items():
            assert torch.equal(value, net_b.state_dict()[key]), (name, key)
        assert any(not torch.equal(v, net_c.state_dict()[k]) for k, v in net_a.state_dict().items() if v.is_floating_point())


def test_standardization_brain_is_a_z_score_on_the_brain_and_standardization_on_the_volume():
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.9, size=(2, 6, 7, 8)).astype(np.float32)
    mask = np.zeros((6, 7, 8), bool)
    mask[1:5, 2:6, 1:7] = True
    out = method_for(_config("standardization_brain")).prepare_volume(image, mask)
    for c in range(2):
        brain = image[c][mask]
        np.testing.assert_allclose(out[c][mask], (brain - brain.mean()) / brain.std(), rtol=1e-4, atol=1e-5)
    whole = method_for(_config("standardization")).prepare_volume(image, mask)
    for c in range(2):
        np.testing.assert_allclose(whole[c], (image[c] - image[c].mean()) / image[c].std(), rtol=1e-4, atol=1e-5)
    same = method_for(_config("segmenter")).prepare_volume(image, mask)
    np.testing.assert_array_equal(same, image)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_iteration_updates_the_right_networks(name):
    config = _config(name)
    method = method_for(config)
    nets = method.build()
    opts = method.optimizers(nets)
    before = {n: {k: v.clone() for k, v in net.state_dict().items()} for n, net in nets.items()}
    drawn = []
    source = _batches()

    def counting():
        while True:
            drawn.append(1)
            yield next(source)

    torch.manual_seed(0)
    stats = method.train_iteration(nets, opts, counting())
    assert np.isfinite(stats["seg_loss"]) and 0 <= stats["seg_loss"] <= 1
    expected_batches = config.train.n_steps + 1 if name == "adversarial" else 1
    assert len(drawn) == expected_batches
    for n, net in nets.items():
        changed = any(not torch.equal(v, before[n][k]) for k, v in net.state_dict().items() if v.is_floating_point())
        assert changed, n


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")
def test_optimizers_follow_the_schedules():
    # 2 epochs of 2 iterations: milestones at 1/2 and 3/4 of the run drop lr(G, S) after iterations 2 and 3
    config = profile("smoke", **{"train.milestones": [0.5, 0.75], "train.lr_gamma": 0.5, "train.plateau_patience": 1})
    assert config.train.epochs * config.batches_per_epoch == 4
    method = method_for(config)
    nets = method.build()
    opts = method.optimizers(nets)
    assert opts.gs.param_groups[0]["weight_decay"] == config.train.weight_decay
    lrs = []
    for _ in range(4):
        lrs.append(opts.lrs())
        opts.gs_scheduler.step()  # once per iteration, as the training loop does
        opts.d_scheduler.step(1.0)  # constant validation loss: a plateau
    assert [round(r["lr_gs"], 12) for r in lrs] == [1e-3, 1e-3, 5e-4, 2.5e-4]
    # patience 1: lr(D) halves once the loss has not improved for more than one epoch
    assert lrs[0]["lr_d"] == 1e-4 and lrs[-1]["lr_d"] < 1e-4


def test_no_plateau_keeps_lr_d_constant_and_the_state_round_trips():
    config = profile("smoke", **{"train.plateau_patience": 0})
    method = method_for(config)
    opts = method.optimizers(method.build())
    assert opts.d is not None and opts.d_scheduler is None
    state = opts.state_dict()
    assert "d" in state and "d_scheduler" not in state
    again = method.optimizers(method.build())
    again.load_state_dict(state)
    assert again.lrs() == opts.lrs()


def test_channels_last_training_is_deterministic():
    """The cpu profile trains G and S in channels-last layout: the same seed still gives the same weights."""
    from deepnorm.sampling import PatchBatch
    from deepnorm.training.config import profile as load

    def run():
        config = load("smoke", **{"train.method": "adversarial", "model.channels_last": True})
        method = method_for(config)
        nets = method.build(seed=0)
        opts = method.optimizers(nets)
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)

        def batches():
            while True:
                yield PatchBatch(images=torch.rand(4, 1, 8, 8, 8, generator=gen),
                                 labels=torch.randint(0, 4, (4, 8, 8, 8), generator=gen),
                                 domains=torch.randint(0, 2, (4,), generator=gen))

        source = batches()
        losses = [method.train_iteration(nets, opts, source)["loss"] for _ in range(3)]
        return losses, [p.detach().clone() for p in nets.segmenter.parameters()]

    (first, weights_1), (second, weights_2) = run(), run()
    assert first == second
    assert all(torch.equal(a, b) for a, b in zip(weights_1, weights_2))
    assert nets_layout_is_channels_last()


def nets_layout_is_channels_last() -> bool:
    from deepnorm.training.config import profile as load

    nets = method_for(load("cpu")).build(seed=0)
    return nets.segmenter.encoders[0][0].weight.is_contiguous(memory_format=torch.channels_last_3d)
