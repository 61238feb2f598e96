"""Interactive viewers (ipywidgets + matplotlib, no ipympl).

The viewers import ipywidgets and matplotlib only when constructed. The pure maths behind them
(slicing, windowing, overlays, histograms), which the static figures share, is :mod:`deepnorm.views`.
"""

from deepnorm.widgets.confusion_viewer import ConfusionMatrixViewer
from deepnorm.widgets.histogram_viewer import HistogramViewer
from deepnorm.widgets.slice_viewer import SliceViewer, ViewerCase

__all__ = [
    "ConfusionMatrixViewer",
    "HistogramViewer",
    "SliceViewer",
    "ViewerCase",
]
