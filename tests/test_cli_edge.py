"""Every failure at the command line's edge is one clear line naming the path, with the right exit code.

Table-driven: each case builds its input or fault, runs ``deepnorm.cli.main`` in-process and
checks the one ``deepnorm: error:`` line (a regex that names the path), the exit code, that no
traceback was printed and that no partial output was left. A few run as a subprocess
(``python -m deepnorm``) to see exactly what a user sees.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from deepnorm.cli import main
from deepnorm.data.io import load_volume, save_volume
from deepnorm.data.volume import Volume

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class Context:
    """What a case may use: the smoke data root and run, a scratch folder, the scan and monkeypatch."""

    root: Path
    run: Path
    tmp: Path
    scan: Path
    monkeypatch: pytest.MonkeyPatch
    absent: list[Path] = field(default_factory=list)  # outputs that must not exist afterwards

    def out(self, name: str) -> Path:
        path = self.tmp / name
        self.absent.append(path)
        return path

    def run_copy(self, runs: Path | None = None) -> Path:
        """A copy of the smoke run folder (same hash) to damage."""
        copy = (runs or self.tmp / "runs") / self.run.name
        shutil.copytree(self.run, copy, ignore=shutil.ignore_patterns("eval"))
        return copy

    def shifted(self, name: str, affine: np.ndarray) -> Path:
        """The scan's voxels saved with another affine."""
        source = load_volume(self.scan)
        path = self.tmp / name
        save_volume(Volume(source.data, source.spacing, affine), path)
        return path


@dataclass(frozen=True)
class Case:
    """One row: build the argv (and the fault), the expected error line, the exit code."""

    name: str
    argv: Callable[[Context], list[str]]
    pattern: Callable[[Context], str]
    code: int


def _seg(ctx: Context, *extra: str) -> list[str]:
    return ["segment", "--device", "cpu", "--run", str(ctx.run), *extra]


def _norm(ctx: Context, *extra: str) -> list[str]:
    return ["normalize", "--device", "cpu", "--run", str(ctx.run), *extra]


# ----------------------------------------------------------------------------- faults
def unwritable_output(ctx: Context) -> list[str]:
    if IS_ROOT:  # root writes anywhere: a path under a *file* is the unwritable folder it cannot bypass
        blocker = ctx.tmp / "blocker"
        blocker.write_text("a file, not a folder")
        return _seg(ctx, str(ctx.scan), str(ctx.out("blocker/tissues.nii.gz")))
    locked = ctx.tmp / "locked"
    locked.mkdir(mode=0o500)
    return _seg(ctx, str(ctx.scan), str(ctx.out("locked/tissues.nii.gz")))


def no_write_permission(ctx: Context) -> list[str]:
    locked = ctx.tmp / "readonly"
    locked.mkdir(mode=0o500)
    if IS_ROOT:  # root may write there anyway: ask the check what a user would be told
        real = os.access
        ctx.monkeypatch.setattr("deepnorm.cli._paths.os.access",
                                lambda p, mode: False if Path(p) == locked else real(p, mode))
    return _norm(ctx, str(ctx.scan), str(ctx.out("readonly/normalized.nii.gz")))


def unknown_extension(ctx: Context) -> list[str]:
    return _seg(ctx, str(ctx.scan), str(ctx.out("tissues.png")))


def runs_dir_is_a_file(ctx: Context) -> list[str]:
    (ctx.tmp / "runs-file").write_text("not a folder")
    return ["train", "--method", "segmenter", "--profile", "smoke", "--data-root", str(ctx.root),
            "--runs-dir", str(ctx.tmp / "runs-file")]


def evaluate_out_is_a_file(ctx: Context) -> list[str]:
    (ctx.tmp / "out-file").write_text("not a folder")
    return ["evaluate", str(ctx.run), "--device", "cpu", "--data-root", str(ctx.root), "--out", str(ctx.tmp / "out-file")]


def final_from_another_configuration(ctx: Context) -> list[str]:
    from deepnorm.training.config import profile
    from deepnorm.training.methods import method_for

    copy = ctx.run_copy()
    other = profile("smoke", **{"model.widths": (4, 8, 16)})
    nets = method_for(other).build(0)
    torch.save({"config": other.to_dict(), "nets": {name: net.state_dict() for name, net in nets.items()}},
               copy / "final.pt")
    return ["segment", "--device", "cpu", "--run", str(copy), str(ctx.scan), str(ctx.out("tissues.nii.gz"))]


def checkpoint_without_optimizer(ctx: Context) -> list[str]:
    runs = ctx.tmp / "runs"
    copy = ctx.run_copy(runs)
    if (ctx.run.parent / ".cache").is_dir():  # the prepared volumes: no need to prepare them again
        shutil.copytree(ctx.run.parent / ".cache", runs / ".cache")
    for name in ("DONE", "final.pt"):
        (copy / name).unlink()
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    state.pop("optimizers")
    state["epoch"] = 1
    torch.save(state, copy / "checkpoint.pt")
    ctx.absent.append(copy / "DONE")
    return ["train", "--method", "adversarial", "--profile", "smoke", "--data-root", str(ctx.root),
            "--runs-dir", str(runs), "--resume"]


