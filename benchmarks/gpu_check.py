"""The GPU path, checked end to end on one CUDA device: commands, determinism, bf16 autocast, speed.

Four stages, each timed, each written to the JSON as soon as it ends (a stage that fails is
recorded with its error and the next one still runs):

1. ``commands``: ``deepnorm train / evaluate / normalize / segment --device cuda`` on the smoke
   phantom, as a user types them. Checks that the run's networks load on the GPU, that the
   outputs keep the input's shape and affine, and that evaluating the same run on the CPU gives
   the same Dice (within ``DICE_TOLERANCE``).
2. ``determinism``: the same smoke training twice on the GPU (``train.deterministic``, the
   default); are the final weights bit-identical?
3. ``amp``: the ``cpu`` profile's segmenter and adversarial trainings (``--amp-epochs`` epochs,
   iSEG + MRBrainS) in float32 and under bf16 autocast, from the same seed. The curves agree when
   every epoch's validation Dice differs by at most ``AMP_DICE_TOLERANCE`` and the last training
   loss by at most ``AMP_LOSS_TOLERANCE`` (relative). Both tolerances are fixed here, before any
   run. A second float32 training gives the GPU's own run-to-run spread beside it.
4. ``bench``: ``bench_train.py --device cuda`` in float32 and with ``--amp``, each with cuDNN's
   fastest kernels and with ``--deterministic`` (the last line is the paper profile's
   patches/s), and ``bench_inference.py --device cuda``.

    python benchmarks/gpu_check.py [--out DIR] [--amp-epochs 4] [--budget-s 540]

Writes DIR/gpu_check.json (default: benchmarks/gpu_check.json) and prints one line per check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
#: Largest |Dice(cuda) - Dice(cpu)| of one evaluation in float32 (rounding only).
DICE_TOLERANCE = 1e-3
#: Largest |val Dice(bf16) - val Dice(fp32)| at any epoch for bf16 autocast to count as harmless.
AMP_DICE_TOLERANCE = 0.02
#: Largest relative difference of the last epoch's training loss, bf16 against float32.
AMP_LOSS_TOLERANCE = 0.10
#: The device checked ("cuda"; "cpu" only to try this script without a GPU).
DEVICE = "cuda"


def deepnorm(*args: str, timeout: float = 300) -> str:
    """Run ``python -m deepnorm.cli ARGS`` and return its stdout; raise with stderr on failure."""
    done = subprocess.run([sys.executable, "-m", "deepnorm.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"deepnorm {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def stage_commands(work: Path) -> dict[str, Any]:
    """train / evaluate / normalize / segment on cuda, as commands; Dice cuda vs cpu."""
    import nibabel as nib

    from deepnorm.data.phantom.build import ensure_phantom
    from deepnorm.training.runs import load_run

    root = ensure_phantom(profile="smoke", seed=0, root=work / "phantom-smoke", progress=False)
    runs = work / "runs"
    folder = Path(deepnorm("train", "--method", "adversarial", "--profile", "smoke", "--data-root", str(root),
                           "--runs-dir", str(runs), "--device", DEVICE).strip().splitlines()[-1])
    run = load_run(folder, device=DEVICE)
    on = {name: str(next(net.parameters()).device) for name, net in
          (("generator", run.generator), ("segmenter", run.segmenter), ("discriminator", run.discriminator)) if net is not None}
    deepnorm("evaluate", str(folder), "--device", DEVICE, "--out", str(work / "eval-cuda"), "--no-images")
    deepnorm("evaluate", str(folder), "--device", "cpu", "--out", str(work / "eval-cpu"), "--no-images")
    dice = {where: _mean_dice(work / f"eval-{where}" / "summary.csv") for where in (DEVICE, "cpu")}
    gap = max(abs(dice[DEVICE][site] - dice["cpu"][site]) for site in dice["cpu"])
    scan = next(root.rglob("*T1.nii*"), None) or next(root.rglob("*T1*.hdr"))
    outputs = {}
    for command in ("normalize", "segment"):
        out = work / f"{command}.nii.gz"
        deepnorm(command, "--run", str(folder), str(scan), str(out), "--device", DEVICE)
        src, dst = nib.load(str(scan)), nib.load(str(out))
        outputs[command] = {"same_shape": tuple(src.shape[:3]) == tuple(dst.shape[:3]),
                            "same_affine": bool(np.allclose(src.affine, dst.affine, atol=1e-4))}
    return {"run": folder.name, "networks_on": on, "eval_files": sorted(p.name for p in (work / "eval-cuda").iterdir()),
            "mean_dice": dice, "dice_gap_vs_cpu": gap,
            "dice_within_tolerance": gap <= DICE_TOLERANCE, "outputs": outputs}


def _mean_dice(summary: Path) -> dict[str, float]:
    """{site: mean Dice} from an evaluation's summary.csv."""
    import csv

    with summary.open() as f:
        return {row["site"]: float(row["dice_mean"]) for row in csv.DictReader(f)}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    state = torch.load(folder / "final.pt", map_location="cpu", weights_only=False)
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)

    walk("", state)
    return flat


def stage_determinism(work: Path) -> dict[str, Any]:
    """The same smoke training twice on cuda: bit-identical final weights?"""
    from deepnorm.data.phantom.build import ensure_phantom

    root = ensure_phantom(profile="smoke", seed=0, root=work / "phantom-smoke", progress=False)
    folders = []
    for i in range(2):
        out = deepnorm("train", "--method", "adversarial", "--profile", "smoke", "--data-root", str(root),
                       "--runs-dir", str(work / f"det{i}"), "--device", DEVICE)
        folders.append(Path(out.strip().splitlines()[-1]))
    a, b = (_weights(f) for f in folders)
    diffs = {k: float((a[k].double() - b[k].double()).abs().max()) for k in a if k in b and a[k].is_floating_point()}
    return {"tensors": len(diffs), "bit_identical": all(v == 0.0 for v in diffs.values()),
            "max_abs_difference": max(diffs.values(), default=0.0)}


