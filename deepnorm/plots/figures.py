"""Static figures of the paper, generic over numpy inputs: one function per figure.

Every function returns a matplotlib Figure and, when `path` is given, also writes it as a PNG
(dpi 120, tight bounding box). Figures are made with pyplot and closed at once, so nothing piles
up in pyplot's registry, while a notebook still shows a figure returned as a cell's last value.
Slices follow the orientation of `deepnorm.views.take_slice` (axial: anterior up).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import DataError
from deepnorm.files import atomic_write_bytes
from deepnorm.labels import CLASS_NAMES
from deepnorm.views import (
    COLORBAR_LABEL,
    LABEL_COLORS,
    NORMALIZATION_NOTE,
    blend_overlay,
    n_slices,
    normalize_confusion,
    percentile_window,
    slice_aspect,
    take_slice,
    tissue_histograms,
    unwrap_volume,
)

DPI = 120


def _new_figure(figsize: tuple[float, float]) -> Any:
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=figsize, layout="constrained")
    plt.close(figure)
    return figure


def save_figure(figure: Any, path: str | Path | None) -> Any:
    """Write `figure` to `path` as PNG (dpi 120, tight), atomically, creating folders; returns the figure."""
    if path is not None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
        atomic_write_bytes(path, buffer.getvalue())
    return figure


def _site_label(key: Any) -> str:
    return SITE_NAMES.get(str(key), str(key))


def _middle_slice(volume: Any, axis: str, index: int | None) -> np.ndarray:
    volume, _ = unwrap_volume(volume, "figure input")
    if volume.ndim == 4:
        volume = volume[0]
    if index is None:
        index = n_slices(volume.shape, axis) // 2
    return take_slice(volume, axis, index)


def plot_segmentation_overlays(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    axis: str = "axial",
    index: int | None = None,
    alpha: float = 0.45,
    path: str | Path | None = None,
) -> Any:
    """Fig. 5: one row per case (image, ground truth overlay, prediction overlay).

    `images[i]` is (X,Y,Z) or (C,X,Y,Z) (channel 0 shown), `truths[i]`/`preds[i]` (X,Y,Z) labels
    in 0..3; `spacing` in mm sets the aspect; `index` (default: middle) picks the slice.
    Returns a Figure with 3 * len(images) axes.
    """
    if not len(images) == len(truths) == len(preds) or len(images) == 0:
        raise DataError(
            f"plot_segmentation_overlays needs as many images, truths and predictions (>= 1), "
            f"got {len(images)}, {len(truths)}, {len(preds)}."
        )
    titles = list(titles) if titles is not None else [f"case {i}" for i in range(len(images))]
    aspect = slice_aspect(spacing, axis)
    figure = _new_figure((9.0, 3.0 * len(images)))
    axes = figure.subplots(len(images), 3, squeeze=False)
    for row, (image, truth, pred) in enumerate(zip(images, truths, preds)):
        gray = _middle_slice(image, axis, index)
        window = percentile_window(gray, gray != 0) if np.any(gray != 0) else (0.0, 1.0)
        panels = [
            (blend_overlay(gray, np.zeros(gray.shape, dtype=int), window=window), "image"),
            (blend_overlay(gray, _middle_slice(truth, axis, index), alpha, window=window), "ground truth"),
            (blend_overlay(gray, _middle_slice(pred, axis, index), alpha, window=window), "prediction"),
        ]
        for col, (rgb, name) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(rgb, aspect=aspect, interpolation="nearest")
            ax.set_title(f"{titles[row]}: {name}" if col == 0 else name, fontsize=9)
            ax.axis("off")
    _label_legend(figure)
    return save_figure(figure, path)


def _label_legend(figure: Any) -> None:
    from matplotlib.patches import Patch


    handles = [Patch(color=c, label=CLASS_NAMES[k]) for k, c in LABEL_COLORS.items()]
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)


def plot_patches(
    inputs: Sequence[np.ndarray] | np.ndarray,
    normalized: Sequence[np.ndarray] | np.ndarray,
    *,
    axis: str = "axial",
    titles: Sequence[str] | None = None,
    window: tuple[float, float] | None = None,
    path: str | Path | None = None,
) -> Any:
    """Fig. 6: input patches (top row) above their normalized versions (bottom row).

    Each patch is (p,p,p) or (C,p,p,p) (channel 0 shown, middle slice along `axis`). Every
    patch, input or normalized, is shown with one shared intensity `window` (vmin, vmax), by
    default the (0.5, 99.5) percentiles of all the slices shown, so a change of intensity made
    by the generator shows as a change of gray; a colour bar gives the scale. Returns a Figure
    with 2 * n image axes and the colour bar's axes.
    """
    if len(inputs) != len(normalized) or len(inputs) == 0:
        raise DataError(f"plot_patches needs as many inputs as outputs (>= 1), got {len(inputs)} and {len(normalized)}.")
    n = len(inputs)
    titles = list(titles) if titles is not None else [f"patch {i}" for i in range(n)]
    slices = [[_middle_slice(source[col], axis, None) for col in range(n)] for source in (inputs, normalized)]
    if window is None:
        window = percentile_window(np.concatenate([s.ravel() for row in slices for s in row]))
    vmin, vmax = float(window[0]), float(window[1])
    figure = _new_figure((1.8 * n + 1.2, 3.9))
    axes = figure.subplots(2, n, squeeze=False)
    shown = None
    for row, name in enumerate(("input", "normalized")):
        for col in range(n):
            ax = axes[row, col]
            shown = ax.imshow(slices[row][col], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
            if col == 0:
                ax.set_ylabel(name)
    colorbar = figure.colorbar(shown, ax=axes, shrink=0.8, pad=0.02)
    colorbar.set_label("intensity (a.u., one window for all patches)", fontsize=8)
    return save_figure(figure, path)


def _as_histograms(value: Any, bins: int, value_range: tuple[float, float]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    if isinstance(value, Mapping):
        return {int(k): (np.asarray(v[0]), np.asarray(v[1])) for k, v in value.items()}
    image, labels = value
    return tissue_histograms(image, labels, bins, value_range, density=True)


def plot_tissue_histograms(
    hists_by_site_stage: Mapping[str, Mapping[str, Any]],
    *,
    bins: int = 64,
    value_range: tuple[float, float] = (0.0, 1.0),
    tissue_names: Mapping[int, str] | None = None,
    path: str | Path | None = None,
) -> Any:
    """Fig. 2/7: per-tissue intensity histograms, one line per site.

    ``hists_by_site_stage[site][stage]`` is either the output of `tissue_histograms`
    (``{tissue: (counts, edges)}``) or an ``(image, labels)`` pair, binned here with `bins`
    over `value_range` as densities. Rows = stages (e.g. "before", "after"), columns = tissues.
    Returns a Figure with n_stages * n_tissues axes.
    """
    import seaborn as sns

    if not hists_by_site_stage:
        raise DataError("plot_tissue_histograms got no site.")
    data = {
        site: {stage: _as_histograms(v, bins, value_range) for stage, v in stages.items()}
        for site, stages in hists_by_site_stage.items()
    }
    stages = list(dict.fromkeys(stage for stages in data.values() for stage in stages))
    tissues = sorted({t for stages in data.values() for h in stages.values() for t in h})
    names = dict(tissue_names) if tissue_names is not None else {t: CLASS_NAMES[t] for t in tissues if t < len(CLASS_NAMES)}
    palette = sns.color_palette("deep", len(data))
    with sns.axes_style("whitegrid"):
        figure = _new_figure((3.2 * len(tissues), 2.6 * len(stages)))
        axes = figure.subplots(len(stages), len(tissues), squeeze=False, sharex=True)
    for r, stage in enumerate(stages):
        for c, tissue in enumerate(tissues):
            ax = axes[r, c]
            for color, (site, by_stage) in zip(palette, data.items()):
                if stage in by_stage and tissue in by_stage[stage]:
                    counts, edges = by_stage[stage][tissue]
                    centres = 0.5 * (edges[:-1] + edges[1:])
                    ax.plot(centres, counts, color=color, label=_site_label(site))
                    ax.fill_between(centres, counts, color=color, alpha=0.15)
            ax.set_title(f"{names.get(tissue, tissue)} ({stage})", fontsize=10)
            if c == 0:
                ax.set_ylabel("probability density (1 / a.u.)")
            if r == len(stages) - 1:
                ax.set_xlabel("intensity (a.u.)")
    axes[0, -1].legend(fontsize=8)
    return save_figure(figure, path)


def _row_window(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """(0, 99.5th percentile of the non-zero voxels) over all `images`: one window per image row."""
    values = np.concatenate([np.asarray(i, dtype=np.float64).ravel() for i in images])
    nonzero = values[values != 0]
    top = percentile_window(nonzero if nonzero.size else values)[1]
    return 0.0, max(top, 1e-6)


def plot_bias_field(
    images_by_alpha: Mapping[Any, np.ndarray],
    mean_profiles: Mapping[str, Any],
    *,
    normalized_by_alpha: Mapping[Any, np.ndarray] | None = None,
    axis: str = "axial",
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    path: str | Path | None = None,
) -> Any:
    """Fig. 4/8: bias-degraded images, their normalized versions, and mean intensity along y.

    `images_by_alpha` (and `normalized_by_alpha`, drawn as a second row when given) map α (or a
    title) to a 2D slice (shown as is) or an (X,Y,Z)/(C,X,Y,Z) volume (middle slice along
    `axis`; axial and sagittal slices show the y ramp); each row shares one intensity window
    and a colour bar. `mean_profiles` maps a panel title to ``{curve label: 1D profile along
    y}`` (one axes each, all with one shared y range), or directly a curve label to a profile
    (one axes). The profiles' x axis is the position along y in mm (``spacing[1]`` per voxel,
    `spacing` in mm as (x, y, z)). Returns a Figure with one axes per image and profile panel,
    plus one colour bar per image row.
    """
    if not images_by_alpha or not mean_profiles:
        raise DataError("plot_bias_field needs at least one image and one mean-intensity profile.")
    if len(spacing) != 3 or min(float(s) for s in spacing) <= 0:
        raise DataError(f"plot_bias_field: spacing must be three positive voxel sizes in mm, got {tuple(spacing)}.")
    first = next(iter(mean_profiles.values()))
    panels = dict(mean_profiles) if isinstance(first, Mapping) else {"mean intensity along y": dict(mean_profiles)}
    rows = [("degraded", images_by_alpha)]
    if normalized_by_alpha:
        rows.append(("normalized", normalized_by_alpha))
    n_top, n_bottom = max(len(images) for _, images in rows), len(panels)
    figure = _new_figure((max(2.3 * n_top + 0.8, 4.2 * n_bottom), 2.7 * (len(rows) + 1)))
    subfigures = figure.subfigures(len(rows) + 1, 1)
    for subfigure, (row_name, images) in zip(subfigures, rows):
        grays, aspects = [], []
        for image in images.values():
            image = np.asarray(image)
            grays.append(image if image.ndim == 2 else _middle_slice(image, axis, None))
            aspects.append(1.0 if image.ndim == 2 else slice_aspect(spacing, axis))
        vmin, vmax = _row_window(grays)
        image_axes = subfigure.subplots(1, n_top, squeeze=False)[0]
        shown = None
        for ax, key, gray, aspect in zip(image_axes, images, grays, aspects):
            shown = ax.imshow(gray, cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect)
            label = key if isinstance(key, str) else f"α = {key:g}"
            ax.set_title(f"{row_name}, {label}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in image_axes[len(images):]:
            ax.remove()
        colorbar = subfigure.colorbar(shown, ax=list(image_axes[: len(images)]), shrink=0.9, pad=0.02)
        colorbar.set_label("intensity (a.u.)", fontsize=8)
    profile_axes = subfigures[-1].subplots(1, n_bottom, squeeze=False, sharey=True)[0]
    dy = float(spacing[1])
    for i, (ax, (title, curves)) in enumerate(zip(profile_axes, panels.items())):
        for label, profile in curves.items():
            profile = np.asarray(profile, dtype=float)
            ax.plot(np.arange(profile.size) * dy, profile, label=str(label))
        ax.set_title(str(title), fontsize=10)
        ax.set_xlabel("y (mm, posterior → anterior)")
        if i == 0:
            ax.set_ylabel("mean brain intensity (a.u.)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(figure, path)


def draw_confusion(ax: Any, matrix: np.ndarray, class_names: Sequence[str], *, cbar: bool = True, cbar_ax: Any = None) -> Any:
    """Annotated seaborn heat map of a row-normalised confusion `matrix` on `ax` (scale 0..1)."""
    import seaborn as sns

    matrix = normalize_confusion(matrix)
    if len(class_names) != matrix.shape[0]:
        raise DataError(f"{len(class_names)} class names for a {matrix.shape[0]}-class confusion matrix.")
    sns.heatmap(
        matrix, ax=ax, vmin=0.0, vmax=1.0, cmap="viridis", annot=True, fmt=".2f", square=True,
        xticklabels=list(class_names), yticklabels=list(class_names), cbar=cbar, cbar_ax=cbar_ax,
        annot_kws={"fontsize": 8},
    )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    mesh = ax.collections[0]
    if cbar and mesh.colorbar is not None:

        mesh.colorbar.set_label(COLORBAR_LABEL)
    return ax


def plot_confusion_matrices(
    matrices_by_lambda: Mapping[float, np.ndarray],
    class_names: Sequence[str],
    *,
    path: str | Path | None = None,
) -> Any:
    """Fig. 9: the discriminator's row-normalised (K+1)x(K+1) confusion matrix for each λ.

    One annotated heat map per λ (sorted) and one shared colour bar: len + 1 axes.
    """
    if not matrices_by_lambda:
        raise DataError("plot_confusion_matrices got no matrix.")
    lambdas = sorted(matrices_by_lambda)
    n = len(lambdas)
    figure = _new_figure((3.4 * n + 0.8, 3.6))
    grid = figure.add_gridspec(1, n + 1, width_ratios=[1.0] * n + [0.06])
    cbar_ax = figure.add_subplot(grid[0, n])
    for i, lam in enumerate(lambdas):
        ax = figure.add_subplot(grid[0, i])
        draw_confusion(ax, np.asarray(matrices_by_lambda[lam]), class_names, cbar=(i == 0), cbar_ax=cbar_ax)
        ax.set_title(f"λ = {lam:g}")
        if i > 0:
            ax.set_ylabel("")

    figure.suptitle(f"discriminator confusion on test patches ({NORMALIZATION_NOTE})", fontsize=10)
    return save_figure(figure, path)


def _columns(history: Any) -> dict[str, np.ndarray]:
    if hasattr(history, "to_dict") and not isinstance(history, Mapping):
        history = history.to_dict("list")
    if isinstance(history, Sequence) and history and isinstance(history[0], Mapping):
        keys = list(dict.fromkeys(k for row in history for k in row))
        history = {k: [row.get(k, np.nan) for row in history] for k in keys}
    out = {}
    for key, values in dict(history).items():
        try:
            out[str(key)] = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            continue
    return out


#: Display name of each history.csv column (deepnorm.training.loop) and the panel it goes to.
HISTORY_COLUMNS: dict[str, tuple[str, str]] = {
    "loss": ("G/S loss (Eq. 1 + λ Eq. 3), train", "generator / segmenter loss"),
    "seg_loss": ("Dice loss (Eq. 1), train", "generator / segmenter loss"),
    "adversarial": ("adversarial loss (Eq. 3), train", "generator / segmenter loss"),
    "val_seg_loss": ("Dice loss (Eq. 1), validation", "generator / segmenter loss"),
    # train and validation: the same quantity, mean over real patches + mean over generated ones
    "d_loss": ("D cross-entropy (Eq. 2: real + generated means), train", "discriminator loss"),
    "d_val_loss": ("D cross-entropy (Eq. 2: real + generated means), validation", "discriminator loss"),
    "d_accuracy": ("D accuracy, all patches, train", "discriminator accuracy"),
    "d_val_accuracy": ("D accuracy, all patches, validation", "discriminator accuracy"),
    "d_accuracy_real": ("D: real patches called their site, train", "discriminator accuracy"),
    "d_val_accuracy_real": ("D: real patches called their site, validation", "discriminator accuracy"),
    "d_accuracy_generated": ('D: generated patches called "generated", train', "discriminator accuracy"),
    "d_val_accuracy_generated": ('D: generated patches called "generated", validation', "discriminator accuracy"),
    "val_dice": ("mean Dice, validation", "validation Dice"),
    "lr_gs": ("G/S learning rate", "learning rate"),
    "lr_d": ("D learning rate", "learning rate"),
    "seconds": ("time per epoch", "epoch time"),
}
#: The y label (with units) of each panel of `plot_training_curves`.
CURVE_PANELS: dict[str, str] = {
    "generator / segmenter loss": "loss (unitless)",
    "discriminator loss": "cross-entropy (nats)",
    "discriminator accuracy": "accuracy (fraction)",
    "validation Dice": "Dice (fraction)",
    "learning rate": "learning rate (log scale)",
    "epoch time": "seconds",
    "other": "value",
}


def _curve_panel(key: str) -> tuple[str, str]:
    """(display name, panel) of a history column; unknown columns go by their name's pattern."""
    if key in HISTORY_COLUMNS:
        return HISTORY_COLUMNS[key]
    name = key.replace("_", " ")
    lowered = key.lower()
    if "acc" in lowered:
        return name, "discriminator accuracy"
    if "dice" in lowered:
        return name, "validation Dice"
    if "loss" in lowered:
        return name, "discriminator loss" if lowered.startswith("d_") else "generator / segmenter loss"
    if lowered.startswith("lr"):
        return name, "learning rate"
    return name, "other"


