"""Data-only numbers of a data root (the phantom or the real sets): ``python benchmarks/phantom_check.py``.

Per site: brain volume, tissue fractions and means, GM-vs-WM Bayes errors, the CSF-rim numbers;
Table 6's ρ of the bias-degraded inputs and Table 4's input JSD (deepnorm.study.site_report).
Builds (or reuses) the phantom of ``--profile`` unless ``--root`` is given; prints JSON and
writes it to ``--out`` when given, with the build seconds of a fresh phantom (``--fresh``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="data root (default: the phantom of --profile)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spacing", type=float, default=2.0, help="pre-processing voxel size, mm (cpu: 2)")
    parser.add_argument("--fresh", action="store_true", help="build the phantom into a temporary folder, timed")
    parser.add_argument("--out", help="JSON file to write")
    args = parser.parse_args(argv)

    from deepnorm.data.phantom.build import build_phantom, ensure_phantom
    from deepnorm.study.site_report import site_report

    seconds = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.root:
            root = Path(args.root)
        elif args.fresh:
            start = time.perf_counter()
            root = build_phantom(Path(tmp) / "phantom", args.profile, args.seed, progress=False)
            seconds = round(time.perf_counter() - start, 1)
        else:
            root = ensure_phantom(args.profile, args.seed, progress=False)
        report = {"root": str(root) if args.root else f"phantom {args.profile} seed {args.seed}",
                  "build_seconds": seconds, **site_report(root, spacing=args.spacing)}
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
