"""HistogramViewer: per-tissue intensity histograms of each site, before and after normalization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import DataError
from deepnorm.labels import CLASS_NAMES, TISSUES
from deepnorm.views import tissue_histograms, unwrap_volume
from deepnorm.widgets.base import PngFigureViewer, new_canvas_figure

_STAGE_ORDER = ("before", "after")


class HistogramViewer(PngFigureViewer):
    """Per-tissue intensity densities, one panel per stage, one line per site.

    ``data[site][stage] = (image (X,Y,Z) or (C,X,Y,Z), labels (X,Y,Z))``, arrays or Volumes
    (channel 0 of a 4D image is used), stages typically "before" and "after". Intensities are
    binned with `bins` over `value_range` (probability densities). Controls: ``site_boxes``
    (one checkbox per site, all ticked at first: several sites are shown without Ctrl-click;
    `select_sites` ticks a set at once) and ``tissue_selector`` (ToggleButtons, one tissue at
    a time). ``lines[(stage, site, tissue)]`` are the Line2D artists;
    the picture is ``image_widget.value`` (PNG); ``widget`` is the container to display.
    """

    def __init__(
        self,
        data: Mapping[str, Mapping[str, tuple[Any, Any]]],
        bins: int = 64,
        value_range: tuple[float, float] = (0.0, 1.0),
        *,
        tissues: Sequence[int] = TISSUES,
    ) -> None:
        import ipywidgets as widgets
        import seaborn as sns

        if not data:
            raise DataError("HistogramViewer needs at least one site in `data`.")
        self.sites = list(data)
        present = list(dict.fromkeys(stage for stages in data.values() for stage in stages))
        self.stages = [s for s in _STAGE_ORDER if s in present] + [s for s in present if s not in _STAGE_ORDER]
        self.tissues = [int(t) for t in tissues]
        self.histograms: dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        for site, stages in data.items():
            for stage, pair in stages.items():
                image, _ = unwrap_volume(pair[0], f"HistogramViewer data[{site!r}][{stage!r}] image")
                labels, _ = unwrap_volume(pair[1], f"HistogramViewer data[{site!r}][{stage!r}] labels")
                if image.ndim == 4:
                    image = image[0]
                self.histograms[(stage, site)] = tissue_histograms(
                    image, labels, bins, value_range, self.tissues, density=True
                )

        tissue_options = [(CLASS_NAMES[t] if t < len(CLASS_NAMES) else str(t), t) for t in self.tissues]
        self.tissue_selector = widgets.ToggleButtons(options=tissue_options, value=self.tissues[0], description="tissue")
        self.site_boxes = {
            site: widgets.Checkbox(value=True, description=SITE_NAMES.get(site, site), indent=False,
                                   layout=widgets.Layout(width="auto"))
            for site in self.sites
        }
        self.image_widget = self._make_image_widget()
        self._holding = False

        palette = sns.color_palette("deep", len(self.sites))
        with sns.axes_style("whitegrid"):
            self.figure = new_canvas_figure((3.6 * len(self.stages), 3.0))
            self.axes = list(self.figure.subplots(1, len(self.stages), squeeze=False, sharey=False)[0])
        self.lines: dict[tuple[str, str, int], Any] = {}
        for ax, stage in zip(self.axes, self.stages):
            for color, site in zip(palette, self.sites):
                for tissue in self.tissues:
                    if (stage, site) not in self.histograms:
                        continue
                    counts, edges = self.histograms[(stage, site)][tissue]
                    centres = 0.5 * (edges[:-1] + edges[1:])
                    (line,) = ax.plot(centres, counts, color=color, label=SITE_NAMES.get(site, site))
                    self.lines[(stage, site, tissue)] = line
            ax.set_xlim(float(value_range[0]), float(value_range[1]))
            ax.set_xlabel("intensity (a.u.)")
            ax.set_ylabel("probability density (1 / a.u.)")
        self._apply()

        self.tissue_selector.observe(self._on_change, names="value")
        for box in self.site_boxes.values():
            box.observe(self._on_change, names="value")
        sites_row = widgets.HBox([widgets.Label("sites"), *self.site_boxes.values()])
        sites_row.add_class("deepnorm-site-boxes")
        self.widget = widgets.VBox([sites_row, self.tissue_selector, self.image_widget])
        self.widget.add_class("deepnorm-histogram-viewer")

    @property
    def selected_sites(self) -> list[str]:
        """The sites whose checkbox is ticked, in the order of `data`."""
        return [site for site, box in self.site_boxes.items() if box.value]

    def select_sites(self, sites: Sequence[str]) -> None:
        """Tick exactly the checkboxes of `sites` (redrawing once)."""
        unknown = sorted(set(sites) - set(self.sites))
        if unknown:
            raise DataError(f"HistogramViewer: unknown sites {unknown}; the viewer holds {self.sites}.")
        self._holding = True
        try:
            for site, box in self.site_boxes.items():
                box.value = site in sites
        finally:
            self._holding = False
        self._apply()

    def visible_lines(self) -> list[tuple[str, str, int]]:
        """Keys (stage, site, tissue) of the lines now shown."""
        return [key for key, line in self.lines.items() if line.get_visible()]

    def _apply(self) -> None:
        self._run_exclusive(self._draw)

    def _draw(self) -> None:
        tissue = int(self.tissue_selector.value)
        sites = set(self.selected_sites)
        name = CLASS_NAMES[tissue] if tissue < len(CLASS_NAMES) else str(tissue)
        for ax, stage in zip(self.axes, self.stages):
            top = 0.0
            handles = []
            for (line_stage, site, line_tissue), line in self.lines.items():
                if line_stage != stage:
                    continue
                visible = line_tissue == tissue and site in sites
                line.set_visible(visible)
                if visible:
                    top = max(top, float(np.max(line.get_ydata(), initial=0.0)))
                    handles.append(line)
            ax.set_ylim(0.0, top * 1.05 if top > 0 else 1.0)
            ax.set_title(f"{name}, {stage}", fontsize=10)
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
            if handles:
                ax.legend(handles=handles, fontsize=8)
        self.refresh()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self._apply()
