"""The instruments of the study: D's real patches are un-augmented, the training bias field spans
the volume as at test, every method of a table gets the same number of updates, D is validated
as it is trained, and the configured Dice loss is the one trained and validated."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from deepnorm.data.augment import bias_field
from deepnorm.data.prepared import AugmentedBatches
from deepnorm.nets import Discriminator, UNet3D
from deepnorm.sampling import PatchBatch, PatchSampler
from deepnorm.training import algorithm1
from deepnorm.training.config import profile


def _sampler(seed: int = 0) -> PatchSampler:
    rng = np.random.default_rng(seed)
    images = [rng.uniform(0.2, 1.0, size=(1, 12, 20, 12)).astype(np.float32) for _ in range(2)]
    labels = [rng.integers(0, 4, size=(12, 20, 12)) for _ in range(2)]
    return PatchSampler(images, labels, 8, domains=[0, 1], seed=seed)


def test_augmented_batches_carry_the_clean_patches_of_the_sampler():
    augmented = next(AugmentedBatches(_sampler(), 6, p=1.0, seed=3))
    plain = _sampler().sample(6)
    torch.testing.assert_close(augmented.clean, plain.images, rtol=0, atol=0)
    assert not torch.equal(augmented.images, augmented.clean)


def test_training_field_is_the_volume_field_over_the_patch_rows():
    sampler = _sampler()
    batch = next(AugmentedBatches(sampler, 6, p=1.0, seed=5))
    plain = _sampler().sample(6)
    rng = np.random.default_rng([5, 7])
    for k in range(6):
        rng.random()
        alpha = rng.uniform(0.0, 1.0)
        volume = int(plain.volumes[k])
        shape = sampler.volume_shape(volume)
        field = bias_field(shape, alpha, axis=1)  # the test-time field of the whole volume
        y0 = int(plain.centres[k, 1]) - 4
        rows = np.arange(y0, y0 + 8)
        ramp = rows / (shape[1] - 1) * alpha + (1 - alpha)
        inside = (rows >= 0) & (rows < shape[1])
        np.testing.assert_allclose(ramp[inside], field[0, rows[inside], 0], rtol=1e-6)
        expected = plain.images[k].numpy() * ramp.reshape(1, 1, 8, 1).astype(np.float32)
        np.testing.assert_allclose(batch.images[k].numpy(), expected, rtol=1e-6, atol=1e-7)


def test_discriminator_gets_the_clean_patches_as_real(monkeypatch):
    seen = []
    real_update = algorithm1.discriminator_update

    def spy(D, opt_d, real, real_domain, generated, **kw):
        seen.append(real.clone())
        return real_update(D, opt_d, real, real_domain, generated, **kw)

    monkeypatch.setattr(algorithm1, "discriminator_update", spy)
    torch.manual_seed(0)
    G = UNet3D(1, 1, widths=(4, 8), out_activation="sigmoid")
    S = UNet3D(1, 4, widths=(4, 8))
    D = Discriminator(1, 2, widths=(4, 4, 8, 8), patch_size=8, dropout=0.0)
    opt_gs = torch.optim.Adam([*G.parameters(), *S.parameters()], lr=1e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)

    def batches():
        while True:
            clean = torch.rand(4, 1, 8, 8, 8, generator=gen)
            yield PatchBatch(images=clean * 0.5, labels=torch.randint(0, 4, (4, 8, 8, 8), generator=gen),
                             domains=torch.randint(0, 2, (4,), generator=gen), clean=clean)

    algorithm1.algorithm1_iteration(G, S, D, opt_gs, opt_d, batches(), lam=1.0, n_steps=2)
    assert len(seen) == 2
    gen2 = torch.Generator().manual_seed(1)
    for step in range(2):
        clean = torch.rand(4, 1, 8, 8, 8, generator=gen2)
        torch.randint(0, 4, (4, 8, 8, 8), generator=gen2)
        torch.randint(0, 2, (4,), generator=gen2)
        torch.testing.assert_close(seen[step], clean, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_every_method_of_a_table_gets_the_same_number_of_updates(name):
    one = profile(name, **{"train.method": "segmenter", "data.sites": ["iseg"]})
    two = profile(name, **{"train.method": "adversarial", "data.sites": ["iseg", "mrbrains"]})
    assert one.train.epochs * one.batches_per_epoch == two.train.epochs * two.batches_per_epoch
    for method in ("segmenter", "standardization", "preprocessor", "adversarial"):
        same = profile(name, **{"train.method": method})
        assert same.train.epochs * same.batches_per_epoch == two.train.epochs * two.batches_per_epoch


def test_validation_judges_d_in_train_mode_and_leaves_the_rng_alone():
    from deepnorm.training.loop import validate
    from deepnorm.training.methods import method_for

    config = profile("smoke", **{"train.method": "adversarial"})
    method = method_for(config)
    nets = method.build(seed=0)
    gen = torch.Generator().manual_seed(2)
    val = PatchBatch(images=torch.rand(6, 1, 8, 8, 8, generator=gen), labels=torch.randint(0, 4, (6, 8, 8, 8), generator=gen),
                     domains=torch.randint(0, 2, (6,), generator=gen))
    torch.manual_seed(11)
    first = validate(method, nets, val, batch_size=4, device=torch.device("cpu"), amp=False, seed=0)
    after = torch.rand(1)
    torch.manual_seed(11)
    second = validate(method, nets, val, batch_size=4, device=torch.device("cpu"), amp=False, seed=0)
    assert torch.equal(after, torch.rand(1))  # the training's random stream is untouched
    assert first["d_val_loss"] == second["d_val_loss"]
    assert nets.discriminator.training  # judged in the mode it is trained in
    assert not nets.segmenter.training


def _tiny_adversarial(seed: int = 0):
    torch.manual_seed(seed)
    G = UNet3D(1, 1, widths=(4, 8), out_activation="sigmoid")
    S = UNet3D(1, 4, widths=(4, 8))
    D = Discriminator(1, 2, widths=(4, 4, 8, 8), patch_size=8, dropout=0.0)
    opt_gs = torch.optim.Adam([*G.parameters(), *S.parameters()], lr=1e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed + 1)

    def batches():
        while True:
            yield PatchBatch(images=torch.rand(4, 1, 8, 8, 8, generator=gen),
                             labels=torch.randint(0, 4, (4, 8, 8, 8), generator=gen),
                             domains=torch.tensor([0, 1, 0, 1]))

    return G, S, D, opt_gs, opt_d, batches()


def test_discriminator_steps_see_the_generator_as_applied_in_eval_mode(monkeypatch):
    """D learns the normalizer that validation and Table 7 judge: G in eval mode (BatchNorm running
    statistics), not G's batch statistics, and its D-step passes leave G's running statistics alone."""
    G, S, D, opt_gs, opt_d, batches = _tiny_adversarial()
    with torch.no_grad():  # move the running statistics away from their initial values
        G(torch.rand(4, 1, 8, 8, 8) * 3)
    seen = []
    real_update = algorithm1.discriminator_update

    def spy(D_, opt, real, real_domain, generated, **kw):
        seen.append((G.training, [b.clone() for b in G.buffers()], generated.clone(), real.clone()))
        return real_update(D_, opt, real, real_domain, generated, **kw)

    monkeypatch.setattr(algorithm1, "discriminator_update", spy)
    before = [b.clone() for b in G.buffers()]
    applied = copy.deepcopy(G).eval()  # G as applied before the iteration (the D steps do not change it)
    algorithm1.algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=1.0, n_steps=2)
    assert len(seen) == 2
    for training, buffers, *_ in seen:
        assert not training
        for b, b0 in zip(buffers, before):
            torch.testing.assert_close(b, b0, rtol=0, atol=0)  # D steps do not update G's statistics
    with torch.no_grad():  # D was shown G's eval-mode output on each D batch
        for *_, generated, real in seen:
            torch.testing.assert_close(generated, applied(real), rtol=0, atol=0)


def test_an_iteration_reports_d_accuracy_on_real_and_on_generated_patches():
    G, S, D, opt_gs, opt_d, batches = _tiny_adversarial()
    out = algorithm1.algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=1.0, n_steps=3)
    for key in ("d_accuracy_real", "d_accuracy_generated"):
        assert 0.0 <= out[key] <= 1.0
    # equal numbers of real and generated patches: the overall accuracy is the mean of the halves
    assert out["d_accuracy"] == pytest.approx((out["d_accuracy_real"] + out["d_accuracy_generated"]) / 2)


def test_validation_d_loss_is_the_training_loss_of_eq2():
    """D's validation loss is computed as it is trained: mean over real patches + mean over generated."""
    from deepnorm.losses import domain_loss
    from deepnorm.training.loop import validate
    from deepnorm.training.methods import method_for

    config = profile("smoke", **{"train.method": "adversarial", "model.dropout": 0.0})
    method = method_for(config)
    nets = method.build(seed=0)
    gen = torch.Generator().manual_seed(2)
    val = PatchBatch(images=torch.rand(6, 1, 8, 8, 8, generator=gen), labels=torch.randint(0, 4, (6, 8, 8, 8), generator=gen),
                     domains=torch.tensor([0, 1, 1, 1, 0, 1]))
    out = validate(method, nets, val, batch_size=6, device=torch.device("cpu"), amp=False, seed=0)
    with torch.no_grad():
        nets.generator.eval()
        real = nets.discriminator(val.images)
        fake = nets.discriminator(nets.generator(val.images))
    k = config.data.n_domains
    expected = float(domain_loss(real, val.domains)) + float(domain_loss(fake, torch.full((6,), k)))
    assert out["d_val_loss"] == pytest.approx(expected, rel=1e-5)
    assert out["d_val_accuracy_real"] == pytest.approx(float((real.argmax(1) == val.domains).float().mean()))
    assert out["d_val_accuracy_generated"] == pytest.approx(float((fake.argmax(1) == k).float().mean()))


def test_run_confusion_draws_the_same_number_of_patches_from_every_site(monkeypatch):
    """Table 7's confusion: n patches per site even when one site has many more subjects."""
    from types import SimpleNamespace

    from deepnorm.evaluation import evaluate as ev

    rng = np.random.default_rng(0)

    def subject():
        return SimpleNamespace(image=rng.uniform(0.2, 1.0, size=(1, 12, 12, 12)).astype(np.float32),
                               labels=rng.integers(1, 4, size=(12, 12, 12)))

    config = profile("smoke", **{"train.method": "adversarial"})
    nets = __import__("deepnorm.training.methods", fromlist=["method_for"]).method_for(config).build(seed=0)
    run = SimpleNamespace(config=config, generator=nets.generator.eval(), discriminator=nets.discriminator)
    counted = {}

    def spy(discriminate, generate, images, domains, k):
        counted["domains"] = np.bincount(domains, minlength=k)
        return {"matrix": np.zeros((k + 1, k + 1))}

    monkeypatch.setattr(ev, "discriminator_confusion", spy)
    ev.run_confusion(run, [[subject() for _ in range(8)], [subject()]], n_per_site=10)
    assert counted["domains"].tolist() == [10, 10]
