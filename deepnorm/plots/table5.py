"""Table 5 as a figure: Dice per tissue with T1 alone and with T1 + T2, one panel per site.

The bars are the mean over a site's test subjects, the whiskers one standard deviation, the dots
the subjects; the numbers come from the per-subject scores of the two runs, which the caller passes
in (``deepnorm.study.experiments.scores``).
A bar of one subject is that subject's Dice: it has no whisker and no dot, and the title says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import DataError
from deepnorm.labels import TISSUE_NAMES
from deepnorm.plots.names import MODALITY_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Score = Mapping[str, str | float]


@dataclass(frozen=True)
class Bar:
    """One bar: Dice values (fractions) of one tissue, site and input over the test subjects."""

    site: str
    modalities: str
    tissue: str
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean Dice over the subjects."""
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """Standard deviation of Dice over the subjects (0 for one subject)."""
        return float(np.std(self.values))


def table5_bars(scores: Mapping[str, Sequence[Score]]) -> list[Bar]:
    """The bars of the figure from per-subject scores by input (``{"t1": rows, "t1+t2": rows}``).

    Each row has ``site`` and ``dice_csf``, ``dice_gm``, ``dice_wm``. Bars come site by site (in
    order of first appearance), then tissue, then input.
    """
    sites = list(dict.fromkeys(str(r["site"]) for rows in scores.values() for r in rows))
    bars = []
    for site in sites:
        for tissue in TISSUE_NAMES:
            for modalities, rows in scores.items():
                values = []
                for row in rows:
                    if str(row["site"]) != site:
                        continue
                    key = f"dice_{tissue.lower()}"
                    if key not in row:
                        raise DataError(f"per-subject score of {site} lacks {key!r}: pass rows of experiments.scores")
                    values.append(float(row[key]))
                if values:
                    bars.append(Bar(site, modalities, tissue, tuple(values)))
    return bars


def plot_table5(scores: Mapping[str, Sequence[Score]], *, path: str | Path | None = None) -> Figure:
    """Dice per tissue (x) for each input (colour), one panel per site; saved to `path` when given.

    The title says what a bar is: the mean ± SD over n subjects (dots: the subjects) when bars rest on
    more than one, one subject's Dice when every bar rests on one (the paper's split: one test subject
    per site), and both when they are mixed.
    """
    import matplotlib.pyplot as plt

    bars = table5_bars(scores)
    if not bars:
        raise DataError("plot_table5 got no per-subject scores: train and evaluate the Table 5 runs first")
    sites = list(dict.fromkeys(b.site for b in bars))
    inputs = list(scores)
    width = 0.8 / len(inputs)
    fig, axes = plt.subplots(1, len(sites), figsize=(4.2 * len(sites), 3.6), sharey=True, squeeze=False)
    for ax, site in zip(axes[0], sites):
        for j, modalities in enumerate(inputs):
            mine = [b for b in bars if b.site == site and b.modalities == modalities]
            x = np.array([TISSUE_NAMES.index(b.tissue) for b in mine]) + (j - (len(inputs) - 1) / 2) * width
            several = any(len(b.values) > 1 for b in mine)
            ax.bar(x, [b.mean for b in mine], width, yerr=[b.std for b in mine] if several else None, capsize=3,
                   label=str(MODALITY_NAMES.get(modalities, modalities)), color=f"C{j}", alpha=0.8)
            for xi, b in zip(x, mine):
                if len(b.values) > 1:
                    ax.scatter(np.full(len(b.values), xi), b.values, s=10, color="black", zorder=3)
        ax.set_xticks(range(len(TISSUE_NAMES)), TISSUE_NAMES)
        ax.set_xlabel("tissue")
        ax.set_title(SITE_NAMES.get(site, site))
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("Dice (test subjects)")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, title="input", loc="upper right", ncol=len(inputs), fontsize=8, title_fontsize=8)
    fig.suptitle(f"Table 5: Ours with one or two modalities ({_what_a_bar_is(bars)})", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig


def _what_a_bar_is(bars: Sequence[Bar]) -> str:
    counts = sorted({len(b.values) for b in bars})
    if counts == [1]:
        return "one test subject per site: each bar is its Dice, no spread"
    many = [n for n in counts if n > 1]
    subjects = f"{many[0]} subjects" if len(many) == 1 else "the subjects"
    text = f"mean ± SD over {subjects}, dots: subjects"
    return text if counts[0] > 1 else text + "; a bar without whisker: one subject"


__all__ = ["Bar", "plot_table5", "table5_bars"]