def corrupt_history(ctx: Context) -> list[str]:
    copy = ctx.run_copy()
    (copy / "history.csv").write_text("epoch,loss\nnot-a-number,\x00\x01garbage\n", encoding="utf-8")
    return ["segment", "--device", "cpu", "--run", str(copy), str(ctx.scan), str(ctx.out("tissues.nii.gz"))]


def phantom_negative_seed(ctx: Context) -> list[str]:
    ctx.absent.append(ctx.tmp / "phantom")
    return ["data", "phantom", "--profile", "smoke", "--seed", "-1", "--root", str(ctx.tmp / "phantom")]


def lambda_without_discriminator(ctx: Context) -> list[str]:
    ctx.absent.append(ctx.tmp / "runs")
    return ["train", "--method", "segmenter", "--lambda", "0.5", "--profile", "smoke",
            "--data-root", str(ctx.root), "--runs-dir", str(ctx.tmp / "runs")]


def mask_shifted(ctx: Context) -> list[str]:
    source = load_volume(ctx.scan)
    affine = source.affine.copy()
    affine[0, 3] += 50.0
    mask = ctx.shifted("mask.nii.gz", affine)
    return _seg(ctx, str(ctx.scan), str(ctx.out("tissues.nii.gz")), "--mask", str(mask))


def mask_flipped(ctx: Context) -> list[str]:
    source = load_volume(ctx.scan)
    affine = source.affine.copy()
    affine[:, 0] *= -1.0
    mask = ctx.shifted("mask-flipped.nii.gz", affine)
    return _norm(ctx, str(ctx.scan), str(ctx.out("normalized.nii.gz")), "--mask", str(mask))


def segmenter_run(ctx: Context) -> list[str]:
    from deepnorm.training.config import Config

    copy = ctx.run_copy()
    config = Config.from_yaml(copy / "config.yaml").replace(**{"train.method": "segmenter"})
    config.to_yaml(copy / "config.yaml")
    return ["normalize", "--device", "cpu", "--run", str(copy), str(ctx.scan), str(ctx.out("normalized.nii.gz"))]


def image_2d(ctx: Context) -> list[str]:
    path = ctx.tmp / "slice.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(64, dtype=np.float32).reshape(8, 8), np.eye(4)), str(path))
    return _seg(ctx, str(path), str(ctx.out("tissues.nii.gz")))


def constant_image(ctx: Context) -> list[str]:
    path = ctx.tmp / "constant.nii.gz"
    save_volume(Volume.from_array(np.full((16, 16, 16), 7.0, dtype=np.float32)), path)
    return _norm(ctx, str(path), str(ctx.out("normalized.nii.gz")))


def folder_into_itself(ctx: Context) -> list[str]:
    scans = ctx.tmp / "scans"
    scans.mkdir()
    shutil.copy(ctx.scan, scans / "a.nii")
    ctx.absent.append(scans / "a_t2.nii")
    return _norm(ctx, "-i", str(scans), "-o", str(scans))


def folder_output_is_a_file(ctx: Context) -> list[str]:
    scans = ctx.tmp / "scans"
    scans.mkdir()
    shutil.copy(ctx.scan, scans / "a.nii")
    (ctx.tmp / "out").write_text("a file")
    return _seg(ctx, "-i", str(scans), "-o", str(ctx.tmp / "out"))


def disk_full(ctx: Context) -> list[str]:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(ctx.tmp / "runs" / "checkpoint.pt"))

    ctx.monkeypatch.setattr("deepnorm.cli.train.train", full)
    return ["train", "--method", "segmenter", "--profile", "smoke", "--runs-dir", str(ctx.tmp / "runs")]


def ctrl_c_in_train(ctx: Context) -> list[str]:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    ctx.monkeypatch.setattr("deepnorm.cli.train.train", interrupted)
    return ["train", "--method", "segmenter", "--profile", "smoke", "--runs-dir", str(ctx.tmp / "runs")]


def unsafe_checkpoint_advice(ctx: Context) -> list[str]:
    from deepnorm.errors import RunError

    bad = ctx.tmp / "runs" / "x" / "final.pt"

    def refuse(*args, **kwargs):
        raise RunError(f"checkpoint {bad} cannot be read (Weights only load failed. This file can still be loaded, "
                       "to do so you have two options, do those steps only if you trust the source of the checkpoint.\n"
                       "\t(1) Re-running `torch.load` with `weights_only` set to `False` will likely succeed.\n"
                       "\tWeightsUnpickler error: Unsupported global: GLOBAL os.system); delete it and train again")

    ctx.monkeypatch.setattr("deepnorm.training.runs.load_run", refuse)
    return _seg(ctx, str(ctx.scan), str(ctx.out("tissues.nii.gz")))


