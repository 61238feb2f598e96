"""Display names, the paper beside ours and the claims' verdicts per table."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from deepnorm.errors import ConfigError
from deepnorm.files import write_json, write_table
from deepnorm.study import claims, display, paper

INTERNAL = re.compile(r"\b(dice_\w+|mhd_\w+|iseg|mrbrains|abide|adversarial|preprocessor|train_site|d_train_acc)\b")

TABLE2 = [{"train_site": a, "test_site": b, "dice_csf": 0.5, "dice_gm": 0.4, "dice_wm": 0.6, "dice_mean": m,
           "mhd_csf": 1.0, "mhd_gm": 1.0, "mhd_wm": 1.0, "mhd_mean": 1.0}
          for (a, b), m in {("iseg", "iseg"): 0.8, ("iseg", "mrbrains"): 0.3,
                            ("mrbrains", "mrbrains"): 0.7, ("mrbrains", "iseg"): 0.6}.items()]


def test_display_rows_rename_columns_and_values_and_keep_numbers():
    rows = display.display_rows([{"setting": "dual", "method": "adversarial", "dice_csf": 0.25, "mhd_mean": 2.0}])
    assert rows == [{"Sites": "iSEG-2017 + MRBrainS13", "Method": "Ours", "CSF": 0.25, "MHD (mm)": 2.0}]


def test_markdown_writes_integers_as_integers():
    assert display.markdown([{"site": "iseg", "subjects": 10, "dice_mean": 0.5}]).splitlines()[-1] == (
        "| iSEG-2017 | 10 | 0.500 |")


def test_markdown_shows_no_internal_key():
    text = display.markdown(TABLE2)
    assert not INTERNAL.search(text), INTERNAL.search(text)
    assert "| Trained on | Tested on | CSF | GM | WM | Mean Dice |" in text
    assert "0.800" in text and "iSEG-2017" in text


def test_every_result_column_has_a_display_name():
    from deepnorm.study import experiments  # noqa: F401  (the tables' columns are fixed there)

    for key in ("train_site", "test_site", "setting", "method", "stage", "jsd", "jsd_legacy", "modalities",
                "alpha", "rho_degraded", "rho_normalized", "lam", "d_train_acc", "d_test_acc", "dice_mean_shared"):
        assert display.column_name(key) != key


def test_paper_beside_ours_pairs_each_paper_number_with_ours(tmp_path):
    write_table("table2", TABLE2, tmp_path)
    header, rows = display.paper_beside_ours("table2", display.load_tables(tmp_path))
    assert header[-1] == "Mean Dice"
    by_pair = {(r[0], r[1]): r for r in rows}
    cross = by_pair[("iSEG-2017", "MRBrainS13")]
    assert cross[-1] == f"{paper.TABLE2[('iseg', 'mrbrains')]['mean']:.3f} / 0.300"
    assert len(rows) == len(paper.TABLE2)


def test_paper_beside_ours_marks_what_we_did_not_measure(tmp_path):
    _header, rows = display.paper_beside_ours("table7", display.load_tables(tmp_path))
    assert len(rows) == len(paper.TABLE7) and all(r[1].endswith("/ –") for r in rows)


@pytest.mark.parametrize("table", sorted(display.TABLE_CLAIMS))
def test_every_table_has_paper_rows_without_internal_keys(table, tmp_path):
    header, rows = display.paper_beside_ours(table, display.load_tables(tmp_path))
    assert rows and all(len(r) == len(header) for r in rows)
    text = " ".join(header + [c for r in rows for c in r])
    assert not INTERNAL.search(text), INTERNAL.search(text)


def _write_every_table(folder, rng):
    """Tables 2-7 as a mean over seeds would write them (an sd beside every number), with the columns
    that only some runs record (empty tissues, the white-matter ρ); each row's numbers its own."""
    def spread(row):
        numbers = {k: round(float(rng.uniform(0.1, 0.9)), 4) if k not in ("alpha", "lam") else v
                   for k, v in row.items() if isinstance(v, float) and not k.startswith("empty_")}
        return {**row, **numbers, **{f"{k}_std": 0.01 for k in numbers if k not in ("alpha", "lam")}}

    dice = {f"dice_{t}": 0.0 for t in ("csf", "gm", "wm", "mean")}
    empty = {"empty_csf": 1.0, "empty_gm": 0.0, "empty_wm": 2.0}
    write_table("table2", [spread({**r, **empty}) for r in TABLE2], folder)
    write_table("table3", [spread({"setting": s, "method": m, **dice, "mhd_mean": 0.0, "dice_mean_shared": 0.0, **empty})
                           for s in ("dual", "multi")
                           for m in ("standardization", "preprocessor", "adversarial", "standardization_brain")], folder)
    write_table("table4", [spread({"setting": s, "stage": st, "jsd": 0.0, "jsd_legacy": 0.0})
                           for s in ("dual", "multi") for st in ("inputs", "preprocessor", "adversarial")], folder)
    write_table("table5", [spread({"modalities": m, "dice_mean": 0.0, "mhd_mean": 0.0}) for m in ("t1", "t1+t2")], folder)
    write_table("table6", [spread({"site": site, "alpha": alpha, "rho_degraded": 0.0, "rho_normalized": 0.0,
                                   "rho_degraded_wm": 0.0, "rho_normalized_wm": 0.0})
                           for site in ("iseg", "mrbrains") for alpha in (0.0, 0.3, 0.5, 0.7, 0.9)], folder)
    write_table("table7", [spread({"lam": lam, "dice_mean": 0.0, "d_train_acc": 0.0, "d_test_acc": 0.0})
                           for lam in (0.1, 1.5, 5.0)], folder)


