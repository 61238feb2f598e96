"""deepnorm evaluate / normalize / segment on a trained smoke run: outputs in the input's space."""

from __future__ import annotations

import numpy as np
import pytest

from deepnorm.cli import main
from deepnorm.data.io import load_volume
from deepnorm.files import read_table


@pytest.fixture(scope="module")
def scan(smoke_root):
    return smoke_root / "MRBrainS13" / "TrainingData" / "1" / "T1.nii"


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
