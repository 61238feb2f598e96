"""One training iteration of the cpu profile, as the training loop runs it: ms, GFLOP and share of peak.

    python benchmarks/bench_step.py [--method segmenter|adversarial|pre_processor] [--iterations 20]
        [--precision float32|bf16] [--channels-last on|off] [--widths 8,16,32,64] [--json OUT]

Builds the cpu profile's networks and optimizers for `--method`, draws random 8 x 16³ patch
batches, and times `Method.train_iteration` (forward, backward, Adam; an adversarial iteration
also runs its n_steps D updates) under the autocast the training loop uses for the profile's
`train.precision` (bf16 autocast, or none). Prints one line: the median milliseconds per
iteration, the floating-point work of one iteration (counted by `torch.utils.flop_counter`),
the rate it reaches, and that rate as a share of the processor's matmul peak in the same
precision (a 2048² matmul, measured in this process).

It imports deepnorm from wherever Python finds it, so the same script times an older checkout:
``PYTHONPATH=OLD_CHECKOUT python benchmarks/bench_step.py`` (an older tree without
``train.precision`` runs float32, as it did). Pair two such commands A B A B to compare trees.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch


def _batches(config, seed: int = 0):
    from deepnorm.sampling import PatchBatch

    gen = torch.Generator().manual_seed(seed)
    b, c, p = config.train.batch_size, config.data.n_channels, config.data.patch_size
    while True:
        yield PatchBatch(torch.rand(b, c, p, p, p, generator=gen), torch.randint(0, 4, (b, p, p, p), generator=gen),
                         torch.arange(b) % config.data.n_domains)


def matmul_peak_gflops(bf16: bool, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in bf16 or float32 on this process's threads (best of `repeats`)."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tic)
    return 2 * n**3 / best / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="segmenter")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precision", choices=("float32", "bf16"), default=None,
                        help="default: the profile's own (what `make reproduce` trains in)")
    parser.add_argument("--channels-last", choices=("on", "off"), default=None,
                        help="default: the profile's model.channels_last")
    parser.add_argument("--widths", default=None, help="U-Net widths, e.g. 16,32,64,128 (default: the profile's)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import deepnorm
    from deepnorm.training.config import profile
    from deepnorm.training.methods import method_for

    changes: dict = {"train.method": args.method}
    if args.channels_last is not None:
        changes["model.channels_last"] = args.channels_last == "on"
    if args.widths:
        changes["model.widths"] = tuple(int(w) for w in args.widths.split(","))
    has_precision = hasattr(profile("cpu").train, "precision")
    if args.precision is not None:
        if not has_precision and args.precision != "float32":
            parser.error("--precision bf16: this checkout has no train.precision")
        if has_precision:
            changes["train.precision"] = args.precision
    config = profile("cpu").replace(**changes)
    precision = getattr(config.train, "precision", "float32")
    bf16 = precision == "bf16"

    method = method_for(config)
    nets = method.build()
    opts = method.optimizers(nets)
    batches = _batches(config)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    for _ in range(args.warmup):
        with autocast():
            method.train_iteration(nets, opts, batches)
    times = []
    for _ in range(args.iterations):
        tic = time.perf_counter()
        with autocast():
            method.train_iteration(nets, opts, batches)
        times.append(time.perf_counter() - tic)
    ms = 1e3 * sorted(times)[len(times) // 2]

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, autocast():
        method.train_iteration(nets, opts, batches)
    gflop = counter.get_total_flops() / 1e9
    peak = matmul_peak_gflops(bf16)
    rate = gflop / (ms / 1e3)
    row = {"method": args.method, "precision": precision, "channels_last": bool(config.model.channels_last),
           "widths": list(config.model.widths), "threads": torch.get_num_threads(), "ms": ms,
           "gflop": gflop, "gflops": rate, "peak_gflops": peak, "peak_share": rate / peak,
           "capability": torch.backends.cpu.get_cpu_capability(),
           "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
           "deepnorm": str(Path(deepnorm.__file__).resolve().parent.parent)}
    print(f"{args.method} {precision} channels_last={row['channels_last']} widths={row['widths']} "
          f"threads={row['threads']}: {ms:.1f} ms/iteration, {gflop:.2f} GFLOP, {rate:.0f} GFLOP/s = "
          f"{100 * rate / peak:.1f} % of the {peak:.0f} GFLOP/s matmul peak ({row['capability']}, "
          f"amx {row['amx']}) [{row['deepnorm']}]", flush=True)
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
