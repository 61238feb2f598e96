"""REPORT.md from result tables: verdict rows, paper-vs-ours cells, nothing invented."""

from __future__ import annotations

import re
from pathlib import Path

from deepnorm import files as results
from deepnorm.study import display, report
from deepnorm.study.paper import TABLE2


def _write_table2(folder: Path) -> None:
    """Table 2 with in-domain Dice 0.9 and cross-site 0.3 (a 67 % drop)."""
    rows = []
    for a, b in TABLE2:
        ours = 0.9 if a == b else 0.3
        rows.append({"train_site": a, "test_site": b, "dice_csf": ours, "dice_gm": ours, "dice_wm": ours, "dice_mean": ours})
    results.write_table("table2", rows, folder)


def test_report_sets_ours_beside_the_papers_and_judges(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    results.write_table("table5", [{"modalities": "t1", "dice_mean": 0.8, "mhd_mean": 2.0},
                                   {"modalities": "t1+t2", "dice_mean": 0.7, "mhd_mean": 2.5}], tmp_path)
    text = report.build_report(tmp_path, meta={"profile": "cpu"})
    assert re.search(r"^\| C1 \| .* \| holds \| .*drop 67 %", text, re.M)  # 1 - 0.3/0.9
    assert re.search(r"^\| C5 \| .* \| does not hold \| T1 0\.800, T1 \+ T2 0\.700", text, re.M)
    assert re.search(r"^\| C2 \| .* \| not measured \|", text, re.M)
    assert "| iSEG-2017 | MRBrainS13 | 0.401 / 0.300 |" in text
    assert "| profile | cpu |" in text
    assert "Differences from the paper" in text


def test_a_report_at_a_scale_names_it_its_command_and_its_figures(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    plain = report.build_report(tmp_path, meta={"profile": "cpu"})
    scaled = report.build_report(tmp_path, meta={"profile": "cpu", "scale": "2x1", "figures": "figures/scale-2x1"})
    assert "reproduced by `make reproduce`." in plain and "Figures are in `figures/` (PNG)." in plain
    assert "reproduced by `make reproduce SCALE=2x1`." in scaled
    assert "U-Net widths ×2 and epochs ×1 (`--scale 2x1`" in scaled and "U-Nets 8-64 wide" not in scaled
    assert "Figures are in `figures/scale-2x1/` (PNG)." in scaled


def test_write_report_is_atomic(tmp_path: Path) -> None:
    out = report.write_report(tmp_path / "REPORT.md", tmp_path)
    assert out.read_text().startswith("# deepnorm")
    assert [p.name for p in tmp_path.iterdir()] == ["REPORT.md"]


def _seed_tables(folder: Path, seed: int, ours_gap: float) -> None:
    folder.mkdir(parents=True)
    rows = []
    for method, dice in (("standardization", 0.70), ("preprocessor", 0.80), ("adversarial", 0.80 + ours_gap)):
        rows.append({"setting": "dual", "method": method, "dice_csf": dice, "dice_gm": dice, "dice_wm": dice,
                     "dice_mean": dice, "mhd_mean": 3.0, "dice_mean_shared": dice})
    results.write_table("table3", rows, folder)
    results.write_table("table6", [
        {"site": "iseg", "alpha": 0.0, "rho_degraded": 0.05 + 0.01 * seed, "rho_normalized": 0.04,
         "rho_degraded_wm": 0.01, "rho_normalized_wm": 0.02, "n": 1},
        {"site": "iseg", "alpha": 0.5, "rho_degraded": 0.40, "rho_normalized": 0.20,
         "rho_degraded_wm": 0.50, "rho_normalized_wm": 0.10, "n": 1}], folder)


def test_report_over_seeds_shows_mean_sd_and_inconclusive(tmp_path: Path) -> None:
    from deepnorm.study import seeds

    # ours − pre-processor: −0.005, −0.025, −0.005 -> mean −0.0117, sd 0.0115: |gap| − 0.01 within the spread
    for seed, gap in ((0, -0.005), (1, -0.025), (2, -0.005)):
        _seed_tables(seeds.seed_folder(tmp_path, seed), seed, gap)
    seeds.aggregate_results(tmp_path)
    text = report.build_report(tmp_path, meta={"profile": "cpu"})
    assert re.search(r"^\| C3 \| .* \| inconclusive \| dual: ours − pre-processor = -0\.012 \(spread 0\.012\)", text, re.M)
    assert re.search(r"^\| C2 \| .* \| holds \| dual: standardization 0\.700( ± 0\.000)?, pre-processor 0\.800", text, re.M)
    assert "**Seeds:** 0, 1, 2 (3 trainings" in text
    assert "| iSEG-2017 + MRBrainS13 | Ours | 0.912 / 0.788 ± 0.012 |" in text
    # Table 6: the clean row beside the paper's, and the white-matter ρ
    assert "| iSEG-2017 | clean | 0.027 → – | 0.060 ± 0.010 → 0.040 ± 0.000 | 0.010 ± 0.000 → 0.020 ± 0.000 |" in text
    assert "| iSEG-2017 | 0.5 | 0.426 → 0.243 | 0.400 ± 0.000 → 0.200 ± 0.000 | 0.500 ± 0.000 → 0.100 ± 0.000 |" in text


def test_report_with_one_seed_says_nothing_is_inconclusive_by_spread(tmp_path: Path) -> None:
    _seed_tables(tmp_path / "one", 0, -0.012)
    text = report.build_report(tmp_path / "one", meta={"seed": 0})
    assert "one training of every run (seed 0)" in text and "no claim can be `inconclusive`" in text
    assert re.search(r"^\| C3 \| .* \| does not hold \| dual: ours − pre-processor = -0\.012 \|", text, re.M)
    assert "| iSEG-2017 | clean | 0.027 → – | 0.050 → 0.040 | 0.010 → 0.020 |" in text


def test_table3_shows_an_extra_method_and_empty_predictions(tmp_path: Path) -> None:
    row = {"setting": "dual", "dice_csf": 0.5, "dice_gm": 0.8, "dice_wm": 0.9, "dice_mean": 0.733, "mhd_mean": 4.0,
           "dice_mean_shared": 0.733, "empty_csf": 2.0, "empty_gm": 0.0, "empty_wm": 1.0}
    results.write_table("table3", [{**row, "method": "standardization"}, {**row, "method": "standardization_brain"}], tmp_path)
    text = report.build_report(tmp_path)
    assert "| iSEG-2017 + MRBrainS13 | Standardization | 0.897 / 0.500 | 0.836 / 0.800 | 0.790 / 0.900 | 0.841 / 0.733 | 0.675 / 4.000 | 2/0/1 |" in text
    assert "| iSEG-2017 + MRBrainS13 | Standardization (brain only, not the paper's) | – / 0.500 |" in text


def test_data_numbers_show_a_spread_only_where_the_seeds_differ() -> None:
    """Data-only numbers: "–" for a contrast the site lacks, no "± 0.00" for a spread below the last digit shown."""
    cell = report._data_cell
    assert cell({"t2": float("nan"), "t2_std": float("nan")}, "t2", 2) == "–"
    assert cell({"x": 0.1053, "x_std": 1e-17}, "x", 4) == "0.1053"
    assert cell({"x": 0.67, "x_std": 0.004}, "x", 2) == "0.67"  # rounds to 0.00 at two digits
    assert cell({"x": 0.67, "x_std": 0.02}, "x", 2) == "0.67 ± 0.02"
    assert cell({"x": 10.0}, "x", 0) == "10"  # one seed: no spread column
    assert cell({"site": "abide"}, "site", 0) == "abide"


def test_a_count_every_seed_agrees_on_is_shown_without_a_spread() -> None:
    def scanner_table(n_std: float) -> str:
        row = {"method": "segmenter", "held_out": "STANFORD", "n_subjects": 5.0, "n_subjects_std": n_std}
        return report._section_beyond({"unseen_scanner": [row]})

    assert "| Segmenter | STANFORD | 5 |" in scanner_table(0.0)
    assert "| Segmenter | STANFORD | 5 ± 1 |" in scanner_table(1.0)
    assert display.cell({"d": 0.5, "d_std": 0.0}, "d") == "0.500 ± 0.000"
    assert display.cell({"d": 0.5}, "d") == "0.500"


def test_report_prints_the_processor_and_threads_a_rerun_must_match(tmp_path: Path) -> None:
    from deepnorm.devices import cpu_description

    described = cpu_description()
    text = report.build_report(tmp_path, meta={"profile": "cpu", **described})
    assert f"| cpu capability | {described['cpu capability']} |" in text
    assert f"| threads | {described['threads']} |" in text
    section = text.split("## What a rerun gives", 1)[1].split("\n## ", 1)[0]
    assert "Identical to the byte" in section and "not to the byte" in section
    assert "does not record its processor" not in section


def test_report_of_a_run_that_did_not_record_its_processor_says_so(tmp_path: Path) -> None:
    text = report.build_report(tmp_path, meta={"profile": "cpu"})
    assert "does not record its processor or thread count" in text


def test_cpu_description_names_the_kernels_pytorch_picks(monkeypatch) -> None:
    import torch

    from deepnorm.devices import cpu_description

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    described = cpu_description()
    assert described["cpu capability"] == torch.backends.cpu.get_cpu_capability()
    assert described["threads"] == torch.get_num_threads()
    assert described["isa caps"] == "ONEDNN_MAX_CPU_ISA=AVX2"
    assert described["amx"] in ("yes", "no", "unknown")


def test_the_report_answers_first_from_the_verdicts_and_ends_with_the_timings(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    meta = {"profile": "cpu", "data": "the phantom", "notebook_seconds": {"01_table2_cross_site": 12.0}}
    text = report.build_report(tmp_path, meta=meta)
    first = text.split("## The answer first", 1)[1].split("\n## ", 1)[0]
    assert text.index("## The answer first") < text.index("## This reproduction") < text.index("## Claims")
    verdicts = {v.claim: v.verdict for v in report.claims.judge_all(report.load_tables(tmp_path))}
    held = [c for c, v in verdicts.items() if v == "holds"]
    assert held == ["C1"] and "1 holds (C1)" in first  # 0.3 against 0.9: a 67 % drop
    assert f"of the paper's {len(verdicts)} claims" in first and "`cpu` profile" in first
    assert text.rindex("## Wall time per notebook") > text.index("## Differences from the paper")
    assert "| 01_table2_cross_site | 12 |" in text.split("## Wall time per notebook", 1)[1]


def _scale_rows(width: int, budget: int, ours: float, pre: float, d_low: float, augment: float = 0.0) -> list[dict]:
    rows = []
    for method, lam, dice, d in (("adversarial", 1.5, ours, 0.5), ("adversarial", 0.1, ours, d_low),
                                 ("preprocessor", float("nan"), pre, float("nan")),
                                 ("standardization", float("nan"), 0.7, float("nan"))):
        rows.append({"width": width, "budget": budget, "bias_augment": augment, "method": method, "lam": lam,
                     "dice_mean": dice, "val_dice": dice, "d_val_accuracy_generated": d, "d_val_accuracy_real": 0.4,
                     "jsd": 0.01, "gflop": 1000.0 * width * budget, "hours": 0.1 * width * budget,
                     "i1_accuracy_generated": 0.99})
    return rows


def test_the_report_shows_the_scale_study_of_the_seed_folder_and_i1(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    assert "The scale study" not in report.build_report(tmp_path)
    assert "I1** (beside C7" in report.build_report(tmp_path) and "not measured" in report.build_report(tmp_path)
    results.write_table("scale", _scale_rows(1, 1, 0.70, 0.79, 0.60) + _scale_rows(2, 3, 0.79, 0.81, 0.97)
                        + _scale_rows(1, 1, 0.68, 0.75, 0.60, augment=0.5), tmp_path / "seed-0")
    results.write_table("i1", [{"setting": "dual", "steps": 100, "accuracy_generated": 0.5, "accuracy_real": 0.4,
                                "loss": 1.0, "criterion": 0.95}], tmp_path)
    text = report.build_report(tmp_path)
    section = text.split("### The scale study")[1].split("\n\n###")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ×")]
    assert [line.split(" | ")[:3] for line in lines] == [["| ×1", "×1", "no"], ["| ×1", "×1", "yes"], ["| ×2", "×3", "no"]]
    lines = [lines[0], lines[2]]
    # the rule on the points run: (1, 1) keeps I1 but loses 0.02 of the largest point's validation Dice;
    # (2, 3) is estimated at 5 x its four trainings' 2.4 h
    assert "It picks, on the points run: widths x2, epochs x3: I1 99.0%" in section
    assert "estimated at 12.0 h > 2 h: a further profile" in section
    assert "`make reproduce SCALE=2x3` runs every table at that point" in section
    assert "`results/scale-2x3/REPORT.md`" in section
    assert "An extrapolation" not in section  # one point at epochs x1: no ratio over widths
    assert ("With the robustness augmentation (p = 0.5) at widths ×1, epochs ×1: Pre-processor 0.790 → 0.750, "
            "Ours 0.700 → 0.680 (Ours − Pre-processor -0.090 → -0.070)") in section
    assert "| -0.090 |" in lines[0] and "| -0.020 |" in lines[1]  # Ours − Pre-processor, point by point
    assert "| 0.600 |" in lines[0] and "| 0.970 |" in lines[1]  # D on generated patches at λ 0.1
    i1 = text.split("**Instrument check I1**")[1].split("\n")[0]
    assert "**does not hold**" in i1 and "50.0% of validation generated patches" in i1


def test_results_of_older_defaults_are_marked_at_the_top(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    old = report.build_report(tmp_path, meta={"profile": "cpu"})
    answer = old.split("## The answer first")[1].split("## ")[0]
    assert f"version 1 of the study's defaults; the code is at version {report.STUDY_VERSION}" in answer
    current = report.build_report(tmp_path, meta={"profile": "cpu", "study version": report.STUDY_VERSION})
    assert "of the study's defaults" not in current


def test_the_scale_section_marks_its_extrapolation_to_the_papers_widths(tmp_path: Path) -> None:
    _write_table2(tmp_path)
    results.write_table("scale", _scale_rows(1, 1, 0.72, 0.80, 0.60) + _scale_rows(2, 1, 0.78, 0.82, 0.50), tmp_path / "seed-0")
    section = report.build_report(tmp_path).split("### The scale study")[1].split("\n\n## ")[0]
    # prices -0.08 and -0.04: x0.50 per doubling, -0.010 at the paper's x8
    assert "**An extrapolation, not a measurement.**" in section
    assert "Ours − Pre-processor goes -0.080 → -0.040: ×0.50 per doubling" in section
    assert "(×8, 3 doublings), the price would be about -0.010 of mean Dice" in section
    assert "0.600 → 0.500" in section and "×312.5 the iterations" in section
    assert "did not train in one arithmetic" not in section  # both points float32
    rows = _scale_rows(1, 1, 0.72, 0.80, 0.60) + [{**r, "precision": "bf16"} for r in _scale_rows(2, 1, 0.78, 0.82, 0.50)]
    results.write_table("scale", rows, tmp_path / "seed-0")
    section = report.build_report(tmp_path).split("### The scale study")[1].split("\n\n## ")[0]
    assert "did not train in one arithmetic (float32 at ×1, bf16 at ×2;" in section
    assert "| 0.990 | 0.0100 | 0.0100 | 8 | 0.80 | bf16 |" in section  # the table's precision column
