"""Write REPORT.md: the paper's numbers beside ours, a verdict on each claim, the differences.

Reads only ``results/`` (tables written by the notebooks, or their mean ± sd over seeds written by
``deepnorm.study.seeds``) and ``deepnorm.study.paper``. When a table holds ``<col>_std`` columns
(two or more seeds), each of our cells reads ``mean ± sd``; the report says which seeds it used.
Tables 2-7 are the rows the notebooks show (``deepnorm.study.display.paper_beside_ours``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deepnorm.data.sites import SITE_NAMES
from deepnorm.files import atomic_write_text, read_json
from deepnorm.plots.names import METHOD_NAMES
from deepnorm.study import claims, data_checks
from deepnorm.study.display import (
    BEYOND_TABLES,
    cell,
    fmt,
    load_tables,
    markdown_table,
    paper_beside_ours,
)

#: Appended to C1's statement: the phantom was checked on C1's pattern (data check D1).
C1_DATA_NOTE = " (a property of the data used to check the phantom, D1; not an independent confirmation)"


def _verdict_table(verdicts: Sequence[claims.Verdict], names: tuple[str, str] = ("claim", "statement")) -> str:
    """Verdicts as a Markdown table: id, statement, verdict, numbers."""
    return markdown_table([*names, "verdict", "numbers"], [[v.claim, v.text, v.verdict, v.evidence] for v in verdicts])


def _data_cell(row: Mapping[str, Any], column: str, digits: int) -> str:
    """A data-only number: "–" where the site lacks it (NaN), and no "± 0" where the spread over seeds
    (which see the same data) is below the last digit shown."""
    try:
        value, sd = float(row.get(column)), float(row.get(f"{column}_std", "nan"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return cell(row, column, digits)
    if math.isnan(value):
        return "–"
    if math.isnan(sd) or sd < 0.5 * 10.0 ** -digits:  # one seed, or a spread that rounds to 0
        return f"{value:.{digits}f}"
    return cell(row, column, digits)


def _section_data(tables: Mapping[str, Any]) -> str:
    """The data section: D1-D3 (properties of the data, judged before any normalizer) and the per-site numbers."""
    verdicts = data_checks.judge_data(tables)
    lines = ["## The data: properties of the data, not of the method", "",
             "Three patterns of the paper's data that hold before any normalizer is trained "
             "(criteria in `deepnorm/study/data_checks.py`, fixed before the runs). On the embedded phantom they check "
             "that the phantom has the paper's site shift; every phantom parameter comes from a published fact about "
             "the real data set (`data/README.md`), none was moved to make a claim hold. D1 is C1's criterion plus "
             "a high in-domain Dice, so **C1 is a property of the data used to check the phantom, not an independent "
             "confirmation of the paper**.", "",
             _verdict_table(verdicts, ("check", "pattern"))]
    sites = tables.get("data_sites") or []
    if sites:
        body = [[SITE_NAMES.get(str(r.get("site")), str(r.get("site"))),
                 *(_data_cell(r, column, digits) for column, digits in (
                     ("subjects", 0), ("brain_ml", 0), ("csf_fraction", 2), ("t1_bayes_gm_wm", 2),
                     ("t2_bayes_gm_wm", 2), ("joint_bayes_gm_wm", 2), ("rim_csf_fraction", 2), ("rim_csf_dice", 2)))]
                for r in sites]
        lines += ["", "Per site, all subjects, at the profile's voxel size: brain volume (ml), CSF fraction of the brain, "
                  "the GM-vs-WM Bayes error of the intensities (0 = separable, 0.5 = identical) in T1, in the second "
                  "contrast and jointly, and the share of CSF voxels on the brain mask's one-voxel rim with that rim's "
                  "Dice as a CSF segmentation (how much of CSF a trivial rule finds); \"–\": the site has no second "
                  "contrast. Every seed sees the same data: a number shown without a spread varied by less than its last digit.", "",
                  markdown_table(["site", "subjects", "brain ml", "CSF fraction", "Bayes GM/WM T1", "2nd contrast",
                                  "joint", "CSF on rim", "rim Dice"], body)]
    jsd = tables.get("data_jsd") or []
    if jsd:
        lines += ["", "Inputs' true JSD (nats) between pooled T1 brain histograms:", "",
                  markdown_table(["pair", "JSD"], [[str(r.get("pair")), _data_cell(r, "jsd", 4)] for r in jsd])]
    return "\n".join(lines)


def _section_table2(tables: Mapping[str, Any]) -> str:
    return ("### Table 2 — segmenter alone, no normalization (Dice, paper / ours)\n\n"
            + markdown_table(*paper_beside_ours("table2", tables)))


def _section_table3(tables: Mapping[str, Any]) -> str:
    return ("### Table 3 — normalization methods (Dice and mean MHD, paper / ours; our MHD in mm)\n\n"
            "Standardization is the paper's (Sec. 3.2): each volume z-scored over all its voxels. "
            "A tissue a prediction lacks counts in our MHD with the image diagonal in mm as its distance; "
            "*Empty* counts the test subjects whose prediction lacks the tissue.\n\n"
            + markdown_table(*paper_beside_ours("table3", tables)))


def _section_table4(tables: Mapping[str, Any]) -> str:
    return ("### Table 4 — Jensen–Shannon divergence between data sets\n\n"
            "The paper's numbers are the authors' code's quantity, beside our reconstruction of it; "
            "*JSD* is the Jensen–Shannon divergence in nats (bounded by ln 2 ≈ 0.693).\n\n"
            + markdown_table(*paper_beside_ours("table4", tables)))


def _section_table5(tables: Mapping[str, Any]) -> str:
    return ("### Table 5 — modalities (Ours, dual-site; paper / ours)\n\n"
            + markdown_table(*paper_beside_ours("table5", tables)))


def _section_table6(tables: Mapping[str, Any]) -> str:
    return ("### Table 6 — Pearson ρ(intensity, y), degraded → normalized\n\n"
            "`clean` is the undegraded test image (the paper's \"Original\" row; the paper gives no normalized value). "
            "The whole-brain ρ mixes the tissues' contrast with the field; the white-matter ρ measures the field alone.\n\n"
            + markdown_table(*paper_beside_ours("table6", tables)))


def _section_table7(tables: Mapping[str, Any]) -> str:
    return "### Table 7 — λ (paper / ours)\n\n" + markdown_table(*paper_beside_ours("table7", tables))


def _section_i1(rows: Sequence[Mapping[str, Any]]) -> str:
    """I1 beside Table 7: can D, alone, tell the frozen Pre-processor G's patches apart at this scale?"""
    from deepnorm.study.instruments import I1_TEXT, judge_i1

    verdict = judge_i1(rows[0] if rows else None)
    return ("**Instrument check I1** (beside C7 and C8; criterion in `deepnorm/study/instruments.py`, fixed before its "
            f"runs): {I1_TEXT}. **{verdict.verdict}**: {verdict.evidence}. Where I1 does not hold, D cannot see what G "
            "does at this scale, and C7/C8 say nothing about the method.")


