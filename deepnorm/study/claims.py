"""Judge the paper's claims C1-C9 (docs/reproduction.md, section 4) on measured result tables.

Each judge takes rows as written to ``results/<table>.csv`` (a list of dicts) and returns a
:class:`Verdict`: ``holds``, ``does not hold``, ``inconclusive`` or ``not measured``, with the
numbers behind it. The criteria are fixed here, before any result is seen, and documented in the
report.

**Seeds and the third verdict.** The tables may be means over seeds (``deepnorm.study.seeds``):
a column ``c`` then comes with ``c_std``, its sample standard deviation over seeds. Every claim
is a set of comparisons, each with a *margin*: the signed amount by which its criterion holds
(e.g. ``pre − std`` for "Pre-processor beats Standardization"; ``0.01 − |gap|`` for "within
0.01"). Its *spread* is the seed sd of that margin, from the sds of the numbers in it, taken as
independent: ``sqrt(Σ (∂margin/∂x · sd_x)²)``. A comparison whose margin is smaller in size than
its spread is ``inconclusive``: the seeds do not tell on which side of the criterion the method
lies. A claim does not hold when one of its comparisons fails beyond the spread, is inconclusive
when none fails but one is inconclusive, and holds otherwise. With one seed there is no spread
(``_std`` is nan or absent) and nothing is inconclusive by spread. The paper reports one training
per setting and no spread, so this rule is not the paper's: it is this project's (docs/reproduction.md,
section 4: claims judged over seeds), applied the same way to every claim.

The criteria, each with the sentence of the paper it rests on:

- C1: relative drop ``1 - dice(train A, test B) / dice(train A, test A)`` is >= 0.30 in both
  directions. "the mean Dice score of the model trained on iSEG drops by 51.0% when tested on
  MRBrainS. Likewise, we observe a 62.3% drop" (Sec. 3.1).
- C2: mean Dice of Pre-processor and of Ours > Standardization, in every setting measured.
  "both our method and the learned pre-processor yield a large gain in performance over the fixed
  standardization technique" (Sec. 3.2.1). Standardization is the paper's, a z-score over the
  whole volume (Sec. 3.2).
- C3: ``|Ours - Pre-processor| <= 0.01`` mean Dice, in every setting measured. "our method
  achieves a performance on par with the learned Pre-processor" (Sec. 3.2.1).
- C4: true JSD of normalized images <= half the inputs' ("much lower"), for both learned
  normalizers, and Ours <= Pre-processor + a tolerance of :data:`C4_TOLERANCE` (1 %) of the
  inputs' JSD, in every setting measured. "We see an important decrease in JSD when using
  normalized images. [...] our method leads to slightly smaller JSD values" (Sec. 3.3). The
  paper's difference is 0.0005 (0.2788 vs 0.2793, inputs 2.0839: 0.02 % of the inputs'), far
  inside any measurement's resolution: "slightly smaller" is judged as "not larger by more than
  a small fraction of the inputs' divergence", not as a strict inequality a tie could flip.
- C5: mean Dice with T1 + T2 > with T1 alone. "The accuracy is measured as higher when employing
  the two MRI sequences" (Sec. 3.4).
- C6: at every alpha in {0.3, 0.5, 0.7, 0.9} and every site, the normalized image's ρ is closer
  to the clean image's ρ than the degraded image's is: ``|rho_norm - rho_clean| < |rho_deg -
  rho_clean|``, with ``rho_clean`` the clean (α = 0) input's ρ of that site, Table 6's
  "Original" row. "By bringing intensity values closer to those of the original image, our
  normalization method helps correct the bias field in degraded images" (Fig. 8); "intensity is
  noticeably less correlated to the y-axis position in normalized images than in degraded
  images" (Sec. 3.5). With a clean ρ of 0 this is the former ``|rho_norm| < |rho_deg|``; a site
  without its clean row is not measured.
- C7: mean Dice strictly decreasing in lambda, D train accuracy >= 0.90 at the smallest lambda
  and <= 0.60 at every lambda >= 1.5. "the segmentation accuracy decreases with higher λ values
  [...] For a small λ value of 0.1, the discriminator can classify almost perfectly all our
  training examples [...] As λ is increased, generated images become more similar to real ones,
  resulting in a lower discriminator accuracy" (Sec. 3.6). The accuracy is D's *as trained*: in
  train mode (dropout active), the mode of every D update of Algorithm 1, since "The realism of
  the generated images can be estimated with the discriminator accuracy" only through the D that
  G was trained against (the ``d_train_acc`` column must be measured so).
- C8: at every lambda >= 1.5, D labels < 50 % of generated patches as "generated", and the rest
  spreads over the real domains with normalized entropy >= 0.90 (1 = perfectly uniform). "when
  using λ≥ 1.5, the generator confuses generated images for real ones, with a uniform
  distribution between the MRBrainS and iSEG classes" (Fig. 9); D as trained, as in C7. The
  spread applies to the generated→generated fraction (``matrix_std``); the entropy is judged on
  the mean matrix.
- C9: Ours trained on three sites has a higher mean Dice than Ours trained on two, on the test
  subjects of the two shared sites (iSEG, MRBrainS). Unchanged; the paper states it in no
  sentence: it reads Table 3, Ours 0.890 mean Dice with three data sets against 0.867 with two.

Claims beyond the paper (B1-B3), judged the same way; the paper makes none of them, so each
criterion is ours, fixed before the runs. "Beats" is a higher mean Dice beyond the seed spread;
"the best classical normalizer" is the one of ``nyul``, ``whitestripe``, ``fcm``, ``kde`` with the
highest mean Dice on the very numbers judged (a choice that favours the classical side):

- B1: Ours' mean Dice exceeds the best classical normalizer's on the training sites, in every
  Table 3 setting measured (``table3`` and ``table3_beyond`` rows).
- B2: Ours' mean Dice on a site training never saw, averaged over the rotations (train on two
  sites, test on the third), exceeds the best classical normalizer's (``unseen_site`` rows with
  ``held_out = mean``).
- B3: the same comparison against contrast randomisation (a segmenter trained with random
  per-tissue contrasts and no normalizer).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deepnorm.study.paper import CLAIMS
from deepnorm.training.config import CLASSICAL as _CLASSICAL

HOLDS, FAILS, INCONCLUSIVE, MISSING = "holds", "does not hold", "inconclusive", "not measured"
#: C4: Ours may exceed the Pre-processor's JSD by this fraction of the inputs' JSD.
C4_TOLERANCE = 0.01

Row = Mapping[str, object]


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim: its id, the claim, the verdict and the numbers behind it."""

    claim: str
    text: str
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Comparison:
    """One criterion of a claim: it holds by `margin` (> 0, or >= 0 unless `strict`), give or take `spread`."""

    margin: float
    spread: float = 0.0
    strict: bool = True

    @property
    def outcome(self) -> str:
        """``holds``, ``does not hold``, or ``inconclusive`` when |margin| < spread."""
        if self.spread > 0 and abs(self.margin) < self.spread:
            return INCONCLUSIVE
        return HOLDS if (self.margin > 0 or (not self.strict and self.margin >= 0)) else FAILS


