"""The install path: environment.yml and pyproject.toml list the same dependencies; .ci/run is the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    return {_name(r): r.replace(" ", "") for r in reqs}


def _environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = [r for r in pip_section if not r.startswith("-e")]
    return {_name(r): r.replace(" ", "") for r in reqs}


def test_environment_yml_matches_pyproject() -> None:
    assert _environment_requirements() == _pyproject_requirements()


def test_torch_is_pinned_everywhere() -> None:
    assert _pyproject_requirements()["torch"] == "torch==2.13.0"
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert "set -euo pipefail" in commands
    assert commands[-1].strip() == "make test"
    assert "make test" in (ROOT / "README.md").read_text()


def test_name_parser_handles_specifiers() -> None:
    assert _name("torch==2.13.0") == "torch"
    assert _name("pytest-timeout>=2.2") == "pytest-timeout"
    assert _name("foo_bar[extra]>=1") == "foo-bar"


def test_measured_timings_live_in_docs_timings_only() -> None:
    """The README, data/README.md, the command-line help and the notebooks' text cite docs/timings.md
    instead of copying a measured duration (copies drifted apart before): no "<number> ms/s/min/h"
    outside format strings and the notebooks' code."""
    duration = re.compile(r"\d+(\.\d+)?\s?(ms|s|min|minutes|h|hours|seconds)\b")
    files = [ROOT / "README.md", ROOT / "data" / "README.md", *sorted((ROOT / "deepnorm" / "cli").glob("*.py"))]
    notebooks = sorted((ROOT / "notebooks").glob("*.py"))
    copies = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in files + notebooks
              for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if duration.search(line) and "{" not in line and (path not in notebooks or line.startswith("#"))]
    assert not copies, "measured timings belong in docs/timings.md:\n" + "\n".join(copies)
    assert "docs/timings.md" in (ROOT / "README.md").read_text(encoding="utf-8")
