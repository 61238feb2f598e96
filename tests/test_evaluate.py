"""Evaluation cores: laws and hand-computed cases."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from deepnorm.evaluation import evaluate


def _labels(shape=(12, 14, 10)) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int64)
    labels[2:10, 2:12, 2:8] = 3
    labels[3:6, 3:7, 3:6] = 2
    labels[7:9, 8:11, 3:6] = 1
    return labels


def test_perfect_prediction_scores_one_and_zero_distance():
    labels = _labels()
    row = evaluate.subject_scores(labels, labels, (1.0, 1.0, 2.0))
    assert row["dice_mean"] == pytest.approx(1.0)
    assert row["mhd_mean"] == pytest.approx(0.0)


def test_shifted_prediction_distance_is_in_mm():
    labels = _labels()
    shifted = np.roll(labels, 1, axis=2)  # one voxel along z, 2 mm
    row_mm = evaluate.subject_scores(shifted, labels, (1.0, 1.0, 2.0))
    row_vox = evaluate.subject_scores(shifted, labels, (1.0, 1.0, 1.0))
    assert row_mm["dice_mean"] < 1.0
    assert row_mm["mhd_wm"] == pytest.approx(2.0 * row_vox["mhd_wm"])


def test_summarize_hand_computed():
    rows = [{"site": "a", "subject": "1", "dice_mean": 0.5}, {"site": "a", "subject": "2", "dice_mean": 0.7},
            {"site": "b", "subject": "3", "dice_mean": 0.9}]
    out = {r["site"]: r for r in evaluate.summarize(rows)}
    assert out["a"]["dice_mean"] == pytest.approx(0.6)
    assert out["a"]["dice_mean_std"] == pytest.approx(0.1)
    assert out["all"]["dice_mean"] == pytest.approx(0.7)
    assert out["all"]["n"] == 3


def test_site_jsd_bounds():
    h = np.array([1.0, 2.0, 3.0, 0.0])
    same = evaluate.site_jsd({"iseg": h, "mrbrains": 2 * h})
    assert same["jsd"] == pytest.approx(0.0, abs=1e-12)
    disjoint = evaluate.site_jsd({"iseg": np.array([1.0, 0.0]), "mrbrains": np.array([0.0, 1.0])})
    assert disjoint["jsd"] == pytest.approx(math.log(2))
    three = evaluate.site_jsd({"iseg": np.array([1.0, 0, 0]), "mrbrains": np.array([0, 1.0, 0]), "abide": np.array([1.0, 0, 0])})
    assert three["jsd"] == pytest.approx((math.log(2) * 2 + 0.0) / 3)


def test_brain_histogram_counts_only_brain_voxels():
    image = np.full((1, 4, 4, 4), 0.25, dtype=np.float32)
    mask = np.zeros((4, 4, 4), dtype=bool)
    mask[:2] = True
    counts = evaluate.brain_histogram([(image, mask)], bins=4)
    np.testing.assert_array_equal(counts, [0, 32, 0, 0])


def test_slice_correlation_of_a_ramp_is_one():
    ramp = np.broadcast_to(np.arange(10.0)[None, :, None], (8, 10, 6)).copy()
    mask = np.ones(ramp.shape, dtype=bool)
    assert evaluate.slice_correlation(ramp, mask, min_voxels=1) == pytest.approx(1.0)


def test_bias_correlation_grows_with_alpha_and_identity_keeps_it():
    rng = np.random.default_rng(0)
    image = (0.5 + 0.05 * rng.standard_normal((1, 16, 16, 8))).astype(np.float32)
    mask = np.ones((16, 16, 8), dtype=bool)
    subject = SimpleNamespace(image=image, mask=mask, site="iseg")
    rows = evaluate.bias_correlations([subject], lambda im, m: im)
    rho = {r["alpha"]: r for r in rows}
    degraded = [rho[a]["rho_degraded"] for a in (0.0, *evaluate.ALPHAS)]
    assert all(x < y for x, y in zip(degraded, degraded[1:]))
    assert all(r["rho_degraded"] == pytest.approx(r["rho_normalized"]) for r in rows)


def test_discriminator_confusion_of_a_perfect_discriminator():
    patches = np.zeros((6, 1, 2, 2, 2), dtype=np.float32)
    domains = np.array([0, 1, 0, 1, 1, 0])
    patches[:, 0, 0, 0, 0] = domains  # the "signature" of the domain
    generate = lambda x: x + 10.0

    def discriminate(x):
        logits = np.zeros((len(x), 3))
        code = x[:, 0, 0, 0, 0]
        logits[np.arange(len(x)), np.where(code >= 10, 2, code.astype(int))] = 1.0
        return logits

    out = evaluate.discriminator_confusion(discriminate, generate, patches, domains, n_domains=2)
    np.testing.assert_allclose(out["matrix"], np.eye(3))
    assert out["accuracy"] == 1.0


# --------------------------------------------------------------------------- evaluate_run (I/O edge)
@pytest.fixture(scope="module")
def seed3_run(smoke_root, smoke_config, smoke_runs_dir):
    """A one-epoch segmenter run trained with seed 3 (cheap to evaluate)."""
    from deepnorm.training.loop import train

    config = smoke_config.replace(**{"train.seed": 3, "train.method": "segmenter", "train.epochs": 1})
    return train(config, data_root=smoke_root, runs_dir=smoke_runs_dir, progress=False)


def test_a_run_is_evaluated_on_its_own_split(seed3_run, smoke_root, tmp_path):
    """A seed-3 run is tested on its own test subjects: none of its training subjects, whatever seed 0 says."""
    from deepnorm.data.prepared import site_splits

    folder = seed3_run
    splits = json.loads((folder / "splits.json").read_text())
    # the defect could show: seed 0 would put some of this run's training subjects in the test set
    assert any(set(site_splits(smoke_root, s, 0)["test"]) & set(splits[s]["train"]) for s in splits)
    out = evaluate.evaluate_run(folder, out=tmp_path / "eval", save_images=False, device="cpu")
    import csv

    with (out / "subjects.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))  # ids as written (read_table would make "9" a float)
    for site in splits:
        tested = [str(r["subject"]) for r in rows if r["site"] == site]
        assert sorted(tested) == sorted(splits[site]["test"])
        assert not set(tested) & set(splits[site]["train"])


def test_evaluation_is_atomic_and_needs_force_to_replace(seed3_run, tmp_path, monkeypatch):
    from deepnorm.errors import RunError

    out = tmp_path / "eval"
    assert evaluate.evaluate_run(seed3_run, out=out, save_images=False) == out
    first = (out / "subjects.csv").read_text()
    with pytest.raises(RunError, match=r"already exists; pass force=True \(--force\)"):
        evaluate.evaluate_run(seed3_run, out=out, save_images=False)

    def fail(*args, **kwargs):
        (args[3] / "subjects.csv").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(evaluate, "_evaluate_into", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        evaluate.evaluate_run(seed3_run, out=out, save_images=False, force=True)
    assert (out / "subjects.csv").read_text() == first  # the old results survive a failed rerun
    with pytest.raises(RuntimeError):
        evaluate.evaluate_run(seed3_run, out=tmp_path / "fresh", save_images=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # no empty or partial folder left
    monkeypatch.undo()
    assert evaluate.evaluate_run(seed3_run, out=out, save_images=False, force=True) == out
    assert (out / "subjects.csv").read_text() == first