def combine(comparisons: Sequence[Comparison]) -> str | None:
    """A claim's verdict from its comparisons: any failure, else any inconclusive, else holds (None if empty)."""
    outcomes = [c.outcome for c in comparisons]
    if not outcomes:
        return None
    if FAILS in outcomes:
        return FAILS
    return INCONCLUSIVE if INCONCLUSIVE in outcomes else HOLDS


def _f(value: object) -> float:
    """A cell as a number: a float, or its text as read from a CSV file (float() raises for anything else)."""
    return float(value)  # type: ignore[arg-type]  # a cell is a number or its text; float() checks


def _sd(row: Row, column: str) -> float:
    """The seed sd of `column` in `row` (``<column>_std``); 0 when absent or not finite (one seed)."""
    value = row.get(f"{column}_std")
    try:
        sd = _f(value)
    except (TypeError, ValueError):
        return 0.0
    return sd if math.isfinite(sd) and sd > 0 else 0.0


def _spread(*terms: float) -> float:
    """sqrt(Σ terms²): the sd of a sum of independent terms (each already scaled by its derivative)."""
    return math.sqrt(sum(t * t for t in terms))


def _pm(value: float, sd: float, digits: int = 3) -> str:
    return f"{value:.{digits}f} ± {sd:.{digits}f}" if sd > 0 else f"{value:.{digits}f}"


