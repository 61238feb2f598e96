"""Core speed benchmark: matmul peak, G+S forward throughput and one Algorithm-1 iteration.

Each case reports patches/s and the achieved GFLOP/s (floating-point operations counted by
torch.utils.flop_counter over one call, forward and backward) as a fraction of the matmul peak
measured on the same machine. Prints a table and writes benchmarks/bench_core.json. Usage:
    python benchmarks/bench_core.py [--device cpu|cuda] [--threads N] [--repeats R] [--skip-paper]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import torch

from deepnorm.nets import CPU_WIDTHS, PAPER_WIDTHS, Discriminator, UNet3D
from deepnorm.training.algorithm1 import algorithm1_iteration

OUT = Path(__file__).resolve().parent / "bench_core.json"


class Batch(NamedTuple):
    images: torch.Tensor  # (m, C, p, p, p)
    labels: torch.Tensor  # (m, p, p, p)
    domains: torch.Tensor  # (m,)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: str, repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeats` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


def _batches(m: int, p: int, k: int, device: str, seed: int = 0) -> Iterator[Batch]:
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield Batch(
            torch.rand(m, 1, p, p, p, generator=gen).to(device),
            torch.randint(0, 4, (m, p, p, p), generator=gen).to(device),
            torch.randint(0, k, (m,), generator=gen).to(device),
        )


def _flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of `fn` (torch's FLOP counter: convolutions, matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def bench_matmul(device: str, repeats: int, n: int = 2048) -> dict:
    """The practical peak: GFLOP/s of an n x n float32 matmul (2 n^3 operations)."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    times = _timed(lambda: a @ b, device, repeats)
    sec = min(times)
    return {"case": f"matmul {n}x{n}", "widths": [], "batch": 1, "seconds": statistics.median(times), "min_seconds": sec,
            "patches_per_s": float("nan"), "gflops": 2 * n**3 / sec / 1e9}


def bench_forward(widths: tuple[int, ...], p: int, batch: int, device: str, repeats: int) -> dict:
    """G+S forward (eval, no grad) throughput in patches/s for (batch, 1, p, p, p) inputs."""
    torch.manual_seed(0)
    G = UNet3D(1, 1, widths=widths, out_activation="sigmoid").to(device).eval()
    S = UNet3D(1, 4, widths=widths).to(device).eval()
    x = torch.rand(batch, 1, p, p, p, device=device)

    def run() -> None:
        with torch.no_grad():
            torch.softmax(S(G(x)), dim=1)

    times = _timed(run, device, repeats)
    sec = statistics.median(times)
    flops = _flops(run)
    return {
        "case": f"forward G+S {p}^3",
        "gflops": flops / sec / 1e9,
        "widths": list(widths),
        "batch": batch,
        "seconds": sec,
        "min_seconds": min(times),
        "patches_per_s": batch / sec,
    }


def bench_iteration(widths: tuple[int, ...], p: int, batch: int, device: str, repeats: int, n_steps: int = 3) -> dict:
    """Seconds of one algorithm1_iteration (n_steps D updates + one G/S update), K = 2 domains."""
    torch.manual_seed(0)
    G = UNet3D(1, 1, widths=widths, out_activation="sigmoid").to(device)
    S = UNet3D(1, 4, widths=widths).to(device)
    D = Discriminator(1, 2, patch_size=p).to(device)
    opt_gs = torch.optim.Adam([*G.parameters(), *S.parameters()], lr=1e-3, weight_decay=1e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, weight_decay=1e-3)
    batches = _batches(batch, p, 2, device)

    def run() -> None:
        algorithm1_iteration(G, S, D, opt_gs, opt_d, batches, lam=1.5, n_steps=n_steps, mode="nonsaturating")

    times = _timed(run, device, repeats)
    sec = statistics.median(times)
    flops = _flops(run)
    n_params = sum(q.numel() for net in (G, S, D) for q in net.parameters())
    return {
        "case": f"algorithm1_iteration {p}^3",
        "gflops": flops / sec / 1e9,
        "widths": list(widths),
        "batch": batch,
        "n_steps": n_steps,
        "parameters": n_params,
        "seconds": sec,
        "min_seconds": min(times),
        "patches_per_s": batch * (n_steps + 1) / sec,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, write bench_core.json; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-paper", action="store_true", help="skip the paper-widths iteration (slow on CPU)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = tuple(CPU_WIDTHS)
    wider = tuple(2 * w for w in cpu)
    peak = bench_matmul(args.device, args.repeats)
    rows = [peak]
    for widths in (cpu, wider):
        for p in (16, 32):
            rows.append(bench_forward(widths, p, 8, args.device, args.repeats))
    rows += [bench_iteration(cpu, 16, 8, args.device, args.repeats), bench_iteration(cpu, 32, 8, args.device, args.repeats),
             bench_iteration(wider, 16, 8, args.device, args.repeats)]
    if not args.skip_paper:
        rows.append(bench_iteration(tuple(PAPER_WIDTHS), 32, 2, args.device, max(1, args.repeats - 2)))
    for r in rows:
        r["fraction_of_peak"] = r["gflops"] / peak["gflops"]
    meta = {
        "device": args.device,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "timing": "seconds: median, min_seconds: fastest wall-clock call, after one warm-up call; "
        "patches_per_s from the median (an iteration processes (n_steps + 1) x batch patches)",
    }
    print(f"device={meta['device']} torch={meta['torch']} threads={meta['threads']} cpus={meta['cpu_count']}")
    print(f"{'case':<28} {'widths':<24} {'batch':>5} {'median s':>9} {'min s':>9} {'patches/s':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for r in rows:
        print(f"{r['case']:<28} {str(tuple(r['widths'])):<24} {r['batch']:>5} {r['seconds']:>9.3f} {r['min_seconds']:>9.3f} "
              f"{r['patches_per_s']:>10.1f} {r['gflops']:>8.1f} {100 * r['fraction_of_peak']:>7.0f}%")
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
