"""Figure data of the result figures: Table 3 bars (with and without seed spread), fitted y-limits."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from deepnorm.errors import DataError
from deepnorm.plots import display_name, plot_dice_bars, plot_method_tissue_bars
from deepnorm.plots.results import DICE_COLUMNS

METHODS = ("standardization", "preprocessor", "adversarial")


def _rows(seed: int = 0, *, std: bool = False, settings=("dual", "multi")):
    rng = np.random.default_rng(seed)
    rows = []
    for setting in settings:
        for method in METHODS:
            row = {"setting": setting, "method": method, **{c: float(rng.uniform(0.5, 0.95)) for c in DICE_COLUMNS}}
            row["mhd_mean"] = 12.0
            if std:
                row.update({f"{c}_std": float(rng.uniform(0.005, 0.05)) for c in DICE_COLUMNS}, n_seeds=3)
            rows.append(row)
    return rows


def _bars(ax):
    return {patch.get_gid(): patch for patch in ax.patches if patch.get_gid()}


def test_table3_bars_hold_each_method_and_tissue():
    rows = _rows()
    figure = plot_method_tissue_bars(rows)
    assert len(figure.axes) == 2
    for ax, setting in zip(figure.axes, ("dual", "multi")):
        bars = _bars(ax)
        assert len(bars) == len(METHODS) * len(DICE_COLUMNS)
        for row in (r for r in rows if r["setting"] == setting):
            for column in DICE_COLUMNS:
                assert bars[f"{row['method']}:{column}"].get_height() == pytest.approx(row[column])
        assert ax.get_title().startswith(display_name(setting))
        assert "no spread" in ax.get_title()
        assert [t.get_text() for t in ax.get_xticklabels()] == ["CSF", "GM", "WM", "mean"]
        bottom, top = ax.get_ylim()
        assert 0.0 < bottom <= min(r[c] for r in rows for c in DICE_COLUMNS) and top >= max(
            r[c] for r in rows for c in DICE_COLUMNS)
        assert not [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    assert figure.axes[0].get_ylabel() == f"Dice (fraction), axis from {figure.axes[0].get_ylim()[0]:.2f}"
    legend = [t.get_text() for t in figure.axes[-1].get_legend().get_texts()]
    assert legend == ["Standardization", "Pre-processor", "Ours"]


def test_table3_axis_zooms_on_the_values_so_a_gap_of_004_shows():
    """Two methods at 0.80 and 0.84 in every column: spread 0.05 (one step, the minimum), the axis runs
    from the step at or below 0.80 - 0.0125 (0.75) to the one at or above 0.84 + 0.005 (0.85), so the
    0.04 gap fills 40 % of the panel's height instead of 4 %; zoom=False keeps 0..1."""
    rows = [{"setting": "dual", "method": "standardization", **{c: 0.80 for c in DICE_COLUMNS}},
            {"setting": "dual", "method": "adversarial", **{c: 0.84 for c in DICE_COLUMNS}}]
    ax = plot_method_tissue_bars(rows).axes[0]
    assert ax.get_ylim() == pytest.approx((0.75, 0.85))
    assert ax.get_ylabel() == "Dice (fraction), axis from 0.75"
    assert plot_method_tissue_bars(rows, zoom=False).axes[0].get_ylim() == (0.0, 1.0)
    # the paper's marks and the error bars are kept inside the zoomed axis
    paper = {("dual", "adversarial"): {c: 0.95 for c in DICE_COLUMNS}}
    spread = [{**r, **{f"{c}_std": 0.1 for c in DICE_COLUMNS}, "n_seeds": 3} for r in rows]
    bottom, top = plot_method_tissue_bars(spread, paper=paper).axes[0].get_ylim()
    assert bottom <= 0.70 and top >= 0.95


def test_zoomed_ylim_law():
    from deepnorm.plots.results import zoomed_ylim

    assert zoomed_ylim([float("nan")]) == (0.0, 1.0)
    assert zoomed_ylim([0.1, 0.99]) == (0.0, 1.0)  # clipped to the Dice range
    for values in ([0.61, 0.9], [0.3], [0.77, 0.78, 0.92]):
        bottom, top = zoomed_ylim(values)
        assert bottom < min(values) and top > max(values)
        assert round(bottom / 0.05, 6).is_integer() and round(top / 0.05, 6).is_integer()


def test_table3_legend_sits_outside_every_panel(tmp_path):
    """Three methods (the paper's Table 3): the legend is right of the last panel, over no bar."""
    figure = plot_method_tissue_bars(_rows(3), path=tmp_path / "bars.png")  # saving lays the figure out
    legend = figure.axes[-1].get_legend().get_window_extent()
    for ax in figure.axes:
        box = ax.get_window_extent()
        assert legend.x0 >= box.x1 or legend.x1 <= box.x0 or legend.y0 >= box.y1 or legend.y1 <= box.y0