def plot_training_curves(history: Any, *, n_domains: int | None = None, path: str | Path | None = None) -> Any:
    """Training curves per epoch: every numeric column of a run's history in a labelled panel.

    `history` is a mapping of column -> per-epoch values, a list of per-epoch row dicts, or a
    DataFrame (``history.csv`` of a run). ``epoch`` (default 1..n) is the x axis; every other
    numeric column with at least one finite value is drawn once, named by `HISTORY_COLUMNS` and
    grouped into the panels of `CURVE_PANELS` (G/S losses, D loss, D accuracy, validation Dice,
    learning rates, epoch time); an all-NaN column (e.g. the discriminator's, for a method
    without one) is left out. Each line's gid is its column key. Given `n_domains` (K, the sites),
    the discriminator accuracy panel gets a dotted line at chance, 1 / (K + 1): a guess among the K
    sites and "generated" (gid ``"chance"``), and a dashed one at 0.5, what a D that always answers
    "generated" scores, half of each batch it is scored on being generated (gid ``"always_generated"``).
    Returns a Figure, one axes per panel with data.
    """
    columns = _columns(history)
    x = columns.pop("epoch", None)
    groups: dict[str, list[str]] = {name: [] for name in CURVE_PANELS}
    for key, values in columns.items():
        if values.size and np.any(np.isfinite(values)):
            groups[_curve_panel(key)[1]].append(key)
    groups = {name: keys for name, keys in groups.items() if keys}
    if not groups:
        raise DataError(f"plot_training_curves: the history has no numeric column with values besides epoch, got {sorted(columns)}.")
    n_cols = min(3, len(groups))
    n_rows = -(-len(groups) // n_cols)
    figure = _new_figure((4.0 * n_cols, 3.1 * n_rows))
    grid = figure.subplots(n_rows, n_cols, squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[len(groups):]:
        ax.remove()
    for ax, (panel, keys) in zip(axes, groups.items()):
        for key in keys:
            y = columns[key]
            xs = x if x is not None and len(x) == len(y) else np.arange(1, len(y) + 1)
            (line,) = ax.plot(xs, y, marker="o", markersize=3, label=_curve_panel(key)[0])
            line.set_gid(key)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(CURVE_PANELS[panel])
        if panel == "learning rate":
            ax.set_yscale("log")
        if panel == "discriminator accuracy" and n_domains:
            chance = 1.0 / (n_domains + 1)
            line = ax.axhline(chance, color="gray", ls=":", label=f"chance, 1 / (K + 1) = {chance:.2f} (K = {n_domains} sites)")
            line.set_gid("chance")
            line = ax.axhline(0.5, color="gray", ls="--", lw=0.8, label='always "generated" (half of each batch), 0.50')
            line.set_gid("always_generated")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(figure, path)


def plot_dice_bars(
    table: Any,
    *,
    errors: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
    ylabel: str = "Dice (fraction)",
    ylim: tuple[float, float] | None = (0.0, 1.0),
    xlabel: str | None = None,
    path: str | Path | None = None,
) -> Any:
    """Grouped bar chart: ``table[group][series]`` (e.g. method -> tissue -> Dice), one axes.

    `table` may also be a list of row dicts or a DataFrame: the first non-numeric column names
    the groups and the numeric columns are the series. `errors` (same nesting) adds error bars.
    `ylim` fixes the y range (default 0..1, for Dice); None fits it to the values: from 0 (or
    the lowest negative value) to 15 % above the highest bar or error bar.
    """
    import seaborn as sns

    table = _as_nested(table)
    if not table:
        raise DataError("plot_dice_bars got an empty table.")
    groups = list(table)
    series = list(dict.fromkeys(s for row in table.values() for s in row))
    palette = sns.color_palette("deep", len(series))
    width = 0.8 / len(series)
    figure = _new_figure((max(4.0, 1.1 * len(groups) * max(1, len(series)) * 0.45 + 2.0), 3.4))
    ax = figure.subplots()
    x = np.arange(len(groups))
    for i, (name, color) in enumerate(zip(series, palette)):
        values = [float(table[g].get(name, np.nan)) for g in groups]
        err = None
        if errors is not None:
            err = [float(errors.get(g, {}).get(name, 0.0)) for g in groups]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, yerr=err, color=color, label=name, capsize=2)
    ax.set_xticks(x, [str(g) for g in groups])
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylim(*(ylim if ylim is not None else _fitted_ylim(table, errors)))
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(len(series), 4))
    untangle_tick_labels(ax)
    return save_figure(figure, path)


