"""Data: volumes, loaders of the real data sets, pre-processing, augmentation, splits, phantom."""

from deepnorm.data.volume import Subject, Volume

__all__ = ["Subject", "Volume"]