def _scale_extrapolation(summary: Sequence[Mapping[str, Any]]) -> str:
    """The scale section's extrapolation to the paper's widths, marked as one ("" when the points cannot carry it)."""
    from deepnorm.study import scale

    width_factor, iteration_factor = scale.paper_factors()
    fit = scale.extrapolate_widths(summary, width_factor)
    if fit is None:
        return ""
    widths = ", ".join(f"×{w:g}" for w in fit["widths"])
    prices = " → ".join(f"{p:+.3f}" for p in fit["prices"])
    d_low = " → ".join(fmt(d) for d in fit["d_generated_lam_0.1"])
    doublings = math.log2(fit["width_factor"])
    mixed = ""
    if len(set(fit["precisions"])) > 1:
        each = ", ".join(f"{p} at ×{w:g}" for p, w in zip(fit["precisions"], fit["widths"]))
        mixed = (f" The points did not train in one arithmetic ({each}; the profile's rule per processor and width): "
                 "part of the change may be bf16's, whose gate held it within the seed spread, not the width's.")
    return ("\n\n**An extrapolation, not a measurement.** Over the widths run at epochs ×1 "
            f"({widths}; one seed), Ours − Pre-processor goes {prices}: ×{fit['ratio_per_doubling']:.2f} per doubling "
            f"of the widths. If that ratio held up to the paper's widths (×{fit['width_factor']:g}, {doublings:g} "
            f"doublings), the price would be about {fit['predicted_price']:+.3f} of mean Dice (C3 asks for at most 0.01). "
            f"D's validation accuracy on generated patches at λ = 0.1 goes {d_low} over the same widths (the paper's D: "
            f"99 % train accuracy at λ = 0.1). The budget axis is not in this extrapolation: the paper trains "
            f"×{iteration_factor:g} the iterations of this profile." + mixed)


