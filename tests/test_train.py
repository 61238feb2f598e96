"""train(): run folder contents, reuse, determinism, load_run, the CLI, the data cache."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from deepnorm.errors import RunError
from deepnorm.training.checkpoint import load_checkpoint
from deepnorm.training.config import Config, milestone_iterations
from deepnorm.training.loop import HISTORY_FIELDS, read_history, train
from deepnorm.training.runs import find_run, load_run

_SESSION_THREADS = torch.get_num_threads()


@pytest.fixture
def one_thread():
    """One CPU thread for a test's own training, restored afterwards (never a session-wide setting:
    the session's shared runs and a determinism check must train with the same thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_run_folder_contents(smoke_run, smoke_config, smoke_root):
    from deepnorm.data.manifest import data_manifest
    from deepnorm.training.runs import run_key

    manifest = data_manifest(smoke_root, smoke_config.data.sites)
    assert smoke_run.name == run_key(smoke_config, manifest)
    for name in ("config.yaml", "run.json", "splits.json", "history.csv", "checkpoint.pt", "final.pt", "DONE",
                 "confusion.json"):
        assert (smoke_run / name).is_file(), name
    assert Config.from_yaml(smoke_run / "config.yaml") == smoke_config
    history = read_history(smoke_run / "history.csv")
    assert [row["epoch"] for row in history] == list(range(1, smoke_config.train.epochs + 1))
    assert set(history[0]) == set(HISTORY_FIELDS)
    for row in history:
        assert 0 <= row["val_dice"] <= 1 and 0 <= row["d_val_accuracy"] <= 1 and row["seconds"] > 0
    for row in history:  # D's accuracy over all its patches is the mean of its real and generated halves
        assert row["d_accuracy"] == pytest.approx((row["d_accuracy_real"] + row["d_accuracy_generated"]) / 2)
        assert row["d_val_accuracy"] == pytest.approx((row["d_val_accuracy_real"] + row["d_val_accuracy_generated"]) / 2)
    # lr(G, S) follows the milestones, counted in iterations: each row keeps its epoch's last rate
    t = smoke_config.train
    per_epoch = smoke_config.batches_per_epoch
    drops = milestone_iterations(t.milestones, t.epochs * per_epoch)
    for row in history:
        last = row["epoch"] * per_epoch - 1  # iterations done before the epoch's last one
        assert row["lr_gs"] == pytest.approx(t.lr_gs * t.lr_gamma ** sum(d <= last for d in drops))
    splits = json.loads((smoke_run / "splits.json").read_text())
    assert set(splits) == set(smoke_config.data.sites)
    for site_splits in splits.values():
        ids = site_splits["train"] + site_splits["val"] + site_splits["test"]
        assert len(ids) == len(set(ids))


def test_confusion_matrix_per_epoch(smoke_run, smoke_config):
    k1 = smoke_config.data.n_domains + 1
    for epoch in range(1, smoke_config.train.epochs + 1):
        data = json.loads((smoke_run / "confusion" / f"epoch-{epoch:03d}.json").read_text())
        matrix = np.asarray(data["matrix"])
        assert matrix.shape == (k1, k1)
        assert data["labels"] == [*smoke_config.data.sites, "generated"]
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)  # each true class is present


def test_checkpoints_load_with_weights_only(smoke_run):
    state = load_checkpoint(smoke_run / "checkpoint.pt")
    assert set(state) >= {"epoch", "nets", "optimizers", "batches", "rng", "history"}
    assert set(state["nets"]) == {"generator", "segmenter", "discriminator"}
    with pytest.raises(RunError, match="does not exist"):
        load_checkpoint(smoke_run / "nope.pt")


def test_finished_run_is_reused(smoke_run, smoke_root, smoke_config, smoke_runs_dir):
    stamp = (smoke_run / "final.pt").stat().st_mtime_ns
    assert train(smoke_config, data_root=smoke_root, runs_dir=smoke_runs_dir) == smoke_run
    assert (smoke_run / "final.pt").stat().st_mtime_ns == stamp
    assert find_run(smoke_config, smoke_runs_dir, data_root=smoke_root) == smoke_run
    assert find_run(smoke_config.replace(**{"train.lam": 0.1}), smoke_runs_dir, data_root=smoke_root) is None


def test_same_seed_same_weights(smoke_run, smoke_root, smoke_config, tmp_path):
    assert torch.get_num_threads() == _SESSION_THREADS  # the shared run trained with this count too
    again = train(smoke_config, data_root=smoke_root, runs_dir=tmp_path, progress=False)
    a = load_checkpoint(smoke_run / "final.pt")["nets"]
    b = load_checkpoint(again / "final.pt")["nets"]
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (name, key)
    assert read_history(again / "history.csv")[-1]["loss"] == read_history(smoke_run / "history.csv")[-1]["loss"]


