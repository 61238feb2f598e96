"""Training cost: patches/s per method (cpu profile), one cpu training, peak RSS, a paper iteration.

    python benchmarks/bench_train.py [--skip-training] [--threads N] [--iterations N] [--device cpu|cuda] [--amp]

On the CPU the iterations run in the cpu profile's precision (``train.precision``: bf16 autocast
where the processor's bf16 units pay, deepnorm.precision). On CUDA (``--device cuda``) cuDNN picks its fastest convolutions (``cudnn.benchmark``), ``--amp``
runs the iterations under bf16 autocast, the paper profile runs at its own batch size and the
cpu-profile training is skipped; the last line gives the paper profile's patches/s.

Prints a table and writes benchmarks/bench_train.json. Patches/s counts the patches of the
segmentation (G/S) step; an adversarial iteration also runs n_steps discriminator steps on
further batches, which its seconds per iteration include.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from deepnorm.devices import cuda_determinism
from deepnorm.sampling import PatchBatch
from deepnorm.training.config import profile
from deepnorm.training.methods import REGISTRY, method_for

OUT = Path(__file__).with_name("bench_train.json")


def _batches(config, seed: int = 0, device: str = "cpu"):
    gen = torch.Generator().manual_seed(seed)
    b, c, p = config.train.batch_size, config.data.n_channels, config.data.patch_size
    while True:
        yield PatchBatch(torch.rand(b, c, p, p, p, generator=gen), torch.randint(0, 4, (b, p, p, p), generator=gen),
                         torch.arange(b) % config.data.n_domains).to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_iterations(config, iterations: int, warmup: int = 1, device: str = "cpu", amp: bool = False,
                    channels_last: bool = False) -> float:
    """Median seconds per training iteration of `config`'s method on random patches on `device`."""
    method = method_for(config)
    nets = method.build().to(device)
    if channels_last:  # the U-Nets' opt-in layout (equal up to float rounding)
        for _, net in nets.items():
            if hasattr(net, "channels_last"):
                net.channels_last = True
                net.to(memory_format=torch.channels_last_3d)
    opts = method.optimizers(nets)
    batches = _batches(config, device=device)
    # as the training loop: bf16 autocast when the run's precision is bf16 (CPU or GPU) or --amp on CUDA
    bf16 = config.train.precision == "bf16" or (amp and device.startswith("cuda"))
    autocast = (lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)) if bf16 \
        else contextlib.nullcontext
    for _ in range(warmup):
        with autocast():
            method.train_iteration(nets, opts, batches)
    _sync(device)
    times = []
    for _ in range(iterations):
        tic = time.perf_counter()
        with autocast():
            method.train_iteration(nets, opts, batches)
        _sync(device)
        times.append(time.perf_counter() - tic)
    return sorted(times)[len(times) // 2]


def peak_rss_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--skip-training", action="store_true", help="skip the full cpu training")
    parser.add_argument("--paper-batch", type=int, default=None,
                        help="batch of the paper-profile iteration (default: 2 on CPU, the profile's own on CUDA)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA (ignored on CPU)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last 3D U-Nets")
    parser.add_argument("--deterministic", action="store_true",
                        help="CUDA: deterministic kernels only (train.deterministic), not cuDNN's fastest")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device, cuda = args.device, args.device.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            parser.error(f"--device {device}: no CUDA device is visible")
        # the training's own switch (train.deterministic), held until main() returns
        switch = contextlib.ExitStack()
        switch.enter_context(cuda_determinism(torch.device(device), args.deterministic))
        args.skip_training = True
    cpu = profile("cpu")
    result: dict = {"threads": args.threads, "device": device, "amp": bool(args.amp and cuda),
                    "channels_last": args.channels_last,
                    "deterministic": bool(args.deterministic and cuda),
                    "machine": torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine(),
                    "torch": torch.__version__, "methods": {}}
    result["precision"] = cpu.train.precision
    result["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    result["amx"] = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    print(f"cpu profile precision {cpu.train.precision} (processor capability {result['cpu_capability']}, "
          f"amx {result['amx']}), {args.threads} thread(s); share of peak: benchmarks/bench_step.py")
    print(f"{'method':<16}{'s/iter':>10}{'patches/s':>12}")
    for name in REGISTRY:
        config = cpu.replace(**{"train.method": name})
        seconds = time_iterations(config, args.iterations, device=device, amp=args.amp, channels_last=args.channels_last)
        rate = config.train.batch_size / seconds
        result["methods"][name] = {"seconds_per_iteration": seconds, "patches_per_second": rate,
                                   "batch_size": config.train.batch_size, "patch_size": config.data.patch_size}
        print(f"{name:<16}{seconds:>10.3f}{rate:>12.1f}", flush=True)
        minutes = seconds * cpu.batches_per_epoch * cpu.train.epochs / 60
        result["methods"][name]["estimated_training_minutes"] = minutes

    paper = profile("paper")
    batch = args.paper_batch or (paper.train.batch_size if cuda else 2)
    paper = paper.replace(**{"train.batch_size": batch})
    seconds = time_iterations(paper, args.iterations if cuda else 1, warmup=1 if cuda else 0, device=device, amp=args.amp,
                              channels_last=args.channels_last)
    rate = batch / seconds
    result["paper_iteration"] = {"seconds": seconds, "batch_size": batch, "device": device, "patches_per_second": rate}
    print(f"paper profile, one adversarial iteration on {device} (batch {batch}): {seconds:.3f} s, "
          f"{rate:.1f} patches/s", flush=True)

    if not args.skip_training:
        from deepnorm.data.phantom.build import ensure_phantom
        from deepnorm.training.loop import train

        root = ensure_phantom(profile="cpu", seed=0, progress=False)
        with tempfile.TemporaryDirectory() as runs:
            tic = time.perf_counter()
            folder = train(cpu.replace(**{"train.method": "adversarial"}), data_root=root, runs_dir=runs, progress=False)
            first = time.perf_counter() - tic
            from deepnorm.training.runs import load_run

            history = load_run(folder, device="cpu").history
        result["cpu_training"] = {"seconds": first, "epochs": cpu.train.epochs, "batches_per_epoch": cpu.batches_per_epoch,
                                  "final_val_dice": history[-1]["val_dice"], "final_d_val_accuracy": history[-1]["d_val_accuracy"]}
        print(f"one cpu adversarial training (data preparation included): {first:.0f} s, "
              f"val Dice {history[-1]['val_dice']:.3f}", flush=True)
    result["peak_rss_mib"] = peak_rss_mib()
    print(f"peak RSS: {result['peak_rss_mib']:.0f} MiB")
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
