"""The Table 5 figure: its bars are the subject means per site, tissue and input, and it says what a bar
is: one subject's Dice (no whisker, no dot) or a mean ± SD."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from deepnorm.errors import DataError
from deepnorm.plots.table5 import plot_table5, table5_bars


def _scores(n: int, sites=("iseg", "mrbrains")) -> list[dict]:
    return [{"site": s, "subject": f"{s}-{i}", "dice_csf": 0.6 + 0.1 * i, "dice_gm": 0.7, "dice_wm": 0.8}
            for s in sites for i in range(n)]


def _error_bars(fig) -> int:
    return sum(1 for ax in fig.axes for c in ax.containers if getattr(c, "errorbar", None) is not None)


def _dots(fig) -> int:
    from matplotlib.collections import PathCollection

    return sum(1 for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection))


def test_one_subject_per_site_has_no_sd_and_no_dots():
    """The paper's split (one test subject per site): no '± SD', no 'dots', no whisker, no dot."""
    fig = plot_table5({"t1": _scores(1), "t1+t2": _scores(1)})
    title = fig._suptitle.get_text()
    assert "±" not in title and "dots" not in title
    assert "one test subject per site" in title
    assert _error_bars(fig) == 0 and _dots(fig) == 0


def test_several_subjects_show_mean_sd_and_dots():
    fig = plot_table5({"t1": _scores(3), "t1+t2": _scores(3)})
    assert "mean ± SD over 3 subjects, dots: subjects" in fig._suptitle.get_text()
    assert _error_bars(fig) == 2 * 2  # two inputs in each of two panels
    assert _dots(fig) == 2 * 2 * 3  # one scatter of the subjects per bar
    # CSF of subjects 0.6, 0.7, 0.8: the whisker is their population SD, sqrt(2/3) * 0.1
    ax = fig.axes[0]
    (container, *_) = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    segment = container.errorbar.lines[2][0].get_segments()[0]
    assert abs((segment[1][1] - segment[0][1]) / 2 - 0.1 * (2 / 3) ** 0.5) < 1e-9


def test_mixed_counts_say_both():
    fig = plot_table5({"t1": _scores(1, ("iseg",)) + _scores(2, ("mrbrains",))})
    title = fig._suptitle.get_text()
    assert "mean ± SD over 2 subjects" in title and "without whisker: one subject" in title


def _random_scores(rng, sites=("iseg", "mrbrains"), n=3):
    return [{"site": s, "subject": f"{s}-{i}", **{f"dice_{t}": float(rng.uniform(0.3, 0.9)) for t in ("csf", "gm", "wm")}}
            for s in sites for i in range(n)]


def test_table5_bars_are_the_subject_means_per_site_tissue_and_input():
    rng = np.random.default_rng(0)
    scores = {"t1": _random_scores(rng), "t1+t2": _random_scores(rng)}
    bars = table5_bars(scores)
    assert len(bars) == 2 * 3 * 2
    for bar in bars:
        values = [r[f"dice_{bar.tissue.lower()}"] for r in scores[bar.modalities] if r["site"] == bar.site]
        assert bar.mean == pytest.approx(sum(values) / len(values))
        assert bar.std == pytest.approx(float(np.std(values)))
    assert [b.site for b in bars[:6]] == ["iseg"] * 6


def test_table5_figure_has_one_panel_per_site_with_display_names(tmp_path):
    rng = np.random.default_rng(1)
    fig = plot_table5({"t1": _random_scores(rng), "t1+t2": _random_scores(rng)}, path=tmp_path / "t5.png")
    assert (tmp_path / "t5.png").is_file()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["iSEG-2017", "MRBrainS13"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["CSF", "GM", "WM"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["T1", "T1 + T2/FLAIR"]


def test_table5_figure_rejects_rows_without_dice():
    with pytest.raises(DataError, match="dice_csf"):
        table5_bars({"t1": [{"site": "iseg", "dice_mean": 0.5}]})
