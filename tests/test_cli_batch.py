"""Folder in, folder out (normalize/segment), ``deepnorm runs list``, ``train --name`` and the options passed through."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from scans import central_eighth

from deepnorm.cli import main
from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.volume import Volume


@pytest.fixture(scope="module")
def scan(smoke_root, tmp_path_factory) -> Path:
    """The central eighth of a smoke MRBrainS T1 (its place in space kept): a real scan, quick to process."""
    return central_eighth(smoke_root, tmp_path_factory.mktemp("scan") / "T1.nii")


@pytest.fixture()
def load_count(monkeypatch) -> list[Path]:
    """The runs loaded during a test (load_run wrapped to count its calls)."""
    from deepnorm.training import runs

    calls: list[Path] = []
    real = runs.load_run

    def counting(folder, **kwargs):
        calls.append(Path(folder))
        return real(folder, **kwargs)

    monkeypatch.setattr(runs, "load_run", counting)
    return calls


def test_folder_mode_skips_done_scans_and_reports_a_bad_one(smoke_run, scan, tmp_path, load_count, capsys):
    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    out.mkdir()
    shutil.copy(scan, scans / "a.nii")
    save_volume(load_volume(scan), scans / "b.nii.gz")
    save_volume(Volume.from_array(np.full((12, 12, 12), 3.0, dtype=np.float32)), scans / "c.nii.gz")
    (scans / "notes.txt").write_text("not a scan")
    shutil.copy(scan, out / "a.nii")  # a readable image at the output name: done before
    done_before = (out / "a.nii").read_bytes()

    code = main(["segment", "--device", "cpu", "--run", str(smoke_run), "-i", str(scans), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    assert (out / "a.nii").read_bytes() == done_before  # skipped, untouched
    labels, source = load_volume(out / "b.nii.gz"), load_volume(scan)
    assert labels.shape == source.shape and set(np.unique(labels.data)) <= {0, 1, 2, 3}
    assert not (out / "c.nii.gz").exists() and not (out / "notes.txt").exists()
    failures = [line for line in captured.err.splitlines() if line.startswith("deepnorm: failed:")]
    assert len(failures) == 1 and str(scans / "c.nii.gz") in failures[0]
    assert captured.err.strip().splitlines()[-1].startswith("deepnorm: segmented 1, skipped 1 (done), failed 1 of 3")
    assert captured.out.split() == [str(out / "b.nii.gz")]
    assert len(load_count) == 1  # the run is loaded once for the folder

    (scans / "c.nii.gz").unlink()
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(scans), str(out)]) == 0
    assert "skipped 2 (done), failed 0 of 2" in capsys.readouterr().err
    assert len(load_count) == 1  # nothing to do: the run is not even loaded


def test_folder_mode_normalizes_every_scan(smoke_run, scan, tmp_path, capsys):
    scans, out = tmp_path / "scans", tmp_path / "new" / "out"
    scans.mkdir()
    shutil.copy(scan, scans / "one.nii")
    save_volume(load_volume(scan), scans / "two.mgz")
    assert main(["normalize", "--device", "cpu", "--run", str(smoke_run), "-i", str(scans), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.nii", "two.mgz"]
    one, two = load_volume(out / "one.nii"), load_volume(out / "two.mgz")
    np.testing.assert_allclose(one.data, two.data, atol=1e-5)  # one scan, two formats: one result
    assert 0.0 <= one.data.min() and one.data.max() <= 1.0 + 1e-6


def _summary(folder: Path, dice_all: float) -> None:
    (folder / "eval" / "test").mkdir(parents=True)
    with (folder / "eval" / "test" / "summary.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["site", "n", "dice_mean", "dice_mean_std"])
        writer.writerow(["iseg", 1, 0.5, 0.0])
        writer.writerow(["all", 2, dice_all, 0.1])


def test_runs_list_shows_one_row_per_run(smoke_run, tmp_path, capsys):
    from deepnorm.training.config import Config

    runs = tmp_path / "runs"
    evaluated = runs / smoke_run.name
    shutil.copytree(smoke_run, evaluated, ignore=shutil.ignore_patterns("eval"))
    _summary(evaluated, 0.6789)
    other = runs / "0123456789ab"
    other.mkdir()
    Config.from_yaml(smoke_run / "config.yaml").replace(**{"train.method": "segmenter", "train.seed": 7}).to_yaml(
        other / "config.yaml")
    os.symlink(evaluated.name, runs / "baseline")

    assert main(["runs", "list", "--runs-dir", str(runs)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "hash", "method"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {smoke_run.name, "0123456789ab"}
    assert rows[smoke_run.name][0] == "baseline"
    assert rows[smoke_run.name][2:6] == ["adversarial", "iseg+mrbrains", "smoke", "0"]
    assert rows[smoke_run.name][-1] == "0.679"
    assert rows["0123456789ab"][2] == "segmenter" and rows["0123456789ab"][5] == "7"
    assert "unfinished" in rows["0123456789ab"] and rows["0123456789ab"][-1] == "—"


def test_runs_list_of_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    assert main(["runs", "list", "--runs-dir", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "runs") in err


def test_train_name_makes_an_alias_and_refuses_to_repoint_it(tmp_path, monkeypatch, capsys):
    calls: list[dict] = []

    def fake_train(config, **kwargs):
        calls.append(kwargs)
        folder = Path(kwargs["runs_dir"]) / config.stable_hash()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    monkeypatch.setattr("deepnorm.cli.train.train", fake_train)
    runs = tmp_path / "runs"
    base = ["train", "--profile", "smoke", "--runs-dir", str(runs), "--name", "mine"]
    assert main([*base, "--method", "segmenter"]) == 0
    first = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (runs / "mine").is_symlink() and (runs / "mine").resolve() == first.resolve()
    assert calls[-1]["force"] is False and calls[-1]["resume"] is False

    assert main([*base, "--method", "preprocessor"]) == 2  # the alias names another run: refused
    assert "remove the alias" in capsys.readouterr().err
    assert (runs / "mine").resolve() == first.resolve()
    (first / "config.yaml").write_text("a run folder, not an alias")
    assert main(["train", "--profile", "smoke", "--runs-dir", str(runs), "--name", first.name,
                 "--method", "preprocessor"]) == 2  # a run folder is never replaced by an alias
    assert "not a run hash" in capsys.readouterr().err and len(calls) == 2

    assert main([*base, "--method", "preprocessor", "--force"]) == 0
    second = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert second != first and (runs / "mine").resolve() == second.resolve()
    assert calls[-1]["force"] is True


def test_evaluate_passes_device_and_force_and_no_seed(smoke_run, tmp_path, monkeypatch, capsys):
    seen: dict = {}

    def fake_evaluate(folder, **kwargs):
        seen.update(kwargs)
        out = Path(kwargs["out"])
        out.mkdir(parents=True)
        return out

    monkeypatch.setattr("deepnorm.cli.evaluate.evaluate_run", fake_evaluate)
    out = tmp_path / "eval"
    assert main(["evaluate", str(smoke_run), "--out", str(out), "--device", "cpu", "--force"]) == 0
    assert seen["device"] == "cpu" and seen["force"] is True and "seed" not in seen
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    with pytest.raises(SystemExit):
        main(["evaluate", str(smoke_run), "--seed", "1"])
