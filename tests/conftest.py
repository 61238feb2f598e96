"""Shared fixtures: the smoke phantom, its config, and one trained smoke adversarial run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

#: The background smoke reproduction under an emulated other processor (tests/golden/emulation.py),
#: started once the session knows the portability test is selected.
_EMULATED: list = []


def pytest_collection_finish(session) -> None:
    """Start the emulated-processor reproduction when its test is among the selected ones."""
    from golden.emulation import TEST_NAME, EmulatedReproduction, other_isa

    selected = any(getattr(item, "originalname", item.name) == TEST_NAME for item in session.items)
    if session.config.option.collectonly or not selected:
        return
    import torch

    emulation = other_isa(torch.backends.cpu.get_cpu_capability())
    if emulation is not None:
        _EMULATED.append(EmulatedReproduction(emulation))


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the background reproduction (if it still runs) and delete its folder."""
    while _EMULATED:
        _EMULATED.pop().close()


@pytest.fixture(scope="session")
def emulated_reproduction():
    """The background emulated-processor reproduction, or None when this processor has nothing plainer to emulate."""
    return _EMULATED[0] if _EMULATED else None


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """Data root of the smoke phantom, built once per test session."""
    from deepnorm.data.phantom.build import ensure_phantom

    return ensure_phantom(profile="smoke", seed=0, root=tmp_path_factory.mktemp("smoke-data") / "phantom", progress=False)


@pytest.fixture(scope="session")
def smoke_config():
    """The smoke profile (adversarial method, two sites, T1)."""
    from deepnorm.training.config import profile

    return profile("smoke")


@pytest.fixture(scope="session")
def smoke_runs_dir(tmp_path_factory) -> Path:
    """A runs folder shared by the session's smoke trainings (its .cache is reused)."""
    return tmp_path_factory.mktemp("smoke-runs")


@pytest.fixture(scope="session")
def smoke_run(smoke_root, smoke_config, smoke_runs_dir) -> Path:
    """Folder of one finished smoke adversarial training."""
    from deepnorm.training.loop import train

    return train(smoke_config, data_root=smoke_root, runs_dir=smoke_runs_dir, progress=False)


@dataclass(frozen=True)
class SmokeReproduction:
    """Where one ``deepnorm reproduce --profile smoke`` wrote its outputs, and its exit code."""

    results: Path
    figures: Path
    runs: Path
    report: Path
    exit_code: int


@pytest.fixture(scope="session")
def smoke_reproduction(tmp_path_factory, smoke_root) -> SmokeReproduction:
    """One smoke reproduction (every notebook, then the report), shared by the notebook and golden tests."""
    from deepnorm.cli import main as cli_main

    work = tmp_path_factory.mktemp("smoke-reproduction")
    out = SmokeReproduction(work / "results", work / "figures", work / "runs", work / "REPORT.md", 0)
    code = cli_main(["reproduce", "--profile", "smoke", "--device", "cpu", "--data-root", str(smoke_root),
                     "--results-dir", str(out.results), "--figures-dir", str(out.figures),
                     "--runs-dir", str(out.runs), "--report", str(out.report)])
    return SmokeReproduction(out.results, out.figures, out.runs, out.report, code)
