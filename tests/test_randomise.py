"""Contrast randomisation: the augmentation's laws, its configuration, and the method end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepnorm.data.randomise import RandomisationParams, randomise_patches
from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import CSF, GM, WM
from deepnorm.sampling import PatchBatch
from deepnorm.training.config import BEYOND_PAPER_METHODS, METHODS, PAPER_METHODS, Config, profile

#: Only the label map and gamma: the label -> intensity map of a patch is then a function.
PURE = RandomisationParams(std_range=(0.0, 0.0), bias_coefficient=0.0, blur_std_mm=(0.0, 0.0), noise_std=(0.0, 0.0))


def _patches(n: int = 3, c: int = 1, p: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, p, p, p) images in [0, 1] and (N, p, p, p) labels holding every class in every patch."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n, p, p, p), generator=gen)
    labels[:, 0, 0, :4] = torch.arange(4)
    return torch.rand(n, c, p, p, p, generator=gen), labels


# --------------------------------------------------------------------------- the augmentation
@pytest.mark.parametrize("channels", [1, 2])
def test_shape_dtype_range_kept_and_labels_untouched(channels):
    images, labels = _patches(c=channels)
    before = labels.clone()
    out = randomise_patches(images, labels, seed=0, spacing=2.0)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    for k in range(out.shape[0]):
        for c in range(channels):  # each synthetic channel is rescaled to span [0, 1]
            assert float(out[k, c].min()) == 0.0 and float(out[k, c].max()) == 1.0
    assert torch.equal(labels, before)
    assert not torch.equal(out, images)


def test_same_seed_same_images_and_the_caller_rng_is_left_alone():
    images, labels = _patches()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = randomise_patches(images, labels, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)  # another global state: the same draws
    assert torch.equal(randomise_patches(images, labels, seed=5), first)
    assert not torch.equal(randomise_patches(images, labels, seed=6), first)


def test_patch_draws_depend_on_seed_and_index_only():
    images, labels = _patches(n=3)
    whole = randomise_patches(images, labels, seed=3)
    head = randomise_patches(images[:2], labels[:2], seed=3)
    assert torch.equal(whole[:2], head)


def test_mixing_probability():
    images, labels = _patches(n=6)
    real = randomise_patches(images, labels, seed=0, params=RandomisationParams(p_synthetic=0.0))
    assert torch.equal(real, images)
    half = randomise_patches(images, labels, seed=0, params=RandomisationParams(p_synthetic=0.5))
    kept = [torch.equal(half[k], images[k]) for k in range(6)]
    assert any(kept) and not all(kept)


def test_label_to_intensity_is_a_function_without_spread_noise_blur_or_bias():
    images, labels = _patches(n=4, c=2)
    out = randomise_patches(images, labels, seed=11, params=PURE)
    for k in range(4):
        for c in range(2):
            values = [out[k, c][labels[k] == label] for label in range(4)]
            for v in values:
                assert float(v.max() - v.min()) <= 1e-6
            levels = sorted(float(v[0]) for v in values)
            assert min(b - a for a, b in zip(levels, levels[1:])) > 1e-4  # distinct tissues stay distinct


def test_tissue_order_is_randomised():
    images, labels = _patches(n=1)
    orders = set()
    for seed in range(30):
        out = randomise_patches(images, labels, seed=seed, params=PURE)[0, 0]
        means = [float(out[labels[0] == t].mean()) for t in (CSF, GM, WM)]
        orders.add(tuple(np.argsort(means)))
    assert len(orders) >= 3, orders  # of the 6 orders of CSF, GM, WM, not just the T1 one


def test_gamma_changes_only_monotonically():
    """Spread, noise, blur and bias off: the intensity order of the labels in a patch is the mixture's."""
    images, labels = _patches(n=1)
    no_gamma = randomise_patches(images, labels, seed=4, params=RandomisationParams(
        std_range=(0, 0), bias_coefficient=0, blur_std_mm=(0, 0), noise_std=(0, 0), log_gamma_range=(0, 0)))
    with_gamma = randomise_patches(images, labels, seed=4, params=PURE)
    level = lambda out: [float(out[0, 0][labels[0] == t][0]) for t in range(4)]
    assert list(np.argsort(level(no_gamma))) == list(np.argsort(level(with_gamma)))


@pytest.mark.parametrize("field, value", [
    ("p_synthetic", 1.5), ("p_synthetic", True), ("mean_range", (200.0, 100.0)), ("mean_range", (1.0,)),
    ("std_range", (-1.0, 2.0)), ("noise_std", (0.0, math.inf)), ("bias_order", -1), ("bias_order", 1.5),
    ("bias_coefficient", -0.1), ("blur_std_mm", "wide"),
])
def test_bad_params_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=f"train.randomisation.{field}"):
        RandomisationParams(**{field: value})


