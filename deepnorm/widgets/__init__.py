"""Interactive viewers (ipywidgets + matplotlib, no ipympl) and the pure maths behind them.

The viewers import ipywidgets and matplotlib only when constructed.
"""

from deepnorm.widgets.confusion_viewer import ConfusionMatrixViewer
from deepnorm.widgets.core import (
    blend_overlay,
    label_rgba,
    mean_along_axis,
    normalize_confusion,
    percentile_window,
    slice_aspect,
    take_slice,
    tissue_histograms,
)
from deepnorm.widgets.histogram_viewer import HistogramViewer
from deepnorm.widgets.slice_viewer import SliceViewer, ViewerCase

__all__ = [
    "ConfusionMatrixViewer",
    "HistogramViewer",
    "SliceViewer",
    "ViewerCase",
    "blend_overlay",
    "label_rgba",
    "mean_along_axis",
    "normalize_confusion",
    "percentile_window",
    "slice_aspect",
    "take_slice",
    "tissue_histograms",
]
