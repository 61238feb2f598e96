"""Static figures (matplotlib/seaborn), one function per figure of the paper."""

from deepnorm.plots.figures import (
    plot_bias_field,
    plot_confusion_matrices,
    plot_dice_bars,
    plot_patches,
    plot_segmentation_overlays,
    plot_tissue_histograms,
    plot_training_curves,
    save_figure,
)
from deepnorm.plots.names import display_name
from deepnorm.plots.results import plot_method_tissue_bars

__all__ = [
    "display_name",
    "plot_bias_field",
    "plot_confusion_matrices",
    "plot_dice_bars",
    "plot_method_tissue_bars",
    "plot_patches",
    "plot_segmentation_overlays",
    "plot_tissue_histograms",
    "plot_training_curves",
    "save_figure",
]
