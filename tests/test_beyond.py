"""Beyond the paper: the rotations, the B1-B3 criteria on hand-made tables, and the report's section."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepnorm.errors import ConfigError
from deepnorm.files import write_table
from deepnorm.study import beyond, claims, report


def test_rotations_hold_out_each_site_once_and_train_on_the_others() -> None:
    rot = beyond.rotations(("iseg", "mrbrains", "abide"))
    assert [held for _, held in rot] == ["iseg", "mrbrains", "abide"]
    for trained, held in rot:
        assert held not in trained and len(trained) == 2
    with pytest.raises(ConfigError, match="three sites"):
        beyond.rotations(("iseg", "mrbrains"))


def _unseen(values: dict[str, float], sd: float | None = None) -> list[dict]:
    rows = []
    for method, dice in values.items():
        row = {"method": method, "held_out": "mean", "trained_on": "two of three", "dice_mean": dice}
        if sd is not None:
            row["dice_mean_std"] = sd
        rows.append(row)
    return rows


def test_b2_compares_with_the_best_classical_normalizer() -> None:
    rows = _unseen({"adversarial": 0.70, "nyul": 0.65, "whitestripe": 0.72, "fcm": 0.5, "kde": 0.6})
    v = claims.judge_b2(rows)
    assert v.verdict == claims.FAILS  # whitestripe 0.72 > ours 0.70
    assert "whitestripe 0.720" in v.evidence
    rows = _unseen({"adversarial": 0.75, "nyul": 0.65, "whitestripe": 0.72})
    assert claims.judge_b2(rows).verdict == claims.HOLDS


def test_b3_inconclusive_inside_the_seed_spread_and_missing_without_the_rival() -> None:
    rows = _unseen({"adversarial": 0.70, "contrast_randomisation": 0.69}, sd=0.02)
    assert claims.judge_b3(rows).verdict == claims.INCONCLUSIVE  # margin 0.01 < spread sqrt(2)·0.02
    assert claims.judge_b3(_unseen({"adversarial": 0.7})).verdict == claims.MISSING


def test_b1_must_hold_in_every_setting() -> None:
    table3 = [{"setting": s, "method": "adversarial", "dice_mean": 0.80} for s in ("dual", "multi")]
    beyond_rows = [{"setting": "dual", "method": "nyul", "dice_mean": 0.75},
                   {"setting": "multi", "method": "nyul", "dice_mean": 0.85}]
    v = claims.judge_b1(table3, beyond_rows)
    assert v.verdict == claims.FAILS
    assert "dual: ours 0.800, nyul 0.750" in v.evidence
    assert claims.judge_b1(table3, beyond_rows[:1]).verdict == claims.HOLDS
    assert claims.judge_b1(table3, []).verdict == claims.MISSING


def test_report_adds_the_beyond_section_and_marks_the_extra_rows(tmp_path: Path) -> None:
    write_table("table3", [{"setting": "dual", "method": "adversarial", "dice_csf": 0.8, "dice_gm": 0.8, "dice_wm": 0.8,
                            "dice_mean": 0.8, "mhd_mean": 1.0}], tmp_path)
    assert "## Beyond the paper" not in report.build_report(tmp_path)
    write_table("table3_beyond", [{"setting": "dual", "method": "nyul", "dice_csf": 0.7, "dice_gm": 0.7, "dice_wm": 0.7,
                                   "dice_mean": 0.7, "mhd_mean": 2.0}], tmp_path)
    write_table("table4_beyond", [{"setting": "dual", "stage": "nyul", "jsd": 0.01, "jsd_legacy": 1.0}], tmp_path)
    write_table("unseen_site", [{"method": "adversarial", "held_out": "abide", "trained_on": "iseg+mrbrains",
                                 "dice_csf": 0.6, "dice_gm": 0.6, "dice_wm": 0.6, "dice_mean": 0.6, "mhd_mean": 3.0,
                                 "seen_dice_mean": 0.8}], tmp_path)
    text = report.build_report(tmp_path)
    section = text[text.index("## Beyond the paper"):]
    assert "| B1 |" in section and "| holds |" in section  # ours 0.8 > nyul 0.7
    table3 = text[text.index("### Table 3"):text.index("### Table 4")]
    assert "(beyond the paper)" in table3 and "0.700" in table3
    table4 = text[text.index("### Table 4"):text.index("### Table 5")]
    assert "(beyond the paper)" in table4 and "0.0100" in table4
    assert "| 0.800 | 0.600 | 0.600 | 0.600 | 0.600 | 3.000 |" in section


def test_holdout_scanner_sends_all_its_subjects_to_test_and_keeps_the_others_split(smoke_root: Path) -> None:
    from deepnorm.data.prepared import site_splits
    from deepnorm.data.sites import open_site

    dataset = open_site(smoke_root, "abide")
    held = [s for s in dataset.subject_ids if dataset.scanner_of(s) == beyond.HOLDOUT_SCANNER]
    assert held, "the smoke phantom has no subject of the held-out scanner"
    plain = site_splits(smoke_root, "abide", 0)
    out = site_splits(smoke_root, "abide", 0, (beyond.HOLDOUT_SCANNER,))
    assert set(held) <= set(out["test"])
    assert not set(held) & (set(out["train"]) | set(out["val"]))
    assert sorted(sum(out.values(), [])) == sorted(sum(plain.values(), []))  # every subject, once


def test_holdout_scanners_stay_out_of_the_hash_unless_given_and_are_checked(smoke_root: Path) -> None:
    from deepnorm.data.prepared import check_holdout
    from deepnorm.errors import DataError
    from deepnorm.training.config import profile

    plain = profile("smoke")
    assert "holdout_scanners" not in plain.to_dict()["data"]
    held = profile("smoke", **{"data.holdout_scanners": ("STANFORD",), "data.sites": ("iseg", "mrbrains", "abide")})
    assert held.stable_hash() != plain.replace(**{"data.sites": ("iseg", "mrbrains", "abide")}).stable_hash()
    assert type(held).from_dict(held.to_dict()) == held
    check_holdout(smoke_root, held.data)
    with pytest.raises(DataError, match="NOWHERE"):
        check_holdout(smoke_root, held.replace(**{"data.holdout_scanners": ("NOWHERE",)}).data)
    assert profile("smoke", **{"data.holdout_scanners": "USM, STANFORD"}).data.holdout_scanners == ("STANFORD", "USM")
    with pytest.raises(ConfigError, match="holdout_scanners"):
        profile("smoke", **{"data.holdout_scanners": [3]})


def _tables_with_beyond(folder: Path) -> None:
    write_table("table3", [{"setting": "dual", "method": "adversarial", "dice_csf": 0.8, "dice_gm": 0.8, "dice_wm": 0.8,
                            "dice_mean": 0.8, "mhd_mean": 1.0}], folder)
    write_table("table3_beyond", [{"setting": "dual", "method": "whitestripe", "dice_csf": 0.7, "dice_gm": 0.7,
                                   "dice_wm": 0.7, "dice_mean": 0.7123, "mhd_mean": 2.0}], folder)


def test_a_report_never_mixes_in_beyond_tables_this_reproduction_did_not_write(tmp_path: Path) -> None:
    from deepnorm.files import write_json

    _tables_with_beyond(tmp_path)
    meta = {"seeds": [0], "date": "2026-12-02 10:00 UTC", "written": {"tables": ["table3"]}}
    text = report.build_report(tmp_path, meta=meta)
    assert "## Beyond the paper" not in text and "0.712" not in text
    assert "Left out: tables of another run" in text and "`table3_beyond`" in text
    # a later make reproduce-beyond over the same seeds wrote them: they belong to this report
    write_json("reproduce_beyond", {"seeds": [0], "date": "2026-12-02 11:00 UTC",
                                    "written": {"tables": ["table3_beyond"]}}, tmp_path)
    text = report.build_report(tmp_path, meta=meta)
    assert "## Beyond the paper" in text and "0.712" in text and "Left out" not in text
    # ... but not one over other seeds, nor an older one
    for other in ({"seeds": [0, 1, 2], "date": "2026-12-02 11:00 UTC"}, {"seeds": [0], "date": "2026-12-01 11:00 UTC"}):
        write_json("reproduce_beyond", {**other, "written": {"tables": ["table3_beyond"]}}, tmp_path)
        text = report.build_report(tmp_path, meta=meta)
        assert "## Beyond the paper" not in text and "Left out: tables of another run" in text


def test_a_report_from_a_run_that_did_not_record_its_tables_keeps_them(tmp_path: Path) -> None:
    _tables_with_beyond(tmp_path)
    assert "## Beyond the paper" in report.build_report(tmp_path, meta={"seeds": [0, 1, 2]})


def test_tables_written_since_names_only_the_fresh_ones(tmp_path: Path) -> None:
    import os
    import time

    from deepnorm.study.reproduce import tables_written_since

    seed0 = tmp_path / "seed-0"
    seed0.mkdir()
    (seed0 / "old.csv").write_text("a\n")
    os.utime(seed0 / "old.csv", (time.time() - 3600, time.time() - 3600))
    since = time.time()
    (seed0 / "table2.csv").write_text("a\n")
    (seed0 / "table7_confusion.json").write_text("{}\n")
    (seed0 / "notes.txt").write_text("x\n")
    assert tables_written_since(tmp_path, [0, 1], since) == ["table2", "table7_confusion"]
