"""The run folder's layout (deepnorm.training.folder): torch-free, and the names training really writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deepnorm.training import folder, runs


@pytest.mark.parametrize("module", ["deepnorm.training.folder", "deepnorm.cli.runs", "deepnorm.study.reproduce"])
def test_reading_a_run_folder_imports_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_runs_gives_the_folder_names_themselves():
    defined = [name for name, value in vars(folder).items() if not name.startswith("_")
               and name != "TYPE_CHECKING" and (name.isupper() or getattr(value, "__module__", None) == folder.__name__)]
    assert {"CONFIG", "DONE", "read_history", "run_lock", "RunInfo"} <= set(defined) <= set(runs.__all__)
    assert all(getattr(runs, name) is getattr(folder, name) for name in defined)


def test_the_evaluation_folders_of_own_and_other_sites():
    run = Path("runs/0123456789ab")
    assert folder.evaluation_folder(run) == run / "eval" / "test"
    assert folder.evaluation_folder(run, ["abide"]) == run / "eval" / "test-abide"
    assert folder.evaluation_folder(run, ("iseg", "abide")) == run / "eval" / "test-iseg+abide"


def test_a_finished_run_holds_the_files_the_layout_names(smoke_run):
    from deepnorm.training.checkpoint import load_checkpoint

    assert folder.is_done(smoke_run) and not folder.is_done(smoke_run / "missing")
    assert all((smoke_run / name).is_file() for name in folder.REQUIRED)
    epochs = folder.finished_epochs(smoke_run)
    assert epochs >= 1
    assert sorted((smoke_run / folder.CONFUSION_DIR).iterdir()) == [
        folder.confusion_file(smoke_run, e) for e in range(1, epochs + 1)]
    assert set(load_checkpoint(smoke_run / folder.CHECKPOINT, map_location="cpu")) == set(folder.CHECKPOINT_KEYS)
    assert folder.read_config(smoke_run).train.method == "adversarial"
