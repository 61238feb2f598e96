"""Result tables of several seeds aggregate into mean ± sd (hand-made tables, hand-computed numbers)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from deepnorm.errors import DataError
from deepnorm.files import read_json, read_table, write_json, write_table
from deepnorm.study import seeds


def _table3(dice: tuple[float, float]) -> list[dict]:
    return [{"setting": "dual", "method": "preprocessor", "dice_mean": dice[0]},
            {"setting": "dual", "method": "adversarial", "dice_mean": dice[1]}]


def test_aggregate_rows_mean_and_sample_sd() -> None:
    rows = seeds.aggregate_rows([_table3((0.80, 0.70)), _table3((0.84, 0.72)), _table3((0.82, 0.77))])
    pre, ours = rows
    assert (pre["setting"], pre["method"]) == ("dual", "preprocessor")
    assert pre["dice_mean"] == pytest.approx(0.82)
    assert pre["dice_mean_std"] == pytest.approx(0.02)  # deviations -0.02, 0.02, 0: sqrt(0.0008 / 2)
    assert ours["dice_mean"] == pytest.approx(0.73)
    assert ours["dice_mean_std"] == pytest.approx(math.sqrt((0.03**2 + 0.01**2 + 0.04**2) / 2))
    assert pre["n_seeds"] == 3


def test_rows_are_matched_by_key_not_by_position() -> None:
    a = _table3((0.80, 0.70))
    b = list(reversed(_table3((0.90, 0.60))))
    rows = seeds.aggregate_rows([a, b])
    assert rows[0]["method"] == "preprocessor" and rows[0]["dice_mean"] == pytest.approx(0.85)
    assert rows[1]["dice_mean"] == pytest.approx(0.65)


def test_numeric_keys_alpha_and_lam_are_not_averaged() -> None:
    def t6(r: float) -> list[dict]:
        return [{"site": "iseg", "alpha": 0.0, "rho_degraded": r}, {"site": "iseg", "alpha": 0.5, "rho_degraded": 2 * r}]

    rows = seeds.aggregate_rows([t6(0.1), t6(0.3)])
    assert [r["alpha"] for r in rows] == [0.0, 0.5]
    assert "alpha_std" not in rows[0]
    assert rows[1]["rho_degraded"] == pytest.approx(0.4)


def test_one_seed_has_no_spread() -> None:
    rows = seeds.aggregate_rows([_table3((0.8, 0.7))])
    assert rows[0]["dice_mean"] == 0.8 and math.isnan(rows[0]["dice_mean_std"]) and rows[0]["n_seeds"] == 1


def test_different_rows_are_rejected() -> None:
    other = [{"setting": "multi", "method": "preprocessor", "dice_mean": 0.8},
             {"setting": "dual", "method": "adversarial", "dice_mean": 0.7}]
    with pytest.raises(DataError, match="seed-1.*missing"):
        seeds.aggregate_rows([_table3((0.8, 0.7)), other], name="table3", labels=["seed-0", "seed-1"])


def test_aggregate_confusions() -> None:
    a = {"1.5": {"matrix": [[1.0, 0.0], [0.2, 0.8]], "classes": ["iseg", "generated"]}}
    b = {"1.5": {"matrix": [[0.8, 0.2], [0.4, 0.6]], "classes": ["iseg", "generated"]}}
    out = seeds.aggregate_confusions([a, b])["1.5"]
    np.testing.assert_allclose(out["matrix"], [[0.9, 0.1], [0.3, 0.7]])
    assert out["matrix_std"][1][1] == pytest.approx(math.sqrt(0.02))  # deviations ±0.1, ddof 1
    assert out["n_seeds"] == 2 and out["classes"] == ["iseg", "generated"]


def test_aggregate_results_reads_seed_folders_and_writes_the_means(tmp_path: Path) -> None:
    for seed, dice in ((0, (0.80, 0.70)), (1, (0.84, 0.72)), (2, (0.5, 0.5))):
        folder = seeds.seed_folder(tmp_path, seed)
        folder.mkdir()
        write_table("table3", _table3(dice), folder)
        write_json("table7_confusion", {"0.1": {"matrix": [[float(seed)]], "classes": ["x"]}}, folder)
    (tmp_path / "seed-x").mkdir()  # not a seed folder
    assert list(seeds.seed_folders(tmp_path)) == [0, 1, 2]
    out = seeds.aggregate_results(tmp_path, seeds=[0, 1])
    assert out["seeds"] == [0, 1]
    written = read_table("table3", tmp_path)
    assert written[0]["dice_mean"] == pytest.approx(0.82) and written[0]["n_seeds"] == 2
    assert written[1]["dice_mean_std"] == pytest.approx(math.sqrt(2 * 0.01**2), rel=1e-5)  # 6 digits in the CSV
    assert read_json("seeds", tmp_path) == {"seeds": [0, 1]}
    assert read_json("table7_confusion", tmp_path)["0.1"]["matrix"] == [[0.5]]
    assert seeds.aggregate_results(tmp_path)["seeds"] == [0, 1, 2]
    with pytest.raises(DataError, match="seed"):
        seeds.aggregate_results(tmp_path, seeds=[7])


def test_a_partial_reproduction_never_replaces_a_mean_over_seeds_it_did_not_rerun(tmp_path: Path) -> None:
    """After seeds 0-2 were aggregated, a rerun of some notebooks for seed 0 leaves results/*.csv of
    the tables it did not write, and of those other seeds also hold, byte for byte; a table only it
    holds is aggregated; seeds.json keeps the three seeds."""
    for seed, dice in ((0, (0.80, 0.70)), (1, (0.84, 0.72)), (2, (0.5, 0.5))):
        folder = seeds.seed_folder(tmp_path, seed)
        folder.mkdir()
        write_table("table2", _table3(dice), folder)
        write_table("table3", _table3(dice), folder)
    seeds.aggregate_results(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    write_table("table3", _table3((0.1, 0.1)), seeds.seed_folder(tmp_path, 0))  # the rerun's fresh rows
    write_table("i1", [{"accuracy_generated": 0.97}], seeds.seed_folder(tmp_path, 0))
    notes = seeds.aggregate_partial(tmp_path, [0], ["table3", "i1", "scale"])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {k: after[k] for k in before} == before
    assert len(notes) == 1 and "table3.csv left as it was" in notes[0] and "seed-1, seed-2" in notes[0]
    assert read_table("i1", tmp_path)[0]["accuracy_generated"] == pytest.approx(0.97)
    assert read_json("seeds", tmp_path) == {"seeds": [0, 1, 2]}
