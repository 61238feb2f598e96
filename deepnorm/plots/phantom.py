"""Overview figure of a multi-site data root (the embedded phantom or the real data sets)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.data.sites import SITE_NAMES
from deepnorm.labels import CSF, GM, TISSUE_NAMES, TISSUES, WM
from deepnorm.plots.figures import _new_figure, save_figure
from deepnorm.views import (
    LABEL_COLORS,
    blend_overlay,
    percentile_window,
    slice_aspect,
    take_slice,
)

_MODALITY_NAMES = {"iseg": {"t1": "T1", "t2": "T2"}, "mrbrains": {"t1": "T1", "t2": "T2-FLAIR"}}


def _brain_centre_slice(labels: np.ndarray) -> int:
    """Axial (z) index through the centre of the labelled brain, in voxels."""
    z = np.nonzero(labels.any(axis=(0, 1)))[0]
    return int((z.min() + z.max()) // 2) if z.size else labels.shape[2] // 2


def plot_phantom_sites(root: str | os.PathLike, path: str | os.PathLike | None = None,
                       *, subject_index: int = 0) -> Any:
    """One row per site found under the data root `root`: mid axial slice of each modality,
    the T1 with its label overlay (CSF/GM/WM), and per-tissue intensity histograms.

    Intensities are shown and binned in units of each image's 99.5th brain percentile (so the
    sites' contrasts compare despite their different file scales); slices keep the voxel aspect
    (mm). Uses the `subject_index`-th subject (sorted ids) of each site. Writes a PNG to `path`
    when given; returns the matplotlib Figure.
    """
    from deepnorm.data.sites import available_sites, open_site

    sites = available_sites(root)
    figure = _new_figure((13.0, 3.1 * max(len(sites), 1)))
    axes = figure.subplots(max(len(sites), 1), 4, squeeze=False)
    bins = np.linspace(0.0, 1.2, 61)
    for row, key in enumerate(sites):
        site = open_site(root, key)
        subject = site.load(site.subject_ids[min(subject_index, len(site.subject_ids) - 1)])
        labels = np.asarray(subject.labels.data)
        brain = labels > 0
        z = _brain_centre_slice(labels)
        spacing = subject.labels.spacing
        aspect = slice_aspect(spacing, "axial")
        names = _MODALITY_NAMES.get(key, {"t1": "T1"})
        scaled: dict[str, np.ndarray] = {}
        for col, modality in enumerate(("t1", "t2")):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if modality not in subject.images:
                ax.text(0.5, 0.5, f"no {modality.upper()}", ha="center", va="center", transform=ax.transAxes)
                ax.set_frame_on(False)
                continue
            image = np.asarray(subject.images[modality].data, dtype=np.float64)
            hi = percentile_window(image, brain)[1]
            scaled[modality] = image / hi
            ax.imshow(take_slice(scaled[modality], "axial", z), cmap="gray", vmin=0.0, vmax=1.0, aspect=aspect)
            ax.set_title(f"{SITE_NAMES[key]} {subject.subject_id}: {names[modality]}", fontsize=9)
        ax = axes[row, 2]
        overlay = blend_overlay(take_slice(scaled["t1"], "axial", z), take_slice(labels, "axial", z), 0.45)
        ax.imshow(overlay, aspect=aspect)
        ax.set_xticks([])
        ax.set_yticks([])
        spacing_text = " x ".join(f"{s:g}" for s in spacing)
        ax.set_title(f"labels ({spacing_text} mm, {subject.scanner})", fontsize=9)
        ax = axes[row, 3]
        for modality, style in (("t1", "-"), ("t2", "--")):
            if modality not in scaled:
                continue
            for tissue, name in zip(TISSUES, TISSUE_NAMES):
                values = np.clip(scaled[modality][labels == tissue], bins[0], bins[-1])
                counts, _ = np.histogram(values, bins=bins, density=True)
                ax.plot(0.5 * (bins[1:] + bins[:-1]), counts, style, color=LABEL_COLORS[tissue][:3],
                        label=f"{names[modality]} {name}")
        ax.set_xlabel("intensity / 99.5th brain percentile", fontsize=8)
        ax.set_title("tissue histograms", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
    assert (CSF, GM, WM) == TISSUES
    return save_figure(figure, Path(path) if path is not None else None)
