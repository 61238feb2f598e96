"""The notebooks' figures and viewers, drawn from trained runs and result tables.

Each function takes an :class:`deepnorm.study.experiments.Context`, writes its PNG to the figures
folder (``ctx.figure(name)``) and returns the matplotlib Figure (or a widget), so a notebook
cell is one call and an executed notebook shows the picture without a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.data.preprocess import Prepared
from deepnorm.data.sites import SITE_NAMES
from deepnorm.files import read_json
from deepnorm.study import experiments as ex
from deepnorm.study import paper
from deepnorm.training.runs import Run


# --------------------------------------------------------------------------- data tour
@dataclass(frozen=True)
class Tour:
    """One pre-processed subject per available site, and a table describing each site."""

    rows: list[dict[str, Any]]
    subjects: dict[str, Any]


def data_tour(ctx: ex.Context, modalities: Sequence[str] = ("t1", "t2")) -> Tour:
    """Load the first subject of every site in the data root and pre-process it at the profile's spacing.

    Rows: site, subjects, modalities, native shape and spacing (mm), pre-processed shape.
    """
    from deepnorm.data.preprocess import preprocess_subject
    from deepnorm.data.sites import available_sites, open_site
    from deepnorm.training.config import profile

    spacing = profile(ctx.profile).data.spacing
    rows, subjects = [], {}
    for site in available_sites(ctx.data_root):
        dataset = open_site(ctx.data_root, site)
        subject = dataset.load(dataset.subject_ids[0])
        mods = tuple(m for m in modalities if m in subject.images)
        prepared = preprocess_subject(subject, mods, spacing)
        t1 = subject.images["t1"]
        rows.append({"site": SITE_NAMES.get(site, site), "subjects": len(dataset.subject_ids),
                     "modalities": "+".join(sorted(subject.images)),
                     "native shape": "x".join(map(str, t1.shape)),
                     "native spacing (mm)": "x".join(f"{s:.3g}" for s in t1.spacing),
                     "prepared shape": "x".join(map(str, prepared.labels.shape))})
        subjects[site] = prepared
    return Tour(rows, subjects)


#: The second contrast of a site, where it is not T2 (the channel's key is "t2" in both cases).
SECOND_CONTRAST: dict[str, str] = {"mrbrains": "T2-FLAIR"}


def tour_viewer(ctx: ex.Context, tour: Tour, site: str | None = None) -> Any:
    """One SliceViewer over the tour's subjects, `site` first: T1 beside the site's second contrast
    (T2, or T2-FLAIR for MRBrainS) for the sites that have one, a blank panel saying so for the
    others, with the ground-truth labels; each case at its voxel size (mm). With one site, T1 alone."""
    from deepnorm.widgets import SliceViewer, ViewerCase

    order = [site] if site else []
    order += [s for s in tour.subjects if s not in order]
    panels = 2 if any(tour.subjects[s].image.shape[0] > 1 for s in order) else 1
    cases = {}
    for key in order:
        s = tour.subjects[key]
        second = s.image[1] if s.image.shape[0] > 1 and panels == 2 else None
        names = ("T1", SECOND_CONTRAST.get(key, "T2"))[:panels]
        cases[key] = {str(s.subject_id): ViewerCase(s.image[0], second, s.labels, tuple(s.spacing), names)}
    return SliceViewer.browse(cases, names=("T1", "second contrast")[:panels], panels=panels)


def normalized_viewer(ctx: ex.Context, setting: str = "dual", split: str = "test") -> Any:
    """A SliceViewer of Ours' run on `setting`: each `split` subject's input beside its normalized
    image, with its ground-truth labels, at its voxel size (mm); one intensity window shared by
    both panels (so the brightness change normalization makes shows; "per panel" gives each its
    own); the site and subject dropdowns pick the subject, normalized when first shown."""
    from deepnorm.widgets import SliceViewer, ViewerCase

    run = ex.run_for(ctx, "adversarial", ex.SETTINGS[setting])

    def case(s: Any) -> Any:
        return lambda: ViewerCase(s.image[0], run.normalize_volume(s.image, s.mask)[0] * s.mask, s.labels,
                                  tuple(s.spacing))

    cases = {site: {str(s.subject_id): case(s) for s in ex.split_subjects(ctx, run, site, split)}
             for site in run.config.data.sites}
    return SliceViewer.browse(cases, names=("input", "normalized (Ours)"), shared_window=True)


def _tissue_pairs(subjects: dict[str, Any], stage: str, images: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    return {SITE_NAMES.get(site, site): {stage: ((images or {}).get(site, s.image)[0], s.labels)}
            for site, s in subjects.items()}


def tour_histograms(ctx: ex.Context, tour: Tour) -> Any:
    """Fig. 2: per-tissue T1 intensity histograms of each site's first subject (min-max inputs)."""
    from deepnorm.plots import plot_tissue_histograms

    return plot_tissue_histograms(_tissue_pairs(tour.subjects, "input"), path=ctx.figure("fig2_site_histograms"))