def _section_scale(rows: Sequence[Mapping[str, Any]]) -> str:
    """The scale study (``make reproduce-scale``): per point, what realism costs and whether D sees G."""
    from deepnorm.study import scale

    summary = scale.differences(rows)
    if not summary:
        return ""
    choice = scale.choose_scale(summary, scale.reproduce_hours(summary))
    point = choice.get("point")
    chosen = scale.scale_name(*point) if point and point != (1, 1) else ""
    further = (f" `make reproduce SCALE={chosen}` runs every table at that point, reusing its runs here, and writes its own "
               f"report, `results/scale-{chosen}/REPORT.md`; the verdicts of this report are those of its own scale."
               if chosen else "")
    body = [[f"×{r['width']:g}", f"×{r['budget']:g}", "yes" if r["bias_augment"] else "no",
             fmt(r["preprocessor_dice"]), fmt(r["ours_dice"]), f"{r['ours_minus_preprocessor']:+.3f}",
             fmt(r["d_generated_lam_0.1"]), fmt(r["d_generated_lam_1.5"]), fmt(r["i1"]),
             fmt(r["jsd_ours"], 4), fmt(r["jsd_preprocessor"], 4), f"{r['gflop'] / 1e3:.0f}", f"{r['hours']:.2f}",
             str(r.get("precision") or "float32")]
            for r in summary]
    header = ["widths", "epochs", "bias fields", "Pre-proc. Dice", "Ours Dice", "Ours − Pre-proc.",
              "D gen. λ 0.1", "D gen. λ 1.5", "I1", "JSD Ours", "JSD Pre-proc.", "TFLOP", "hours",
              "precision"]
    return ("### The scale study — U-Net widths and epochs times those of the profile (dual-site, one seed)\n\n"
            "`make reproduce-scale` (notebook `08_scale`): Ours at λ = 1.5 and 0.1, the Pre-processor and "
            "Standardization at each point; test mean Dice (one test subject per site), D's validation accuracy on "
            "generated patches at the last epoch, I1 at the point's D budget, the JSD of the normalized images, "
            "the compute of the four trainings (TFLOP) and their hours on the machine that ran them when quiet "
            "(fastest epoch times epochs), and the arithmetic they trained in (the profile's rule, "
            "`deepnorm/precision.py`, decides per processor and width). One seed: a difference here carries no "
            "seed spread.\n\n"
            + markdown_table(header, body) + f"\n\nRule that picks a profile (fixed before the runs): {scale.CHOICE_RULE}. "
            f"It picks, on the points run: {choice['why']}." + further + _scale_extrapolation(summary)
            + "".join(f"\n\nWith the robustness augmentation (p = {a['bias_augment']:g}) at widths ×{a['width']:g}, "
                      f"epochs ×{a['budget']:g}: Pre-processor {a['preprocessor_dice_plain']:.3f} → "
                      f"{a['preprocessor_dice_augmented']:.3f}, Ours {a['ours_dice_plain']:.3f} → "
                      f"{a['ours_dice_augmented']:.3f} (Ours − Pre-processor {a['ours_minus_preprocessor_plain']:+.3f} → "
                      f"{a['ours_minus_preprocessor_augmented']:+.3f}); JSD Pre-processor {a['jsd_preprocessor_plain']:.4f} → "
                      f"{a['jsd_preprocessor_augmented']:.4f}, Ours {a['jsd_ours_plain']:.4f} → {a['jsd_ours_augmented']:.4f}; "
                      "one seed." for a in scale.augmentation_effect(summary)))