CASES = [
    Case("unwritable output folder", unwritable_output,
         lambda c: re.escape(str(c.tmp / ("blocker" if IS_ROOT else "locked"))), 1),
    Case("output folder without write permission", no_write_permission,
         lambda c: re.escape(str(c.tmp / "readonly")) + ": Permission denied.*readonly/normalized.nii.gz.*permissions", 1),
    Case("output with an unknown extension", unknown_extension, lambda c: re.escape(str(c.tmp / "tissues.png")) + ".*\\.nii\\.gz", 2),
    Case("--runs-dir is a file", runs_dir_is_a_file, lambda c: re.escape(str(c.tmp / "runs-file")) + ".*not a folder", 1),
    Case("evaluate --out is a file", evaluate_out_is_a_file, lambda c: re.escape(str(c.tmp / "out-file")) + ".*not a folder", 1),
    Case("final.pt from another configuration", final_from_another_configuration,
         lambda c: re.escape(str(c.tmp / "runs" / c.run.name)), 2),
    Case("checkpoint without optimizer state", checkpoint_without_optimizer,
         lambda c: re.escape(str(c.tmp / "runs" / c.run.name)), 2),
    Case("corrupt history.csv", corrupt_history, lambda c: "history.csv", 2),
    Case("data phantom --seed -1", phantom_negative_seed, lambda c: r"seed.*-1", 2),
    Case("--lambda with the segmenter method", lambda_without_discriminator, lambda c: r"--lambda.*segmenter.*adversarial", 2),
    Case("--mask shifted by 50 mm", mask_shifted, lambda c: re.escape(str(c.tmp / "mask.nii.gz")) + r".*50\.00 mm", 2),
    Case("--mask flipped", mask_flipped, lambda c: re.escape(str(c.tmp / "mask-flipped.nii.gz")) + ".*oriented", 2),
    Case("normalize with a segmenter run", segmenter_run, lambda c: r"'segmenter'.*unchanged.*no normalized image.*adversarial.*or kde", 2),
    Case("a 2D image", image_2d, lambda c: re.escape(str(c.tmp / "slice.nii.gz")), 2),
    Case("a constant image", constant_image, lambda c: re.escape(str(c.tmp / "constant.nii.gz")) + ".*constant", 2),
    Case("folder mode into its own input folder", folder_into_itself, lambda c: re.escape(str(c.tmp / "scans")) + ".*input folder", 2),
    Case("folder mode into a file", folder_output_is_a_file, lambda c: re.escape(str(c.tmp / "out")) + ".*is a file", 1),
    Case("disk full during train", disk_full, lambda c: re.escape(str(c.tmp / "runs" / "checkpoint.pt")) + ".*free some space", 1),
    Case("Ctrl-C during train", ctrl_c_in_train, lambda c: r"interrupted.*--resume", 130),
    Case("torch's weights_only advice is dropped", unsafe_checkpoint_advice,
         lambda c: re.escape(str(c.tmp / "runs" / "x" / "final.pt")) + r"(?!.*weights_only).*Unsupported global", 2),
]


@pytest.fixture(scope="module")
def scan(smoke_root) -> Path:
    return smoke_root / "MRBrainS13" / "TrainingData" / "1" / "T1.nii"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_failure_is_one_line_naming_the_path(case, smoke_root, smoke_run, scan, tmp_path, monkeypatch, capsys):
    ctx = Context(smoke_root, smoke_run, tmp_path, scan, monkeypatch)
    argv = case.argv(ctx)
    capsys.readouterr()
    try:
        code = main(argv)
    finally:
        for folder in tmp_path.rglob("*"):
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o700)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("deepnorm: ")
              and not line.startswith(("deepnorm train:", "deepnorm evaluate:"))]
    assert len(errors) == 1, err
    assert re.search(case.pattern(ctx), errors[0]), errors[0]
    assert "weights_only" not in err
    assert code == case.code, err
    leftovers = [p for p in ctx.absent if p.exists()]
    assert not leftovers, f"partial output left: {leftovers}"
    assert not list(tmp_path.rglob(".*.nii*")), "a temporary image file was left"


def _no_traceback(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "deepnorm", *argv], check=False, capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_version_in_process_and_as_a_command(tmp_path, capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"deepnorm {version('deepnorm')}"
    done = _no_traceback(["--version"], tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"deepnorm {version('deepnorm')}"


def test_a_refused_request_as_a_command_prints_one_line(scan, tmp_path):
    out = tmp_path / "locked-parent"
    out.write_text("a file")
    done = _no_traceback(["data", "phantom", "--profile", "smoke", "--seed", "-1", "--root", str(tmp_path / "p")], tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()
    done = _no_traceback(["segment", "--device", "cpu", "--run", str(tmp_path / "no-run"), str(scan),
                          str(out / "x.nii.gz")], tmp_path)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert str(out) in done.stderr


def test_help_names_the_defaults(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DEEPNORM_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "cpu (the default" in text and "docs/timings.md" in text and "needs a GPU" in text
    assert str(tmp_path.resolve()) in "".join(text.split())  # the runs folder is the project folder's, not the source checkout's