def _table_lines(text):
    return [line for line in text.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("table", display.TABLES)
def test_the_notebook_and_the_report_show_the_same_rows_of_each_table(table, tmp_path):
    from deepnorm.study import report

    _write_every_table(tmp_path, np.random.default_rng(int(table[-1])))
    header, rows = display.paper_beside_ours(table, display.load_tables(tmp_path))
    expected = display.markdown_table(header, rows).splitlines()
    notebook = display.conclusion(table, tmp_path).split("**Claims**")[0]
    section = report.build_report(tmp_path).split(f"### Table {table[-1]} ")[1].split("\n#")[0]
    assert _table_lines(notebook) == _table_lines(section) == expected
    assert "±" in expected[2] and not INTERNAL.search("\n".join(expected))


def test_the_report_adds_the_rows_beyond_the_paper_and_the_notebook_does_not(tmp_path):
    from deepnorm.study import report

    _write_every_table(tmp_path, np.random.default_rng(0))
    write_table("table3_beyond", [{"setting": "dual", "method": "nyul", "dice_csf": 0.7, "dice_gm": 0.7,
                                   "dice_wm": 0.7, "dice_mean": 0.7123, "mhd_mean": 2.0}], tmp_path)
    row = "| iSEG-2017 + MRBrainS13 | Nyúl (beyond the paper) | – / 0.700 | – / 0.700 | – / 0.700 | – / 0.712 |"
    assert row in report.build_report(tmp_path)
    assert "Nyúl" not in display.conclusion("table3", tmp_path)


def test_one_markdown_table_writer():
    from pathlib import Path

    package = Path(display.__file__).resolve().parents[1]
    writers = [p.relative_to(package).as_posix() for p in package.rglob("*.py") if "---|" in p.read_text(encoding="utf-8")]
    assert writers == ["study/display.py"], writers
    assert display.markdown_table(["a", "b"], [["1", 2]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_verdicts_agree_with_the_claim_judges(tmp_path):
    write_table("table2", TABLE2, tmp_path)
    (verdict,) = display.verdicts("table2", tmp_path)
    assert verdict == claims.judge_c1(TABLE2)
    # iSEG→MRBrainS drops 62 %, MRBrainS→iSEG only 14 %: C1 does not hold on these numbers
    assert verdict.verdict == claims.FAILS


def test_verdicts_read_the_confusion_matrices(tmp_path):
    write_table("table7", [{"lam": lam, "dice_mean": d, "d_train_acc": a, "d_test_acc": 0.3}
                           for lam, d, a in ((0.1, 0.9, 0.95), (1.5, 0.8, 0.5), (5.0, 0.7, 0.4))], tmp_path)
    uniform = [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.0]]
    write_json("table7_confusion", {f"{lam:g}": {"matrix": uniform, "classes": ["iseg", "mrbrains", "generated"]}
                                    for lam in (0.1, 1.5, 5.0)}, tmp_path)
    found = {v.claim: v.verdict for v in display.verdicts("table7", tmp_path)}
    assert found == {"C7": claims.HOLDS, "C8": claims.HOLDS}


def test_conclusion_holds_the_table_and_the_verdict(tmp_path):
    write_table("table2", TABLE2, tmp_path)
    text = display.conclusion("table2", tmp_path)
    assert "Table 2, paper / ours" in text and "| C1 |" in text and f"**{claims.FAILS}**" in text


def test_conclusion_shows_the_evidence_with_display_names(tmp_path):
    write_table("table2", TABLE2, tmp_path)
    write_table("table3", [{"setting": s, "method": m, "dice_mean": 0.5, "dice_mean_shared": 0.5}
                           for s in ("dual", "multi") for m in ("standardization", "preprocessor", "adversarial")],
                tmp_path)
    for table in ("table2", "table3"):
        verdict_rows = display.conclusion(table, tmp_path).split("**Claims**")[1].strip().splitlines()[2:]
        numbers = " ".join(row.split(" | ")[-1] for row in verdict_rows)
        assert numbers and not INTERNAL.search(numbers), INTERNAL.search(numbers)
        assert not re.search(r"\b(dual|multi|standardization|pre-processor|ours)\b", numbers), numbers


def test_readable_replaces_whole_keys_only():
    assert display.readable("iseg→mrbrains 0.3; dual: ours 0.8, pre-processor 0.7") == (
        "iSEG-2017→MRBrainS13 0.3; iSEG-2017 + MRBrainS13: Ours 0.8, Pre-processor 0.7")
    assert display.readable("iseg_scanner, courses, dual-site") == "iseg_scanner, courses, dual-site"


def test_unknown_table_is_rejected(tmp_path):
    with pytest.raises(ConfigError, match="table8"):
        display.paper_beside_ours("table8", {})
    with pytest.raises(ConfigError, match="table8"):
        display.verdicts("table8", tmp_path)


def test_the_test_set_is_stated_with_its_size_per_site(smoke_root):
    from deepnorm.data.sites import SITE_NAMES, open_site
    from deepnorm.data.splits import split_sizes

    sites = ("iseg", "mrbrains", "abide")
    text = display.evaluated_on(smoke_root, sites)
    expected = {s: split_sizes(len(open_site(smoke_root, s).subject_ids), s)[2] for s in sites}
    for site, n in expected.items():
        assert f"{SITE_NAMES[site]} {n} subject" in text
    assert f"rests on {sum(expected.values())} volume" in text


def test_the_data_checks_show_display_names_and_a_dash_for_what_a_site_lacks():
    """Notebook 00's data tables: every column of data_sites and data_jsd has a name (with its unit),
    and NaN (ABIDE has no second contrast) is shown as the report shows it, "–"."""
    import csv

    for name in ("data_sites", "data_jsd", "table2"):
        with open(Path(__file__).resolve().parents[1] / "results" / "seed-0" / f"{name}.csv", encoding="utf-8") as f:
            columns = next(csv.reader(f))
        assert [c for c in columns if display.column_name(c) == c] == [], name
    row = {"site": "abide", "subjects": 20, "brain_ml": 1171.4, "t1_bayes_gm_wm": 0.21, "t2_bayes_gm_wm": float("nan")}
    header, body = display.markdown([row]).splitlines()[0], display.markdown([row]).splitlines()[-1]
    assert "Brain (ml)" in header and "Bayes error GM/WM, T2/FLAIR" in header
    assert body == "| ABIDE | 20 | 1171.400 | 0.210 | – |"
