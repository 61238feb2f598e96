"""Judge the paper's claims C1-C9 (SPEC.md section 5) on measured result tables.

Each judge takes rows as written to ``results/<table>.csv`` (a list of dicts) and returns a
:class:`Verdict`: ``holds``, ``does not hold`` or ``not measured``, with the numbers behind it.
The criteria are fixed here, before any result is seen, and documented in the report:

- C1: relative drop ``1 - dice(train A, test B) / dice(train A, test A)`` is >= 0.30 in both directions.
- C2: mean Dice of Pre-processor and of Ours > Standardization, in every setting measured.
- C3: ``|Ours - Pre-processor| <= 0.01`` mean Dice, in every setting measured.
- C4: true JSD of normalized images <= half the inputs' ("much lower"), for both learned
  normalizers, and Ours <= Pre-processor, in every setting measured.
- C5: mean Dice with T1 + T2 > with T1 alone.
- C6: ``|rho(normalized)| < |rho(degraded)|`` at every alpha in {0.3, 0.5, 0.7, 0.9} and every site.
- C7: mean Dice strictly decreasing in lambda, D train accuracy >= 0.90 at the smallest lambda
  and <= 0.60 at every lambda >= 1.5.
- C8: at every lambda >= 1.5, D labels < 50 % of generated patches as "generated", and the rest
  spreads over the real domains with normalized entropy >= 0.90 (1 = perfectly uniform).
- C9: Ours trained on three sites has a higher mean Dice than Ours trained on two, on the test
  subjects of the two shared sites (iSEG, MRBrainS).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deepnorm.study.paper import CLAIMS

HOLDS, FAILS, MISSING = "holds", "does not hold", "not measured"

Row = Mapping[str, object]


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim: its id, the claim, the verdict and the numbers behind it."""

    claim: str
    text: str
    verdict: str
    evidence: str


def _f(value: object) -> float:
    return float(value)  # type: ignore[arg-type]


def _verdict(claim: str, ok: bool | None, evidence: str) -> Verdict:
    verdict = MISSING if ok is None else (HOLDS if ok else FAILS)
    return Verdict(claim, CLAIMS[claim], verdict, evidence)


def _lookup(rows: Sequence[Row], **keys: object) -> Row | None:
    for row in rows:
        if all(str(row.get(k)) == str(v) for k, v in keys.items()):
            return row
    return None


def judge_c1(table2: Sequence[Row]) -> Verdict:
    """C1 on Table 2 rows (train_site, test_site, dice_mean)."""
    parts, oks = [], []
    for a, b in (("iseg", "mrbrains"), ("mrbrains", "iseg")):
        own, cross = _lookup(table2, train_site=a, test_site=a), _lookup(table2, train_site=a, test_site=b)
        if own is None or cross is None:
            continue
        drop = 1.0 - _f(cross["dice_mean"]) / max(_f(own["dice_mean"]), 1e-12)
        oks.append(drop >= 0.30)
        parts.append(f"{a}→{a} {_f(own['dice_mean']):.3f}, {a}→{b} {_f(cross['dice_mean']):.3f} (drop {100 * drop:.0f} %)")
    return _verdict("C1", all(oks) if oks else None, "; ".join(parts) or "Table 2 missing")


def _settings(table3: Sequence[Row]) -> list[str]:
    return sorted({str(r["setting"]) for r in table3}, key=lambda s: (s != "dual", s))


def judge_c2(table3: Sequence[Row]) -> Verdict:
    """C2 on Table 3 rows (setting, method, dice_mean)."""
    parts, oks = [], []
    for setting in _settings(table3):
        rows = {m: _lookup(table3, setting=setting, method=m) for m in ("standardization", "preprocessor", "adversarial")}
        if any(r is None for r in rows.values()):
            continue
        std, pre, ours = (_f(rows[m]["dice_mean"]) for m in ("standardization", "preprocessor", "adversarial"))  # type: ignore[index]
        oks.append(pre > std and ours > std)
        parts.append(f"{setting}: standardization {std:.3f}, pre-processor {pre:.3f}, ours {ours:.3f}")
    return _verdict("C2", all(oks) if oks else None, "; ".join(parts) or "Table 3 missing")


def judge_c3(table3: Sequence[Row]) -> Verdict:
    """C3 on Table 3 rows."""
    parts, oks = [], []
    for setting in _settings(table3):
        pre, ours = _lookup(table3, setting=setting, method="preprocessor"), _lookup(table3, setting=setting, method="adversarial")
        if pre is None or ours is None:
            continue
        gap = _f(ours["dice_mean"]) - _f(pre["dice_mean"])
        oks.append(abs(gap) <= 0.01)
        parts.append(f"{setting}: ours − pre-processor = {gap:+.3f}")
    return _verdict("C3", all(oks) if oks else None, "; ".join(parts) or "Table 3 missing")