def test_bad_inputs_are_refused():
    images, labels = _patches()
    with pytest.raises(DataError, match="labels must be integers"):
        randomise_patches(images, labels + 1, seed=0)
    with pytest.raises(DataError, match="expected"):
        randomise_patches(images[:, 0], labels, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        randomise_patches(images, labels, seed=-1)
    with pytest.raises(ConfigError, match="unknown"):
        RandomisationParams.from_dict({"contrast": 1})


# --------------------------------------------------------------------------- configuration
def _config(**overrides) -> Config:
    return profile("smoke", **{"train.method": "contrast_randomisation", **overrides})


def test_params_are_part_of_the_config_yaml_and_its_hash():
    config = _config()
    assert config.train.randomisation == RandomisationParams()
    assert "randomisation:" in config.to_yaml()
    assert Config.from_yaml(config.to_yaml()) == config
    noisier = config.replace(**{"train.randomisation": {"noise_std": [0.0, 0.1]}})
    assert noisier.train.randomisation.noise_std == (0.0, 0.1)
    assert noisier.train.randomisation.mean_range == (25.0, 225.0)
    assert noisier.stable_hash() != config.stable_hash()
    with pytest.raises(ConfigError, match="train.randomisation.p_synthetic"):
        config.replace(**{"train.randomisation": {"p_synthetic": 2}})


def test_other_methods_carry_no_params_and_keep_their_hash():
    segmenter = profile("smoke", **{"train.method": "segmenter"})
    assert segmenter.train.randomisation is None and "randomisation" not in segmenter.to_dict()["train"]
    assert _config().replace(**{"train.method": "segmenter"}).stable_hash() == segmenter.stable_hash()


def test_beyond_the_paper_not_in_its_tables():
    from deepnorm.plots.names import display_name
    from deepnorm.study.experiments import NORMALIZERS
    from deepnorm.training.methods import REGISTRY

    assert "contrast_randomisation" in BEYOND_PAPER_METHODS and "contrast_randomisation" in METHODS
    assert "contrast_randomisation" not in PAPER_METHODS and "contrast_randomisation" not in NORMALIZERS
    assert NORMALIZERS == ("standardization", "standardization_brain", "preprocessor", "adversarial")
    assert set(REGISTRY) == set(METHODS)
    assert display_name("contrast_randomisation") == "Contrast randomisation (beyond the paper)"


# --------------------------------------------------------------------------- the method
def test_each_training_batch_is_randomised_before_the_step(monkeypatch):
    from deepnorm.training.methods import method_for
    from deepnorm.training.methods import randomisation as module

    config = _config()
    method = method_for(config)
    nets = method.build()
    assert nets.generator is None and nets.discriminator is None
    calls = []

    def spy(images, labels, **kwargs):
        calls.append(kwargs)
        return randomise_patches(images, labels, **kwargs)

    monkeypatch.setattr(module, "randomise_patches", spy)
    images, labels = _patches(n=4)
    batch = PatchBatch(images, labels, torch.zeros(4, dtype=torch.long))

    def run() -> tuple[float, list[torch.Tensor]]:
        nets = method.build(seed=0)
        opts = method.optimizers(nets)
        torch.manual_seed(0)
        loss = method.train_iteration(nets, opts, iter([batch]))["seg_loss"]
        return loss, [p.detach().clone() for p in nets.segmenter.parameters()]

    (loss, weights), (again, weights_again) = run(), run()
    assert len(calls) == 2 and calls[0] == calls[1]
    assert calls[0]["params"] == config.train.randomisation and calls[0]["spacing"] == config.data.spacing
    assert np.isfinite(loss) and loss == again
    assert all(torch.equal(a, b) for a, b in zip(weights, weights_again))


def test_cli_trains_and_the_run_evaluates(smoke_root, smoke_runs_dir, capsys):
    from deepnorm.cli import main
    from deepnorm.evaluation.evaluate import evaluate_run
    from deepnorm.files import read_table
    from deepnorm.training.runs import load_run

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(["train", "--method", "contrast_randomisation", "--profile", "smoke", "--sites", "iseg",
                     "--data-root", str(smoke_root), "--runs-dir", str(smoke_runs_dir), "--epochs", "1"])
        assert code == 0
        run = load_run(capsys.readouterr().out.strip().splitlines()[-1])
        assert run.method == "contrast_randomisation" and run.generator is None and run.discriminator is None
        assert run.config.train.randomisation == RandomisationParams()
        assert len(run.history) == 1 and np.isfinite(run.history[0]["loss"])
        out = evaluate_run(run.folder, save_images=False, device="cpu")
    finally:
        torch.set_num_threads(before)
    rows = {row["site"]: row for row in read_table("summary", out)}
    assert 0.0 <= rows["iseg"]["dice_mean"] <= 1.0


def test_cli_refuses_lambda():
    import argparse

    from deepnorm.cli.train import config_from_args, configure_parser

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    args = parser.parse_args(["--method", "contrast_randomisation", "--profile", "smoke"])
    assert config_from_args(args).train.method == "contrast_randomisation"
    with pytest.raises(ConfigError, match="no discriminator"):
        config_from_args(parser.parse_args(["--method", "contrast_randomisation", "--lambda", "1"]))