def stage_amp(work: Path, epochs: int, methods: list[str]) -> dict[str, Any]:
    """cpu-profile trainings on cuda, float32 (twice) against bf16 autocast, same seed."""
    from deepnorm.data.phantom.build import ensure_phantom
    from deepnorm.training.config import profile
    from deepnorm.training.loop import train
    from deepnorm.training.runs import load_run

    root = ensure_phantom(profile="cpu", seed=0, root=work / "phantom-cpu", progress=False)
    result: dict[str, Any] = {"epochs": epochs, "dice_tolerance": AMP_DICE_TOLERANCE, "loss_tolerance": AMP_LOSS_TOLERANCE}
    for method in methods:
        curves: dict[str, Any] = {}
        for label, amp in (("fp32", False), ("bf16", True), ("fp32_again", False)):
            config = profile("cpu", **{"train.method": method, "train.epochs": epochs, "train.device": DEVICE,
                                       "train.amp": amp})
            tic = time.perf_counter()
            folder = train(config, data_root=root, runs_dir=work / f"amp-{label}", progress=False, force=True)
            history = load_run(folder, device="cpu").history
            curves[label] = {"seconds": time.perf_counter() - tic,
                             "val_dice": [float(h["val_dice"]) for h in history],
                             "loss": [float(h["loss"]) for h in history]}
        ref, bf, again = curves["fp32"], curves["bf16"], curves["fp32_again"]
        dice_gap = max(abs(x - y) for x, y in zip(ref["val_dice"], bf["val_dice"]))
        loss_gap = abs(ref["loss"][-1] - bf["loss"][-1]) / abs(ref["loss"][-1])
        spread = max(abs(x - y) for x, y in zip(ref["val_dice"], again["val_dice"]))
        curves["verdict"] = {"max_val_dice_gap": dice_gap, "last_loss_relative_gap": loss_gap,
                             "fp32_run_to_run_val_dice_gap": spread,
                             "within_tolerance": dice_gap <= AMP_DICE_TOLERANCE and loss_gap <= AMP_LOSS_TOLERANCE}
        result[method] = curves
    return result


#: The benchmark runs of stage ``bench`` (``--benches``).
BENCHES: list[str] = ["train_fp32", "train_fp32_deterministic", "train_bf16", "train_bf16_deterministic",
                      "train_bf16_channels_last", "inference"]


def stage_bench(work: Path) -> dict[str, Any]:
    """bench_train (fp32, bf16) and bench_inference on cuda; their printed tables and JSON."""
    result: dict[str, Any] = {}
    for label, script, extra in (("train_fp32", "bench_train.py", []),
                                 ("train_fp32_deterministic", "bench_train.py", ["--deterministic"]),
                                 ("train_bf16", "bench_train.py", ["--amp"]),
                                 ("train_bf16_deterministic", "bench_train.py", ["--amp", "--deterministic"]),
                                 ("train_bf16_channels_last", "bench_train.py", ["--amp", "--channels-last"]),
                                 ("inference", "bench_inference.py", [])):
        if label not in BENCHES:
            continue
        args = [sys.executable, str(ROOT / "benchmarks" / script), "--device", DEVICE, *extra]
        if script == "bench_train.py":
            args += ["--iterations", "10"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=ROOT)
        json_file = ROOT / "benchmarks" / script.replace(".py", ".json")
        result[label] = {"returncode": done.returncode, "stdout": done.stdout[-3000:], "stderr": done.stderr[-1500:],
                         "json": json.loads(json_file.read_text()) if json_file.is_file() and done.returncode == 0 else None}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--amp-epochs", type=int, default=4)
    parser.add_argument("--amp-methods", default="segmenter,adversarial")
    parser.add_argument("--budget-s", type=float, default=540, help="skip stages that start after this many seconds")
    parser.add_argument("--stages", default="bench,commands,determinism,amp")
    parser.add_argument("--device", default="cuda", help="cuda (cpu only to try the script itself)")
    parser.add_argument("--benches", default=",".join(BENCHES), help="which runs of stage bench")
    args = parser.parse_args(argv)
    BENCHES[:] = args.benches.split(",")
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible: this check needs a GPU")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "gpu_check.json"
    report: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "none", "torch": torch.__version__,
                              "cuda": torch.version.cuda, "stages": {}}
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    stages: dict[str, Callable[[], dict[str, Any]]] = {
        "commands": lambda: stage_commands(work),
        "determinism": lambda: stage_determinism(work),
        "amp": lambda: stage_amp(work, args.amp_epochs, args.amp_methods.split(",")),
        "bench": lambda: stage_bench(work),
    }
    for name in args.stages.split(","):
        if time.perf_counter() - start > args.budget_s:
            report["stages"][name] = {"skipped": "time budget spent"}
            continue
        tic = time.perf_counter()
        try:
            value = stages[name]()
            value["seconds"] = time.perf_counter() - tic
        except Exception as error:  # record and go on: every stage is worth having
            value = {"error": f"{type(error).__name__}: {error}"[-3000:], "seconds": time.perf_counter() - tic}
        report["stages"][name] = value
        out.write_text(json.dumps(report, indent=1, default=str))
        print(f"[{name}] {time.perf_counter() - tic:.0f} s: "
              f"{json.dumps(value, default=str)[:1500]}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
