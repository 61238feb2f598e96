"""The Table 5 figure says what a bar is: one subject's Dice (no whisker, no dot) or a mean ± SD."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from deepnorm.study.table5_figure import plot_table5


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
