"""Write the pictures under docs/: the viewers (as their PNG) and the study's new figures.

    python docs/make_screenshots.py [--train]

Viewers (docs/viewers/): the data tour's SliceViewer (labels on) and HistogramViewer on the smoke
phantom, and the ConfusionMatrixViewer of the committed results/table7_confusion.json. Figures
(docs/figures/): Table 3 and Table 4 from the committed results/, and, with ``--train``, the
training curves, Fig. 6 and Fig. 8 of a smoke adversarial run trained here (a minute on a CPU;
its networks are barely trained, so these show the figures' layout, not the method's result).
The committed figures/ are left alone: `make reproduce` writes those.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from deepnorm.files import read_table
from deepnorm.study import experiments as ex
from deepnorm.study import figures as figs

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="also train a smoke run for the curves, Fig. 6 and Fig. 8")
    args = parser.parse_args(argv)
    viewers, figures = DOCS / "viewers", DOCS / "figures"
    viewers.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        ctx = ex.Context(profile="smoke", results_dir=str(ROOT / "results"), figures_dir=scratch,
                         runs_dir=str(Path(scratch) / "runs"), progress=False)
        tour = figs.data_tour(ctx)
        slice_viewer = figs.tour_viewer(ctx, tour)
        slice_viewer.overlay_toggle.value = True
        slice_viewer.to_png(viewers / "slice_viewer.png")
        figs.tour_histogram_viewer(ctx, tour).to_png(viewers / "histogram_viewer.png")
        figs.confusion_viewer(ctx).to_png(viewers / "confusion_viewer.png")
        figs.table3_bars(ctx, read_table("table3", ROOT / "results"))
        figs.table4_bars(ctx, read_table("table4", ROOT / "results"))
        if args.train:
            figs.training_curves(ctx, "adversarial", ex.SETTINGS["dual"])
            figs.fig6_patches(ctx)
            figs.fig8_bias(ctx, site="iseg")
        for png in sorted(Path(scratch).glob("*.png")):
            target = figures / png.name.removeprefix("smoke_")
            shutil.copyfile(png, target)
            print(f"wrote {target.relative_to(ROOT)}")
    print(f"wrote {', '.join(p.name for p in sorted(viewers.glob('*.png')))} in {viewers.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