def test_load_run_applies_networks(smoke_run, smoke_root, smoke_config, smoke_runs_dir):
    from deepnorm.data.prepared import prepare_split

    run = load_run(smoke_run)
    assert run.method == "adversarial" and run.config == smoke_config
    assert not run.segmenter.training and not run.generator.training and not run.discriminator.training
    subject = prepare_split(smoke_root, smoke_config.data, "iseg", "test", runs_dir=smoke_runs_dir)[0]
    probs = run.segment_volume(subject.image, subject.mask)
    assert probs.shape == (4, *subject.image.shape[1:])
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    normalized = run.normalize_volume(subject.image, subject.mask)
    assert normalized.shape == subject.image.shape
    assert float(np.abs(normalized[:, ~subject.mask]).max()) == 0.0
    assert 0.0 <= float(normalized.min()) and float(normalized.max()) <= 1.0
    # a patch-sized check against the networks themselves (stride = patch: no overlap)
    p = smoke_config.data.patch_size
    x = torch.from_numpy(subject.image[None, :, :p, :p, :p].copy())
    with torch.no_grad():
        expected = torch.softmax(run.segmenter(run.generator(x)), dim=1)[0].numpy()
    one = dataclasses.replace(run, config=smoke_config.replace(**{"eval_.stride": p}))
    np.testing.assert_allclose(one.segment_volume(subject.image[:, :p, :p, :p])[:, :, :, :], expected, atol=1e-5)


def test_load_run_rejects_incomplete_folder(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        load_run(tmp_path / "missing")
    (tmp_path / "config.yaml").write_text("{}")
    with pytest.raises(RunError, match="--resume"):
        load_run(tmp_path)


def test_cli_prints_the_run_folder_last(smoke_root, smoke_runs_dir, capsys, one_thread):
    from deepnorm.cli import main

    code = main(["train", "--method", "segmenter", "--profile", "smoke", "--sites", "iseg",
                 "--data-root", str(smoke_root), "--runs-dir", str(smoke_runs_dir), "--epochs", "1"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    run = load_run(last)
    assert run.method == "segmenter" and run.config.data.sites == ("iseg",) and run.generator is None
    assert run.config.train.epochs == 1 and len(run.history) == 1
    assert np.isnan(run.history[0]["d_val_accuracy"])


def test_prepared_cache_round_trip(smoke_root, smoke_config, smoke_runs_dir):
    from deepnorm.data.prepared import cache_dir, load_prepared, prepare_site
    from deepnorm.data.preprocess import preprocess_subject
    from deepnorm.data.sites import open_site

    data = smoke_config.data
    first = prepare_site(smoke_root, data, "mrbrains", runs_dir=smoke_runs_dir)
    files = sorted((cache_dir(smoke_root, data, smoke_runs_dir) / "mrbrains").glob("*.npz"))
    assert len(files) == len(first)
    subject_id = sorted(first)[0]
    fresh = preprocess_subject(open_site(smoke_root, "mrbrains").load(subject_id), data.modalities, data.spacing)
    cached = load_prepared(cache_dir(smoke_root, data, smoke_runs_dir) / "mrbrains" / f"{subject_id}.npz")
    for f in dataclasses.fields(fresh):
        a, b = getattr(fresh, f.name), getattr(cached, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
        elif f.name != "geometry":
            assert a == b, f.name
    assert cached.geometry == fresh.geometry
    np.testing.assert_array_equal(cached.geometry.affine, fresh.geometry.affine)


def test_rank_shares_make_the_global_batch(smoke_root, smoke_config, smoke_runs_dir):
    from deepnorm.data.prepared import AugmentedBatches, prepare_split
    from deepnorm.sampling import PatchSampler

    volumes = prepare_split(smoke_root, smoke_config.data, "iseg", "train", runs_dir=smoke_runs_dir)

    def batches(rank: int, world: int) -> AugmentedBatches:
        sampler = PatchSampler([v.image for v in volumes], [v.labels for v in volumes], 8, domains=[0] * len(volumes), seed=3)
        return AugmentedBatches(sampler, 16, p=0.5, seed=3, rank=rank, world=world)

    whole = [next(batches(0, 1)) for _ in range(1)][0]
    shares = [next(batches(r, 2)) for r in range(2)]
    torch.testing.assert_close(shares[0].images, whole.images[0::2])
    torch.testing.assert_close(shares[1].images, whole.images[1::2])
    torch.testing.assert_close(shares[1].labels, whole.labels[1::2])
    # the augmentation changed some patches (p = 0.5), and no patch got brighter (B <= 1)
    plain = batches(0, 1)
    plain.p = 0.0
    raw = next(plain).images
    assert not torch.equal(raw, whole.images)
    assert bool((whole.images <= raw + 1e-6).all())