def tour_histogram_viewer(ctx: ex.Context, tour: Tour) -> Any:
    """A HistogramViewer over the tour's sites (site and tissue selectors)."""
    from deepnorm.widgets import HistogramViewer

    return HistogramViewer(_tissue_pairs(tour.subjects, "input"))


# --------------------------------------------------------------------------- tables as bars
def table2_bars(ctx: ex.Context, rows: Sequence[dict[str, Any]]) -> Any:
    """Table 2 as bars: mean Dice per (train → test) pair, the paper beside this reproduction."""
    from deepnorm.plots import display_name, plot_dice_bars

    table = {}
    for row in rows:
        key = (row["train_site"], row["test_site"])
        name = f"{display_name(row['train_site'])} → {display_name(row['test_site'])}"
        table[name] = {"this reproduction": float(row["dice_mean"])}
        if key in paper.TABLE2:
            table[name]["paper"] = float(paper.TABLE2[key]["mean"])
    return plot_dice_bars(table, title="Table 2: segmenter alone, mean Dice", ylabel="mean Dice (fraction)",
                          xlabel="trained on → tested on", path=ctx.figure("table2_cross_site"))


def table3_bars(ctx: ex.Context, rows: Sequence[dict[str, Any]]) -> Any:
    """Table 3, the main result, as bars: Dice per method and tissue in each setting, the paper's
    values as black ticks; error bars from the seeds when the rows carry ``dice_*_std``."""
    from deepnorm.plots import plot_method_tissue_bars

    return plot_method_tissue_bars(rows, paper=paper.TABLE3, path=ctx.figure("table3_normalization"))


def table4_bars(ctx: ex.Context, rows: Sequence[dict[str, Any]]) -> Any:
    """Table 4 as bars: true JSD (nats) between the sites' intensity histograms, per setting and image stage."""
    from deepnorm.plots import display_name, plot_dice_bars

    table: dict[str, dict[str, float]] = {}
    for row in rows:
        table.setdefault(display_name(row["setting"]), {})[display_name(row["stage"])] = float(row["jsd"])
    return plot_dice_bars(table, title="Table 4: Jensen-Shannon divergence between sites", ylabel="JSD (nats)",
                          ylim=None, xlabel="sites", path=ctx.figure("table4_jsd"))


def unseen_site_bars(ctx: ex.Context, rows: Sequence[dict[str, Any]],
                     scanner_rows: Sequence[dict[str, Any]] = ()) -> Any:
    """The unseen-site table as bars: Dice per tissue and method, one panel per held-out site, one for the
    mean over rotations and, given `scanner_rows` (the unseen-scanner table), one per held-out ABIDE
    scanner; error bars from the seeds when the rows carry ``dice_*_std``."""
    from deepnorm.plots import display_name, plot_method_tissue_bars

    shown = [{**row, "setting": "mean over rotations" if row["held_out"] == "mean"
              else f"held out: {display_name(row['held_out'])}"} for row in rows]
    shown += [{**row, "setting": f"held-out scanner: ABIDE {row['held_out']}"} for row in scanner_rows]
    return plot_method_tissue_bars(shown, path=ctx.figure("unseen_site"))


def training_curves(ctx: ex.Context, method: str, sites: Sequence[str]) -> Any:
    """Per-epoch losses, discriminator accuracies (with chance, 1 / (K + 1) for K sites) and validation
    Dice of one run."""
    from deepnorm.plots import plot_training_curves

    run = ex.run_for(ctx, method, sites)
    return plot_training_curves(run.history, n_domains=len(sites),
                                path=ctx.figure(f"curves_{method}_{'_'.join(sites)}"))


# --------------------------------------------------------------------------- Figs. 5-9
def _first_test_subjects(ctx: ex.Context, run: Run) -> dict[str, Prepared]:
    return {site: ex.split_subjects(ctx, run, site)[0] for site in run.config.data.sites}


def fig5_overlays(ctx: ex.Context, setting: str = "dual") -> Any:
    """Fig. 5: one test subject per site: T1, reference labels, Ours' segmentation."""
    from deepnorm.plots import plot_segmentation_overlays

    run = ex.run_for(ctx, "adversarial", ex.SETTINGS[setting])
    subjects = _first_test_subjects(ctx, run)
    images, truths, preds = [], [], []
    for s in ctx.steps(list(subjects.values()), "Fig. 5: segmenting"):
        pred = np.argmax(run.segment_volume(s.image, s.mask), axis=0)
        pred[~np.asarray(s.mask, dtype=bool)] = 0
        images.append(s.image)
        truths.append(s.labels)
        preds.append(pred)
    spacing = next(iter(subjects.values())).spacing
    titles = [SITE_NAMES.get(site, site) for site in subjects]
    return plot_segmentation_overlays(images, truths, preds, titles, spacing, path=ctx.figure("fig5_segmentations"))


