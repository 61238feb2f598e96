"""deepnorm evaluate / normalize / segment on a trained smoke run: outputs in the input's space and orientation."""

from __future__ import annotations

import numpy as np
import pytest

from deepnorm.cli import main
from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.volume import Volume
from deepnorm.files import read_table


def _central_eighth(source: Volume) -> Volume:
    """The central eighth of `source`, its place in space kept."""
    start = np.array(source.shape) // 4
    stop = start + np.array(source.shape) // 2
    affine = source.affine.copy()
    affine[:3, 3] = (source.affine @ np.array([*start, 1.0]))[:3]
    return Volume(source.data[tuple(slice(a, b) for a, b in zip(start, stop))], source.spacing, affine)


@pytest.fixture(scope="module")
def scan(smoke_root, tmp_path_factory):
    """The central eighth of a smoke MRBrainS T1 (its place in space kept): a real scan, quick to process."""
    path = tmp_path_factory.mktemp("scan") / "T1.nii"
    save_volume(_central_eighth(load_volume(smoke_root / "MRBrainS13" / "TrainingData" / "1" / "T1.nii")), path)
    return path


@pytest.fixture(scope="module")
def brain(smoke_root):
    """The brain mask (labels > 0) of the same subject, on the grid of `scan`."""
    labels = _central_eighth(load_volume(smoke_root / "MRBrainS13" / "TrainingData" / "1" / "LabelsForTesting.nii"))
    return Volume((labels.data > 0).astype(np.uint8), labels.spacing, labels.affine)


def test_segment_writes_labels_on_the_input_grid(smoke_run, scan, tmp_path, capsys):
    out = tmp_path / "tissues.nii.gz"
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(scan), str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(out))
    source, labels = load_volume(scan), load_volume(out)
    assert labels.shape == source.shape
    np.testing.assert_allclose(labels.affine, source.affine, atol=1e-5)
    assert set(np.unique(labels.data)) <= {0, 1, 2, 3}
    assert not labels.data[source.data == 0].any()  # background stays background


def test_normalize_writes_unit_range_image_on_the_input_grid(smoke_run, scan, tmp_path):
    out = tmp_path / "normalized.nii.gz"
    assert main(["normalize", "--device", "cpu", "--run", str(smoke_run), str(scan), str(out)]) == 0
    source, image = load_volume(scan), load_volume(out)
    assert image.shape == source.shape
    np.testing.assert_allclose(image.affine, source.affine, atol=1e-5)
    assert np.isfinite(image.data).all()
    assert image.data.min() >= 0.0 and image.data.max() <= 1.0 + 1e-6
    assert image.data.max() > 0.0


def test_bad_requests_fail_with_a_message_and_write_nothing(smoke_run, scan, tmp_path, capsys):
    out = tmp_path / "x.nii.gz"
    assert main(["normalize", "--device", "cpu", "--run", str(smoke_run), str(scan), str(out), "--t2", str(scan)]) == 2
    assert "trained on T1 alone" in capsys.readouterr().err
    assert not out.exists()
    out.write_bytes(b"keep me")
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(scan), str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    missing = tmp_path / "nope.nii.gz"
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(missing), str(tmp_path / "y.nii.gz")]) == 2
    assert "nope.nii.gz" in capsys.readouterr().err