def _section_beyond(tables: Mapping[str, Any]) -> str:
    """Beyond the paper: B1-B3 and the unseen-site table ("" when none of its tables exists)."""
    if not any(tables.get(name) for name in BEYOND_TABLES):
        return ""
    verdicts = claims.judge_beyond(tables)
    lines = ["## Beyond the paper", "",
             "Classical normalizers (intensity-normalization: Nyúl–Udupa, WhiteStripe, FCM, KDE), each followed by the "
             "same segmenter, and contrast randomisation (a segmenter trained on random per-tissue contrasts, no "
             "normalizer), trained with the same effort as the paper's methods; and a site that training never saw "
             "(`make reproduce-beyond`, notebook `07_beyond_unseen_site`). Criteria in `deepnorm/study/claims.py`, "
             "fixed before the runs.", "",
             _verdict_table(verdicts)]
    unseen = tables.get("unseen_site") or []
    if unseen:
        body = [[METHOD_NAMES.get(str(r.get("method")), str(r.get("method"))),
                 SITE_NAMES.get(str(r.get("held_out")), str(r.get("held_out"))),
                 cell(r, "seen_dice_mean"), cell(r, "dice_csf"), cell(r, "dice_gm"), cell(r, "dice_wm"),
                 cell(r, "dice_mean"), cell(r, "mhd_mean")] for r in unseen]
        lines += ["", "### Unseen site — trained on two sites, tested on the third (Dice; MHD in mm)", "",
                  "`seen` is the same run's mean Dice on the test subjects of its training sites; `mean` rows "
                  "average the three rotations.", "",
                  markdown_table(["method", "held-out site", "seen", "CSF", "GM", "WM", "mean Dice", "mean MHD"], body)]
    scanner = tables.get("unseen_scanner") or []
    if scanner:
        body = [[METHOD_NAMES.get(str(r.get("method")), str(r.get("method"))), str(r.get("held_out")),
                 _data_cell(r, "n_subjects", 0), cell(r, "seen_dice_mean"), cell(r, "dice_csf"), cell(r, "dice_gm"),
                 cell(r, "dice_wm"), cell(r, "dice_mean"), cell(r, "mhd_mean")] for r in scanner]
        lines += ["", "### Unseen scanner — trained on the three sites without one ABIDE scanner, tested on it", "",
                  "`seen` is the same run's mean Dice on the test subjects of every other scanner and site.", "",
                  markdown_table(["method", "held-out scanner", "subjects", "seen", "CSF", "GM", "WM", "mean Dice",
                             "mean MHD"], body)]
    return "\n".join(lines)


