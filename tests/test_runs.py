"""Run folders: context in run.json, refusal to wipe or share a run, clear messages for bad files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deepnorm.data.prepared import site_splits
from deepnorm.devices import resolve_device
from deepnorm.errors import RunError
from deepnorm.training.checkpoint import load_checkpoint, save_checkpoint
from deepnorm.training.loop import train
from deepnorm.training.runs import load_run, read_history


@pytest.fixture
def runs_copy(smoke_run, smoke_runs_dir, tmp_path) -> Path:
    """A private copy of the session's finished smoke run (and its data cache) in a new runs folder."""
    runs = tmp_path / "runs"
    shutil.copytree(smoke_runs_dir / ".cache", runs / ".cache")
    shutil.copytree(smoke_run, runs / smoke_run.name)
    return runs / smoke_run.name


def _unfinish(folder: Path) -> None:
    (folder / "DONE").unlink()
    (folder / "final.pt").unlink()


def test_run_json_carries_the_context(smoke_run, smoke_root, smoke_config):
    info = json.loads((smoke_run / "run.json").read_text())
    assert info["profile"] == "smoke" and info["seed"] == 0
    assert Path(info["data_root"]) == smoke_root.resolve()
    paths = [e["path"] for e in info["manifest"]["files"]]
    assert paths and all(p.split("/")[0] in ("iSEG-2017", "MRBrainS13") for p in paths)
    run = load_run(smoke_run)
    assert run.data_root == smoke_root.resolve() and run.seed == 0 and run.profile == "smoke"
    assert run.name == smoke_run.name
    assert run.device == resolve_device("auto")


def test_run_splits_are_the_seeded_splits_and_disjoint(smoke_run, smoke_root, smoke_config):
    run = load_run(smoke_run)
    assert set(run.splits) == set(smoke_config.data.sites)
    for site, splits in run.splits.items():
        assert splits == site_splits(smoke_root, site, run.seed)  # independent recomputation
        ids = [s for name in ("train", "val", "test") for s in splits[name]]
        assert len(ids) == len(set(ids))
        assert run.split_ids(smoke_root, site, "test") == splits["test"]
    assert run.split_ids(smoke_root, "abide", "test") == site_splits(smoke_root, "abide", run.seed)["test"]


def test_unfinished_run_is_refused_without_resume_or_force(runs_copy, smoke_root, smoke_config):
    _unfinish(runs_copy)
    stamp = (runs_copy / "checkpoint.pt").stat().st_mtime_ns
    with pytest.raises(RunError, match=r"has 2 finished epochs: pass resume=True \(--resume\) .* force=True \(--force\)"):
        train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent, progress=False)
    assert (runs_copy / "checkpoint.pt").stat().st_mtime_ns == stamp  # nothing was wiped
    # resume finishes it from the checkpoint (all epochs done: no training step)
    assert train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent, resume=True) == runs_copy
    assert (runs_copy / "DONE").is_file()


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from deepnorm.training.runs import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_locked_run_is_refused_naming_the_pid(runs_copy, smoke_root, smoke_config):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(runs_copy)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=rf"{runs_copy}.*PID {holder.pid}"):
            train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent)
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its process
    deadline = time.monotonic() + 10
    while True:
        try:
            assert train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent) == runs_copy
            break
        except RunError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_changed_data_is_named(smoke_run, smoke_root, tmp_path):
    root = tmp_path / "data"
    for name in ("iSEG-2017", "MRBrainS13"):
        shutil.copytree(smoke_root / name, root / name)
    run = load_run(smoke_run)
    run.check_data(root)  # the same content elsewhere is the same data
    victim = min((root / "MRBrainS13").rglob("T1.nii"))
    victim.write_bytes(victim.read_bytes()[:-8])
    with pytest.raises(RunError, match=rf"changed since it was trained .*{victim.relative_to(root).as_posix()}: size changed"):
        run.check_data(root)
    from deepnorm.evaluation.evaluate import evaluate_run

    out = tmp_path / "eval"
    with pytest.raises(RunError, match="changed since it was trained"):
        evaluate_run(smoke_run, data_root=root, out=out, save_images=False)
    assert not out.exists()


def test_final_weights_of_another_configuration(runs_copy, smoke_config):
    from deepnorm.training.methods import method_for

    other = method_for(smoke_config.replace(**{"model.widths": (8, 16)})).build(0)
    save_checkpoint({"nets": {name: net.state_dict() for name, net in other.items()}}, runs_copy / "final.pt")
    with pytest.raises(RunError, match=r"final\.pt: the generator weights do not fit this configuration") as err:
        load_run(runs_copy)
    assert "Traceback" not in str(err.value)


def test_checkpoint_without_optimizer_state(runs_copy, smoke_root, smoke_config):
    _unfinish(runs_copy)
    state = load_checkpoint(runs_copy / "checkpoint.pt")
    del state["optimizers"]
    save_checkpoint(state, runs_copy / "checkpoint.pt")
    with pytest.raises(RunError, match=r"checkpoint\.pt has no optimizers .*--force"):
        train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent, resume=True)


def test_corrupt_history_and_checkpoint_name_the_file(runs_copy):
    (runs_copy / "history.csv").write_text("epoch,loss\n1,0.5,extra\n")
    with pytest.raises(RunError, match=r"history .*history\.csv is corrupt"):
        load_run(runs_copy)
    with pytest.raises(RunError, match="history.csv is corrupt"):
        read_history(runs_copy / "history.csv")
    (runs_copy / "final.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match=r"final\.pt cannot be read") as err:
        load_checkpoint(runs_copy / "final.pt")
    assert "weights_only" not in str(err.value)


def test_force_starts_over(runs_copy, smoke_run, smoke_root, smoke_config):
    _unfinish(runs_copy)
    (runs_copy / "notes.txt").write_text("a user's file")
    (runs_copy / ".fit.json.x1.tmp").write_text("a leftover of an atomic write")
    folder = train(smoke_config, data_root=smoke_root, runs_dir=runs_copy.parent, force=True, progress=False)
    assert folder == runs_copy and (folder / "DONE").is_file() and not (folder / ".fit.json.x1.tmp").exists()
    assert (folder / "notes.txt").read_text() == "a user's file"  # only what training wrote is replaced
    assert len(read_history(folder / "history.csv")) == smoke_config.train.epochs
    # trained again from scratch: the weights of the original run (same seed, same process)
    a, b = load_checkpoint(folder / "final.pt")["nets"], load_checkpoint(smoke_run / "final.pt")["nets"]
    assert all(torch.equal(a[n][k], b[n][k]) for n in b for k in b[n])
