"""Classical normalizers (nyul, whitestripe, fcm, kde; beyond the paper): each against the law it promises.

The volumes are 24^3 spheres of three tissues (CSF shell, GM, a WM core that is the largest
class), Gaussian intensities per tissue, 0 outside: T1 dark CSF / bright WM, T2 the reverse.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from deepnorm.errors import DataError, RunError
from deepnorm.training.config import CLASSICAL, METHODS, profile
from deepnorm.training.methods import REGISTRY, method_for

torch.set_num_threads(1)

CHANNELS = ("t1", "t2")
T1 = {1: 0.2, 2: 0.5, 3: 0.8}  # CSF, GM, WM means
T2 = {1: 0.9, 2: 0.5, 3: 0.3}


def phantom(seed: int = 0, n: int = 24, sd: float = 0.04, scale: float = 1.0, gamma: float = 1.0):
    """(image (2, n, n, n) float32, brain mask, labels 0 BG 1 CSF 2 GM 3 WM)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[:n, :n, :n]
    r = np.sqrt(sum((a - (n - 1) / 2) ** 2 for a in (x, y, z)))
    labels = np.zeros((n, n, n), np.int64)
    labels[r < 11] = 1
    labels[r < 10] = 2
    labels[r < 8.5] = 3
    image = np.zeros((2, n, n, n), np.float32)
    for c, means in enumerate((T1, T2)):
        for k, mean in means.items():
            image[c][labels == k] = rng.normal(mean, sd, int((labels == k).sum()))
    image = scale * np.clip(image, 0, None) ** gamma
    return image.astype(np.float32), labels > 0, labels


def _config(name: str, modalities=CHANNELS):
    return profile("smoke", **{"train.method": name, "data.modalities": modalities, "data.sites": ("iseg",)})


def _training_volumes():
    """Three training volumes of different intensity scales and contrasts (as from different scanners)."""
    out = []
    for seed, (scale, gamma) in enumerate([(1.0, 1.0), (2.5, 1.0), (0.7, 1.6)]):
        image, mask, _ = phantom(seed=seed + 1, scale=scale, gamma=gamma)
        out.append((image, mask))
    return out


@pytest.fixture(scope="module")
def nyul_method():
    method = method_for(_config("nyul"))
    method.fit(_training_volumes())
    return method


# --------------------------------------------------------------------------- registry
def test_registered_beyond_the_paper_and_table3_unchanged():
    from deepnorm.plots.names import METHOD_NAMES
    from deepnorm.study.experiments import NORMALIZERS

    assert CLASSICAL == ("nyul", "whitestripe", "fcm", "kde")
    assert set(CLASSICAL) <= set(METHODS) and set(CLASSICAL) <= set(REGISTRY)
    assert NORMALIZERS == ("standardization", "standardization_brain", "preprocessor", "adversarial")
    for name in CLASSICAL:
        assert "beyond the paper" in METHOD_NAMES[name]
        cls = REGISTRY[name]
        assert not cls.uses_generator and not cls.uses_discriminator
        assert cls.needs_fit == (name == "nyul")


def test_cli_train_accepts_the_classical_methods():
    import argparse

    from deepnorm.cli.train import config_from_args, configure_parser

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    for name in CLASSICAL:
        config = config_from_args(parser.parse_args(["--method", name, "--profile", "smoke"]))
        assert config.train.method == name


# --------------------------------------------------------------------------- Nyúl
def test_nyul_standard_scale_is_the_mean_of_the_rescaled_landmarks(nyul_method):
    """Independent oracle: each volume's landmarks mapped linearly from [p1, p99] onto [1, 100], averaged."""
    fit = nyul_method.fitted
    assert fit.channels == CHANNELS and fit.n_volumes == 3
    percentiles = np.asarray(fit.percentiles)
    np.testing.assert_array_equal(percentiles, [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99])
    for c in range(2):
        scaled = []
        for image, mask in _training_volumes():
            landmarks = np.percentile(image[c][mask], percentiles)
            scaled.append(1 + 99 * (landmarks - landmarks[0]) / (landmarks[-1] - landmarks[0]))
        np.testing.assert_allclose(fit.standard_scales[c], np.mean(scaled, axis=0), rtol=1e-5, atol=1e-4)


def test_nyul_maps_each_training_volumes_landmarks_onto_the_standard_scale(nyul_method):
    fit = nyul_method.fitted
    for image, mask in _training_volumes():
        out = nyul_method.prepare_volume(image, mask)
        assert out.dtype == np.float32 and out.shape == image.shape
        for c in range(2):
            landmarks = np.percentile(out[c][mask], fit.percentiles)
            np.testing.assert_allclose(landmarks, fit.standard_scales[c], rtol=1e-3, atol=1e-2)