def _verdict(claim: str, verdict: str | None, evidence: str) -> Verdict:
    return Verdict(claim, CLAIMS[claim], MISSING if verdict is None else verdict, evidence)


def _lookup(rows: Sequence[Row], **keys: object) -> Row | None:
    for row in rows:
        if all(_same(row.get(k), v) for k, v in keys.items()):
            return row
    return None


def _same(a: object, b: object) -> bool:
    try:
        return _f(a) == _f(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def judge_c1(table2: Sequence[Row]) -> Verdict:
    """C1 on Table 2 rows (train_site, test_site, dice_mean[, dice_mean_std])."""
    parts, comparisons = [], []
    for a, b in (("iseg", "mrbrains"), ("mrbrains", "iseg")):
        own, cross = _lookup(table2, train_site=a, test_site=a), _lookup(table2, train_site=a, test_site=b)
        if own is None or cross is None:
            continue
        d_own, d_cross = max(_f(own["dice_mean"]), 1e-12), _f(cross["dice_mean"])
        drop = 1.0 - d_cross / d_own
        spread = _spread(_sd(cross, "dice_mean") / d_own, d_cross * _sd(own, "dice_mean") / d_own**2)
        comparisons.append(Comparison(drop - 0.30, spread, strict=False))
        parts.append(f"{a}→{a} {_pm(d_own, _sd(own, 'dice_mean'))}, {a}→{b} {_pm(d_cross, _sd(cross, 'dice_mean'))} "
                     f"(drop {100 * drop:.0f} %" + (f" ± {100 * spread:.0f}" if spread else "") + ")")
    return _verdict("C1", combine(comparisons), "; ".join(parts) or "Table 2 missing")


def _settings(table3: Sequence[Row]) -> list[str]:
    return sorted({str(r["setting"]) for r in table3}, key=lambda s: (s != "dual", s))


def judge_c2(table3: Sequence[Row]) -> Verdict:
    """C2 on Table 3 rows (setting, method, dice_mean[, dice_mean_std])."""
    parts, comparisons = [], []
    for setting in _settings(table3):
        found = {m: _lookup(table3, setting=setting, method=m) for m in ("standardization", "preprocessor", "adversarial")}
        rows = {m: r for m, r in found.items() if r is not None}
        if len(rows) < len(found):
            continue
        value = {m: _f(r["dice_mean"]) for m, r in rows.items()}
        sd = {m: _sd(r, "dice_mean") for m, r in rows.items()}
        for m in ("preprocessor", "adversarial"):
            comparisons.append(Comparison(value[m] - value["standardization"], _spread(sd[m], sd["standardization"])))
        parts.append(f"{setting}: standardization {_pm(value['standardization'], sd['standardization'])}, "
                     f"pre-processor {_pm(value['preprocessor'], sd['preprocessor'])}, "
                     f"ours {_pm(value['adversarial'], sd['adversarial'])}")
    return _verdict("C2", combine(comparisons), "; ".join(parts) or "Table 3 missing")


def judge_c3(table3: Sequence[Row]) -> Verdict:
    """C3 on Table 3 rows."""
    parts, comparisons = [], []
    for setting in _settings(table3):
        pre, ours = _lookup(table3, setting=setting, method="preprocessor"), _lookup(table3, setting=setting, method="adversarial")
        if pre is None or ours is None:
            continue
        gap = _f(ours["dice_mean"]) - _f(pre["dice_mean"])
        spread = _spread(_sd(ours, "dice_mean"), _sd(pre, "dice_mean"))
        comparisons.append(Comparison(0.01 - abs(gap), spread, strict=False))
        parts.append(f"{setting}: ours − pre-processor = {gap:+.3f}" + (f" (spread {spread:.3f})" if spread else ""))
    return _verdict("C3", combine(comparisons), "; ".join(parts) or "Table 3 missing")


def judge_c4(table4: Sequence[Row]) -> Verdict:
    """C4 on Table 4 rows (setting, stage in inputs/preprocessor/adversarial, jsd[, jsd_std])."""
    parts, comparisons = [], []
    for setting in _settings(table4):
        found = {s: _lookup(table4, setting=setting, stage=s) for s in ("inputs", "preprocessor", "adversarial")}
        rows = {s: r for s, r in found.items() if r is not None}
        if len(rows) < len(found):
            continue
        inp, pre, ours = (_f(rows[s]["jsd"]) for s in ("inputs", "preprocessor", "adversarial"))
        s_inp, s_pre, s_ours = (_sd(rows[s], "jsd") for s in ("inputs", "preprocessor", "adversarial"))
        comparisons += [
            Comparison(0.5 * inp - pre, _spread(0.5 * s_inp, s_pre), strict=False),
            Comparison(0.5 * inp - ours, _spread(0.5 * s_inp, s_ours), strict=False),
            Comparison(pre + C4_TOLERANCE * inp - ours, _spread(s_pre, C4_TOLERANCE * s_inp, s_ours), strict=False),
        ]
        parts.append(f"{setting}: inputs {_pm(inp, s_inp, 4)}, pre-processor {_pm(pre, s_pre, 4)}, "
                     f"ours {_pm(ours, s_ours, 4)} nats (tolerance {C4_TOLERANCE * inp:.4f})")
    return _verdict("C4", combine(comparisons), "; ".join(parts) or "Table 4 missing")


def judge_c5(table5: Sequence[Row]) -> Verdict:
    """C5 on Table 5 rows (modalities in t1 / t1+t2, dice_mean[, dice_mean_std])."""
    t1, t12 = _lookup(table5, modalities="t1"), _lookup(table5, modalities="t1+t2")
    if t1 is None or t12 is None:
        return _verdict("C5", None, "Table 5 missing")
    a, b = _f(t1["dice_mean"]), _f(t12["dice_mean"])
    sa, sb = _sd(t1, "dice_mean"), _sd(t12, "dice_mean")
    return _verdict("C5", combine([Comparison(b - a, _spread(sa, sb))]), f"T1 {_pm(a, sa)}, T1 + T2 {_pm(b, sb)}")


def judge_c6(table6: Sequence[Row]) -> Verdict:
    """C6 on Table 6 rows (site, alpha, rho_degraded, rho_normalized[, _std]); α = 0 is the clean image."""
    parts, comparisons = [], []
    sites = list(dict.fromkeys(str(r["site"]) for r in table6))
    for site in sites:
        clean = _lookup(table6, site=site, alpha=0.0)
        degraded_rows = [r for r in table6 if str(r["site"]) == site and _f(r["alpha"]) > 0]
        if clean is None:
            parts.append(f"{site}: no clean (α = 0) row, not judged")
            continue
        ref = _f(clean["rho_degraded"])
        site_parts = [f"{site} clean {ref:.3f}"]
        for row in degraded_rows:
            deg, norm = _f(row["rho_degraded"]), _f(row["rho_normalized"])
            spread = _spread(_sd(row, "rho_degraded"), _sd(row, "rho_normalized"))
            comparisons.append(Comparison(abs(deg - ref) - abs(norm - ref), spread))
            site_parts.append(f"α={_f(row['alpha']):.1f}: {_pm(deg, _sd(row, 'rho_degraded'))}→{_pm(norm, _sd(row, 'rho_normalized'))}")
        parts.append(", ".join(site_parts))
    verdict = combine(comparisons) if comparisons and all(_lookup(table6, site=s, alpha=0.0) for s in sites) else None
    return _verdict("C6", verdict, "; ".join(parts) or "Table 6 missing")


def judge_c7(table7: Sequence[Row]) -> Verdict:
    """C7 on Table 7 rows (lam, dice_mean, d_train_acc[, _std]); d_train_acc of D in train mode."""
    rows = sorted(table7, key=lambda r: _f(r["lam"]))
    if len(rows) < 2:
        return _verdict("C7", None, "Table 7 needs at least two lambdas")
    dice = [(_f(r["dice_mean"]), _sd(r, "dice_mean")) for r in rows]
    acc = [(_f(r["d_train_acc"]), _sd(r, "d_train_acc")) for r in rows]
    lams = [_f(r["lam"]) for r in rows]
    comparisons = [Comparison(a[0] - b[0], _spread(a[1], b[1])) for a, b in zip(dice, dice[1:])]
    comparisons.append(Comparison(acc[0][0] - 0.90, acc[0][1], strict=False))
    comparisons += [Comparison(0.60 - a, s, strict=False) for lam, (a, s) in zip(lams, acc) if lam >= 1.5]
    evidence = ", ".join(f"λ={lam:g}: Dice {_pm(d, sd)}, D train acc {_pm(100 * a, 100 * s, 1)} %"
                         for lam, (d, sd), (a, s) in zip(lams, dice, acc))
    return _verdict("C7", combine(comparisons), evidence)


def normalized_entropy(p: Sequence[float]) -> float:
    """Shannon entropy of the distribution `p` (normalized to sum 1) divided by ln(len(p)); 1 = uniform."""
    total = sum(p)
    if total <= 0 or len(p) < 2:
        return 0.0
    q = [x / total for x in p]
    return -sum(x * math.log(x) for x in q if x > 0) / math.log(len(q))


def judge_c8(confusions: Mapping[float, Sequence[Sequence[float]]],
             spreads: Mapping[float, Sequence[Sequence[float]]] | None = None) -> Verdict:
    """C8 on row-normalized (K+1)x(K+1) confusion matrices by lambda (last row/column = generated).

    `spreads` are the matrices' element-wise seed sds by lambda (``matrix_std``), when known.
    """
    parts, comparisons = [], []
    for lam in sorted(confusions):
        if lam < 1.5:
            continue
        gen_row = [float(x) for x in confusions[lam][-1]]
        as_generated, real = gen_row[-1], gen_row[:-1]
        sd = 0.0
        if spreads and lam in spreads:
            value = float(spreads[lam][-1][-1])
            sd = value if math.isfinite(value) and value > 0 else 0.0
        entropy = normalized_entropy(real)
        comparisons += [Comparison(0.5 - as_generated, sd), Comparison(entropy - 0.90, strict=False)]
        spread = ", ".join(f"{100 * x:.0f} %" for x in real)
        generated = f"{100 * as_generated:.0f} %" + (f" ± {100 * sd:.0f}" if sd else "")
        parts.append(f"λ={lam:g}: generated→generated {generated}, →real domains [{spread}] (entropy {entropy:.2f})")
    return _verdict("C8", combine(comparisons), "; ".join(parts) or "no confusion matrix at λ ≥ 1.5")


def judge_c9(table3: Sequence[Row]) -> Verdict:
    """C9 on Table 3 rows (dice_mean_shared: mean Dice over the iSEG and MRBrainS test subjects)."""
    dual, multi = _lookup(table3, setting="dual", method="adversarial"), _lookup(table3, setting="multi", method="adversarial")
    if dual is None or multi is None:
        return _verdict("C9", None, "Table 3 lacks the dual or the multi-site adversarial run")
    a, b = _f(dual["dice_mean_shared"]), _f(multi["dice_mean_shared"])
    sa, sb = _sd(dual, "dice_mean_shared"), _sd(multi, "dice_mean_shared")
    return _verdict("C9", combine([Comparison(b - a, _spread(sa, sb))]),
                    f"ours on iSEG + MRBrainS test subjects: two sites {_pm(a, sa)}, three sites {_pm(b, sb)}")


#: Claims beyond the paper: id -> statement.
BEYOND_CLAIMS: dict[str, str] = {
    "B1": "Ours beats the best classical normalizer on the training sites (mean Dice)",
    "B2": "Ours beats the best classical normalizer on a site training never saw (mean Dice)",
    "B3": "Ours beats contrast randomisation on a site training never saw (mean Dice)",
}
#: The classical normalizers B1 and B2 compare with (one home: deepnorm.training.config).
CLASSICAL: tuple[str, ...] = _CLASSICAL


def _beats(claim: str, ours: Row | None, rivals: Sequence[Row | None], what: str) -> Verdict:
    """Ours' ``dice_mean`` against the best of `rivals`' (a higher mean beyond the seed spread; None: not measured)."""
    measured = [r for r in rivals if r is not None]
    if ours is None or not measured:
        return Verdict(claim, BEYOND_CLAIMS[claim], MISSING, f"{what}: Ours or its rivals not measured")
    best = max(measured, key=lambda r: _f(r["dice_mean"]))
    a, b = _f(ours["dice_mean"]), _f(best["dice_mean"])
    comparison = Comparison(a - b, _spread(_sd(ours, "dice_mean"), _sd(best, "dice_mean")))
    return Verdict(claim, BEYOND_CLAIMS[claim], comparison.outcome,
                   f"{what}: ours {_pm(a, _sd(ours, 'dice_mean'))}, {best['method']} {_pm(b, _sd(best, 'dice_mean'))}")


def judge_b1(table3: Sequence[Row], table3_beyond: Sequence[Row]) -> Verdict:
    """B1 on Table 3 rows and the beyond-the-paper rows of the same settings."""
    verdicts = []
    for setting in _settings(list(table3_beyond)):
        rivals = [_lookup(table3_beyond, setting=setting, method=m) for m in CLASSICAL]
        verdicts.append(_beats("B1", _lookup(table3, setting=setting, method="adversarial"), rivals, setting))
    if not verdicts:
        return Verdict("B1", BEYOND_CLAIMS["B1"], MISSING, "table3_beyond missing")
    outcomes = [v.verdict for v in verdicts]
    verdict = MISSING if MISSING in outcomes else _worst(outcomes)
    return Verdict("B1", BEYOND_CLAIMS["B1"], verdict, "; ".join(v.evidence for v in verdicts))


def _worst(outcomes: Sequence[str]) -> str:
    return FAILS if FAILS in outcomes else (INCONCLUSIVE if INCONCLUSIVE in outcomes else HOLDS)


def judge_b2(unseen: Sequence[Row]) -> Verdict:
    """B2 on ``unseen_site`` rows: the ``mean`` rows of Ours and of the classical normalizers."""
    return _beats("B2", _lookup(unseen, method="adversarial", held_out="mean"),
                  [_lookup(unseen, method=m, held_out="mean") for m in CLASSICAL], "unseen site, mean over rotations")


def judge_b3(unseen: Sequence[Row]) -> Verdict:
    """B3 on ``unseen_site`` rows: the ``mean`` rows of Ours and of contrast randomisation."""
    return _beats("B3", _lookup(unseen, method="adversarial", held_out="mean"),
                  [_lookup(unseen, method="contrast_randomisation", held_out="mean")], "unseen site, mean over rotations")


def judge_beyond(tables: Mapping[str, Any]) -> list[Verdict]:
    """B1-B3 from a mapping with keys table3, table3_beyond and unseen_site (rows)."""
    t = lambda key: tables.get(key) or []
    return [judge_b1(t("table3"), t("table3_beyond")), judge_b2(t("unseen_site")), judge_b3(t("unseen_site"))]


def judge_all(tables: Mapping[str, Any]) -> list[Verdict]:
    """All nine verdicts from a mapping with keys table2..table7 (rows), table7_confusion and,
    optionally, table7_confusion_std (matrices by lambda)."""
    t = lambda key: tables.get(key) or []
    conf = tables.get("table7_confusion") or {}
    conf_std = tables.get("table7_confusion_std") or None
    return [
        judge_c1(t("table2")), judge_c2(t("table3")), judge_c3(t("table3")), judge_c4(t("table4")),
        judge_c5(t("table5")), judge_c6(t("table6")), judge_c7(t("table7")), judge_c8(conf, conf_std),
        judge_c9(t("table3")),
    ]
