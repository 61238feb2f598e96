"""Seconds per whole-volume sliding-window prediction with the segmenter U-Net.

Volume 96 x 112 x 96 voxels (1 channel), UNet3D(1, 4, widths=(8, 16, 32, 64)) in eval mode with
softmax, two settings: patch 16 / stride 8 and patch 32 / stride 16 (both half-patch overlap),
each timed with deepnorm's sliding_window_predict and with MONAI's sliding_window_inference
(mode="constant", the same window grid) on the same network, when MONAI is installed, the two
in turn so that the ratio ours/MONAI (median over pairs) survives a busy machine.
Prints a table and writes benchmarks/bench_inference.json.

    .venv/bin/python benchmarks/bench_inference.py [--repeats 3] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepnorm.inference import sliding_window_predict, window_starts
from deepnorm.nets import UNet3D

SHAPE = (96, 112, 96)
WIDTHS = (8, 16, 32, 64)
SETTINGS = ((16, 8), (32, 16))


def _seconds(fn: Callable[[], None], device: str) -> float:
    """Wall-clock seconds of one call of `fn` (waiting for the GPU when `device` is CUDA)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(patch: int, stride: int, *, repeats: int, batch_size: int, device: str, seed: int = 0) -> dict:
    """Time `repeats` predictions of one random volume; returns the timings (s) and window count."""
    torch.manual_seed(seed)
    net = UNet3D(1, 4, widths=WIDTHS).to(device).eval()
    volume = np.random.default_rng(seed).random((1, *SHAPE), dtype=np.float32)

    def predictor(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(x), dim=1)

    n_windows = int(np.prod([len(window_starts(n, patch, stride)) for n in SHAPE]))
    sliding_window_predict(volume[:, :32, :32, :32], predictor, patch_size=patch, stride=stride,
                           batch_size=batch_size, device=device)  # warm-up
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:  # MONAI is a test extra
        sliding_window_inference = None
    x = torch.as_tensor(volume[None], device=device)

    def ours() -> None:
        sliding_window_predict(volume, predictor, patch_size=patch, stride=stride, batch_size=batch_size, device=device)

    def theirs() -> None:
        with torch.no_grad():
            sliding_window_inference(x, patch, batch_size, predictor, overlap=1 - stride / patch, mode="constant")

    # ours and MONAI's in turn, so that a busy machine slows both alike; the ratio is per pair
    times, monai_times = [], []
    for _ in range(repeats):
        times.append(_seconds(ours, device))
        if sliding_window_inference is not None:
            monai_times.append(_seconds(theirs, device))
    monai_s = float(np.median(monai_times)) if monai_times else float("nan")
    ratio = float(np.median([a / b for a, b in zip(times, monai_times)])) if monai_times else float("nan")
    return {"patch": patch, "stride": stride, "windows": n_windows, "batch_size": batch_size,
            "seconds": times, "median_s": float(np.median(times)), "monai_median_s": monai_s,
            "monai_seconds": monai_times, "ratio_to_monai": ratio}


def main() -> None:
    """Run the benchmark, print the table, write the JSON next to this file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_inference.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [bench(p, s, repeats=args.repeats, batch_size=args.batch_size, device=args.device)
            for p, s in SETTINGS]
    print(f"volume {SHAPE}, widths {WIDTHS}, device {args.device}, threads {torch.get_num_threads()}")
    print(f"{'patch':>5} {'stride':>6} {'windows':>7} {'s/volume':>9} {'MONAI s':>8} {'ours/MONAI':>10}")
    for r in rows:
        print(f"{r['patch']:>5} {r['stride']:>6} {r['windows']:>7} {r['median_s']:>9.2f} {r['monai_median_s']:>8.2f} {r['ratio_to_monai']:>10.2f}")
    report = {
        "volume_shape": SHAPE, "widths": WIDTHS, "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "torch": torch.__version__,
        "results": rows,
    }
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
