"""The numerics gate of bf16 training: bf16 against float32 on the cpu profile, over three seeds.

    python benchmarks/precision_gate.py [--methods segmenter,adversarial] [--seeds 3] [--threads 1]
                                        [--data-root DIR] [--runs-dir DIR] [--reference results]

The gate, fixed before its runs: for each of three numbers, the test mean Dice of Table 2's
segmenter trained on iSEG (tested on iSEG, and on MRBrainS) and of Ours on iSEG + MRBrainS
(Table 3, dual), the difference between the bf16 seed mean and the float32 seed mean must be
smaller than the float32 seed spread (sample sd over the same seeds). If any fails, the profiles
keep float32. The float32 numbers are read from ``--reference`` (the committed ``results/seed-N/``
tables of a float32 reproduction); the bf16 runs are trained here with ``train.precision = bf16``
and scored exactly as the notebooks score them (:mod:`deepnorm.study.experiments`).

Prints a table and writes benchmarks/precision_gate.json (with the processor it ran on).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from deepnorm.devices import cpu_description
from deepnorm.study import experiments as ex

OUT = Path(__file__).with_name("precision_gate.json")
#: (method, training sites, test sites, the reference table and its row)
QUANTITIES = {
    "table2 iseg->iseg": ("segmenter", ("iseg",), ("iseg",), "table2", {"train_site": "iseg", "test_site": "iseg"}),
    "table2 iseg->mrbrains": ("segmenter", ("iseg",), ("mrbrains",), "table2",
                              {"train_site": "iseg", "test_site": "mrbrains"}),
    "table3 dual ours": ("adversarial", ("iseg", "mrbrains"), ("iseg", "mrbrains"), "table3",
                         {"setting": "dual", "method": "adversarial"}),
}


def reference(folder: Path, seed: int, table: str, row: dict[str, str]) -> float:
    """The float32 mean Dice of `row` in ``folder/seed-N/<table>.csv``."""
    with (folder / f"seed-{seed}" / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
        for line in csv.DictReader(handle):
            if all(line[k] == v for k, v in row.items()):
                return float(line["dice_mean"])
    raise SystemExit(f"{folder}/seed-{seed}/{table}.csv has no row {row}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="segmenter,adversarial")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", default="", help="the cpu phantom of seed 0 (default: built under data/)")
    parser.add_argument("--runs-dir", default="", help="where the bf16 runs go (default: runs/)")
    parser.add_argument("--reference", type=Path, default=Path("results"), help="float32 results (seed-N folders)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = set(args.methods.split(","))
    seeds = list(range(args.seeds))
    out = {"processor": cpu_description(), "seeds": seeds, "quantities": {}}
    data_root = args.data_root or str(ex.Context(profile="cpu", progress=False).data_root)
    for name, (method, sites, tests, table, row) in QUANTITIES.items():
        if method not in methods:
            continue
        bf16, seconds = [], []
        for seed in seeds:
            ctx = ex.Context(profile="cpu", seed=seed, device="cpu", data_root=data_root, runs_dir=args.runs_dir,
                             results_dir="/tmp/precision-gate", figures_dir="/tmp/precision-gate", progress=False,
                             precision="bf16")
            tic = time.perf_counter()
            run = ex.run_for(ctx, method, sites)
            assert run.config.train.precision == "bf16"
            bf16.append(float(ex._mean_row(ex.scores(ctx, run, tests))["dice_mean"]))
            seconds.append(time.perf_counter() - tic)
            print(f"{name} seed {seed}: bf16 {bf16[-1]:.4f} ({seconds[-1]:.0f} s)", flush=True)
        f32 = [reference(args.reference, seed, table, row) for seed in seeds]
        diff, spread = statistics.mean(bf16) - statistics.mean(f32), statistics.stdev(f32)
        out["quantities"][name] = {"bf16": bf16, "float32": f32, "difference_of_means": diff, "float32_sd": spread,
                                   "passes": abs(diff) < spread, "seconds": seconds}
    print(f"\n{'quantity':<24}{'bf16':>16}{'float32':>16}{'diff':>9}{'sd f32':>9}  gate")
    for name, q in out["quantities"].items():
        b, f = q["bf16"], q["float32"]
        print(f"{name:<24}{statistics.mean(b):>9.3f} ± {statistics.stdev(b):.3f}{statistics.mean(f):>9.3f} ± "
              f"{statistics.stdev(f):.3f}{q['difference_of_means']:>+9.3f}{q['float32_sd']:>9.3f}  "
              f"{'passes' if q['passes'] else 'FAILS'}")
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
