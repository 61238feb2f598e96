"""The label convention used everywhere in deepnorm: 0 BG, 1 CSF, 2 GM, 3 WM."""

from __future__ import annotations

BG, CSF, GM, WM = 0, 1, 2, 3
N_CLASSES = 4
CLASS_NAMES: tuple[str, ...] = ("BG", "CSF", "GM", "WM")
TISSUES: tuple[int, ...] = (CSF, GM, WM)
TISSUE_NAMES: tuple[str, ...] = ("CSF", "GM", "WM")

#: Eq. 1 class weights, indexed by label (BG 0.22, CSF 0.30, GM 0.20, WM 0.28).
DICE_WEIGHTS: tuple[float, ...] = (0.22, 0.30, 0.20, 0.28)

#: Modality keys. "t2" is the second contrast of a site: T2 for iSEG, T2-FLAIR for MRBrainS.
MODALITIES: tuple[str, ...] = ("t1", "t2")
