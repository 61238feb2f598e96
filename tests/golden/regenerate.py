"""Regenerate the smoke golden tables: ``python tests/golden/regenerate.py``.

The golden files are the ``results/`` tables that ``reproduce --profile smoke`` writes on the
smoke phantom (seed 0). ``tests/test_golden.py`` checks that a smoke reproduction still writes
them: numbers that depend only on the data character for character, trained numbers within the
measured tolerance of ``tests/golden/compare.py``. Regenerate only when a change is meant to move
the study's numbers, and say so in the commit message.

``python tests/golden/regenerate.py --out DIR [--data-root ROOT]`` writes a smoke reproduction's
tables to DIR instead (the golden files are untouched) and prints what differs from the golden
files; the portability test runs it under an emulated processor (``ONEDNN_MAX_CPU_ISA``,
``ATEN_CPU_CAPABILITY``).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The files compared byte for byte (the tables' numbers, not timings).
GOLDEN_FILES: tuple[str, ...] = ("data_sites.csv", "data_jsd.csv", "table2.csv", "table3.csv", "table4.csv", "table5.csv", "table6.csv",
                                 "table7.csv", "table7_confusion.json")


def smoke_reproduction(work: Path, data_root: Path | None = None) -> Path:
    """Run the smoke reproduction in `work` (runs, results; the phantom too unless `data_root` is
    the smoke phantom already built); returns the results folder."""
    from deepnorm.cli import main as cli_main
    from deepnorm.data.phantom.build import ensure_phantom

    root = data_root or ensure_phantom(profile="smoke", seed=0, root=work / "phantom", progress=False)
    results = work / "results"
    code = cli_main(["reproduce", "--profile", "smoke", "--device", "cpu", "--data-root", str(root),
                           "--results-dir", str(results), "--figures-dir", str(work / "figures"),
                           "--runs-dir", str(work / "runs"), "--no-report"])
    if code != 0:
        raise SystemExit(f"smoke reproduction failed with exit code {code}")
    return results


def check(out: Path, data_root: Path | None) -> int:
    """Run a smoke reproduction in `out`, write ``out/processor.json`` (the processor as PyTorch sees
    it) and print the differences from the golden files; returns 1 when there are any."""
    import json

    from deepnorm.devices import cpu_description

    sys.path.insert(0, str(HERE.parent))
    from golden.compare import compare_file

    results = smoke_reproduction(out, data_root)
    (out / "processor.json").write_text(json.dumps(cpu_description(), indent=2) + "\n", encoding="utf-8")
    problems = [p for name in GOLDEN_FILES for p in compare_file(name, results / name, HERE / "smoke" / name)]
    print("\n".join(problems) or f"the tables in {results} match the golden files")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Write the golden files into ``tests/golden/smoke/`` (or, with ``--out``, check against them)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write a smoke reproduction here and compare it with the golden files")
    parser.add_argument("--data-root", type=Path, help="the smoke phantom, when it is already built")
    args = parser.parse_args(argv)
    if args.out:
        return check(args.out, args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        results = smoke_reproduction(Path(tmp))
        out = HERE / "smoke"
        out.mkdir(exist_ok=True)
        for name in GOLDEN_FILES:
            shutil.copyfile(results / name, out / name)
    print(f"golden tables written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
