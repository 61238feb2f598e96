"""plot_training_curves on the history.csv columns train() writes: every column lands in a panel."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from deepnorm.errors import DataError
from deepnorm.plots import plot_training_curves

#: The per-epoch columns of history.csv, as deepnorm.training.loop writes them.
HISTORY_COLUMNS = (
    "loss", "seg_loss", "adversarial", "d_loss", "d_accuracy", "val_seg_loss", "val_dice",
    "d_val_loss", "d_val_accuracy", "lr_gs", "lr_d", "seconds",
)


def _history(n: int = 4) -> list[dict[str, float]]:
    rows = []
    for e in range(n):
        row = {"epoch": e + 1}
        for i, key in enumerate(HISTORY_COLUMNS):
            row[key] = 0.1 * (i + 1) + 0.01 * e  # distinct values per column
        rows.append(row)
    return rows


def _legend_names(figure) -> list[str]:
    """The label of every line drawn in the figure."""
    return [line.get_label() for ax in figure.axes for line in ax.lines]


def test_every_history_column_appears_in_a_panel():
    rows = _history()
    figure = plot_training_curves(rows)
    # every column is drawn exactly once (its key is the line's gid), with its values
    keys = [line.get_gid() for ax in figure.axes for line in ax.lines]
    assert sorted(keys) == sorted(HISTORY_COLUMNS)
    for ax in figure.axes:
        for line in ax.lines:
            np.testing.assert_allclose(line.get_ydata(), [row[line.get_gid()] for row in rows])
            np.testing.assert_allclose(line.get_xdata(), [row["epoch"] for row in rows])
    assert len(set(_legend_names(figure))) == len(HISTORY_COLUMNS)


def test_a_discriminator_panel_is_drawn():
    figure = plot_training_curves(_history())
    titles = [ax.get_title() for ax in figure.axes]
    assert any("discriminator" in t.lower() for t in titles), titles
    d_axes = [ax for ax in figure.axes if "discriminator" in ax.get_title().lower()]
    columns = {line.get_gid() for ax in d_axes for line in ax.lines}
    assert {"d_loss", "d_accuracy", "d_val_accuracy"} <= columns


def test_panels_have_labelled_axes_and_display_names():
    figure = plot_training_curves(_history())
    for ax in figure.axes:
        assert ax.get_xlabel() == "epoch"
        assert ax.get_ylabel(), f"panel {ax.get_title()!r} has no y label"
        for line in ax.lines:
            assert "_" not in line.get_label(), f"internal key {line.get_label()!r} shown as a legend entry"


def test_all_nan_columns_are_skipped_and_segmenter_history_has_no_d_panel():
    rows = _history()
    for row in rows:
        for key in ("adversarial", "d_loss", "d_accuracy", "d_val_loss", "d_val_accuracy", "lr_d"):
            row[key] = math.nan
    figure = plot_training_curves(rows)
    assert not any("discriminator" in ax.get_title().lower() for ax in figure.axes)
    columns = {line.get_gid() for ax in figure.axes for line in ax.lines}
    assert columns == set(HISTORY_COLUMNS) - {"adversarial", "d_loss", "d_accuracy", "d_val_loss", "d_val_accuracy", "lr_d"}


def test_no_numeric_column_is_an_error():
    with pytest.raises(DataError, match="history"):
        plot_training_curves({"epoch": [0, 1]})


@pytest.mark.parametrize("n_domains, chance", [(2, 1 / 3), (3, 0.25)])
def test_the_discriminator_accuracy_panel_has_a_chance_line(n_domains, chance):
    """K sites and "generated": a uniform guess is right 1 / (K + 1) of the time."""
    figure = plot_training_curves(_history(), n_domains=n_domains)
    (panel,) = [ax for ax in figure.axes if ax.get_title() == "discriminator accuracy"]
    (line,) = [line for line in panel.lines if line.get_gid() == "chance"]
    np.testing.assert_allclose(line.get_ydata(), [chance, chance])
    assert f"{chance:.2f}" in line.get_label() and f"K = {n_domains}" in line.get_label()
    assert "chance" in [t.get_text().split(",")[0] for t in panel.get_legend().get_texts()]
    (constant,) = [line for line in panel.lines if line.get_gid() == "always_generated"]
    np.testing.assert_allclose(constant.get_ydata(), [0.5, 0.5])  # half of every scored batch is generated
    references = {"chance", "always_generated"}
    others = [line for ax in figure.axes if ax is not panel for line in ax.lines]
    assert all(line.get_gid() not in references for line in others)
    assert not [line for ax in plot_training_curves(_history()).axes for line in ax.lines if line.get_gid() in references]


def test_d_accuracy_on_real_and_generated_patches_share_the_accuracy_panel():
    history = {"epoch": [1, 2], "d_accuracy": [0.5, 0.6], "d_accuracy_real": [0.2, 0.3],
               "d_accuracy_generated": [0.8, 0.9], "d_val_accuracy_real": [0.1, 0.2],
               "d_val_accuracy_generated": [1.0, 1.0]}
    figure = plot_training_curves(history, n_domains=2)
    (ax,) = [a for a in figure.axes if a.get_title() == "discriminator accuracy"]
    gids = {line.get_gid() for line in ax.get_lines()}
    assert {"d_accuracy_real", "d_accuracy_generated", "d_val_accuracy_real", "d_val_accuracy_generated"} <= gids
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any('called "generated"' in t for t in labels) and any("called their site" in t for t in labels)
