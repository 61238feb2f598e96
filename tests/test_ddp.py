"""Two processes (torchrun, gloo on CPU) follow the 1-process loss trajectory.

Each rank takes ``batch[rank::2]`` of the same global batch and DDP averages the gradients.
The two runs are not bitwise equal, for two documented reasons: BatchNorm normalizes each
rank's half batch with its own statistics (no SyncBatchNorm on CPU), and Eq. 1's Dice is a
ratio of sums over the batch, so the mean of two half-batch Dice losses is not the full-batch
Dice. Tolerance: 0.03 on every epoch's mean training loss (the Dice loss lies in [0, 1]) and
0.01 on the validation loss of the fixed validation patches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deepnorm.training.loop import read_history

TRAIN_TOL, VAL_TOL = 0.03, 0.01


def _run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `command` in its own process group; on timeout the whole group (all ranks) is killed."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _train_args(root: Path, runs: Path) -> list[str]:
    return ["train", "--method", "preprocessor", "--profile", "smoke", "--epochs", "3",
            "--data-root", str(root), "--runs-dir", str(runs)]


@pytest.mark.timeout(300)
def test_two_processes_match_one(smoke_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = _run([sys.executable, "-m", "deepnorm.cli", *_train_args(smoke_root, tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "deepnorm.cli", *_train_args(smoke_root, tmp_path / "two")], env)
    assert two.returncode == 0, two.stderr[-3000:]
    folder_one = Path(one.stdout.strip().splitlines()[-1])
    folder_two = Path(two.stdout.strip().splitlines()[-1])
    assert folder_one.name == folder_two.name  # same configuration, same run name
    history_one = read_history(folder_one / "history.csv")
    history_two = read_history(folder_two / "history.csv")
    assert len(history_one) == len(history_two) == 3
    for a, b in zip(history_one, history_two):
        assert abs(a["loss"] - b["loss"]) <= TRAIN_TOL, (a["epoch"], a["loss"], b["loss"])
        assert abs(a["val_seg_loss"] - b["val_seg_loss"]) <= VAL_TOL, (a["epoch"], a["val_seg_loss"], b["val_seg_loss"])
    # only rank 0 wrote: one history row per epoch, one final checkpoint
    assert (folder_two / "DONE").is_file() and sorted(p.name for p in folder_two.parent.iterdir()) == [".cache", folder_two.name]