DIFFERENCES = """\
- **Data.** Unless a data root is given, every number comes from the embedded phantom (three
  synthetic sites on the MNI ICBM152 2009a anatomy, each built from published facts about the
  real set: infant brain size and isointense T1/T2 contrast for iSEG-2017, elderly atrophy,
  white-matter lesions and 3 mm slices for MRBrainS13, per-scanner contrast curves for ABIDE;
  `data/README.md` lists every parameter with its source), not from iSEG-2017, MRBrainS13 and
  ABIDE. It reproduces the *kind* of domain shift, not the real images: absolute numbers are not
  comparable with the paper's, the claims are. The data section above says which of the paper's
  data-only patterns the data have.
- **Scale (`cpu` profile).** 2 mm voxels with 16³ patches (the paper's physical 32 mm patch),
  U-Net widths 8-16-32-64 instead of 64-128-256-512-512, far fewer patches and epochs; the
  `paper` profile has the paper's hyper-parameters verbatim.
- **Precision (`cpu` profile).** On a processor with AMX the `cpu` profile trains and evaluates
  under bf16 autocast (losses, Dice sums, metrics, weights and Adam in float32), elsewhere in
  float32 (`deepnorm/precision.py` gives the rule and its measurements; `reproduce.json` records
  what ran, and a run without the record ran in float32). The switch passed a numerics gate fixed
  before its runs (`benchmarks/precision_gate.py`, three seeds, on an Intel Xeon with AMX, against
  the float32 seeds of this report's committed runs): Table 2's iSEG segmenter 0.814 against 0.814
  on iSEG (float32 sd 0.006) and 0.632 against 0.639 on MRBrainS (sd 0.053), Table 3's dual Ours
  0.752 against 0.770 (sd 0.046). `make reproduce PRECISION=float32` trains in float32 everywhere.
- **JSD.** We report the true Jensen–Shannon divergence (nats, ≤ ln 2) between the pooled
  brain-foreground intensity histograms of each pair of data sets, averaged over pairs. The
  paper's 2.08 and 12.22 exceed ln 2, so they cannot be a JSD: the authors' code fed a
  generalized-JSD helper an array of the wrong shape, and the quantity grows with the number of
  inputs. `deepnorm.metrics.legacy_jsd` reconstructs that quantity, shown in Table 4.
- **MHD.** Eq. 5 in millimetres on the voxel grid with the voxel spacing (the authors' code
  used `directed_hausdorff` on flattened slices, in voxel-index units, and the maximum of both
  directions): our MHD values are in mm and not comparable with the paper's column.
- **Discriminator.** The paper's layers (Sec. 2.1): 4 × (conv3d, LeakyReLU, dropout), then a
  linear layer, with no normalisation layer (the authors' code added BatchNorm; spectral norm is
  an option, off). Logits → softmax cross-entropy over K+1 classes; the authors' code put a
  sigmoid before the log-softmax, which caps the discriminator's confidence. Not copied. Its
  accuracy in Table 7 and C7/C8 is D's as trained (train mode), on equal numbers of patches from
  every site; Table 7 and the training curves also give it on real patches (called their own
  site) and on generated ones (called "generated") apart. Its loss is Eq. 2 as Algorithm 1
  trains it, the mean over real patches plus the mean over generated ones, in training and in
  validation alike.
- **Standardization.** Sec. 3.2's: each volume z-scored over all its voxels, background
  included. A brain-only z-score (`standardization_brain`) is available as an extra method.
- **Empty classes in MHD.** A tissue that a prediction lacks (or has where the reference has
  none) has no Hausdorff distance; it counts with the image diagonal in mm instead of being
  left out of the mean, and the number of such subjects is reported.
- **Generator's adversarial term.** Eq. 3 in its non-saturating form −log(1 − D_{K+1}(G(x)))
  by default (the exact minimax form is an option); the authors' code used other variants.
- **Dice loss.** Two named options (`train.dice_loss`): `pooled`, Eq. 1 exactly (weights in
  numerator and denominator, classes pooled into one ratio), and `per_class`, the weighted mean
  of per-class soft Dice, as the authors' code computed (it weighted only the numerator; we
  divide by the sum of the weights). The default, `per_class`, was chosen on validation data
  before any claim was judged: a `cpu` segmenter alone (iSEG + MRBrainS, seed 0) reached a
  validation Dice of 0.846 with it against 0.817 with `pooled`
  (`benchmarks/choose_dice_loss.py`, `benchmarks/choose_dice_loss.json`).
- **Reconstruction of whole volumes.** Class probabilities averaged over the sliding windows
  (the paper); the code averaged arg-max labels.
- **Which trainings have the bias-field augmentation.** The paper introduces the Eq. 7
  augmentation "to test the robustness of our model" (Sec. 2.3) and says "to evaluate this, we
  trained the method with 50 % of input images augmented" (Sec. 3.5): only the robustness
  experiment's training has it. Table 6 and Fig. 8 use an Ours trained with half its patches
  augmented; every other training (Tables 2-5 and 7, the beyond-the-paper runs) has none
  (`data.bias_augment` 0). Ours and the Pre-processor with and without it are measured in the
  scale study (`results/scale.csv`, the points marked "bias aug.").
- **Real patches of the discriminator.** Where patches are augmented, G and S see the augmented
  patches and D's real class the same patches un-augmented, since the bias-field argument
  (Sec. 3.5) rests on D knowing real, undegraded images. The paper does not say which patches D
  sees. The training field spans the patch's whole source volume along y, as the test-time
  degradation does.
- **The generator D learns from.** In D's steps, G(x) is computed with G in eval mode (its
  BatchNorm running statistics), the normalizer as it is applied and as validation and Table 7
  judge it; in the G/S step G trains in train mode. Before, D learned G's batch-statistics
  outputs and was judged on its eval-mode ones. The paper does not say.
- **Schedules in iterations.** lr(G, S) drops ×0.1 at 50/120 and 75/120 of the run's iterations
  (the paper's epochs 50 and 75 of 120; the `paper` profile's three-site runs keep the text's
  epoch 50 of 70, and 75 never comes). D's reduce-on-plateau keeps the paper's patience of 7
  validations in the `paper` profile; the `cpu` and `smoke` profiles train D without it: 7/120
  of a 1,920-iteration run is 112 iterations, less than one epoch, so the plateau would react to
  a single noisy validation, and with the former patience of 3 epochs it had cut lr(D) to 1e-5
  at epoch 6 and 1e-6 at epoch 10 of every adversarial run.
- **Equal effort.** The paper draws 40,000 patches per site and epoch, so a one-site segmenter
  (Table 2) gets half the updates of the two-site runs it is compared with; deepnorm gives a
  one-site run the iterations of two sites. Every method of a table trains for the same number
  of updates.
- **Bias field.** Eq. 7 exactly, `B(y) = (y/H)·α + (1 − α)`, linear along y. The paper's prose
  (α = 1 scales intensities from −100 % at y = 0 to +100 % at y = H) does not match Eq. 7,
  which gives ×0 → ×1 (−100 % → 0 %); we follow the equation.
- **Labels.** Nearest-neighbour resampling of label maps (the code used linear interpolation).
- **Seeds.** Every random step is seeded (the code set no torch seed). The paper reports one
  training per setting; we judge the claims on seed means when several seeds were run.
- **Contrast randomisation (beyond the paper).** SynthSeg's laws for the synthetic images
  (per-label means U(25, 225) and spreads U(5, 25), its code defaults; bias field, gamma, blur,
  noise) and, as SynthSeg, synthetic patches only. Its budget is every other method's: in the
  `cpu` profile about 1,900 steps of eight 16³ patches, where SynthSeg's code trains a 5-level
  U-Net (24 base features) for 305,000 steps on 160³ crops. B3 compares the methods at equal
  effort; it does not measure SynthSeg as its authors train it.
"""


