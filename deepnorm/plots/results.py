"""The main result (Table 3) as a figure: Dice per method and tissue, with the spread over seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.errors import DataError
from deepnorm.plots.figures import _new_figure, save_figure
from deepnorm.plots.names import display_name

#: Table 3 columns drawn, left to right: one group of bars per tissue, then the mean.
DICE_COLUMNS: tuple[str, ...] = ("dice_csf", "dice_gm", "dice_wm", "dice_mean")


def _records(rows: Any) -> list[dict[str, Any]]:
    if hasattr(rows, "to_dict") and not isinstance(rows, Mapping):
        rows = rows.to_dict("records")
    return [dict(row) for row in rows]


def _value(row: Mapping[str, Any], key: str) -> float:
    try:
        return float(row.get(key, np.nan))
    except (TypeError, ValueError):
        return float("nan")


#: Widest panel of :func:`plot_method_tissue_bars`, in inches (a row holds at most two panels).
PANEL_MAX_WIDTH = 8.0
#: Steps of the zoomed y axis of :func:`plot_method_tissue_bars` (its ends are multiples of this).
ZOOM_STEP = 0.05


def zoomed_ylim(values: Sequence[float], *, step: float = ZOOM_STEP, floor: float = 0.0,
                ceiling: float = 1.0) -> tuple[float, float]:
    """A y range (fractions) that holds `values` (bar tops, error-bar ends, paper marks) with a margin.

    The range runs from the multiple of `step` at or below ``min - 25 % of the spread`` to the one
    at or above ``max + 10 %``, clipped to [`floor`, `ceiling`]; so gaps of a few hundredths fill a
    visible part of the axis instead of the top sliver of 0..1. NaNs are ignored; no finite value
    gives (floor, ceiling).
    """
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not finite.size:
        return floor, ceiling
    low, high = float(finite.min()), float(finite.max())
    spread = max(high - low, step)
    bottom = np.floor(round((low - 0.25 * spread) / step, 9)) * step
    top = np.ceil(round((high + 0.10 * spread) / step, 9)) * step
    bottom, top = max(floor, round(float(bottom), 9)), min(ceiling, round(float(top), 9))
    if top <= bottom:
        return floor, ceiling
    return bottom, top


def plot_method_tissue_bars(
    rows: Any,
    *,
    columns: Sequence[str] = DICE_COLUMNS,
    paper: Mapping[tuple[str, str], Mapping[str, float]] | None = None,
    zoom: bool = True,
    path: str | Path | None = None,
) -> Any:
    """Table 3 as bars: one panel per setting (two to a row), one group per tissue, one bar per method.

    `rows` are Table 3 rows (dicts or a DataFrame) with ``method``, optionally ``setting``, and
    the Dice `columns` (fractions). When a row carries ``<column>_std`` (standard deviation over
    seeds, with ``n_seeds``), the bar gets that error bar and the panel title says so; otherwise
    the bars are plain. `paper` (``{(setting, method): {column: value}}``, e.g.
    `deepnorm.study.paper.TABLE3`) adds the paper's values as black ticks over the bars.
    With `zoom` (the default) the shared y axis spans the values only (`zoomed_ylim`), so the few
    hundredths between methods show, and its label says where it starts; ``zoom=False`` draws 0..1.
    The legend sits outside the panels, right of the last one, never over a bar.
    Returns a Figure with one axes per setting; every bar's gid is ``"<method>:<column>"``.
    """
    records = _records(rows)
    if not records:
        raise DataError("plot_method_tissue_bars got no row; pass Table 3 rows (results/table3.csv).")
    missing = [c for c in ("method", *columns) if c not in records[0]]
    if missing:
        raise DataError(f"plot_method_tissue_bars: the rows lack {missing}; pass Table 3 rows (results/table3.csv).")
    settings = list(dict.fromkeys(str(r.get("setting", "")) for r in records))
    methods = list(dict.fromkeys(str(r["method"]) for r in records))
    import seaborn as sns

    palette = dict(zip(methods, sns.color_palette("deep", len(methods))))
    width = 0.8 / len(methods)
    # panels wrap two to a row beyond two settings, and a panel is at most PANEL_MAX_WIDTH wide,
    # so that many methods or settings give a figure one can read on a screen
    ncols = min(len(settings), 2)
    nrows = -(-len(settings) // ncols)
    panel = min(PANEL_MAX_WIDTH, max(4.5, 0.75 * len(columns) * len(methods) + 1.5))
    with sns.axes_style("whitegrid"):
        figure = _new_figure((panel * ncols, 3.6 * nrows))
        grid = figure.subplots(nrows, ncols, squeeze=False, sharey=True)
        for extra in grid.flat[len(settings):]:
            figure.delaxes(extra)
        axes = list(grid.flat[:len(settings)])
    x = np.arange(len(columns))
    shown: list[float] = []  # every bar top, error-bar end and paper mark: the zoomed axis holds them all
    for ax, setting in zip(axes, settings):
        spread = paper_shown = False
        n_seeds: set[int] = set()
        for i, method in enumerate(methods):
            row = next((r for r in records if str(r.get("setting", "")) == setting and str(r["method"]) == method), None)
            if row is None:
                continue
            values = [_value(row, c) for c in columns]
            stds = [_value(row, f"{c}_std") for c in columns]
            has_std = any(np.isfinite(s) for s in stds)
            spread |= has_std
            if has_std and "n_seeds" in row:
                n_seeds.add(int(_value(row, "n_seeds")))
            offsets = x + (i - (len(methods) - 1) / 2) * width
            spreads = [s if np.isfinite(s) else 0.0 for s in stds]
            shown += [v + d for v, d in zip(values, spreads)] + [v - d for v, d in zip(values, spreads)]
            bars = ax.bar(
                offsets, values, width, color=palette[method], label=display_name(method),
                yerr=[s if np.isfinite(s) else 0.0 for s in stds] if has_std else None, capsize=3,
            )
            for bar, column in zip(bars, columns):
                bar.set_gid(f"{method}:{column}")
            reference = (paper or {}).get((setting, method))
            if reference:
                marks = [float(reference.get(c, np.nan)) for c in columns]
                shown += marks
                ax.scatter(offsets, marks, marker="_", s=160, color="black", zorder=3,
                           label=None if paper_shown else "paper")
                paper_shown = True
        title = display_name(setting) if setting else "Table 3"
        if spread:
            seeds = f" over {n_seeds.pop()} seeds" if len(n_seeds) == 1 else " over seeds"
            title += f"\nbars: mean ± standard deviation{seeds}"
        else:
            title += "\none seed (no spread measured)"
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, [display_name(c).replace("Dice ", "") for c in columns])
        ax.set_xlabel("tissue")
        ax.grid(axis="x", visible=False)
    bottom, top = zoomed_ylim(shown) if zoom else (0.0, 1.0)
    for ax in axes:  # shared: one call sets every panel
        ax.set_ylim(bottom, top)
    ylabel = "Dice (fraction)" if bottom == 0.0 else f"Dice (fraction), axis from {bottom:.2f}"
    for ax in axes[::ncols]:
        ax.set_ylabel(ylabel)
    # the legend goes beside the last panel, outside the bars; in the empty slot of a last row with one
    # panel it needs no room of its own (else the layout would widen the whole first column for it)
    legend = axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), framealpha=0.9)
    legend.set_in_layout(len(settings) % ncols == 0)
    return save_figure(figure, path)