def test_nyul_is_monotone_and_background_not_above_the_brain(nyul_method):
    image, mask, _ = phantom(seed=7, scale=1.3)
    out = nyul_method.prepare_volume(image, mask)
    for c in range(2):
        order = np.argsort(image[c].ravel(), kind="stable")
        steps = np.diff(out[c].ravel()[order].astype(np.float64))
        assert steps.min() >= -1e-4
        assert np.all(np.isfinite(out[c])) and out[c][~mask].max() <= out[c][mask].min()


def test_nyul_needs_a_fit():
    image, mask, _ = phantom()
    with pytest.raises(RunError, match="no standard scale"):
        method_for(_config("nyul")).prepare_volume(image, mask)


def test_nyul_fit_round_trips_through_the_run_folder(nyul_method, tmp_path):
    from deepnorm.training.runs import FIT, read_fit, write_fit

    write_fit(tmp_path, nyul_method)
    saved = json.loads((tmp_path / FIT).read_text())
    assert saved["method"] == "nyul" and set(saved["state"]["channels"]) == set(CHANNELS)
    again = method_for(_config("nyul"))
    read_fit(tmp_path, again)
    assert again.fitted == nyul_method.fitted
    image, mask, _ = phantom(seed=9)
    np.testing.assert_array_equal(again.prepare_volume(image, mask), nyul_method.prepare_volume(image, mask))

    one_channel = method_for(_config("nyul", ("t1",)))
    with pytest.raises(RunError, match=f"{FIT}.*channels"):
        read_fit(tmp_path, one_channel)
    (tmp_path / FIT).unlink()
    with pytest.raises(RunError, match=f"{FIT} is missing.*--force"):
        read_fit(tmp_path, again)


# --------------------------------------------------------------------------- per-volume methods
def test_whitestripe_gives_the_stripe_mean_0_sd_1_and_centres_white_matter():
    from intensity_normalization import Modality, WhiteStripeNormalizer, create_image

    image, mask, labels = phantom()
    out = method_for(_config("whitestripe")).prepare_volume(image, mask)
    for c, modality in enumerate((Modality.T1, Modality.T2)):
        stripe = WhiteStripeNormalizer(modality=modality).fit(create_image(image[c]), create_image(mask)).whitestripe_mask
        assert stripe.sum() > 100 and np.all(labels[stripe] == 3)  # the stripe lies in the white matter
        assert out[c][stripe].mean() == pytest.approx(0, abs=1e-4)
        assert out[c][stripe].std() == pytest.approx(1, abs=1e-3)
        # independent of the library's stripe: WM is centred, GM and CSF are far from it on the right side
        assert abs(np.median(out[c][labels == 3])) < 1.5
        sign = -1 if c == 0 else 1  # T1: GM below WM; T2: GM above
        assert sign * np.median(out[c][labels == 2]) > 5
    assert np.all(out[:, ~mask] <= out[:, mask].min(axis=1)[:, None])


def test_fcm_puts_the_t1_white_matter_mean_at_one_in_every_channel():
    from intensity_normalization import FCMNormalizer, TissueType, create_image

    image, mask, labels = phantom()
    before = np.random.get_state()[1].copy()
    out = method_for(_config("fcm")).prepare_volume(image, mask)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the global generator is left alone
    np.random.seed(0)  # the library's membership, as the method seeds it (train.seed = 0)
    membership = FCMNormalizer(tissue_type=TissueType.WM).fit(create_image(image[0]), create_image(mask)).tissue_membership
    for c in range(2):
        assert np.average(out[c], weights=membership) == pytest.approx(1, abs=1e-5)
        assert out[c][labels == 3].mean() == pytest.approx(1, abs=0.03)  # on T2 too, where WM is darkest
    np.testing.assert_array_equal(out[:, ~mask], 0)


def test_kde_puts_the_white_matter_peak_at_one():
    from intensity_normalization import KDENormalizer, Modality, create_image

    image, mask, labels = phantom()
    out = method_for(_config("kde")).prepare_volume(image, mask)
    for c, modality in enumerate((Modality.T1, Modality.T2)):
        mode = KDENormalizer(modality=modality).fit(create_image(image[c]), create_image(mask)).tissue_mode
        np.testing.assert_allclose(out[c], image[c] / mode, rtol=1e-6)
        # the WM intensities are Gaussian (mode = median); the library's mode lies on an 80-point grid
        # of the brain's range, 0.01 here: 3 % of the T2 white matter at 0.3
        assert np.median(out[c][labels == 3]) == pytest.approx(1, abs=0.05)
    np.testing.assert_array_equal(out[:, ~mask], 0)