#: What decides whether a rerun gives the same bytes: the keys of ``reproduce.json`` that describe
#: the processor (:func:`deepnorm.devices.cpu_description`) and the thread count.
PROCESSOR_KEYS: tuple[str, ...] = ("processor", "cpu capability", "amx", "isa caps", "threads")

RERUN = """\
- **Identical to the byte:** a rerun with the same seeds on the same processor (the same PyTorch
  CPU capability and AMX as above), the same thread count, the same device and the same software
  (torch 2.13.0) writes the same tables. Numbers that depend only on the data (the phantom, the
  data checks, the inputs' JSD, the degraded images' bias correlation) are the same on every
  processor.
- **Of the order of a change of seed, not to the byte:** on another processor or thread count PyTorch's
  kernels round differently (oneDNN and ATen pick AVX2, AVX-512 or AMX code; the thread count
  changes the order of the sums), and a training carries the difference forward. {measured}
  Read a trained number to within its seed spread, not its last digit: a verdict near its
  threshold, or `inconclusive`, may flip on another processor.
- The test suite holds the smoke profile's trained numbers within a tolerance measured across
  processors and thread counts (`tests/golden/compare.py`) and reruns it under an emulated other
  processor (`ONEDNN_MAX_CPU_ISA`, `ATEN_CPU_CAPABILITY`)."""

#: The measured cross-processor difference of one cpu training (see RERUN): Table 2's segmenter
#: (cpu profile, phantom v2, seed 0, trained on iSEG, 1 thread) on an Intel Xeon with AMX, once
#: with PyTorch's own choice (AVX-512) and once with ``ONEDNN_MAX_CPU_ISA=AVX2
#: ATEN_CPU_CAPABILITY=avx2``, against the committed seed 0 (2 threads, processor not recorded).
CROSS_ISA_MEASURED = (
    "Measured on Table 2's segmenter (cpu profile, seed 0, trained on iSEG): under AVX-512 and under "
    "emulated AVX2 on one Intel processor it scored mean Dice 0.813 and 0.823 on iSEG, 0.584 and 0.587 "
    "on MRBrainS; the committed seed 0 (2 threads) scored 0.820 and 0.601. Those differences (up to "
    "0.010 and 0.017) are of the order of a change of seed: the 3-seed sd of these cells is 0.006 and "
    "0.053. A fresh clone's `make reproduce` (cpu, seed 0) on an Intel processor with AMX differed from "
    "the committed `results/seed-0/` by up to 0.034 on Table 2, inside the 3-seed spread of those cells.")


def _section_rerun(meta: Mapping[str, Any]) -> str:
    """What a rerun of this report reproduces exactly and what only within the spread."""
    lines = ["## What a rerun gives", ""]
    if not any(k in meta for k in PROCESSOR_KEYS[1:]):
        lines += ["This run's `reproduce.json` does not record its processor or thread count "
                  "(it was written before they were recorded).", ""]
    lines.append(RERUN.format(measured=CROSS_ISA_MEASURED))
    return "\n".join(lines)


def not_from_this_run(tables: Mapping[str, Any], meta: Mapping[str, Any],
                      beyond: Mapping[str, Any] | None) -> list[str]:
    """The beyond-the-paper tables present in `tables` that neither this reproduction (`meta`, its
    ``reproduce.json``) nor a later ``make reproduce-beyond`` over the same seeds (`beyond`, its
    ``reproduce_beyond.json``) wrote: tables of an earlier run, which the report must not mix in.

    A ``reproduce.json`` without ``written`` (written before reproductions recorded their tables)
    cannot tell: nothing is reported stale then.
    """
    written = meta.get("written")
    if not isinstance(written, dict):
        return []
    fresh = set(written.get("tables") or [])
    if beyond and isinstance(beyond.get("written"), dict) and beyond.get("seeds") == meta.get("seeds") \
            and str(beyond.get("date", "")) >= str(meta.get("date", "")):
        fresh |= set(beyond["written"].get("tables") or [])
    return [name for name in BEYOND_TABLES if tables.get(name) and name not in fresh]


