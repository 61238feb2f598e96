"""Data-only checks of a multi-site data root: the site shift before any network is trained.

Numbers that need no training and that the paper's data show (docs/reproduction.md, sections 3-4), computed on the
pre-processed volumes (skull strip, crop, resample to `spacing` mm, robust min-max to [0, 1]):

- :func:`bayes_error` — the GM-vs-WM Bayes error of one intensity (or a joint T1/T2 histogram):
  how far the two tissues overlap. Isointense infant scans overlap (error near 0.5); adult scans
  separate them (error near 0);
- :func:`rim_csf` — the fraction of CSF voxels on the 1-voxel rim of the brain mask, and the
  Dice of labelling that rim alone as CSF (a segmenter could score it from the mask's shape).

Pure numpy/scipy on loaded arrays. The report of a whole data root that uses them (with Table 4's
and Table 6's statistics of the inputs) is :func:`deepnorm.study.site_report.site_report`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from deepnorm.labels import CSF

#: Histogram bins of the Bayes error, per axis (intensities in [0, 1]).
BAYES_BINS = 64


def bayes_error(a: np.ndarray, b: np.ndarray, *, bins: int = BAYES_BINS) -> float:
    """Bayes error of telling samples of `a` from samples of `b`, equal priors, in [0, 0.5].

    ``0.5 * sum_k min(p_k, q_k)`` over a common histogram of values in [0, 1]: `a` and `b` are
    (n,) intensities or (n, d) joint intensities (d channels, ``bins`` per channel). 0.5 when
    the distributions coincide, 0 when they do not overlap.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    edges = [np.linspace(0.0, 1.0, bins + 1)] * a.shape[1]
    p = np.histogramdd(np.clip(a, 0.0, 1.0), bins=edges)[0].ravel()
    q = np.histogramdd(np.clip(b, 0.0, 1.0), bins=edges)[0].ravel()
    return float(0.5 * np.minimum(p / p.sum(), q / q.sum()).sum())


def rim_csf(labels: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(fraction of CSF voxels on the brain mask's 1-voxel rim, Dice of "rim = CSF").

    The rim is the mask minus its erosion by the 6-neighbourhood; `mask` defaults to labels > 0.
    """
    labels = np.asarray(labels)
    mask = labels > 0 if mask is None else np.asarray(mask, dtype=bool)
    rim = mask & ~ndimage.binary_erosion(mask)
    csf = labels == CSF
    n_csf = int(csf.sum())
    if n_csf == 0:
        return float("nan"), float("nan")
    both = int((rim & csf).sum())
    return both / n_csf, 2.0 * both / (int(rim.sum()) + n_csf)