def test_table3_error_bars_are_the_seed_std():
    rows = _rows(1, std=True, settings=("dual",))
    figure = plot_method_tissue_bars(rows)
    ax = figure.axes[0]
    containers = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    assert len(containers) == len(METHODS)
    for container, row in zip(containers, rows):
        segments = container.errorbar.lines[2][0].get_segments()
        half_lengths = [(seg[1][1] - seg[0][1]) / 2 for seg in segments]
        np.testing.assert_allclose(half_lengths, [row[f"{c}_std"] for c in DICE_COLUMNS])
    assert "over 3 seeds" in ax.get_title()


def test_many_settings_and_methods_give_a_readable_figure(tmp_path):
    """Four panels of nine methods (the unseen-site figure) wrap two to a row, at most 2 x 8 in wide,
    and every bar is still drawn; the legend sits beside the last panel, not over its bars."""
    from PIL import Image

    from deepnorm.plots.results import PANEL_MAX_WIDTH

    methods = [f"m{i}" for i in range(9)]
    settings = ["a", "b", "c", "d"]
    rows = [{"setting": s, "method": m, **{c: 0.5 + 0.04 * i for c in DICE_COLUMNS}}
            for s in settings for i, m in enumerate(methods)]
    figure = plot_method_tissue_bars(rows, path=tmp_path / "bars.png")
    assert len(figure.axes) == 4
    assert figure.get_size_inches()[0] <= 2 * PANEL_MAX_WIDTH
    positions = {(round(ax.get_position().x0, 2), round(ax.get_position().y0, 2)) for ax in figure.axes}
    assert len({x for x, _ in positions}) == 2 and len({y for _, y in positions}) == 2
    for ax in figure.axes:
        assert len(_bars(ax)) == len(methods) * len(DICE_COLUMNS)
    assert figure.axes[0].get_ylabel() == figure.axes[2].get_ylabel()
    assert figure.axes[0].get_ylabel().startswith("Dice (fraction)")
    legend = figure.axes[-1].get_legend()
    assert len(legend.get_texts()) == len(methods)
    assert legend.get_window_extent().x0 >= figure.axes[-1].get_window_extent().x1
    width, height = Image.open(tmp_path / "bars.png").size
    assert width <= 2400 and height <= 1200


def test_three_settings_leave_no_empty_panel():
    figure = plot_method_tissue_bars(_rows(4, settings=("dual", "multi", "other")))
    assert len(figure.axes) == 3


def test_a_last_panel_alone_puts_many_methods_legend_in_the_empty_slot(tmp_path):
    """Five panels of nine methods: the legend fills the empty slot beside the fifth panel and does not
    push the second column away (both columns of panels are equally wide)."""
    methods = [f"normalizer number {i} (beyond the paper)" for i in range(9)]  # legend as wide as the real one
    rows = [{"setting": s, "method": m, **{c: 0.5 for c in DICE_COLUMNS}} for s in "abcde" for m in methods]
    figure = plot_method_tissue_bars(rows, path=tmp_path / "bars.png")  # saving lays the figure out
    assert len(figure.axes) == 5
    left, right = figure.axes[0].get_window_extent(), figure.axes[1].get_window_extent()
    assert right.width == pytest.approx(left.width, rel=0.05)
    assert right.x0 - left.x1 < 0.25 * left.width
    legend = figure.axes[-1].get_legend().get_window_extent()
    assert legend.x0 >= figure.axes[-1].get_window_extent().x1 and legend.x1 <= right.x1


def test_table3_paper_ticks_and_bad_rows():
    rows = _rows(2, settings=("dual",))
    paper = {("dual", "adversarial"): {c: 0.8 for c in DICE_COLUMNS}}
    figure = plot_method_tissue_bars(rows, paper=paper)
    (ticks,) = figure.axes[0].collections
    np.testing.assert_allclose(ticks.get_offsets()[:, 1], 0.8)
    assert "paper" in [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    with pytest.raises(DataError, match="table3"):
        plot_method_tissue_bars([{"method": "adversarial"}])
    with pytest.raises(DataError, match="no row"):
        plot_method_tissue_bars([])


def test_dice_bars_fitted_ylim_holds_small_values():
    table = {"dual": {"inputs": 0.087, "ours": 0.084}, "multi": {"inputs": 0.066, "ours": 0.067}}
    figure = plot_dice_bars(table, ylim=None, ylabel="JSD (nats)")
    bottom, top = figure.axes[0].get_ylim()
    assert bottom == 0.0 and 0.087 < top < 0.2
    fixed = plot_dice_bars(table)
    assert fixed.axes[0].get_ylim() == (0.0, 1.0)
