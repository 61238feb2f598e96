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

__all__ = [
    "plot_bias_field",
    "plot_confusion_matrices",
    "plot_dice_bars",
    "plot_patches",
    "plot_segmentation_overlays",
    "plot_tissue_histograms",
    "plot_training_curves",
    "save_figure",
]
