"""How the cost grows: with the volume size, the number of sites and the CPU threads (cpu profile).

    python benchmarks/bench_scaling.py [--sizes 64 96 128 192] [--threads 1 2] [--repeats 1] [--device cpu]

Three tables, all with the cpu profile's networks (widths 8-16-32-64, 16^3 patches):

- volume size n^3: seconds of one whole-volume sliding window (the segmenter, patch 16, stride 8,
  the profile's eval batch) and of one adversarial training iteration whose batches are drawn,
  augmented and extracted from two volumes of that size per site (so the data side is included);
- sites (2, 3): seconds per adversarial iteration and per epoch (iterations per epoch of the
  profile with that many sites: the epoch grows with the sites, not with the subjects);
- threads (1, 2): the iteration and the sliding window of a 96^3 volume.

Each figure is the median of `--repeats` timed calls after one warm-up call. Writes
benchmarks/bench_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deepnorm.data.prepared import AugmentedBatches
from deepnorm.data.sites import SITES
from deepnorm.inference import sliding_window_predict
from deepnorm.nets import UNet3D
from deepnorm.sampling import PatchSampler
from deepnorm.training.config import Config, profile
from deepnorm.training.methods import method_for

OUT = Path(__file__).with_name("bench_scaling.json")


def _median_seconds(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Median wall-clock seconds of `repeats` calls of `fn`, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        tic = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def window_seconds(config: Config, size: int, repeats: int, device: str) -> float:
    """Seconds of one sliding window of the segmenter over a random (1, size, size, size) volume."""
    torch.manual_seed(0)
    net = UNet3D(1, 4, widths=config.model.widths).to(device).eval()
    volume = np.random.default_rng(0).random((1, size, size, size), dtype=np.float32)

    def run() -> np.ndarray:
        return sliding_window_predict(volume, lambda x: torch.softmax(net(x), dim=1), patch_size=config.data.patch_size,
                                      stride=config.eval_.stride, batch_size=config.eval_.batch_size, device=device)

    return _median_seconds(run, repeats, device)


def iteration_seconds(config: Config, size: int, repeats: int, device: str) -> float:
    """Seconds of one adversarial iteration, its batches sampled from random volumes of size^3 voxels."""
    rng = np.random.default_rng(0)
    k = config.data.n_domains
    images = [rng.random((1, size, size, size), dtype=np.float32) for _ in range(2 * k)]
    labels = [rng.integers(0, 4, (size, size, size)) for _ in range(2 * k)]
    sampler = PatchSampler(images, labels, config.data.patch_size, domains=[i % k for i in range(2 * k)],
                           seed=0, balance=True)
    batches = AugmentedBatches(sampler, config.train.batch_size, p=config.data.bias_augment, seed=0)
    method = method_for(config.replace(**{"train.method": "adversarial"}))
    nets = method.build().to(device)
    opts = method.optimizers(nets)

    class _OnDevice:
        def __next__(self):
            return next(batches).to(device)

    on_device = _OnDevice()
    return _median_seconds(lambda: method.train_iteration(nets, opts, on_device), repeats, device)


def main(argv: list[str] | None = None) -> int:
    """Run the three tables, print them, write bench_scaling.json; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 192])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    cpu = profile("cpu")
    torch.set_num_threads(args.threads[0])
    result: dict = {"device": args.device, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
                    "threads": args.threads[0], "repeats": args.repeats, "sizes": [], "sites": [], "threads_table": []}

    print(f"volume size (threads {args.threads[0]})\n{'n^3':>6}{'voxels':>12}{'window s':>10}{'iteration s':>13}")
    for n in args.sizes:
        row = {"size": n, "window_s": window_seconds(cpu, n, args.repeats, args.device),
               "iteration_s": iteration_seconds(cpu, n, args.repeats, args.device)}
        result["sizes"].append(row)
        print(f"{n:>6}{n**3:>12}{row['window_s']:>10.2f}{row['iteration_s']:>13.3f}", flush=True)

    print(f"\nsites\n{'sites':>6}{'iteration s':>13}{'iter/epoch':>11}{'epoch s':>9}")
    for k in (2, 3):
        config = profile("cpu", **{"data.sites": SITES[:k]})
        it = iteration_seconds(config, 64, args.repeats, args.device)
        row = {"sites": k, "iteration_s": it, "iterations_per_epoch": config.batches_per_epoch,
               "epoch_s": it * config.batches_per_epoch, "epochs": config.train.epochs}
        result["sites"].append(row)
        print(f"{k:>6}{it:>13.3f}{config.batches_per_epoch:>11}{row['epoch_s']:>9.0f}", flush=True)

    if not args.device.startswith("cuda"):
        print(f"\nthreads\n{'threads':>8}{'iteration s':>13}{'window 96^3 s':>15}")
        for t in args.threads:
            torch.set_num_threads(t)
            row = {"threads": t, "iteration_s": iteration_seconds(cpu, 96, args.repeats, args.device),
                   "window_s": window_seconds(cpu, 96, args.repeats, args.device)}
            result["threads_table"].append(row)
            print(f"{t:>8}{row['iteration_s']:>13.3f}{row['window_s']:>15.2f}", flush=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
