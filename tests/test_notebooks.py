"""The notebooks: jupytext pairs in sync, stripped, parameterised, and run end to end (smoke)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

from deepnorm.files import read_json, read_table
from deepnorm.study import reproduce

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


RESYNC = "re-sync with `jupytext --sync notebooks/*.py` (or `jupytext --to ipynb notebooks/NAME.py`)"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_the_notebook_list_names_every_notebook_source():
    sources = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert sources == sorted(reproduce.NOTEBOOKS), "notebooks/*.py and deepnorm.study.reproduce.NOTEBOOKS differ"
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sources, f"a .py has no .ipynb: {RESYNC}"


@pytest.mark.parametrize("name", reproduce.NOTEBOOKS)
def test_each_ipynb_is_its_py_percent_source_stripped(name):
    source = jupytext.read(NOTEBOOKS / f"{name}.py", fmt="py:percent")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert _cells(nb) == _cells(source), f"notebooks/{name}.ipynb differs from notebooks/{name}.py: {RESYNC}"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs not stripped ({RESYNC})"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters' (# %% tags=[\"parameters\"])"


def test_the_sync_check_fails_on_an_edited_notebook(tmp_path):
    nb = nbformat.read(NOTEBOOKS / "01_table2_cross_site.ipynb", as_version=4)
    nb.cells[-1].source += "\nprint('edited in JupyterLab')"
    source = jupytext.read(NOTEBOOKS / "01_table2_cross_site.py", fmt="py:percent")
    assert _cells(nb) != _cells(source)


@pytest.mark.parametrize("name", reproduce.NOTEBOOKS)
def test_each_notebook_says_what_to_look_for(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert any(c.cell_type == "markdown" and c.source.startswith("## What to look for") for c in nb.cells), name


@pytest.mark.parametrize("name", [n for n in reproduce.NOTEBOOKS if n[:2] not in ("00",)])
def test_each_experiment_notebook_ends_with_the_paper_beside_ours(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    table = {"01": "table2", "02": "table3", "03": "table4", "04": "table5", "05": "table6", "06": "table7"}[name[:2]]
    assert nb.cells[-1].source == f'display(Markdown(show.conclusion("{table}", ctx.results_dir)))'
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "markdown_table" not in code, f"{name} shows internal keys: use deepnorm.study.display.markdown"


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
    verdict_rows = re.findall(r"^\| (C\d) \| .* \| (holds|does not hold|not measured) \|", text, flags=re.MULTILINE)
    assert [c for c, _ in verdict_rows] == [f"C{i}" for i in range(1, 10)]
    assert all(v != "not measured" for _, v in verdict_rows), verdict_rows