def tick_labels_overlap(ax: Any) -> bool:
    """Whether any two x tick labels of `ax` overlap once drawn (window extents, in pixels)."""
    ax.figure.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text() and t.get_visible()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def untangle_tick_labels(ax: Any, *, width: int = 12) -> None:
    """Make the x tick labels of `ax` readable: as they are if none overlap, else each label broken
    into lines of about `width` characters (at spaces, an arrow starting its own line), else those
    lines turned 30 degrees, else each label on one line turned upright (90 degrees), whichever first
    leaves no two overlapping."""
    import textwrap

    if not tick_labels_overlap(ax):
        return
    labels = [t.get_text() for t in ax.get_xticklabels()]
    wrapped = ["\n".join(textwrap.wrap(label.replace(" → ", " →\u00a0"), width) or [label]).replace("\u00a0", " ")
               for label in labels]
    ax.set_xticks(ax.get_xticks(), wrapped)
    for texts, rotation in ((wrapped, 30), (labels, 90)):
        if not tick_labels_overlap(ax):
            return
        ax.set_xticks(ax.get_xticks(), texts, rotation=rotation, ha="right", rotation_mode="anchor")


def _fitted_ylim(table: Mapping[str, Mapping[str, float]], errors: Mapping[str, Mapping[str, float]] | None) -> tuple[float, float]:
    """(bottom, top) holding every bar and error bar, bars starting from 0, 15 % head room."""
    tops, bottoms = [0.0], [0.0]
    for group, row in table.items():
        for name, value in row.items():
            if np.isfinite(value):
                err = float((errors or {}).get(group, {}).get(name, 0.0))
                tops.append(value + err)
                bottoms.append(value - err)
    top, bottom = max(tops), min(bottoms)
    span = (top - bottom) or 1.0
    return (bottom - 0.15 * span if bottom < 0 else 0.0), top + 0.15 * span


def _as_nested(table: Any) -> dict[str, dict[str, float]]:
    if hasattr(table, "to_dict") and not isinstance(table, Mapping):
        table = table.to_dict("records")
    if isinstance(table, Mapping):
        return {str(g): {str(s): float(v) for s, v in row.items()} for g, row in table.items()}
    nested: dict[str, dict[str, float]] = {}
    for row in table:
        key_column = next((k for k, v in row.items() if isinstance(v, str)), None)
        if key_column is None:
            raise DataError("plot_dice_bars: each row needs a text column naming its group.")
        numbers = {str(k): float(v) for k, v in row.items() if k != key_column and isinstance(v, (int, float, np.number))}
        nested[str(row[key_column])] = numbers
    return nested
