"""Choose the default segmentation loss on validation data: segmenter alone, Eq. 1 pooled vs per-class Dice.

    python benchmarks/choose_dice_loss.py [--profile cpu] [--sites iseg,mrbrains] [--seed 0]

Trains the `segmenter` method once per loss (same seed, same data) and compares the validation
Dice of its last epoch and its best epoch; prints a table and writes
``benchmarks/choose_dice_loss.json``. Only validation patches are used: no test subject
and no claim takes part in the choice.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from deepnorm.data.roots import resolve_data_root
from deepnorm.losses import DICE_LOSSES
from deepnorm.training.config import profile
from deepnorm.training.loop import train
from deepnorm.training.runs import load_run


def main(argv: list[str] | None = None) -> int:
    """Train one segmenter per loss and report the validation Dice of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--sites", default="iseg,mrbrains")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("choose_dice_loss.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sites = [s for s in args.sites.split(",") if s]
    root = resolve_data_root(None, profile=args.profile, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for loss in DICE_LOSSES:
            config = profile(args.profile, **{"train.method": "segmenter", "data.sites": sites,
                                              "train.dice_loss": loss, "train.seed": args.seed, "train.device": "cpu"})
            tic = time.perf_counter()
            folder = train(config, data_root=root, runs_dir=runs, progress=False)
            history = load_run(folder, device="cpu").history
            rows.append({"dice_loss": loss, "val_dice_last": history[-1]["val_dice"],
                         "val_dice_best": max(h["val_dice"] for h in history), "epochs": len(history),
                         "seconds": round(time.perf_counter() - tic, 1)})
    print(f"{'loss':>10} | {'val Dice (last)':>15} | {'val Dice (best)':>15} | {'s':>6}")
    for r in rows:
        print(f"{r['dice_loss']:>10} | {r['val_dice_last']:15.4f} | {r['val_dice_best']:15.4f} | {r['seconds']:6.0f}")
    chosen = max(rows, key=lambda r: r["val_dice_last"])["dice_loss"]
    print(f"higher validation Dice: {chosen}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"profile": args.profile, "sites": sites, "seed": args.seed, "rows": rows,
                                    "higher_validation_dice": chosen}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