def _stale_note(stale: Sequence[str], meta: Mapping[str, Any], beyond: Mapping[str, Any] | None) -> str:
    seeds = meta.get("seeds")
    origin = (f"the last `make reproduce-beyond` (seeds {beyond.get('seeds')}, {beyond.get('date', 'date not recorded')})"
              if beyond else "an earlier run (the committed files or an older reproduction)")
    return ("**Left out: tables of another run.** `results/` holds " + ", ".join(f"`{n}`" for n in stale)
            + f", which this reproduction (seeds {seeds}, {meta.get('date', 'date not recorded')}) did not write: they "
            f"come from {origin}. This report does not mix them with its own numbers; `make reproduce-beyond "
            f"SEEDS={len(seeds) if isinstance(seeds, list) else 1}` regenerates them for these runs.")


def _ids(verdicts: Sequence[claims.Verdict], verdict: str) -> list[str]:
    return [v.claim for v in verdicts if v.verdict == verdict]


def _counted(verdicts: Sequence[claims.Verdict], what: str) -> str:
    """"of <what>, 2 hold (C1, C6) and 5 do not hold (...)" for `verdicts` ("" when there are none)."""
    words = {claims.HOLDS: ("holds", "hold"), claims.FAILS: ("does not hold", "do not hold"),
             claims.INCONCLUSIVE: ("is inconclusive", "are inconclusive"),
             claims.MISSING: ("was not measured", "were not measured")}
    parts = []
    for verdict, (one, many) in words.items():
        ids = _ids(verdicts, verdict)
        if ids:
            parts.append(f"{len(ids)} {one if len(ids) == 1 else many} ({', '.join(ids)})")
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{what}, {body}."


#: The version of the study's defaults that a reproduction records in reproduce.json ("study version");
#: results of an older version are marked in the report. Version 2: lr(G,S) milestones as fractions of
#: the run's iterations and no D plateau at the cpu scale, the bias-field augmentation only in the
#: robustness trainings (Table 6, Fig. 8), D's steps see G in eval mode, D's validation loss as trained,
#: Table 7's confusion on balanced sites, D's accuracy on real and on generated patches logged.
STUDY_VERSION = 2


def stale_defaults_note(meta: Mapping[str, Any]) -> str:
    """A warning when `meta` (reproduce.json) comes from an older version of the study's defaults, else ""."""
    if not meta:
        return ""
    version = int(meta.get("study version", 1))
    if version >= STUDY_VERSION:
        return ""
    return (f"**These results come from version {version} of the study's defaults; the code is at version "
            f"{STUDY_VERSION}** (`deepnorm/study/report.py`, STUDY_VERSION: schedules in iterations, the bias-field "
            "augmentation only in the robustness trainings, D learning G as applied): `make reproduce` gives the "
            "numbers of the current defaults.")


def _section_answer(verdicts: Sequence[claims.Verdict], data: Sequence[claims.Verdict],
                    beyond: Sequence[claims.Verdict], meta: Mapping[str, Any], seeds: Sequence[int] | None) -> str:
    """The report's opening: what holds, what does not, at which scale, where to read more; written
    from the verdicts, never by hand."""
    profile = str(meta.get("profile") or "")
    data_name = str(meta.get("data") or "the data root")
    n = len(seeds) if seeds else 1
    scale = {"cpu": "the `cpu` profile's small networks and short trainings (U-Nets 8-64 wide, about 1,900 steps)",
             "smoke": "the `smoke` profile's tiny test networks (numbers without meaning)",
             "paper": "the paper's hyper-parameters"}.get(profile, f"the `{profile}` profile")
    if meta.get("scale"):
        width, budget = str(meta["scale"]).split("x")
        scale = (f"the `{profile}` profile's data and schedule with U-Net widths ×{width} and epochs ×{budget} "
                 f"(`--scale {meta['scale']}`, a point of the scale study)")
    stale = stale_defaults_note(meta)
    lines = ["## The answer first", "", *([stale, ""] if stale else []),
             f"On {data_name}, at {scale}, over {n} seed{'s' if n != 1 else ''}: "
             + _counted(verdicts, f"of the paper's {len(verdicts)} claims")]
    # the first failing claim about the method (C1 is a property of the data: see the data checks)
    failing = [v for v in verdicts if v.verdict == claims.FAILS and v.claim != "C1"][:1]
    for v in failing:
        lines[-1] += f" {v.claim}, for one: {v.text.rstrip('.')}; ours: {v.evidence}."
    if data:
        lines[-1] += " " + _counted(data, "Of the three data checks (patterns of the paper's data before any "
                                          "normalizer; C1 rests on D1)")
    if beyond:
        lines[-1] += " " + _counted(beyond, "Beyond the paper")
    lines[-1] += (" A verdict of this scale says how the method behaves here, not at the paper's; "
                  "\"Differences from the paper\" says what differs, \"What a rerun gives\" how far another "
                  "machine may land, and the claims table the criterion behind each verdict.")
    return "\n".join(lines)