def fig6_patches(ctx: ex.Context, setting: str = "dual", per_site: int = 3) -> Any:
    """Fig. 6: input patches of each site above the generator's normalized patches."""
    import torch

    from deepnorm.plots import plot_patches
    from deepnorm.sampling import PatchSampler

    run = ex.run_for(ctx, "adversarial", ex.SETTINGS[setting])
    assert run.generator is not None, "an adversarial run has its G"
    subjects = _first_test_subjects(ctx, run)
    inputs, titles = [], []
    for z, (site, s) in enumerate(subjects.items()):
        sampler = PatchSampler([s.image], [s.labels], run.config.data.patch_size, domains=[z], seed=ctx.seed)
        batch = sampler.sample(per_site)
        inputs += list(batch.images.numpy())
        titles += [SITE_NAMES.get(site, site)] * per_site
    device = next(run.generator.parameters()).device
    with torch.no_grad():
        normalized = run.generator(torch.as_tensor(np.stack(inputs), device=device)).float().cpu().numpy()
    return plot_patches(inputs, list(normalized), titles=titles, path=ctx.figure("fig6_patches"))


def fig7_histograms(ctx: ex.Context, setting: str = "dual") -> Any:
    """Fig. 2/7: per-tissue histograms of the test subjects before and after Ours' normalization."""
    from deepnorm.plots import plot_tissue_histograms

    run = ex.run_for(ctx, "adversarial", ex.SETTINGS[setting])
    data: dict[str, dict[str, Any]] = {}
    for site in ctx.steps(list(run.config.data.sites), "Fig. 7: normalizing"):
        subjects = ex.split_subjects(ctx, run, site)
        before = np.concatenate([s.image[0][s.mask] for s in subjects])
        after = np.concatenate([run.normalize_volume(s.image, s.mask)[0][s.mask] for s in subjects])
        labels = np.concatenate([s.labels[s.mask] for s in subjects])
        name = SITE_NAMES.get(site, site)
        data[name] = {"input": (before, labels), "normalized (ours)": (after, labels)}
    return plot_tissue_histograms(data, path=ctx.figure("fig7_histograms"))


def fig8_bias(ctx: ex.Context, site: str = "iseg", alphas: Sequence[float] = (0.3, 0.5, 0.7, 0.9)) -> Any:
    """Fig. 4/8: one test subject degraded at each α (and at α = 0, undegraded), its normalized
    versions, and its mean intensity along y (mm) before and after Ours, trained with the
    robustness augmentation as for Table 6."""
    from deepnorm.data.augment import apply_bias_field
    from deepnorm.plots import plot_bias_field
    from deepnorm.views import mean_along_axis

    run = ex.run_for(ctx, "adversarial", ex.SETTINGS["dual"], bias_augment=ex.ROBUSTNESS_AUGMENT)
    s = ex.split_subjects(ctx, run, site)[0]
    mask = np.asarray(s.mask, dtype=bool)
    every_alpha = sorted({0.0, *(float(a) for a in alphas)})
    images, normalized_images, degraded_profiles, normalized_profiles = {}, {}, {}, {}
    for alpha in ctx.steps(every_alpha, "Fig. 8: α"):
        degraded = (apply_bias_field(s.image, alpha, axis=1) * mask).astype(np.float32)
        normalized = run.normalize_volume(degraded, mask) * mask
        images[alpha] = degraded[0]
        normalized_images[alpha] = normalized[0]
        degraded_profiles[f"α = {alpha:g}"] = mean_along_axis(degraded[0], axis=1, mask=mask)
        normalized_profiles[f"α = {alpha:g}"] = mean_along_axis(normalized[0], axis=1, mask=mask)
    name = SITE_NAMES.get(site, site)
    profiles = {f"{name}, degraded": degraded_profiles, f"{name}, normalized (Ours)": normalized_profiles}
    return plot_bias_field(images, profiles, normalized_by_alpha=normalized_images, spacing=s.spacing,
                           path=ctx.figure(f"fig8_bias_field_{site}"))


def _confusions(ctx: ex.Context) -> tuple[dict[float, np.ndarray], list[str]]:
    from deepnorm.errors import RunError

    data = read_json("table7_confusion", Path(ctx.results_dir))
    if not data:
        raise RunError(f"no table7_confusion.json in {ctx.results_dir}: run ex.table7(ctx) first")
    matrices = {float(k): np.asarray(v["matrix"]) for k, v in data.items()}
    classes = next(iter(data.values()))["classes"]
    return matrices, [SITE_NAMES.get(c, c) for c in classes]


def fig9_confusion(ctx: ex.Context) -> Any:
    """Fig. 9: the discriminator's normalized confusion matrix on test patches, one per λ."""
    from deepnorm.plots import plot_confusion_matrices

    matrices, classes = _confusions(ctx)
    return plot_confusion_matrices(matrices, classes, path=ctx.figure("fig9_confusion"))


def confusion_viewer(ctx: ex.Context) -> Any:
    """A ConfusionMatrixViewer with a λ selector over Table 7's matrices."""
    from deepnorm.widgets import ConfusionMatrixViewer

    matrices, classes = _confusions(ctx)
    return ConfusionMatrixViewer(matrices, classes)
