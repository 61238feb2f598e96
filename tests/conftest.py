"""Shared fixtures: the smoke phantom, its config, and one trained smoke adversarial run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    """Data root of the smoke phantom, built once per test session."""
    from deepnorm.data.phantom import ensure_phantom

    return ensure_phantom(profile="smoke", seed=0, root=tmp_path_factory.mktemp("smoke-data") / "phantom", progress=False)


@pytest.fixture(scope="session")
def smoke_config():
    """The smoke profile (adversarial method, two sites, T1)."""
    from deepnorm.config import profile

    return profile("smoke")


@pytest.fixture(scope="session")
def smoke_runs_dir(tmp_path_factory) -> Path:
    """A runs folder shared by the session's smoke trainings (its .cache is reused)."""
    return tmp_path_factory.mktemp("smoke-runs")


@pytest.fixture(scope="session")
def smoke_run(smoke_root, smoke_config, smoke_runs_dir) -> Path:
    """Folder of one finished smoke adversarial training."""
    from deepnorm.train import train

    return train(smoke_config, data_root=smoke_root, runs_dir=smoke_runs_dir, progress=False)
