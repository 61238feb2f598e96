"""The notebooks: generated from one source, stripped, parameterised, and run end to end (smoke)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from deepnorm.study import reproduce
from deepnorm.files import read_json, read_table

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def test_committed_notebooks_match_their_source_and_are_stripped():
    result = subprocess.run([sys.executable, str(NOTEBOOKS / "build_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in reproduce.NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped"
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("name", reproduce.NOTEBOOKS)
def test_every_batch_parameter_is_declared(name):
    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    passed = reproduce.notebook_parameters(profile="smoke", data_root=None, seed=0, device="cpu",
                                           results=Path("r"), figures=Path("f"), runs=Path("u"))
    missing = sorted(set(passed) - set(declared))
    assert not missing, f"{name} does not declare {missing} in its parameters cell"


def test_make_reproduce_smoke_writes_every_table_figure_and_the_report(smoke_reproduction):
    results, figures, report = smoke_reproduction.results, smoke_reproduction.figures, smoke_reproduction.report
    assert smoke_reproduction.exit_code == 0
    for name in reproduce.NOTEBOOKS:
        assert (results / "notebooks" / f"{name}.ipynb").is_file()
    expected = {"table2": 4, "table3": 6, "table4": 6, "table5": 2, "table6": 10, "table7": 3}
    for table, n_rows in expected.items():
        rows = read_table(table, results)
        assert len(rows) == n_rows, table
        for row in rows:
            for key, value in row.items():
                if key.startswith(("dice", "jsd", "rho", "d_")):
                    assert isinstance(value, float) and math.isfinite(value), (table, key, value)
    for row in read_table("table2", results):
        assert 0.0 <= row["dice_mean"] <= 1.0
    for row in read_table("table4", results):
        assert 0.0 <= row["jsd"] <= math.log(2) + 1e-9
    confusion = read_json("table7_confusion", results)
    assert sorted(map(float, confusion)) == [0.1, 1.5, 5.0]
    for entry in confusion.values():
        assert len(entry["matrix"]) == len(entry["classes"]) == 3
    pngs = sorted(p.name for p in figures.glob("*.png"))
    assert len(pngs) >= 8, pngs
    text = report.read_text(encoding="utf-8")
    verdict_rows = re.findall(r"^\| (C\d) \| .* \| (holds|does not hold|not measured) \|", text, flags=re.M)
    assert [c for c, _ in verdict_rows] == [f"C{i}" for i in range(1, 10)]
    assert all(v != "not measured" for _, v in verdict_rows), verdict_rows
