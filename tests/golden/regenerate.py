"""Regenerate the smoke golden tables: ``python tests/golden/regenerate.py``.

The golden files are the ``results/`` tables that ``reproduce --profile smoke`` writes on the
smoke phantom (seed 0). ``tests/test_golden.py`` checks that a smoke reproduction still writes
them byte for byte. Regenerate only when a change is meant to move the study's numbers, and
say so in the commit message.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The files compared byte for byte (the tables' numbers, not timings).
GOLDEN_FILES: tuple[str, ...] = ("table2.csv", "table3.csv", "table4.csv", "table5.csv", "table6.csv",
                                 "table7.csv", "table7_confusion.json")


def smoke_reproduction(work: Path) -> Path:
    """Run the smoke reproduction in `work` (phantom, runs, results); returns the results folder."""
    from deepnorm.cli import main as cli_main
    from deepnorm.data.phantom.build import ensure_phantom

    root = ensure_phantom(profile="smoke", seed=0, root=work / "phantom", progress=False)
    results = work / "results"
    code = cli_main(["reproduce", "--profile", "smoke", "--device", "cpu", "--data-root", str(root),
                           "--results-dir", str(results), "--figures-dir", str(work / "figures"),
                           "--runs-dir", str(work / "runs"), "--no-report"])
    if code != 0:
        raise SystemExit(f"smoke reproduction failed with exit code {code}")
    return results


def main() -> int:
    """Write the golden files into ``tests/golden/smoke/``."""
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
