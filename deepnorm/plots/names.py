"""Display names of the study's internal keys (methods, settings, image stages, inputs, result columns).

The one home of these names: figures, viewers, the notebooks' tables (``deepnorm.study.display``)
and REPORT.md (``deepnorm.study.report``) show them, never the keys: ``adversarial`` is "Ours",
``dual`` is "iSEG-2017 + MRBrainS13", ``dice_csf`` is "Dice CSF" in a figure (:data:`AXIS_NAMES`)
and "CSF" under a table of Dice (:data:`COLUMN_NAMES`). An unknown key is
shown as itself with underscores turned into spaces.
"""

from __future__ import annotations

from deepnorm.data.sites import SITE_NAMES

METHOD_NAMES: dict[str, str] = {
    "segmenter": "Segmenter",
    "standardization": "Standardization",
    # not a method of the paper: the z-score over the brain only, kept as an extra row of Table 3
    "standardization_brain": "Standardization (brain only, not the paper's)",
    "preprocessor": "Pre-processor",
    "adversarial": "Ours",
    # classical normalizers from the intensity-normalization library, then S: not in the paper
    "nyul": "Nyúl (beyond the paper)",
    "whitestripe": "WhiteStripe (beyond the paper)",
    "fcm": "FCM (beyond the paper)",
    "kde": "KDE (beyond the paper)",
    # beyond the paper: SynthSeg-style training on random contrasts (Billot et al. 2023)
    "contrast_randomisation": "Contrast randomisation (beyond the paper)",
}
#: Table 3's and Table 4's site sets, spelled with the sites' names.
SETTING_NAMES: dict[str, str] = {key: " + ".join(SITE_NAMES[s] for s in sites) for key, sites in (
    ("dual", ("iseg", "mrbrains")), ("multi", ("iseg", "mrbrains", "abide")))}
#: Image stages of Table 4 (the inputs, then each method's normalized images).
STAGE_NAMES: dict[str, str] = {"inputs": "Input data", **METHOD_NAMES}
#: Table 5's inputs. "t2" is a site's second contrast: T2 for iSEG-2017, T2-FLAIR for MRBrainS13.
MODALITY_NAMES: dict[str, str] = {"t1": "T1", "t1+t2": "T1 + T2/FLAIR", "t2": "T2/FLAIR"}
#: Result-table columns in a figure's axis or legend: Dice is a fraction, MHD in the unit of the
#: table it comes from.
AXIS_NAMES: dict[str, str] = {
    **{f"dice_{t}": f"Dice {t.upper()}" for t in ("csf", "gm", "wm")},
    "dice_mean": "Dice mean",
    **{f"mhd_{t}": f"MHD {t.upper()}" for t in ("csf", "gm", "wm")},
    "mhd_mean": "MHD mean",
    "jsd": "JSD (nats)",
}
#: Result-table columns as the headers of a table (notebooks, REPORT.md), whose title names the metric.
COLUMN_NAMES: dict[str, str] = {
    "train_site": "Trained on", "test_site": "Tested on", "site": "Site", "setting": "Sites",
    "method": "Method", "stage": "Images", "modalities": "Input", "subject": "Subject",
    "dice_csf": "CSF", "dice_gm": "GM", "dice_wm": "WM", "dice_mean": "Mean Dice",
    "dice_mean_shared": f"Mean Dice ({SETTING_NAMES['dual']} subjects)",
    "mhd_csf": "MHD CSF (mm)", "mhd_gm": "MHD GM (mm)", "mhd_wm": "MHD WM (mm)", "mhd_mean": "MHD (mm)",
    "jsd": "JSD (nats)", "jsd_legacy": "JSD, authors' quantity",
    "alpha": "α", "rho_degraded": "ρ degraded", "rho_normalized": "ρ normalized",
    "lam": "λ", "d_train_acc": "D train accuracy", "d_test_acc": "D test accuracy",
    "empty_csf": "Empty CSF (subjects)", "empty_gm": "Empty GM (subjects)", "empty_wm": "Empty WM (subjects)",
    # the data checks (data_sites, data_jsd)
    "subjects": "Subjects", "pair": "Pair", "brain_ml": "Brain (ml)", "csf_fraction": "CSF (fraction of brain)",
    "gm_fraction": "GM (fraction of brain)", "wm_fraction": "WM (fraction of brain)",
    "t1_bayes_gm_wm": "Bayes error GM/WM, T1", "t2_bayes_gm_wm": "Bayes error GM/WM, T2/FLAIR",
    "joint_bayes_gm_wm": "Bayes error GM/WM, joint", "rim_csf_fraction": "CSF on the brain's rim (fraction)",
    "rim_csf_dice": "Rim as CSF (Dice)",
}


def display_name(key: object) -> str:
    """The name a reader sees for an internal key (method, setting, stage, site or column)."""
    text = str(key)
    for table in (METHOD_NAMES, SETTING_NAMES, STAGE_NAMES, AXIS_NAMES, SITE_NAMES):
        if text in table:
            return table[text]
    return text.replace("_", " ")
