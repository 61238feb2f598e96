"""deepnorm: realistic image normalization for multi-domain segmentation.

A reproduction of Delisle et al., "Realistic image normalization for multi-domain
segmentation", Medical Image Analysis 2021.
"""

__version__ = "0.1.0"