def test_evaluate_writes_per_subject_scores_and_normalized_images(smoke_run, smoke_root, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(smoke_run), "--data-root", str(smoke_root), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    rows = read_table("subjects", out)
    assert {r["site"] for r in rows} == {"iseg", "mrbrains"}
    assert len(rows) == 2  # one test subject per site (8/1/1 and 3/1/1)
    assert all(0.0 <= r["dice_mean"] <= 1.0 for r in rows)
    assert {r["site"] for r in read_table("summary", out)} == {"iseg", "mrbrains", "all"}
    bias = read_table("bias", out)
    assert sorted({r["alpha"] for r in bias}) == [0.0, 0.3, 0.5, 0.7, 0.9]
    images = sorted((out / "normalized").glob("*.nii.gz"))
    assert len(images) == 2
    mr = next(r for r in rows if r["site"] == "mrbrains")
    subject = str(int(mr["subject"])) if isinstance(mr["subject"], float) else str(mr["subject"])
    original = load_volume(smoke_root / "MRBrainS13" / "TrainingData" / subject / "T1.nii")
    written = load_volume(out / "normalized" / f"mrbrains_{subject}.nii.gz")
    assert written.shape == original.shape
    np.testing.assert_allclose(written.affine, original.affine, atol=1e-5)


def _moved(scan, tmp_path, name, change):
    source = load_volume(scan)
    affine = source.affine.copy()
    change(affine)
    path = tmp_path / name
    save_volume(Volume((source.data > 0).astype(np.uint8), source.spacing, affine), path)
    return path


@pytest.mark.parametrize("name, change, refused", [
    ("same.nii.gz", lambda a: None, False),
    ("rounding.nii.gz", lambda a: a.__setitem__((0, 3), a[0, 3] + 1e-4), False),
    ("shifted.nii.gz", lambda a: a.__setitem__((1, 3), a[1, 3] + 50.0), True),
    ("flipped.nii.gz", lambda a: a.__setitem__((slice(None), 2), -a[:, 2]), True),
    ("scaled.nii.gz", lambda a: a.__setitem__((0, 0), a[0, 0] * 1.1), True),
])
def test_a_mask_must_share_the_t1s_place_in_space(smoke_run, scan, tmp_path, name, change, refused):
    from deepnorm.errors import DataError
    from deepnorm.evaluation.apply import AFFINE_TOLERANCE_MM, _inputs
    from deepnorm.training.runs import load_run

    mask = _moved(scan, tmp_path, name, change)
    offset = np.abs(load_volume(mask).affine - load_volume(scan).affine).max()
    assert (offset > AFFINE_TOLERANCE_MM) == refused  # the oracle: the largest affine difference
    run = load_run(smoke_run, device="cpu")
    if refused:
        with pytest.raises(DataError, match=str(mask)):
            _inputs(run, scan, None, mask)
    else:
        _inputs(run, scan, None, mask)


def test_normalize_refuses_a_run_that_leaves_the_image_unchanged(smoke_run, scan):
    from deepnorm.errors import RunError
    from deepnorm.evaluation.apply import normalize_scan, normalizing_methods
    from deepnorm.training.methods import REGISTRY
    from deepnorm.training.runs import load_run

    # a generator or a volume transform of its own: the two methods that feed S the image as it is are left out
    assert set(normalizing_methods()) == set(REGISTRY) - {"segmenter", "contrast_randomisation"}
    assert {"preprocessor", "adversarial", "standardization", "nyul", "whitestripe"} <= set(normalizing_methods())
    run = load_run(smoke_run, device="cpu")
    for method in ("segmenter", "contrast_randomisation"):
        run.config = run.config.replace(**{"train.method": method})
        with pytest.raises(RunError, match=f"{method}.*unchanged"):
            normalize_scan(run, scan)


@pytest.fixture(scope="module")
def volume_method_runs(smoke_root, smoke_config, smoke_runs_dir):
    """Finished smoke runs of two volume-transform methods: the brain z-score and Nyúl (with its fit)."""
    from deepnorm.training.loop import train
    from deepnorm.training.runs import load_run

    return {method: load_run(train(smoke_config.replace(**{"train.method": method}), data_root=smoke_root,
                                   runs_dir=smoke_runs_dir, progress=False), device="cpu")
            for method in ("standardization_brain", "nyul")}


def _normalized_brain(run, scan, brain, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    from deepnorm.evaluation.apply import normalize_scan

    mask_path = save_volume(brain, tmp_path / "brain.nii.gz")
    (out,) = normalize_scan(run, scan, mask=mask_path)
    source = load_volume(scan)
    assert out.shape == source.shape and np.isfinite(out.data).all()
    np.testing.assert_allclose(out.affine, source.affine, atol=1e-5)
    inside = np.asarray(brain.data) > 0
    assert not out.data[~inside].any()  # 0 outside the brain
    return out.data[inside].astype(np.float64), source.data[inside].astype(np.float64)


def test_normalize_with_a_brain_zscore_run_gives_mean_0_sd_1_in_the_brain(volume_method_runs, scan, brain, tmp_path):
    """standardization_brain's law on the user's scan: the brain has mean 0 and sd 1 on the run's grid.
    Back on the scan's finer grid, linear interpolation smooths, so the sd may only fall a little
    below 1 (0.91 measured on this scan), never rise above it."""
    values, _ = _normalized_brain(volume_method_runs["standardization_brain"], scan, brain, tmp_path)
    assert abs(values.mean()) < 0.1
    assert 0.8 < values.std() < 1.02


def test_normalize_with_a_nyul_run_puts_the_brain_on_the_fitted_standard_scale(volume_method_runs, scan, brain,
                                                                              tmp_path):
    """Nyúl's law on the user's scan: its brain percentiles land on the standard scale of the run's fit.json
    (up to the resampling), and the map is monotone in the input."""
    import json

    from scipy.stats import spearmanr

    run = volume_method_runs["nyul"]
    state = json.loads((run.folder / "fit.json").read_text(encoding="utf-8"))["state"]
    values, inputs = _normalized_brain(run, scan, brain, tmp_path)
    scale = np.asarray(state["channels"]["t1"])
    landmarks = np.percentile(values, state["percentiles"])
    np.testing.assert_allclose(landmarks[1:-1], scale[1:-1], atol=0.06 * (scale[-1] - scale[0]))
    assert spearmanr(values, inputs).statistic > 0.9


@pytest.mark.parametrize("codes, ext", [("LIA", ".mgz"), ("PSR", ".nii.gz")])
def test_a_reoriented_scan_gives_the_same_outputs_once_reoriented(smoke_run, scan, brain, tmp_path, codes, ext):
    """The scan (and its mask) stored in another voxel order, FreeSurfer's LIA or PSR, is processed
    like the original, and its outputs come back in its own order, shape and affine."""
    from deepnorm.data.io import CANONICAL, orientation, reorient

    source = load_volume(scan, canonical=False)
    assert orientation(source.affine) == CANONICAL
    inputs = {"ras": (scan, save_volume(brain, tmp_path / "brain.nii.gz")),
              codes: (save_volume(reorient(source, codes), tmp_path / f"T1_{codes}{ext}"),
                      save_volume(reorient(brain, codes), tmp_path / f"brain_{codes}{ext}"))}
    as_stored = load_volume(inputs[codes][0], canonical=False)
    assert orientation(as_stored.affine) == tuple(codes) and as_stored.shape != source.shape
    outputs = {}
    for name, (path, mask) in inputs.items():
        for command in ("normalize", "segment"):
            out = tmp_path / f"{command}_{name}.nii.gz"
            assert main([command, "--device", "cpu", "--run", str(smoke_run), str(path), str(out),
                         "--mask", str(mask)]) == 0
            outputs[name, command] = load_volume(out, canonical=False)
    for command in ("normalize", "segment"):
        written = outputs[codes, command]
        assert written.shape == as_stored.shape and written.spacing == as_stored.spacing
        np.testing.assert_allclose(written.affine, as_stored.affine, rtol=0, atol=1e-5)
        back, reference = reorient(written, CANONICAL), outputs["ras", command]
        assert back.shape == reference.shape
        np.testing.assert_allclose(back.affine, reference.affine, rtol=0, atol=1e-5)
        assert not reference.data[brain.data == 0].any() and reference.data[brain.data > 0].any()
        if command == "segment":
            assert back.data.dtype == np.uint8
            np.testing.assert_array_equal(back.data, reference.data)
        else:
            np.testing.assert_allclose(back.data, reference.data, rtol=0, atol=1e-6)


def test_a_mask_storing_the_t1_grid_in_another_voxel_order_is_accepted(smoke_run, scan, brain, tmp_path):
    from deepnorm.data.io import reorient
    from deepnorm.evaluation.apply import _inputs
    from deepnorm.training.runs import load_run

    mask = save_volume(reorient(brain, "LIA"), tmp_path / "brainmask.mgz")
    _, volumes, mask_volume, as_stored = _inputs(load_run(smoke_run, device="cpu"), scan, None, mask)
    np.testing.assert_array_equal(mask_volume.data, brain.data)
    np.testing.assert_allclose(mask_volume.affine, volumes[0].affine, rtol=0, atol=1e-5)
    assert as_stored.shape == load_volume(scan, canonical=False).shape