@pytest.mark.parametrize("name", CLASSICAL)
def test_deterministic_and_float32(name, nyul_method):
    image, mask, _ = phantom(seed=3)
    method = nyul_method if name == "nyul" else method_for(_config(name))
    first = method.prepare_volume(image, mask)
    again = (nyul_method if name == "nyul" else method_for(_config(name))).prepare_volume(image.copy(), mask.copy())
    assert first.dtype == np.float32 and first.shape == image.shape and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, again)
    # without a mask the brain is where a channel is > 0: here the same voxels
    np.testing.assert_array_equal(method.prepare_volume(image, None), first)


@pytest.mark.parametrize("name", ["whitestripe", "kde"])
def test_constant_brain_is_a_data_error_naming_the_channel(name):
    image, mask, _ = phantom()
    image[1][mask] = 0.5
    with pytest.raises(DataError, match=f"{name}: .*channel 't2'.*check"):
        method_for(_config(name)).prepare_volume(image, mask)


def test_nyul_fit_on_a_constant_volume_is_a_data_error():
    image, mask, _ = phantom()
    image[0][mask] = 0.5
    with pytest.raises(DataError, match="nyul: .*channel 't1'.*every training volume"):
        method_for(_config("nyul")).fit([(image, mask)])


@pytest.mark.parametrize("name", CLASSICAL)
def test_bad_shapes_and_empty_masks_are_data_errors(name, nyul_method):
    image, mask, _ = phantom()
    method = nyul_method if name == "nyul" else method_for(_config(name))
    with pytest.raises(DataError, match="expected \\(C=2"):
        method.prepare_volume(image[:1], mask)
    with pytest.raises(DataError, match="mask is empty"):
        method.prepare_volume(image, np.zeros_like(mask))
    with pytest.raises(DataError, match="does not match"):
        method.prepare_volume(image, mask[1:])


# --------------------------------------------------------------------------- a nyul run end to end
@pytest.fixture(scope="module")
def nyul_run(smoke_root, smoke_config, smoke_runs_dir):
    from deepnorm.training.loop import train

    config = smoke_config.replace(**{"train.method": "nyul"})
    return train(config, data_root=smoke_root, runs_dir=smoke_runs_dir, progress=False)


def test_nyul_run_fits_on_every_sites_training_subjects_and_evaluates(nyul_run, tmp_path):
    from deepnorm.evaluation.evaluate import evaluate_run
    from deepnorm.training.runs import FIT, load_run

    saved = json.loads((nyul_run / FIT).read_text())
    splits = json.loads((nyul_run / "splits.json").read_text())
    assert saved["state"]["n_volumes"] == sum(len(s["train"]) for s in splits.values())
    out = evaluate_run(nyul_run, out=tmp_path / "eval", save_images=False, device="cpu")
    assert (out / "summary.csv").is_file() and (out / "subjects.csv").is_file()
    run = load_run(nyul_run, device="cpu")
    assert run._loaded_method().fitted.to_dict() == saved["state"]


def test_nyul_run_uses_its_saved_fit_and_refuses_without_it(nyul_run, tmp_path, smoke_root):
    from deepnorm.training.loop import train
    from deepnorm.training.runs import DONE, FIT, load_run

    copy = tmp_path / nyul_run.name
    shutil.copytree(nyul_run, copy, ignore=shutil.ignore_patterns(".lock", "eval"))
    run = load_run(copy, device="cpu")
    subject = run.prepare_split(smoke_root, "iseg", "test")[0]
    normal = run.normalize_volume(subject.image, subject.mask)
    # a changed fit.json changes the output: evaluation reads the saved fit, never refits
    saved = json.loads((copy / FIT).read_text())
    saved["state"]["channels"]["t1"] = [2 * v for v in saved["state"]["channels"]["t1"]]
    (copy / FIT).write_text(json.dumps(saved))
    doubled = load_run(copy, device="cpu").normalize_volume(subject.image, subject.mask)
    np.testing.assert_allclose(doubled, 2 * normal, rtol=1e-5, atol=1e-4)
    # without fit.json: loading, and resuming the training, say which file is missing and how to fix it
    (copy / FIT).unlink()
    with pytest.raises(RunError, match=f"{FIT} is missing.*--force"):
        load_run(copy, device="cpu")
    (copy / DONE).unlink()
    with pytest.raises(RunError, match=f"{FIT} is missing.*--force"):
        train(run.config, data_root=smoke_root, runs_dir=tmp_path, resume=True, progress=False)
