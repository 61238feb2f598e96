"""Write the experiment notebooks from this one source (outputs stripped, `parameters` cell tagged).

    python notebooks/build_notebooks.py          # rewrite notebooks/*.ipynb
    python notebooks/build_notebooks.py --check  # exit 1 if a committed notebook differs

Each notebook only sets parameters and calls the library (deepnorm.study.experiments,
deepnorm.study.figures, deepnorm.widgets). Edit the cells here, not in the .ipynb files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

COMMON_PARAMETERS = '''\
profile = "cpu"  # smoke (seconds, tests), cpu (the default, 2-core laptop) or paper (GPU, real data)
data_root = ""  # empty: the embedded phantom of the profile, built on first use; else a real data root
seed = 0  # one seed for data splits, patch sampling and network initialisation
device = "auto"  # auto (CUDA if available), cpu or cuda
results_dir = ""  # empty: results/ (the tables the report reads)
figures_dir = ""  # empty: figures/ (PNG)
runs_dir = ""  # empty: runs/ (trained models, reused when the configuration is the same)'''

CONTEXT = '''\
from IPython.display import Markdown, display

from deepnorm.study import figures as figs
from deepnorm.study import experiments as ex

ctx = ex.Context(profile=profile, data_root=data_root, seed=seed, device=device,
                 results_dir=results_dir, figures_dir=figures_dir, runs_dir=runs_dir)
print("data root:", ctx.data_root)'''


def _timing(cpu: str, smoke: str = "under a minute") -> str:
    return (f"\n\n**Run time:** `smoke` {smoke}; `cpu` {cpu} on 2 cores (trained runs are reused, so a second "
            "run only evaluates); `paper` hours on one GPU with the real data.")


NOTEBOOKS: dict[str, list[tuple[str, str]]] = {
    "00_data_tour": [
        ("md", "# Data tour: three sites, one anatomy\n\nThe paper trains on iSEG-2017 (infants, isointense T1/T2), "
               "MRBrainS13 (adults, T1/FLAIR, 3 mm slices) and ABIDE (children and adults from many scanners, T1). "
               "Without the real data, deepnorm builds an embedded phantom with the same layouts and file formats "
               "from the MNI ICBM152 anatomy shipped in nilearn, so the very same loaders and pre-processing run on "
               "both. This notebook loads one subject per site, shows it in the slice viewer, and compares the "
               "sites' tissue intensity histograms: the domain shift the paper's normalizer removes."
               + _timing("about a minute (the first run builds the phantom)")),
        ("params", COMMON_PARAMETERS),
        ("code", CONTEXT),
        ("md", "## The sites on disk\n\nEach site is read by its own loader (`deepnorm.data.sites`) from its real "
               "layout; labels are mapped to 0 background, 1 CSF, 2 GM, 3 WM."),
        ("code", "tour = figs.data_tour(ctx)\ndisplay(Markdown(ex.markdown_table(tour.rows)))"),
        ("md", "## One subject per site, pre-processed\n\nSkull-stripped, cropped to the brain, resampled to the "
               "profile's voxel size and min-max scaled to [0, 1]: the generator's input. Move the slider, switch "
               "the axis, toggle the label overlay."),
        ("code", "viewer = figs.tour_viewer(ctx, tour)\nviewer"),
        ("md", "## Tissue intensity histograms per site (Fig. 2)\n\nThe same tissue sits at different intensities "
               "in different sites: a segmenter trained on one site meets unfamiliar intensities on another."),
        ("code", "figs.tour_histograms(ctx, tour)"),
        ("code", "hist_viewer = figs.tour_histogram_viewer(ctx, tour)\nhist_viewer"),
    ],
    "01_table2_cross_site": [
        ("md", "# Table 2: a segmenter does not travel between sites\n\nThe paper trains the 3D U-Net segmenter "
               "alone on min-max scaled images of one data set and tests it on the test subjects of both. Claim C1: "
               "testing on the other site loses at least 30 % of the mean Dice." + _timing("about 1 minute")),
        ("params", COMMON_PARAMETERS + '\nsites = ["iseg", "mrbrains"]  # train on each, test on each'),
        ("code", CONTEXT),
        ("md", "## Train (or reuse) one segmenter per site, test on every site\n\nWhole test volumes go through "
               "the sliding window (class probabilities averaged over overlapping patches); Dice per tissue "
               "(Eq. 4) and mean Hausdorff distance in mm (Eq. 5)."),
        ("code", "rows = ex.table2(ctx, sites)\ndisplay(Markdown(ex.markdown_table(rows)))"),
        ("md", "## Paper beside ours"),
        ("code", "figs.table2_bars(ctx, rows)"),
    ],
    "02_table3_normalization": [
        ("md", "# Table 3: normalizing the intensities before segmenting\n\nThree ways to make several sites look "
               "alike, each followed by the same segmenter: per-volume z-score (*Standardization*), a generator "
               "trained only for segmentation (*Pre-processor*, λ = 0) and the paper's generator trained with the "
               "K+1-class discriminator (*Ours*, λ = 1.5), on two and three sites. Claims C2, C3 and C9."
               + _timing("about 17 minutes (six trainings)")),
        ("params", COMMON_PARAMETERS + '\nsettings = ["dual", "multi"]  # iSEG + MRBrainS, and + ABIDE'),
        ("code", CONTEXT),
        ("md", "## Train and evaluate the three normalizers in each setting\n\n"
               "Algorithm 1: for n_steps the discriminator learns real patches as their site and generated "
               "patches as class K+1; then the segmenter and generator step on the Dice loss plus λ times the "
               "generator's adversarial term."),
        ("code", "rows = ex.table3(ctx, settings)\ndisplay(Markdown(ex.markdown_table(rows)))"),
        ("md", "## Training curves of Ours (two sites)"),
        ("code", "figs.training_curves(ctx, 'adversarial', ex.SETTINGS['dual'])"),
        ("md", "## Fig. 5: segmentations of one test subject per site"),
        ("code", "figs.fig5_overlays(ctx)"),
        ("md", "## Fig. 6: input patches and their normalized versions\n\nThe generator keeps the anatomy and "
               "moves every site's intensities towards one shared appearance."),
        ("code", "figs.fig6_patches(ctx)"),
        ("md", "## Fig. 2 and 7: per-tissue histograms before and after normalization"),
        ("code", "figs.fig7_histograms(ctx)"),
    ],
    "03_table4_jsd": [
        ("md", "# Table 4: how different are the sites' intensity distributions?\n\nThe Jensen–Shannon divergence "
               "between the brain intensity histograms of each pair of sites, averaged over pairs, for the inputs "
               "and for the outputs of the two learned normalizers. We report the true JSD (nats, at most ln 2) "
               "and, beside it, the quantity the authors' code computed, which explains why the paper's values "
               "(2.08 and 12.22) exceed ln 2. Claim C4." + _timing("30 seconds when Table 3's runs exist")),
        ("params", COMMON_PARAMETERS + '\nsettings = ["dual", "multi"]'),
        ("code", CONTEXT),
        ("code", "rows = ex.table4(ctx, settings)\ndisplay(Markdown(ex.markdown_table(rows, digits=4)))"),
        ("code", "figs.table4_bars(ctx, rows)"),
    ],
    "04_table5_modalities": [
        ("md", "# Table 5: one modality or two?\n\nOurs on iSEG + MRBrainS with T1 alone and with T1 plus the "
               "second contrast (T2 for iSEG, FLAIR for MRBrainS). Claim C5: two modalities segment better."
               + _timing("about 4 minutes")),
        ("params", COMMON_PARAMETERS),
        ("code", CONTEXT),
        ("code", "rows = ex.table5(ctx)\ndisplay(Markdown(ex.markdown_table(rows)))"),
    ],
    "05_table6_bias_field": [
        ("md", "# Table 6: does the normalizer remove a bias field?\n\nTest images are degraded by Eq. 7, "
               "B(y) = (y/H)·α + (1 − α), a multiplicative ramp along y, then normalized by Ours. Pearson ρ "
               "between intensity and y in each axial slice measures how much of the ramp is left. Claim C6."
               + _timing("30 seconds when Table 3's runs exist")),
        ("params", COMMON_PARAMETERS + "\nalphas = [0.3, 0.5, 0.7, 0.9]\nfigure_site = \"iseg\"  # the site shown in Fig. 8"),
        ("code", CONTEXT),
        ("code", "rows = ex.table6(ctx, alphas)\ndisplay(Markdown(ex.markdown_table(rows)))"),
        ("md", "## Fig. 4 and 8: degraded images and the mean intensity along y"),
        ("code", "figs.fig8_bias(ctx, site=figure_site, alphas=alphas)"),
    ],
    "06_table7_lambda": [
        ("md", "# Table 7 and Fig. 9: the weight λ of the adversarial term\n\nλ trades segmentation for realism. "
               "A small λ lets the discriminator win (it tells generated patches apart); a large λ makes the "
               "generator's images pass for real sites. Claims C7 and C8." + _timing("about 8 minutes (two trainings)")),
        ("params", COMMON_PARAMETERS + "\nlambdas = [0.1, 1.5, 5.0]"),
        ("code", CONTEXT),
        ("code", "rows = ex.table7(ctx, lambdas)\ndisplay(Markdown(ex.markdown_table(rows)))"),
        ("md", "## Fig. 9: the discriminator's confusion matrix per λ\n\nRows are the true class (the sites, then "
               "*generated*), columns the discriminator's answer."),
        ("code", "figs.fig9_confusion(ctx)"),
        ("code", "viewer = figs.confusion_viewer(ctx)\nviewer"),
    ],
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name` with stripped outputs and a tagged `parameters` cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, source) in enumerate(NOTEBOOKS[name]):
        if kind == "md":
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
        cell["id"] = f"{name[:2]}-{i:02d}"
        nb.cells.append(cell)
    return nb


def main(argv: list[str]) -> int:
    """Write (or with --check, compare) every notebook; returns the exit code."""
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = nbformat.writes(build(name)) + "\n"
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python notebooks/build_notebooks.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
