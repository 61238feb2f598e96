"""A training killed with SIGKILL mid-run and resumed ends with the weights of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deepnorm.training.checkpoint import load_checkpoint
from deepnorm.training.config import profile
from deepnorm.training.loop import read_history

EPOCHS = 30


def _command(root: Path, runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deepnorm.cli", "train", "--method", "adversarial", "--profile", "smoke",
            "--epochs", str(EPOCHS), "--data-root", str(root), "--runs-dir", str(runs), *extra]


def _env() -> dict[str, str]:
    # the same thread count in every process: CPU kernels then give bitwise equal results
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_sigkill_then_resume_gives_the_uninterrupted_weights(smoke_root, tmp_path):
    folder_name = profile("smoke", **{"train.epochs": EPOCHS}).stable_hash()
    killed_runs, clean_runs = tmp_path / "killed", tmp_path / "clean"
    folder = killed_runs / folder_name

    proc = subprocess.Popen(_command(smoke_root, killed_runs), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (folder / "DONE").exists(), "the run finished before it was killed: raise EPOCHS"
    done_epochs = load_checkpoint(folder / "checkpoint.pt")["epoch"]
    assert 1 <= done_epochs < EPOCHS

    resumed = subprocess.run(_command(smoke_root, killed_runs, "--resume"), env=_env(), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert Path(resumed.stdout.strip().splitlines()[-1]) == folder
    clean = subprocess.run(_command(smoke_root, clean_runs), env=_env(), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr

    a = load_checkpoint(folder / "final.pt")["nets"]
    b = load_checkpoint(clean_runs / folder_name / "final.pt")["nets"]
    assert set(a) == set(b) == {"generator", "segmenter", "discriminator"}
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs after resume"
    history_a = read_history(folder / "history.csv")
    history_b = read_history(clean_runs / folder_name / "history.csv")
    assert len(history_a) == len(history_b) == EPOCHS
    for row_a, row_b in zip(history_a, history_b):
        for key in row_a:
            if key != "seconds":
                assert row_a[key] == pytest.approx(row_b[key], nan_ok=True, rel=0, abs=0), key