def seeds_note(seeds: Sequence[int] | None, meta: Mapping[str, Any] | None = None) -> str:
    """One paragraph saying which seeds the tables come from and what that means for the verdicts."""
    if seeds and len(seeds) >= 2:
        listed = ", ".join(str(int(s)) for s in seeds)
        return (f"**Seeds:** {listed} ({len(seeds)} trainings of every run). Each of our numbers is the mean ± sd "
                "(sample standard deviation) over these seeds.")
    seed = seeds[0] if seeds else (meta or {}).get("seed")
    which = f" (seed {int(seed)})" if seed is not None and str(seed) != "" else ""
    return (f"**Seeds:** one training of every run{which}. Our numbers are single values with no spread, "
            "so no claim can be `inconclusive` by spread: a verdict may flip with another seed.")


def build_report(folder: Path | None = None, *, meta: Mapping[str, Any] | None = None) -> str:
    """The text of REPORT.md from the result tables in `folder` (default ``results/``)."""
    tables = load_tables(folder)
    meta = dict(meta or read_json("reproduce", folder) or {})
    beyond_meta = read_json("reproduce_beyond", folder)
    stale = not_from_this_run(tables, meta, beyond_meta)
    tables = {k: v for k, v in tables.items() if k not in stale}
    verdicts = claims.judge_all(tables)
    lines = ["# deepnorm — reproduction report", ""]
    scale_option = f" SCALE={meta['scale']}" if meta.get("scale") else ""
    lines.append("Delisle et al., *Realistic image normalization for multi-domain segmentation*, "
                 f"Medical Image Analysis 2021, reproduced by `make reproduce{scale_option}`.")
    lines.append("")
    beyond_verdicts = claims.judge_beyond(tables) if any(tables.get(n) for n in BEYOND_TABLES) else []
    lines += [_section_answer(verdicts, data_checks.judge_data(tables), beyond_verdicts, meta, tables.get("seeds")), ""]
    if meta:
        lines += ["## This reproduction", "",
                  markdown_table(["", ""], [[k, v] for k, v in meta.items() if not isinstance(v, dict)]), ""]
    lines += [seeds_note(tables.get("seeds"), meta), ""]
    lines += [_section_data(tables), ""]
    lines += ["## Claims", "",
              "Each claim of the paper is judged on our numbers with a criterion fixed in "
              "`deepnorm/study/claims.py` before the runs; a claim that does not hold on our data is reported as such. "
              "Over several seeds a claim is judged on the seed means, and a comparison whose margin is smaller "
              "than its seed spread (sd over seeds) is `inconclusive`.", ""]
    lines.append(markdown_table(["claim", "statement", "verdict", "numbers"],
                           [[v.claim, v.text + (C1_DATA_NOTE if v.claim == "C1" else ""), v.verdict, v.evidence]
                            for v in verdicts]))
    lines += ["", "## Tables", ""]
    for section in (_section_table2(tables), _section_table3(tables), _section_table4(tables),
                    _section_table5(tables), _section_table6(tables), _section_table7(tables),
                    _section_i1(tables.get("i1") or []), _section_scale(tables.get("scale") or [])):
        if section:
            lines += [section, ""]
    beyond = _section_beyond(tables)
    if beyond:
        lines += [beyond, ""]
    if stale:
        lines += [_stale_note(stale, meta, beyond_meta), ""]
    lines += [f"Figures are in `{meta.get('figures') or 'figures'}/` (PNG).", "", _section_rerun(meta), ""]
    lines += ["## Differences from the paper", "", DIFFERENCES]
    timings = meta.get("notebook_seconds")
    if isinstance(timings, dict) and timings:
        lines += ["", "## Wall time per notebook", "",
                  markdown_table(["notebook", "seconds"], [[k, f"{float(v):.0f}"] for k, v in timings.items()])]
    return "\n".join(lines)


def write_report(path: Path, folder: Path | None = None, *, meta: Mapping[str, Any] | None = None) -> Path:
    """Write REPORT.md to `path` (atomic); returns the path."""
    return atomic_write_text(Path(path), build_report(folder, meta=meta))
