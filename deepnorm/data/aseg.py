"""FreeSurfer ``aparc+aseg`` labels -> deepnorm tissue classes (0 BG, 1 CSF, 2 GM, 3 WM).

ABIDE's ground truth is FreeSurfer recon-all output (paper Sec. 4.1); this is the one place that
decides which FreeSurfer label (FreeSurferColorLUT.txt) becomes which tissue.

GM
    cortical ribbon 3 / 42 (left/right cerebral cortex voxels not given a parcel) and every
    Desikan-Killiany parcel 1000-1035 / 2000-2035; subcortical grey matter: thalamus 10/49,
    caudate 11/50, putamen 12/51, pallidum 13/52, hippocampus 17/53, amygdala 18/54, accumbens
    26/58, ventral DC 28/60, and cerebellar cortex 8/47.
    *Choice:* cerebellar cortex is grey matter tissue and lies inside ABIDE's brain mask, so it is
    GM here (MRBrainS13's training labels instead put the whole cerebellum in BG; their test
    labels, which deepnorm uses, have no cerebellum class).
WM
    cerebral WM 2/41, cerebellar WM 7/46, WM hypointensities 77/78/79, optic chiasm 85, corpus
    callosum 251-255, and brainstem 16.
    *Choice:* the brainstem is mostly white-matter tracts and T1-bright, so it is WM.
CSF
    lateral ventricles 4/43, inferior lateral ventricles 5/44, 3rd ventricle 14, 4th ventricle 15,
    CSF 24, choroid plexus 31/63, 5th ventricle 72.
BG
    everything else (0 unknown, vessels 30/62, non-WM hypointensities 80, optic nerve, ...).
"""

from __future__ import annotations

import numpy as np

from deepnorm.labels import BG, CSF, GM, WM

GM_CODES: tuple[int, ...] = (3, 42, *range(1000, 1036), *range(2000, 2036),
                             8, 10, 11, 12, 13, 17, 18, 26, 28, 47, 49, 50, 51, 52, 53, 54, 58, 60)
WM_CODES: tuple[int, ...] = (2, 41, 7, 46, 77, 78, 79, 85, 251, 252, 253, 254, 255, 16)
CSF_CODES: tuple[int, ...] = (4, 5, 14, 15, 24, 31, 43, 44, 63, 72)

#: FreeSurfer label -> tissue class; every label not listed is BG.
ASEG_TO_TISSUE: dict[int, int] = {
    **{c: GM for c in GM_CODES}, **{c: WM for c in WM_CODES}, **{c: CSF for c in CSF_CODES}}

_LUT = np.full(max(ASEG_TO_TISSUE) + 1, BG, dtype=np.int64)
for _code, _tissue in ASEG_TO_TISSUE.items():
    _LUT[_code] = _tissue


def aseg_to_tissue(array: np.ndarray) -> np.ndarray:
    """Map a FreeSurfer aparc+aseg label volume (any shape, integer codes) to tissue classes.

    Returns an np.int64 array of the same shape with 0 BG, 1 CSF, 2 GM, 3 WM
    (see the module docstring for the table); unknown and negative codes become BG.
    """
    codes = np.asarray(array)
    if codes.dtype.kind == "f":
        codes = np.rint(codes)
    codes = codes.astype(np.int64, copy=False)
    inside = (codes >= 0) & (codes < _LUT.size)
    return np.where(inside, _LUT[np.where(inside, codes, 0)], BG).astype(np.int64)
