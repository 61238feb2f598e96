"""The claim judges on hand-built tables: each criterion both holds and fails where it should."""

from __future__ import annotations

import math

import pytest

from deepnorm.study import claims
from deepnorm.study.paper import TABLE2, TABLE3, TABLE4, TABLE5, TABLE6, TABLE7


def _table2_from(values: dict) -> list[dict]:
    return [{"train_site": a, "test_site": b, "dice_mean": v["mean"]} for (a, b), v in values.items()]


def test_c1_holds_on_the_papers_table2() -> None:
    v = claims.judge_c1(_table2_from(TABLE2))
    assert v.verdict == claims.HOLDS
    assert "drop 51 %" in v.evidence  # 1 - 0.425 / 0.868, by hand


def test_c1_fails_when_cross_site_drop_is_small() -> None:
    rows = _table2_from(TABLE2)
    for row in rows:
        if row["train_site"] != row["test_site"]:
            row["dice_mean"] = 0.80
    assert claims.judge_c1(rows).verdict == claims.FAILS


def test_c1_missing_table() -> None:
    assert claims.judge_c1([]).verdict == claims.MISSING


def _table3_from(values: dict) -> list[dict]:
    return [{"setting": s, "method": m, **v, "dice_mean_shared": v["dice_mean"]} for (s, m), v in values.items()]


def test_c2_c3_c9_on_the_papers_table3() -> None:
    rows = _table3_from(TABLE3)
    assert claims.judge_c2(rows).verdict == claims.HOLDS
    # dual: 0.867 - 0.870 = -0.003; multi: 0.890 - 0.896 = -0.006 -> within 0.01
    assert claims.judge_c3(rows).verdict == claims.HOLDS
    assert claims.judge_c9(rows).verdict == claims.HOLDS


def test_c3_fails_beyond_one_hundredth() -> None:
    rows = _table3_from(TABLE3)
    for row in rows:
        if row["method"] == "adversarial":
            row["dice_mean"] = float(row["dice_mean"]) - 0.02
    v = claims.judge_c3(rows)
    assert v.verdict == claims.FAILS


def test_c2_fails_when_standardization_wins() -> None:
    rows = _table3_from(TABLE3)
    for row in rows:
        if row["method"] == "standardization":
            row["dice_mean"] = 0.95
    assert claims.judge_c2(rows).verdict == claims.FAILS


def test_c4_ours_must_not_exceed_preprocessor() -> None:
    rows = [{"setting": s, "stage": k, "jsd": v} for s, d in TABLE4.items() for k, v in d.items()]
    assert claims.judge_c4(rows).verdict == claims.HOLDS
    for row in rows:
        if row["stage"] == "adversarial":
            row["jsd"] = 0.5
    assert claims.judge_c4(rows).verdict == claims.FAILS


def test_c5() -> None:
    rows = [{"modalities": m, **v} for m, v in TABLE5.items()]
    assert claims.judge_c5(rows).verdict == claims.HOLDS
    rows[1]["dice_mean"] = 0.5
    assert claims.judge_c5(rows).verdict == claims.FAILS


def test_c6_uses_magnitudes_and_skips_the_original() -> None:
    rows = [{"site": s, "alpha": a, "rho_degraded": v["degraded"], "rho_normalized": v["normalized"]} for (s, a), v in TABLE6.items()]
    rows.append({"site": "iseg", "alpha": 0.0, "rho_degraded": 0.01, "rho_normalized": 0.5})
    assert claims.judge_c6(rows).verdict == claims.HOLDS
    rows[0]["rho_normalized"] = -0.2  # |−0.2| > 0.098
    assert claims.judge_c6(rows).verdict == claims.FAILS


def test_c7_on_the_papers_table7() -> None:
    rows = [{"lam": lam, **v} for lam, v in TABLE7.items()]
    assert claims.judge_c7(rows).verdict == claims.HOLDS
    rows[2]["dice_mean"] = 0.9
    assert claims.judge_c7(rows).verdict == claims.FAILS


def test_c8_uniform_spread_and_not_generated() -> None:
    good = {1.5: [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.45, 0.4, 0.15]], 0.1: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    assert claims.judge_c8(good).verdict == claims.HOLDS
    lopsided = {1.5: [[1, 0, 0], [0, 1, 0], [0.85, 0.0, 0.15]]}
    assert claims.judge_c8(lopsided).verdict == claims.FAILS
    detected = {5.0: [[1, 0, 0], [0, 1, 0], [0.2, 0.2, 0.6]]}
    assert claims.judge_c8(detected).verdict == claims.FAILS
    assert claims.judge_c8({0.1: [[1, 0], [0, 1]]}).verdict == claims.MISSING


@pytest.mark.parametrize("p, expected", [([1, 1], 1.0), ([1, 0], 0.0), ([3, 1], -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2))])
def test_normalized_entropy(p, expected) -> None:
    assert claims.normalized_entropy(p) == pytest.approx(expected, abs=1e-12)


def test_judge_all_returns_nine_in_order() -> None:
    verdicts = claims.judge_all({})
    assert [v.claim for v in verdicts] == [f"C{i}" for i in range(1, 10)]
    assert all(v.verdict == claims.MISSING for v in verdicts)
