"""Data-only checks D1-D3: criteria on hand-made tables and the paper's own, the tables from a data root, the report."""

from __future__ import annotations

import math
from pathlib import Path

from deepnorm.files import write_table
from deepnorm.study import claims, data_checks, report
from deepnorm.study.paper import TABLE2, TABLE6


def _table2(values: dict) -> list[dict]:
    return [{"train_site": a, "test_site": b, "dice_mean": v["mean"]} for (a, b), v in values.items()]


def _table6(values: dict) -> list[dict]:
    return [{"site": s, "alpha": a, "rho_degraded": v["degraded"], "rho_normalized": v["normalized"]}
            for (s, a), v in values.items()]


def test_d1_holds_on_the_papers_table2() -> None:
    v = data_checks.judge_d1(_table2(TABLE2))
    assert v.verdict == claims.HOLDS  # drops 51 % and 62 %, in-domain 0.868 and 0.830 >= 0.75


def test_d1_fails_when_the_in_domain_dice_is_low_even_with_large_drops() -> None:
    low = {k: dict(v) for k, v in TABLE2.items()}
    low[("mrbrains", "mrbrains")]["mean"] = 0.60  # drop 1 - 0.313 / 0.60 = 48 %: C1 holds, D1 does not
    assert claims.judge_c1(_table2(low)).verdict == claims.HOLDS
    assert data_checks.judge_d1(_table2(low)).verdict == claims.FAILS


def test_d1_fails_without_a_cross_site_drop_and_is_missing_without_table2() -> None:
    flat = [{"train_site": a, "test_site": b, "dice_mean": 0.85} for a in ("iseg", "mrbrains") for b in ("iseg", "mrbrains")]
    assert data_checks.judge_d1(flat).verdict == claims.FAILS
    assert data_checks.judge_d1([]).verdict == claims.MISSING


def test_d2_on_the_papers_table6_and_reversed() -> None:
    v = data_checks.judge_d2(_table6(TABLE6))
    assert v.verdict == claims.HOLDS
    assert "ratio 2.6" in v.evidence  # 0.256 / 0.098, by hand
    swapped = [{**r, "site": {"iseg": "mrbrains", "mrbrains": "iseg"}[r["site"]]} for r in _table6(TABLE6)]
    assert data_checks.judge_d2(swapped).verdict == claims.FAILS


def test_d2_is_inconclusive_inside_the_seed_spread_and_missing_without_every_alpha() -> None:
    rows = [{"site": s, "alpha": a, "rho_degraded": 0.30 + (0.01 if s == "iseg" else 0.0), "rho_degraded_std": 0.05}
            for s in ("iseg", "mrbrains") for a in data_checks.ALPHAS]
    assert data_checks.judge_d2(rows).verdict == claims.INCONCLUSIVE
    assert data_checks.judge_d2([r for r in rows if r["alpha"] != 0.9]).verdict == claims.MISSING


def test_d3_needs_the_site_pair_at_least_twice_the_scanners() -> None:
    def rows(pair: float, scanners: float) -> list[dict]:
        return [{"pair": "iseg–mrbrains", "jsd": pair}, {"pair": "abide scanners (mean)", "jsd": scanners}]

    assert data_checks.judge_d3(rows(0.105, 0.020)).verdict == claims.HOLDS
    assert "×5.2" in data_checks.judge_d3(rows(0.105, 0.020)).evidence  # 0.105 / 0.020 = 5.25
    assert data_checks.judge_d3(rows(0.030, 0.020)).verdict == claims.FAILS
    assert data_checks.judge_d3(rows(0.105, 0.020)[:1]).verdict == claims.MISSING


def test_data_tables_of_the_smoke_phantom(smoke_root: Path) -> None:
    sites, jsd = data_checks.data_tables(smoke_root, spacing=4.0)
    by_site = {r["site"]: r for r in sites}
    assert set(by_site) == {"iseg", "mrbrains", "abide"}
    for row in sites:
        assert 0.0 <= row["t1_bayes_gm_wm"] <= 0.5
        assert math.isclose(row["csf_fraction"] + row["gm_fraction"] + row["wm_fraction"], 1.0, abs_tol=1e-9)
    assert math.isnan(by_site["abide"]["t2_bayes_gm_wm"])  # ABIDE has T1 only
    pairs = {r["pair"]: r["jsd"] for r in jsd}
    assert "iseg–mrbrains" in pairs
    assert all(0.0 <= v <= math.log(2) for v in pairs.values())


def test_report_has_the_data_section_and_marks_c1(tmp_path: Path) -> None:
    write_table("table2", _table2(TABLE2), tmp_path)
    write_table("table6", _table6(TABLE6), tmp_path)
    write_table("data_jsd", [{"pair": "iseg–mrbrains", "jsd": 0.1}, {"pair": "abide scanners (mean)", "jsd": 0.02}], tmp_path)
    write_table("data_sites", [{"site": "iseg", "subjects": 10, "brain_ml": 600.0, "csf_fraction": 0.2,
                                "t1_bayes_gm_wm": 0.37, "t2_bayes_gm_wm": 0.33, "joint_bayes_gm_wm": 0.30,
                                "rim_csf_fraction": 0.5, "rim_csf_dice": 0.6}], tmp_path)
    text = report.build_report(tmp_path)
    data = text[text.index("## The data"):text.index("## Claims")]
    assert "| D1 |" in data and "| D2 |" in data and "| D3 |" in data
    assert data.count("| holds |") == 3
    assert "| iSEG-2017 | 10 | 600 | 0.20 | 0.37 | 0.33 | 0.30 | 0.50 | 0.60 |" in data
    c1_row = next(line for line in text.splitlines() if line.startswith("| C1 |"))
    assert "not an independent confirmation" in c1_row