def judge_c4(table4: Sequence[Row]) -> Verdict:
    """C4 on Table 4 rows (setting, stage in inputs/preprocessor/adversarial, jsd)."""
    parts, oks = [], []
    for setting in _settings(table4):
        rows = {s: _lookup(table4, setting=setting, stage=s) for s in ("inputs", "preprocessor", "adversarial")}
        if any(r is None for r in rows.values()):
            continue
        inp, pre, ours = (_f(rows[s]["jsd"]) for s in ("inputs", "preprocessor", "adversarial"))  # type: ignore[index]
        oks.append(pre <= 0.5 * inp and ours <= 0.5 * inp and ours <= pre)
        parts.append(f"{setting}: inputs {inp:.4f}, pre-processor {pre:.4f}, ours {ours:.4f} nats")
    return _verdict("C4", all(oks) if oks else None, "; ".join(parts) or "Table 4 missing")


def judge_c5(table5: Sequence[Row]) -> Verdict:
    """C5 on Table 5 rows (modalities in t1 / t1+t2, dice_mean)."""
    t1, t12 = _lookup(table5, modalities="t1"), _lookup(table5, modalities="t1+t2")
    if t1 is None or t12 is None:
        return _verdict("C5", None, "Table 5 missing")
    a, b = _f(t1["dice_mean"]), _f(t12["dice_mean"])
    return _verdict("C5", b > a, f"T1 {a:.3f}, T1 + T2 {b:.3f}")


def judge_c6(table6: Sequence[Row]) -> Verdict:
    """C6 on Table 6 rows (site, alpha, rho_degraded, rho_normalized)."""
    parts, oks = [], []
    for row in table6:
        if _f(row["alpha"]) <= 0:
            continue
        deg, norm = _f(row["rho_degraded"]), _f(row["rho_normalized"])
        oks.append(abs(norm) < abs(deg))
        parts.append(f"{row['site']} α={_f(row['alpha']):.1f}: {deg:.3f}→{norm:.3f}")
    return _verdict("C6", all(oks) if oks else None, "; ".join(parts) or "Table 6 missing")


def judge_c7(table7: Sequence[Row]) -> Verdict:
    """C7 on Table 7 rows (lam, dice_mean, d_train_acc)."""
    rows = sorted(table7, key=lambda r: _f(r["lam"]))
    if len(rows) < 2:
        return _verdict("C7", None, "Table 7 needs at least two lambdas")
    dice = [_f(r["dice_mean"]) for r in rows]
    acc = [_f(r["d_train_acc"]) for r in rows]
    lams = [_f(r["lam"]) for r in rows]
    falling = all(b < a for a, b in zip(dice, dice[1:]))
    high_low = acc[0] >= 0.90 and all(a <= 0.60 for lam, a in zip(lams, acc) if lam >= 1.5)
    evidence = ", ".join(f"λ={lam:g}: Dice {d:.3f}, D train acc {100 * a:.1f} %" for lam, d, a in zip(lams, dice, acc))
    return _verdict("C7", falling and high_low, evidence)


def normalized_entropy(p: Sequence[float]) -> float:
    """Shannon entropy of the distribution `p` (normalized to sum 1) divided by ln(len(p)); 1 = uniform."""
    total = sum(p)
    if total <= 0 or len(p) < 2:
        return 0.0
    q = [x / total for x in p]
    return -sum(x * math.log(x) for x in q if x > 0) / math.log(len(q))


def judge_c8(confusions: Mapping[float, Sequence[Sequence[float]]]) -> Verdict:
    """C8 on row-normalized (K+1)x(K+1) confusion matrices by lambda (last row/column = generated)."""
    parts, oks = [], []
    for lam in sorted(confusions):
        if lam < 1.5:
            continue
        gen_row = [float(x) for x in confusions[lam][-1]]
        as_generated, real = gen_row[-1], gen_row[:-1]
        entropy = normalized_entropy(real)
        oks.append(as_generated < 0.5 and entropy >= 0.90)
        spread = ", ".join(f"{100 * x:.0f} %" for x in real)
        parts.append(f"λ={lam:g}: generated→generated {100 * as_generated:.0f} %, →real domains [{spread}] (entropy {entropy:.2f})")
    return _verdict("C8", all(oks) if oks else None, "; ".join(parts) or "no confusion matrix at λ ≥ 1.5")


def judge_c9(table3: Sequence[Row]) -> Verdict:
    """C9 on Table 3 rows (dice_mean_shared: mean Dice over the iSEG and MRBrainS test subjects)."""
    dual, multi = _lookup(table3, setting="dual", method="adversarial"), _lookup(table3, setting="multi", method="adversarial")
    if dual is None or multi is None:
        return _verdict("C9", None, "Table 3 lacks the dual or the multi-site adversarial run")
    a, b = _f(dual["dice_mean_shared"]), _f(multi["dice_mean_shared"])
    return _verdict("C9", b > a, f"ours on iSEG + MRBrainS test subjects: two sites {a:.3f}, three sites {b:.3f}")


def judge_all(tables: Mapping[str, object]) -> list[Verdict]:
    """All nine verdicts from a mapping with keys table2..table7 (rows) and table7_confusion."""
    t = lambda key: tables.get(key) or []  # noqa: E731
    conf = tables.get("table7_confusion") or {}
    return [
        judge_c1(t("table2")), judge_c2(t("table3")), judge_c3(t("table3")), judge_c4(t("table4")),
        judge_c5(t("table5")), judge_c6(t("table6")), judge_c7(t("table7")), judge_c8(conf),  # type: ignore[arg-type]
        judge_c9(t("table3")),
    ]
