"""The project folder: DEEPNORM_HOME, else the checkout the current folder is in, else the current folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepnorm import paths


def _checkout(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "deepnorm"\n', encoding="utf-8")
    return folder


@pytest.mark.parametrize("case", ["home", "checkout", "notebooks", "elsewhere"])
def test_project_root_follows_one_documented_rule(case, tmp_path, monkeypatch):
    checkout = _checkout(tmp_path / "checkout")
    (checkout / "notebooks").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.delenv(paths.HOME_VARIABLE, raising=False)
    cwd, expected = {
        "home": (checkout, tmp_path / "home"),
        "checkout": (checkout, checkout),
        "notebooks": (checkout / "notebooks", checkout),
        "elsewhere": (elsewhere, elsewhere),
    }[case]
    if case == "home":
        monkeypatch.setenv(paths.HOME_VARIABLE, str(expected))
    monkeypatch.chdir(cwd)
    assert paths.project_root() == expected.resolve()
    assert paths.runs_dir() == expected.resolve() / "runs"
    assert paths.default_data_root("smoke", 3) == expected.resolve() / "data" / "phantom" / "smoke-seed3"
    assert paths.describe_home().startswith(str(expected.resolve()))


def test_outside_a_checkout_the_installed_source_is_not_used(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.HOME_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    source = Path(paths.__file__).resolve().parent.parent
    assert source not in (paths.project_root(), *paths.project_root().parents)
    assert "current folder" in paths.describe_home()


def test_the_source_checkout_is_found_for_reading_shipped_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = paths.source_checkout()
    assert source is not None and (source / "deepnorm" / "paths.py").samefile(paths.__file__)
