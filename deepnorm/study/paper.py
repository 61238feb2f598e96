"""The paper's published numbers (Delisle et al., MedIA 2021, Tables 2-7), as data.

Dice values are fractions; MHD values are as printed in the paper (the authors' code computed
them in voxel-index units on flattened slices, not in mm: see REPORT.md, "Differences").
"""

from __future__ import annotations

#: Table 2: segmenter alone, no normalization. (train, test) -> Dice CSF, GM, WM, mean.
TABLE2: dict[tuple[str, str], dict[str, float]] = {
    ("iseg", "iseg"): {"csf": 0.920, "gm": 0.857, "wm": 0.828, "mean": 0.868},
    ("mrbrains", "mrbrains"): {"csf": 0.861, "gm": 0.789, "wm": 0.839, "mean": 0.830},
    ("iseg", "mrbrains"): {"csf": 0.401, "gm": 0.354, "wm": 0.519, "mean": 0.425},
    ("mrbrains", "iseg"): {"csf": 0.293, "gm": 0.082, "wm": 0.563, "mean": 0.313},
}

#: Table 3: (setting, method) -> Dice and MHD per class and mean.
TABLE3: dict[tuple[str, str], dict[str, float]] = {
    ("dual", "standardization"): {"dice_csf": 0.897, "mhd_csf": 0.792, "dice_gm": 0.836, "mhd_gm": 0.498,
                                  "dice_wm": 0.790, "mhd_wm": 0.734, "dice_mean": 0.841, "mhd_mean": 0.675},
    ("dual", "preprocessor"): {"dice_csf": 0.919, "mhd_csf": 0.227, "dice_gm": 0.860, "mhd_gm": 0.517,
                               "dice_wm": 0.831, "mhd_wm": 0.702, "dice_mean": 0.870, "mhd_mean": 0.482},
    ("dual", "adversarial"): {"dice_csf": 0.912, "mhd_csf": 0.245, "dice_gm": 0.853, "mhd_gm": 0.492,
                              "dice_wm": 0.836, "mhd_wm": 0.595, "dice_mean": 0.867, "mhd_mean": 0.444},
    ("multi", "standardization"): {"dice_csf": 0.860, "mhd_csf": 0.264, "dice_gm": 0.881, "mhd_gm": 0.684,
                                   "dice_wm": 0.856, "mhd_wm": 0.812, "dice_mean": 0.866, "mhd_mean": 0.587},
    ("multi", "preprocessor"): {"dice_csf": 0.922, "mhd_csf": 0.251, "dice_gm": 0.895, "mhd_gm": 0.392,
                                "dice_wm": 0.870, "mhd_wm": 0.530, "dice_mean": 0.896, "mhd_mean": 0.390},
    ("multi", "adversarial"): {"dice_csf": 0.913, "mhd_csf": 0.293, "dice_gm": 0.887, "mhd_gm": 0.422,
                               "dice_wm": 0.870, "mhd_wm": 0.598, "dice_mean": 0.890, "mhd_mean": 0.438},
}

#: Table 4: setting -> JSD of the inputs, the Pre-processor's and our normalized images (legacy quantity).
TABLE4: dict[str, dict[str, float]] = {
    "dual": {"inputs": 2.0839, "preprocessor": 0.2793, "adversarial": 0.2788},
    "multi": {"inputs": 12.2212, "preprocessor": 0.4185, "adversarial": 0.4180},
}

#: Table 5: modalities -> mean Dice and mean MHD (dual-site, ours, lambda = 1.5).
TABLE5: dict[str, dict[str, float]] = {
    "t1": {"dice_mean": 0.867, "mhd_mean": 0.444},
    "t1+t2": {"dice_mean": 0.887, "mhd_mean": 0.363},
}

#: Table 6: (site, alpha) -> Pearson rho(intensity, y) degraded and normalized.
TABLE6: dict[tuple[str, float], dict[str, float]] = {
    ("mrbrains", 0.3): {"degraded": 0.098, "normalized": 0.053},
    ("mrbrains", 0.5): {"degraded": 0.196, "normalized": 0.142},
    ("mrbrains", 0.7): {"degraded": 0.310, "normalized": 0.239},
    ("mrbrains", 0.9): {"degraded": 0.437, "normalized": 0.365},
    ("iseg", 0.3): {"degraded": 0.256, "normalized": 0.119},
    ("iseg", 0.5): {"degraded": 0.426, "normalized": 0.243},
    ("iseg", 0.7): {"degraded": 0.591, "normalized": 0.460},
    ("iseg", 0.9): {"degraded": 0.732, "normalized": 0.593},
}

#: Table 6, "Original" row: site -> Pearson rho(intensity, y) of the clean (undegraded) test image.
TABLE6_CLEAN: dict[str, float] = {"mrbrains": -0.0199, "iseg": 0.0271}

#: Table 7: lambda -> mean Dice, discriminator train and test accuracy (fractions).
TABLE7: dict[float, dict[str, float]] = {
    0.1: {"dice_mean": 0.875, "d_train_acc": 0.9895, "d_test_acc": 0.3449},
    1.5: {"dice_mean": 0.866, "d_train_acc": 0.4410, "d_test_acc": 0.3258},
    5.0: {"dice_mean": 0.851, "d_train_acc": 0.4407, "d_test_acc": 0.2858},
}

#: The claims a reproduction must show (docs/reproduction.md, section 4).
CLAIMS: dict[str, str] = {
    "C1": "training on one site and testing on another loses >= 30 % of mean Dice",
    "C2": "Pre-processor and Ours beat Standardization in mean Dice, dual- and multi-site",
    "C3": "Ours is within 0.01 mean Dice of the Pre-processor",
    "C4": "normalized images have a much lower cross-dataset JSD than inputs; Ours <= Pre-processor",
    "C5": "T1 + T2 beats T1 alone",
    "C6": "normalization lowers the intensity-y correlation at every alpha",
    "C7": "mean Dice falls as lambda rises; D train accuracy falls from ~99 % (lambda=0.1) to ~44 % (lambda >= 1.5)",
    "C8": "at lambda >= 1.5 the discriminator labels generated patches as real domains, spread uniformly",
    "C9": "joint training on three datasets beats two",
}
