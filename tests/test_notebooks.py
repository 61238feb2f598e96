"""The notebooks: jupytext pairs in sync, stripped, parameterised, and run end to end (smoke)."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

from deepnorm.files import read_json, read_table
from deepnorm.study import reproduce

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = reproduce.NOTEBOOKS + reproduce.BEYOND_NOTEBOOKS + reproduce.SCALE_NOTEBOOKS


RESYNC = "re-sync with `jupytext --sync notebooks/*.py` (or `jupytext --to ipynb notebooks/NAME.py`)"


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_the_notebook_list_names_every_notebook_source():
    sources = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert sources == sorted(ALL), "notebooks/*.py and deepnorm.study.reproduce's NOTEBOOKS + BEYOND_NOTEBOOKS + SCALE_NOTEBOOKS differ"
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sources, f"a .py has no .ipynb: {RESYNC}"


@pytest.mark.parametrize("name", ALL)
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


@pytest.mark.parametrize("name", ALL)
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


@pytest.mark.parametrize("name", ALL)
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
        assert (results / "seed-0" / "notebooks" / f"{name}.ipynb").is_file()
    expected = {"table2": 4, "table3": 8, "table4": 6, "table5": 2, "table6": 10, "table7": 3}
    for table, n_rows in expected.items():
        rows = read_table(table, results)
        assert len(rows) == n_rows, table
        for row in rows:
            assert row["n_seeds"] == 1, (table, row)
            for key, value in row.items():
                if key.endswith("_std"):  # one seed: no spread (sample sd undefined)
                    assert math.isnan(value), (table, key, value)
                elif key.startswith(("dice", "jsd", "rho", "d_")):
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
    verdict_rows = re.findall(r"^\| (C\d) \| .* \| (holds|does not hold|inconclusive|not measured) \|", text, flags=re.MULTILINE)
    assert [c for c, _ in verdict_rows] == [f"C{i}" for i in range(1, 10)]
    assert all(v != "not measured" for _, v in verdict_rows), verdict_rows
    data_rows = re.findall(r"^\| (D\d) \| .* \| (holds|does not hold|inconclusive|not measured) \|", text, flags=re.MULTILINE)
    assert [c for c, _ in data_rows] == ["D1", "D2", "D3"]
    assert all(v != "not measured" for _, v in data_rows), data_rows
    assert "## Beyond the paper" not in text  # the paper's reproduction alone


def test_reproduce_beyond_smoke_adds_the_unseen_site_and_b1_b3(smoke_reproduction, smoke_root):
    from deepnorm.cli import main as cli_main
    from deepnorm.study import beyond

    r = smoke_reproduction
    header_before = r.report.read_text(encoding="utf-8").split("## This reproduction")[1].split("## The data")[0]
    code = cli_main(["reproduce", "--beyond", "--profile", "smoke", "--device", "cpu", "--data-root", str(smoke_root),
                     "--results-dir", str(r.results), "--figures-dir", str(r.figures),
                     "--runs-dir", str(r.runs), "--report", str(r.report)])
    assert code == 0
    unseen = read_table("unseen_site", r.results)
    n_methods = len(beyond.UNSEEN_METHODS)
    assert len(unseen) == n_methods * 4  # three rotations and their mean, per method
    for row in unseen:
        assert 0.0 <= row["dice_mean"] <= 1.0 and 0.0 <= row["seen_dice_mean"] <= 1.0
    held = {row["held_out"] for row in unseen}
    assert held == {"iseg", "mrbrains", "abide", "mean"}
    assert len(read_table("table3_beyond", r.results)) == 2 * (len(beyond.CLASSICAL) + 1)
    assert len(read_table("table4_beyond", r.results)) == 2 * len(beyond.CLASSICAL)
    assert list(r.figures.glob("*unseen_site.png")), sorted(p.name for p in r.figures.glob("*.png"))
    scanner = read_table("unseen_scanner", r.results)
    assert [row["method"] for row in scanner] == list(beyond.UNSEEN_METHODS)
    assert all(row["held_out"] == beyond.HOLDOUT_SCANNER and row["n_subjects"] >= 1 for row in scanner)
    text = r.report.read_text(encoding="utf-8")
    # the paper's reproduction still heads the report; its opening now counts B1-B3 too
    assert text.split("## This reproduction")[1].split("## The data")[0] == header_before
    assert "Beyond the paper, " in text.split("## The answer first")[1].split("## This reproduction")[0]
    rows = re.findall(r"^\| (B\d) \| .* \| (holds|does not hold|inconclusive|not measured) \|", text, flags=re.MULTILINE)
    assert [c for c, _ in rows] == ["B1", "B2", "B3"]
    assert all(v != "not measured" for _, v in rows), rows
    assert "(beyond the paper)" in text.split("### Table 3")[1].split("### Table 4")[0]


# --------------------------------------------------------------------------- reproduce's terminal
def _training_folder(runs: Path, name: str, *, epochs_done: int, seconds: float = 10.0, done: bool = False) -> Path:
    from deepnorm.training.config import profile
    from deepnorm.training.loop import write_history

    folder = runs / name
    folder.mkdir(parents=True)
    profile("smoke", **{"train.method": "segmenter", "train.epochs": 12, "data.sites": ("mrbrains",)}).to_yaml(
        folder / "config.yaml")
    if epochs_done:
        write_history([{"epoch": e + 1, "seconds": seconds} for e in range(epochs_done)], folder / "history.csv")
    if done:
        (folder / "DONE").write_text("12 epochs\n")
    return folder


def test_training_progress_reads_the_run_folder_being_written(tmp_path):
    assert reproduce.training_progress(tmp_path / "missing") is None
    _training_folder(tmp_path, "finished", epochs_done=12, done=True)
    assert reproduce.training_progress(tmp_path) is None
    _training_folder(tmp_path, "started", epochs_done=0)
    assert reproduce.training_progress(tmp_path) == "training segmenter on MRBrainS13: epoch 1/12"
    _training_folder(tmp_path, "running", epochs_done=3, seconds=20.0)
    # 9 epochs to go at 20 s each
    assert reproduce.training_progress(tmp_path) == "training segmenter on MRBrainS13: epoch 4/12, about 3:00 left"


def test_training_progress_ignores_runs_left_over_from_before(tmp_path):
    _training_folder(tmp_path, "crashed", epochs_done=2)
    assert reproduce.training_progress(tmp_path, since=time.time() + 60) is None


def test_training_progress_skips_an_unreadable_folder(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.yaml").write_text("train: [not, a, mapping]\n")
    assert reproduce.training_progress(tmp_path) is None


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_rewrites_one_line_on_a_terminal(tmp_path):
    _training_folder(tmp_path, "running", epochs_done=1)
    stream = _Terminal()
    with reproduce.ProgressLine("[2/8] 01_table2_cross_site", tmp_path, stream=stream, interval=0.01) as line:
        line._start -= 5.0  # the run folder is older than the line: count it as this notebook's
        time.sleep(0.1)
    text = stream.getvalue()
    assert "\n" not in text and text.count("\r") >= 3
    assert "[2/8] 01_table2_cross_site 0:0" in text and "epoch 2/12" in text
    assert text.endswith("\r")  # erased: the caller writes the outcome on the same line


def test_progress_line_writes_one_plain_line_elsewhere(tmp_path):
    stream = io.StringIO()
    with reproduce.ProgressLine("[1/8] 00_data_tour", tmp_path, stream=stream, interval=0.01):
        time.sleep(0.05)
    assert stream.getvalue() == "[1/8] 00_data_tour ...\n"


def test_minutes():
    assert [reproduce.minutes(s) for s in (0, 59.6, 61, 3600)] == ["0:00", "1:00", "1:01", "60:00"]


def test_notebooks_write_to_an_ignored_scratch_folder_by_default():
    results, figures = reproduce.scratch_dir("results"), reproduce.scratch_dir("figures")
    assert figures.parent == results and results.is_relative_to(ROOT / "results" / "notebooks")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(figures / "fig2_site_histograms.png")], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "the scratch folder must be ignored by git"
    # make reproduce SEEDS=N keeps each seed's executed notebooks beside its tables: ignored too
    from deepnorm.study.seeds import seed_folder

    executed = seed_folder(ROOT / "results", 1) / "notebooks" / "01_table2_cross_site.ipynb"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(executed)], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "a seed's executed notebooks must be ignored by git"
    # every notebook builds its context with notebook_context(), which holds the scratch default
    import inspect

    from deepnorm.study.experiments import notebook_context

    code = inspect.getsource(notebook_context)
    assert 'figures_dir=figures_dir or str(scratch_dir("figures"))' in code
    for name in reproduce.NOTEBOOKS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "ex.notebook_context(" in code and "figures_dir=figures_dir" in code, name


def test_the_kernel_does_not_warn_about_tcp(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    script = ("from pathlib import Path; from deepnorm.study.reproduce import run_notebook; "
              f"run_notebook('tiny', {{}}, notebooks_dir=Path({str(tmp_path)!r}), out_dir=Path({str(tmp_path / 'out')!r}))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "tiny.ipynb").is_file()
    assert "without encryption" not in result.stderr + result.stdout


def test_executed_notebooks_end_with_the_paper_beside_ours_in_display_names(smoke_reproduction):
    results, figures = smoke_reproduction.results, smoke_reproduction.figures
    assert {"smoke_algorithm1_walkthrough.png", "smoke_table5_modalities.png"} <= {p.name for p in figures.glob("*.png")}
    internal = re.compile(r"\b(dice_csf|dice_mean|mhd_mean|train_site|iseg|mrbrains|adversarial)\b")
    for name in reproduce.NOTEBOOKS:
        nb = nbformat.read(results / "seed-0" / "notebooks" / f"{name}.ipynb", as_version=4)
        shown = [o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs if "text/markdown" in o.get("data", {})]
        for text in shown:
            assert not internal.search(text), (name, internal.search(text))
        if name[:2] != "00":
            assert "paper / ours" in shown[-1] and "| C" in shown[-1], name


def test_reproduce_jobs_runs_seeds_side_by_side_with_the_same_numbers(smoke_reproduction, smoke_root, tmp_path, capfd):
    """--jobs 2: two seeds in two processes, each with its own lines; seed 0's data-only tables equal
    those of the one-process smoke reproduction, and both seeds are aggregated."""
    from deepnorm.cli import main as cli_main

    results = tmp_path / "results"
    code = cli_main(["reproduce", "--profile", "smoke", "--device", "cpu", "--data-root", str(smoke_root),
                     "--only", "00_data_tour", "--seeds", "2", "--jobs", "2", "--no-report",
                     "--results-dir", str(results), "--figures-dir", str(tmp_path / "figures"),
                     "--runs-dir", str(tmp_path / "runs")])
    out = capfd.readouterr().out
    assert code == 0, out
    assert re.search(r"\[jobs\] 2 seeds, 2 at once, \d+ threads? each", out), out
    for seed in (0, 1):
        assert f"00_data_tour (seed {seed}, {seed + 1}/2) done in" in out
    for name in ("data_sites", "data_jsd"):
        ours, theirs = read_table(name, results / "seed-0"), read_table(name, smoke_reproduction.results / "seed-0")
        assert [list(r) for r in ours] == [list(r) for r in theirs]
        for mine, one_process in zip(ours, theirs):
            for key, value in mine.items():  # equal, or NaN in both (a contrast a site does not have)
                assert value == one_process[key] or (math.isnan(value) and math.isnan(one_process[key])), key
        assert read_table(name, results / "seed-1")
    assert read_table("data_sites", results)  # the mean over both seeds


def test_reproduce_refuses_jobs_below_one(tmp_path, capsys):
    from deepnorm.cli import main as cli_main

    code = cli_main(["reproduce", "--profile", "smoke", "--jobs", "0", "--no-report",
                     "--results-dir", str(tmp_path / "results")])
    assert code == 2
    assert "--jobs 0" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


# --------------------------------------------------------------------------- the walkthrough
AGREEMENT = re.compile(r"^(D|G/S) step: by hand and library agree, max abs weight difference (\S+) \(tolerance 1e-06\)$",
                       flags=re.MULTILINE)


def test_the_walkthrough_writes_both_steps_out_and_prints_that_they_match_the_library(smoke_root, tmp_path):
    """00b on the smoke profile: sections 6 and 7 call zero_grad, backward and step themselves, and the
    printed largest weight difference from `discriminator_update` / `segmentation_update` is <= 1e-6."""
    name = "00b_algorithm1_walkthrough"
    source = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    steps = [c.source for c in source.cells if c.cell_type == "code" and "D_hand" in c.source]
    assert len(steps) == 2, "sections 6 and 7 each write one step out"
    for code in steps:
        for call in (".zero_grad(", ".backward()", ".step()", "copy.deepcopy("):
            assert call in code, (call, code[:80])
    assert "requires_grad_(False)" in steps[1], "the G/S step freezes D itself"
    parameters = reproduce.notebook_parameters(profile="smoke", data_root=str(smoke_root), seed=0, device="cpu",
                                               results=tmp_path / "results", figures=tmp_path / "figures",
                                               runs=tmp_path / "runs")
    reproduce.run_notebook(name, {**parameters, "iterations": 2}, notebooks_dir=NOTEBOOKS, out_dir=tmp_path / "out")
    executed = nbformat.read(tmp_path / "out" / f"{name}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
                      if o.get("name") == "stdout")
    found = AGREEMENT.findall(printed)
    assert [step for step, _ in found] == ["D", "G/S"], printed[-800:]
    for step, difference in found:
        assert float(difference) <= 1e-6, (step, difference)
    assert re.search(r"^D changed: False$", printed.split("G/S step")[0].split("{'loss'")[-1], flags=re.MULTILINE)


def test_the_scale_notebook_runs_one_smoke_point_with_and_without_bias_fields(smoke_root, tmp_path):
    from deepnorm.cli import main as cli_main
    from deepnorm.study import scale

    results, figures = tmp_path / "results", tmp_path / "figures"
    for folder in (results, results / "seed-0", results / "seed-1"):  # an earlier two-seed reproduction's tables
        folder.mkdir(parents=True)
        (folder / "table3.csv").write_text("setting,method,dice_mean\ndual,adversarial,0.5\n")
    (results / "seeds.json").write_text('{"seeds": [0, 1]}\n')
    earlier = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    code = cli_main(["reproduce", "--only", "08_scale", "--points", "1x1", "--profile", "smoke", "--device", "cpu",
                     "--data-root", str(smoke_root), "--results-dir", str(results), "--figures-dir", str(figures),
                     "--runs-dir", str(tmp_path / "runs"), "--no-report"])
    assert code == 0
    rows = read_table("scale", results / "seed-0")
    assert len(rows) == 2 * len(scale.ARMS)  # the point, then the same point with the robustness augmentation
    assert sorted({r["bias_augment"] for r in rows}) == [0.0, 0.5]
    for row in rows:
        assert (row["width"], row["budget"]) == (1, 1) and 0.0 <= row["dice_mean"] <= 1.0
        assert row["gflop"] > 0 and 0.0 <= row["i1_accuracy_generated"] <= 1.0
    assert (figures / "smoke_scale.png").is_file()  # the profile prefixes non-cpu figures
    assert {p: p.read_bytes() for p in earlier} == earlier  # the earlier means over seeds are left as they were


def test_scale_points_are_refused_for_other_notebooks(smoke_root, tmp_path):
    from deepnorm.cli import main as cli_main

    code = cli_main(["reproduce", "--only", "01_table2_cross_site", "--points", "1x1", "--profile", "smoke",
                     "--data-root", str(smoke_root), "--results-dir", str(tmp_path), "--no-report"])
    assert code != 0


def test_reproduce_at_a_scale_writes_beside_the_profiles_results_and_trains_wider(smoke_root, tmp_path, monkeypatch):
    """--scale 2x1 without folders: tables in results/scale-2x1/, figures in figures/scale-2x1/, the report
    in results/scale-2x1/REPORT.md; the profile's own results/ and REPORT.md are not touched, and every
    run has twice the profile's U-Net widths."""
    import yaml

    from deepnorm.cli import main as cli_main
    from deepnorm.cli import reproduce as cli_reproduce
    from deepnorm.training.config import profile

    root = tmp_path / "project"
    (root / "results").mkdir(parents=True)
    (root / "results" / "table2.csv").write_text("kept\n")
    (root / "REPORT.md").write_text("kept\n")
    monkeypatch.setattr(cli_reproduce, "project_root", lambda: root)
    monkeypatch.setattr(cli_reproduce, "results_dir", lambda: root / "results")
    monkeypatch.setattr(cli_reproduce, "figures_dir", lambda: root / "figures")
    runs = tmp_path / "runs"
    code = cli_main(["reproduce", "--profile", "smoke", "--scale", "2x1", "--device", "cpu", "--data-root", str(smoke_root),
                     "--only", "01_table2_cross_site", "--runs-dir", str(runs)])
    assert code == 0
    assert read_table("table2", root / "results" / "scale-2x1" / "seed-0")
    assert (root / "results" / "scale-2x1" / "REPORT.md").is_file()
    assert (root / "results" / "table2.csv").read_text() == "kept\n" and (root / "REPORT.md").read_text() == "kept\n"
    widths = [yaml.safe_load((folder / "config.yaml").read_text())["model"]["widths"] for folder in runs.iterdir()
              if (folder / "config.yaml").is_file()]
    assert widths and all(w == [2 * v for v in profile("smoke").model.widths] for w in widths), widths


@pytest.mark.parametrize("args, message", [(["--scale", "3x1"], "width factor"),
                                           (["--scale", "2x1", "--only", "08_scale"], "chooses its own scales")])
def test_reproduce_refuses_a_wrong_scale_before_any_notebook(tmp_path, capsys, args, message):
    from deepnorm.cli import main as cli_main

    code = cli_main(["reproduce", "--profile", "smoke", *args, "--no-report", "--results-dir", str(tmp_path / "results")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
