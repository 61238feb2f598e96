"""A training killed (SIGKILL) or stopped (SIGTERM) mid-run and resumed ends with the weights of an uninterrupted one."""

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
from deepnorm.training.loop import read_history

EPOCHS = 30


def _command(root: Path, runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "deepnorm.cli", "train", "--method", "adversarial", "--profile", "smoke",
            "--epochs", str(EPOCHS), "--data-root", str(root), "--runs-dir", str(runs), *extra]


def _env() -> dict[str, str]:
    # the same thread count in every process: CPU kernels then give bitwise equal results
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def clean_run(smoke_root, tmp_path_factory) -> Path:
    """The uninterrupted run, trained once in a subprocess."""
    runs = tmp_path_factory.mktemp("clean")
    clean = subprocess.run(_command(smoke_root, runs), env=_env(), capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    return Path(clean.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_stop_then_resume_gives_the_uninterrupted_weights(smoke_root, tmp_path, clean_run, signum):
    killed_runs = tmp_path / "killed"
    folder = killed_runs / clean_run.name  # same configuration and data: same folder name

    proc = subprocess.Popen(_command(smoke_root, killed_runs), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint appeared within 120 s"
        time.sleep(0.005)
    os.kill(proc.pid, signum)
    _, stderr = proc.communicate(timeout=60)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # a clean exit that says how to resume
        assert proc.returncode == 130, stderr
        message = stderr.strip().splitlines()[-1]
        assert "SIGTERM" in message and "--resume" in message and str(folder) in message
        assert "Traceback" not in stderr
        assert not list(folder.glob(".*.tmp"))
    assert not (folder / "DONE").exists(), "the run finished before it was stopped: raise EPOCHS"
    done_epochs = load_checkpoint(folder / "checkpoint.pt")["epoch"]
    assert 1 <= done_epochs < EPOCHS
    assert len(read_history(folder / "history.csv")) == done_epochs

    resumed = subprocess.run(_command(smoke_root, killed_runs, "--resume"), env=_env(), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert Path(resumed.stdout.strip().splitlines()[-1]) == folder

    a = load_checkpoint(folder / "final.pt")["nets"]
    b = load_checkpoint(clean_run / "final.pt")["nets"]
    assert set(a) == set(b) == {"generator", "segmenter", "discriminator"}
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}.{key} differs after resume"
    history_a = read_history(folder / "history.csv")
    history_b = read_history(clean_run / "history.csv")
    assert len(history_a) == len(history_b) == EPOCHS
    for row_a, row_b in zip(history_a, history_b):
        for key in row_a:
            if key != "seconds":
                assert row_a[key] == pytest.approx(row_b[key], nan_ok=True, rel=0, abs=0), key
