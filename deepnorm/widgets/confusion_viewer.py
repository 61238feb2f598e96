"""ConfusionMatrixViewer: the discriminator's normalized confusion matrix for each λ (Fig. 9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deepnorm.errors import DataError
from deepnorm.views import COLORBAR_LABEL, NORMALIZATION_NOTE, normalize_confusion
from deepnorm.widgets.base import PngFigureViewer, new_canvas_figure


class ConfusionMatrixViewer(PngFigureViewer):
    """Row-normalised (K+1)x(K+1) confusion matrices as an annotated seaborn heat map.

    ``matrices[lam]`` is a square count or rate matrix (rows = true class), `class_names` its K+1
    labels (the K sites then "generated"). ``selector`` (SelectionSlider over the sorted λ)
    picks the matrix; the heat map's mesh and annotations are updated in place. ``mesh`` is the
    QuadMesh; the picture is ``image_widget.value`` (PNG); ``widget`` is the container to display.
    """

    def __init__(self, matrices: Mapping[float, Any], class_names: Sequence[str]) -> None:
        import ipywidgets as widgets
        import seaborn as sns
        from matplotlib import colormaps

        if not matrices:
            raise DataError("ConfusionMatrixViewer needs at least one matrix.")
        self.lambdas = sorted(float(k) for k in matrices)
        self.matrices = {float(k): normalize_confusion(np.asarray(v)) for k, v in matrices.items()}
        self.class_names = list(class_names)
        for lam, matrix in self.matrices.items():
            if matrix.shape != (len(self.class_names),) * 2:
                raise DataError(
                    f"ConfusionMatrixViewer: the λ={lam:g} matrix has shape {matrix.shape}, "
                    f"expected {len(self.class_names)}x{len(self.class_names)} for the class names given."
                )
        self.cmap = colormaps["viridis"]
        self.selector = widgets.SelectionSlider(
            options=[(f"{lam:g}", lam) for lam in self.lambdas], value=self.lambdas[0], description="λ"
        )
        self.image_widget = self._make_image_widget()
        self.figure = new_canvas_figure((4.6, 3.8))
        self.ax = self.figure.subplots()
        sns.heatmap(
            self.matrices[self.lambdas[0]], ax=self.ax, vmin=0.0, vmax=1.0, cmap=self.cmap, annot=True,
            fmt=".2f", square=True, xticklabels=self.class_names, yticklabels=self.class_names,
            annot_kws={"fontsize": 9},
        )
        self.mesh = self.ax.collections[0]
        self.colorbar = self.mesh.colorbar
        self.colorbar.set_label(COLORBAR_LABEL, fontsize=8)
        self.ax.set_xlabel("predicted class (discriminator output)")
        self.ax.set_ylabel("true class of the patch")
        self._apply()
        self.selector.observe(self._on_change, names="value")
        self.widget = widgets.VBox([self.selector, self.image_widget])
        self.widget.add_class("deepnorm-confusion-viewer")

    @property
    def matrix(self) -> np.ndarray:
        """The row-normalised matrix now shown."""
        return self.matrices[float(self.selector.value)]

    def _apply(self) -> None:
        self._run_exclusive(self._draw)

    def _draw(self) -> None:
        matrix = self.matrix
        self.mesh.set_array(matrix.ravel())
        for text, value in zip(self.ax.texts, matrix.ravel()):
            text.set_text(f"{value:.2f}")
            r, g, b, _ = self.cmap(value)
            luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
            text.set_color("black" if luminance > 0.408 else "white")
        self.ax.set_title(f"discriminator confusion, λ = {float(self.selector.value):g}\n{NORMALIZATION_NOTE}", fontsize=9)
        self.refresh()

    def _on_change(self, change: dict[str, Any]) -> None:
        self._apply()
