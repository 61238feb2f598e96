"""Nothing a user made is ever destroyed: one minimal reproducer per way deepnorm could lose data.

Each test states a law on a hand-made case: ``--force`` replaces only what deepnorm wrote (an
evaluation folder with its marker or its files, a run's training files, a phantom's listed
files), never one of the command's inputs; headers are checked before memory is spent; a scan
with negative voxels is refused without a mask; a run folder protects itself (an edited
config.yaml, a run.json that is not an object, a lost checkpoint); seeds and subject ids are
checked where they enter. Every refusal is one ``deepnorm: error:`` line naming the path, exit 2.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scans import central_eighth

from deepnorm.cli import main
from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.volume import Volume
from deepnorm.errors import DataError, RunError


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def scan(smoke_root, tmp_path_factory) -> Path:
    """The central eighth of a smoke MRBrainS T1 (its place in space kept): quick to process."""
    return central_eighth(smoke_root, tmp_path_factory.mktemp("scan") / "T1.nii.gz")


@pytest.fixture
def run_copy(smoke_run, smoke_runs_dir, tmp_path) -> Path:
    """A private copy of the finished smoke run (same hash, with the data cache) in tmp/runs."""
    runs = tmp_path / "runs"
    shutil.copytree(smoke_runs_dir / ".cache", runs / ".cache")
    shutil.copytree(smoke_run, runs / smoke_run.name, ignore=shutil.ignore_patterns("eval"))
    return runs / smoke_run.name


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes: what must not change."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(err: str, *names: object) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("deepnorm: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


def _fake_evaluate(calls: list[dict]):
    """evaluate_run with its networks left out: its real checks, marker and atomic move around the
    two tables an evaluation writes; `calls` gets the arguments of each evaluation that finished."""
    from unittest import mock

    from deepnorm.evaluation import evaluate as ev

    real = ev.evaluate_run

    def tables(run, root, sites, out, **kwargs):
        for name in ("subjects", "summary"):
            (out / f"{name}.csv").write_text("site,n,dice_mean,dice_mean_std,mhd_mean\nall,1,0.5,0.0,1.0\n")

    def fake(folder, **kwargs):
        with mock.patch.object(ev, "_evaluate_into", tables):
            out = real(folder, **kwargs)
        calls.append({"folder": folder, **kwargs})
        return out
    return fake


# --------------------------------------------------------------------------- 1. evaluate --out --force
def test_evaluate_force_never_deletes_a_runs_folder_a_run_or_a_users_folder(run_copy, tmp_path, capsys):
    runs = run_copy.parent
    theirs = tmp_path / "myresults"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("\\chapter{Results}")
    before = {p: _tree(p) for p in (runs, theirs)}
    for out in (runs, run_copy, theirs):
        code = main(["evaluate", str(run_copy), "--out", str(out), "--force", "--no-images", "--device", "cpu"])
        assert code == 2
        _one_error_line(capsys.readouterr().err, out)
    assert {p: _tree(p) for p in (runs, theirs)} == before


def test_evaluate_force_replaces_an_evaluation_deepnorm_wrote_and_marks_it(run_copy, tmp_path, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr("deepnorm.cli.evaluate.evaluate_run", _fake_evaluate(calls))
    old = tmp_path / "old-eval"  # written before the marker existed: recognised by its files
    old.mkdir()
    for name in ("subjects.csv", "summary.csv", "bias.csv"):
        (old / name).write_text("site\nall\n")
    assert main(["evaluate", str(run_copy), "--out", str(old), "--force", "--device", "cpu"]) == 0
    marker = json.loads((old / "EVALUATION.json").read_text())
    assert marker["generator"] == "deepnorm evaluate" and marker["sites"] == ["iseg", "mrbrains"]
    (old / "notes.md").write_text("mine")  # now it holds a user's file: no longer replaceable
    assert main(["evaluate", str(run_copy), "--out", str(old), "--force", "--device", "cpu"]) == 2
    _one_error_line(capsys.readouterr().err, old)
    assert (old / "notes.md").read_text() == "mine" and len(calls) == 1


# --------------------------------------------------------------------------- 2. output is an input
def test_single_file_force_never_overwrites_an_input(smoke_run, scan, tmp_path, capsys):
    victim = tmp_path / "v.nii.gz"
    shutil.copy(scan, victim)
    (tmp_path / "out").mkdir()
    moved = tmp_path / "out" / "v.nii.gz"
    shutil.copy(scan, moved)
    link = tmp_path / "link.nii.gz"
    os.symlink(victim, link)
    t2 = tmp_path / "o_t2.nii.gz"
    shutil.copy(scan, t2)
    before = {p: p.read_bytes() for p in (victim, moved, t2)}
    cases = [
        ["normalize", "--run", str(smoke_run), str(victim), str(victim)],
        ["segment", "--run", str(smoke_run), str(moved), str(tmp_path / "out" / ".." / "out" / "." / "v.nii.gz")],
        ["segment", "--run", str(smoke_run), str(victim), str(link)],  # a link to the input
        ["normalize", "--run", str(smoke_run), str(victim), str(tmp_path / "o.nii.gz"), "--t2", str(t2)],
    ]
    for argv in cases:
        assert main([*argv, "--force", "--device", "cpu"]) == 2, argv
        assert "is the input" in _one_error_line(capsys.readouterr().err)
    assert {p: p.read_bytes() for p in before} == before and not (tmp_path / "o.nii.gz").exists()


# --------------------------------------------------------------------------- 3. header sizes
def _claiming(path: Path, shape: tuple[int, ...], compress: bool) -> Path:
    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)).header.copy()
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    raw = header.binaryblock + b"\0" * 4 + b"\0" * 64  # the header, its extension flag, 16 voxels
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("name", ["claims.nii.gz", "claims.nii"])
def test_a_header_claiming_more_than_its_file_is_refused_before_allocating(tmp_path, name):
    path = _claiming(tmp_path / name, (200, 200, 200), compress=name.endswith(".gz"))  # 32 MB claimed
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DataError, match="header claims 200 x 200 x 200 voxels of float32") as err:
            load_volume(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(err.value)
    assert peak < 4 * 2**20 and time.perf_counter() - start < 2.0  # never the 32 MB it claims


def test_a_huge_claim_is_one_line_not_a_memory_error(smoke_run, tmp_path, capsys):
    path = _claiming(tmp_path / "huge.nii.gz", (30000, 30000, 30000), compress=True)
    assert main(["normalize", "--device", "cpu", "--run", str(smoke_run), str(path), str(tmp_path / "o.nii.gz")]) == 2
    assert "header claims" in _one_error_line(capsys.readouterr().err, path)


def test_an_image_that_holds_its_claim_still_loads(tmp_path):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    for name in ("ok.nii", "ok.nii.gz", "ok.mgz", "ok.hdr"):
        save_volume(Volume.from_array(data), tmp_path / name)
        assert np.array_equal(load_volume(tmp_path / name, canonical=False).data, data)


# --------------------------------------------------------------------------- 4. phantom --root
@pytest.fixture
def phantom_copy(smoke_root, tmp_path) -> Path:
    root = tmp_path / "phantom"
    shutil.copytree(smoke_root, root)
    return root


def test_phantom_with_a_users_file_is_never_replaced(phantom_copy, capsys):
    (phantom_copy / "mynotes.txt").write_text("keep me")
    before = _tree(phantom_copy)
    assert main(["data", "phantom", "--profile", "smoke", "--root", str(phantom_copy), "--seed", "1"]) == 2
    assert "mynotes.txt" in _one_error_line(capsys.readouterr().err, phantom_copy)
    assert _tree(phantom_copy) == before


def test_a_phantom_lists_its_files_and_an_old_one_is_recognised_by_its_layout(phantom_copy):
    from deepnorm.data.phantom.build import foreign_files

    meta = json.loads((phantom_copy / "PHANTOM.json").read_text())
    assert foreign_files(phantom_copy, meta) == []
    assert len(meta["files"]) == sum(1 for p in phantom_copy.rglob("*") if p.is_file()) - 1
    subject = phantom_copy / "MRBrainS13" / "TrainingData" / "1"
    shutil.copytree(subject, subject.with_name("99"))  # a subject the user added
    assert foreign_files(phantom_copy, meta) == [f"MRBrainS13/TrainingData/99/{p.name}" for p in sorted(subject.iterdir())]
    del meta["files"]  # a phantom built before the list: its counts say a subject was added
    assert foreign_files(phantom_copy, meta) == [f"mrbrains: {meta['sites']['mrbrains'] + 1} subjects where the "
                                                 f"phantom wrote {meta['sites']['mrbrains']}"]


# --------------------------------------------------------------------------- 5. negative voxels
def test_negative_voxels_are_refused_without_a_mask_and_kept_with_one(smoke_run, scan, tmp_path, capsys):
    source = load_volume(scan, canonical=False)
    data = source.data.astype(np.float32)
    brain = data > 0
    shifted = np.where(brain, data - 0.5 * float(data[brain].max()), 0.0).astype(np.float32)
    assert (shifted < 0).sum() > 0.1 * brain.sum()  # a real share of the brain is negative
    path, mask = tmp_path / "offset.nii.gz", tmp_path / "mask.nii.gz"
    save_volume(Volume(shifted, source.spacing, source.affine), path)
    save_volume(Volume(brain.astype(np.uint8), source.spacing, source.affine), mask)
    out = tmp_path / "labels.nii.gz"
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(path), str(out)]) == 2
    assert "--mask" in _one_error_line(capsys.readouterr().err, path) and not out.exists()
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(path), str(out), "--mask", str(mask)]) == 0
    assert (load_volume(out, canonical=False).data[brain] > 0).mean() > 0.5  # the brain is kept


# --------------------------------------------------------------------------- 6. train --force
def test_starting_a_run_over_deletes_only_its_training_files(run_copy):
    from deepnorm.training.runs import clear_run

    (run_copy / "notes.txt").write_text("mine")
    (run_copy / "eval" / "test").mkdir(parents=True)
    for name in ("summary.csv", "subjects.csv", "EVALUATION.json"):
        (run_copy / "eval" / "test" / name).write_text('{"generator": "deepnorm evaluate"}')
    (run_copy / "eval" / "figures").mkdir()
    (run_copy / "eval" / "figures" / "plot.png").write_bytes(b"png")
    removed = {str(p.relative_to(run_copy)) for p in clear_run(run_copy)}
    assert {"config.yaml", "run.json", "splits.json", "history.csv", "checkpoint.pt", "final.pt", "DONE",
            "eval/test"} <= removed
    left = {str(p.relative_to(run_copy)) for p in run_copy.rglob("*") if p.is_file()}
    assert left - {".lock"} == {"notes.txt", "eval/figures/plot.png"}  # the lock is the trainer's


def test_train_force_says_what_it_deletes(run_copy, smoke_root, monkeypatch, capsys):
    monkeypatch.setattr("deepnorm.cli.train.train", lambda config, **kwargs: run_copy)
    (run_copy / "notes.txt").write_text("mine")
    assert main(["train", "--method", "adversarial", "--profile", "smoke", "--data-root", str(smoke_root),
                 "--runs-dir", str(run_copy.parent), "--force"]) == 0
    line = next(x for x in capsys.readouterr().err.splitlines() if "--force starts" in x)
    assert str(run_copy) in line and "final.pt" in line and "checkpoint.pt" in line and "keeping notes.txt" in line


# --------------------------------------------------------------------------- 7. cross-site evaluation
def test_other_sites_are_evaluated_into_their_own_folder(run_copy, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr("deepnorm.cli.evaluate.evaluate_run", _fake_evaluate(calls))
    assert main(["evaluate", str(run_copy), "--sites", "abide", "--device", "cpu"]) == 0
    assert Path(calls[-1]["out"]) == run_copy / "eval" / "test-abide"
    assert not (run_copy / "eval" / "test").exists()
    assert main(["evaluate", str(run_copy), "--sites", "mrbrains,iseg", "--device", "cpu"]) == 0  # its own sites
    assert Path(calls[-1]["out"]) == run_copy / "eval" / "test"


# --------------------------------------------------------------------------- 8. tracebacks
def test_a_run_json_that_is_not_an_object_is_one_unreadable_row(run_copy, smoke_run, capsys):
    other = run_copy.parent / "0123456789ab"
    shutil.copytree(run_copy, other)
    (other / "run.json").write_text("[1, 2]")
    assert main(["runs", "list", "--runs-dir", str(run_copy.parent)]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "unreadable" in rows["0123456789ab"] and "adversarial" in rows[run_copy.name]


@pytest.mark.parametrize("seed", ["9223372036854775808", "-1"])
def test_a_seed_out_of_range_is_refused_before_any_folder_is_made(seed, smoke_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--method", "segmenter", "--profile", "smoke", "--data-root", str(smoke_root),
                 "--runs-dir", str(runs), f"--seed={seed}"]) == 2
    _one_error_line(capsys.readouterr().err, "--seed")
    assert not runs.exists() or not any(runs.iterdir())


# --------------------------------------------------------------------------- 9. edits noticed
def test_an_edited_config_is_refused_naming_the_field(run_copy, scan, tmp_path, capsys):
    from deepnorm.training.config import Config

    config = Config.from_yaml(run_copy / "config.yaml")
    config.replace(**{"data.spacing": 2.0}).to_yaml(run_copy / "config.yaml")
    out = tmp_path / "labels.nii.gz"
    assert main(["segment", "--device", "cpu", "--run", str(run_copy), str(scan), str(out)]) == 2
    line = _one_error_line(capsys.readouterr().err, run_copy / "config.yaml")
    assert "data.spacing 4.0 -> 2.0" in line and not out.exists()
    info = json.loads((run_copy / "run.json").read_text())
    del info["config"]  # a run.json written before it recorded the configuration: the key says it
    (run_copy / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match=f"no longer gives the run key {run_copy.name}"):
        from deepnorm.training.runs import load_run

        load_run(run_copy, device="cpu")


def test_resume_without_its_checkpoint_is_refused(run_copy, smoke_root, capsys):
    (run_copy / "DONE").unlink()
    (run_copy / "final.pt").unlink()
    (run_copy / "checkpoint.pt").unlink()
    before = _tree(run_copy)
    assert main(["train", "--method", "adversarial", "--profile", "smoke", "--data-root", str(smoke_root),
                 "--runs-dir", str(run_copy.parent), "--resume"]) == 2
    assert "checkpoint.pt" in _one_error_line(capsys.readouterr().err, run_copy)
    assert _tree(run_copy) == before


# --------------------------------------------------------------------------- 10. smaller ones
def test_subject_ids_are_checked_before_they_reach_the_cache(smoke_root, smoke_config, tmp_path):
    from deepnorm.data.prepared import cache_dir, prepare_site, save_prepared

    runs = tmp_path / "runs"
    real = prepare_site(smoke_root, smoke_config.data, "iseg", runs_dir=runs, subject_ids=["1"])["1"]
    outside = cache_dir(smoke_root, smoke_config.data, runs).parent / "evil.npz"  # outside the site's cache
    save_prepared(real, outside)
    with pytest.raises(DataError, match="'../../evil'"):
        prepare_site(smoke_root, smoke_config.data, "iseg", runs_dir=runs, subject_ids=["../../evil"])


def test_evaluate_removes_leftovers_and_refuses_a_repeated_site_first(run_copy, monkeypatch, capsys):
    calls: list[dict] = []
    monkeypatch.setattr("deepnorm.cli.evaluate.evaluate_run", _fake_evaluate(calls))
    assert main(["evaluate", str(run_copy), "--sites", "iseg,iseg", "--device", "cpu"]) == 2
    _one_error_line(capsys.readouterr().err, "iseg")
    assert calls == []
    stale = run_copy / "eval" / ".test.partial-k1ll3d"
    stale.mkdir(parents=True)
    (stale / "subjects.csv").write_text("half")
    assert main(["evaluate", str(run_copy), "--device", "cpu"]) == 0
    assert not stale.exists() and (run_copy / "eval" / "test" / "EVALUATION.json").is_file()


def test_folder_mode_upper_case_scans_and_files_it_did_not_write(smoke_run, scan, tmp_path, capsys):
    from deepnorm.cli.apply import scans_in

    scans, out = tmp_path / "scans", tmp_path / "out"
    scans.mkdir()
    out.mkdir()
    shutil.copy(scan, scans / "A.NII.GZ")
    shutil.copy(scan, scans / "b.nii.gz")
    assert [p.name for p in scans_in(scans)] == ["A.NII.GZ", "b.nii.gz"]
    (out / "b.nii.gz").write_bytes(b"7 bytes")  # not deepnorm's: neither done nor replaced
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), "-i", str(scans), "-o", str(out),
                 "--force"]) == 1
    err = capsys.readouterr().err
    assert any(str(out / "b.nii.gz") in line for line in err.splitlines() if line.startswith("deepnorm: failed:"))
    assert (out / "b.nii.gz").read_bytes() == b"7 bytes" and load_volume(out / "A.NII.GZ").shape


def test_a_folder_input_with_an_image_named_output_is_refused(smoke_run, scan, tmp_path, capsys):
    scans = tmp_path / "scans"
    scans.mkdir()
    shutil.copy(scan, scans / "a.nii.gz")
    out = tmp_path / "x.nii.gz"
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(scans), str(out)]) == 2
    _one_error_line(capsys.readouterr().err, out)
    assert not out.exists()


def test_an_empty_mask_is_named_not_the_t1(smoke_run, scan, tmp_path, capsys):
    source = load_volume(scan, canonical=False)
    mask = tmp_path / "empty-mask.nii.gz"
    save_volume(Volume(np.zeros(source.shape, np.uint8), source.spacing, source.affine), mask)
    assert main(["segment", "--device", "cpu", "--run", str(smoke_run), str(scan), str(tmp_path / "o.nii.gz"),
                 "--mask", str(mask)]) == 2
    assert str(scan) not in _one_error_line(capsys.readouterr().err, mask)


def test_messages_name_the_file_they_are_about(run_copy, scan, tmp_path, capsys):
    not_a_run = tmp_path / "run.txt"
    not_a_run.write_text("a file")
    out = str(tmp_path / "o.nii.gz")
    assert main(["segment", "--device", "cpu", "--run", str(not_a_run), str(scan), out]) == 2
    assert "is a file, not a run folder" in _one_error_line(capsys.readouterr().err, not_a_run)
    (run_copy / "config.yaml").write_text("train: [not, a, mapping]\n")
    assert main(["segment", "--device", "cpu", "--run", str(run_copy), str(scan), out]) == 2
    _one_error_line(capsys.readouterr().err, run_copy / "config.yaml")


def test_a_raw_pickle_checkpoint_is_one_line_without_torchs_warning(tmp_path):
    import pickle
    import warnings

    from deepnorm.training.checkpoint import load_checkpoint

    path = tmp_path / "final.pt"
    path.write_bytes(pickle.dumps({"nets": object()}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning leaking out fails the test
        with pytest.raises(RunError, match=str(path)):
            load_checkpoint(path)
