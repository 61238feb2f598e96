"""The experiments' plumbing: contexts, runs reused from the session, the run's own splits, cached evaluations."""

from __future__ import annotations

import pytest

from deepnorm.errors import ConfigError
from deepnorm.study import experiments as ex


@pytest.fixture
def ctx(smoke_root, smoke_runs_dir, tmp_path) -> ex.Context:
    return ex.Context(profile="smoke", data_root=str(smoke_root), device="cpu", runs_dir=str(smoke_runs_dir),
                      results_dir=str(tmp_path / "results"), figures_dir=str(tmp_path / "figures"), progress=False)


def test_context_validates_the_profile(tmp_path):
    with pytest.raises(ConfigError, match="profile='tiny'"):
        ex.Context(profile="tiny", data_root=str(tmp_path))


def test_run_for_reuses_the_finished_run(ctx, smoke_run):
    run = ex.run_for(ctx, "adversarial", ex.SETTINGS["dual"])
    assert run.folder == smoke_run and run.seed == ctx.seed
    assert ex.run_for(ctx, "adversarial", ex.SETTINGS["dual"]) is run  # loaded once per context


def test_split_subjects_are_the_runs_own(ctx, smoke_run, smoke_root):
    from deepnorm.data.prepared import site_splits
    from deepnorm.training.runs import load_run

    run = load_run(smoke_run, device="cpu")
    test = ex.split_subjects(ctx, run, "iseg")
    assert [s.subject_id for s in test] == run.splits["iseg"]["test"]
    assert all(s.site == "iseg" and s.image.shape[0] == 1 for s in test)
    assert ex.split_subjects(ctx, run, "iseg") is test  # prepared once per context
    other = ex.split_subjects(ctx, run, "abide")
    assert [s.subject_id for s in other] == site_splits(smoke_root, "abide", run.seed)["test"]


def test_scores_are_cached_in_the_run_folder(ctx, smoke_run, monkeypatch):
    from deepnorm.training.runs import load_run

    run = load_run(smoke_run, device="cpu")
    first = ex.scores(ctx, run, ("mrbrains",))
    assert [r["subject"] for r in first] == run.splits["mrbrains"]["test"]
    assert list((smoke_run / "eval").glob("scores-*.json"))

    def no_compute(*args, **kwargs):
        raise AssertionError("a cached evaluation was computed again")

    monkeypatch.setattr(ex.ev, "segmentation_scores", no_compute)
    assert ex.scores(ctx, run, ("mrbrains",)) == first


def test_context_steps_show_a_bar_only_when_the_context_shows_progress(smoke_root, tmp_path, capsys):
    quiet = ex.Context(profile="smoke", data_root=str(smoke_root), results_dir=str(tmp_path), progress=False)
    items = [3, 1, 2]
    assert quiet.steps(items, "x") is items
    loud = ex.Context(profile="smoke", data_root=str(smoke_root), results_dir=str(tmp_path), progress=True)
    assert list(loud.steps(items, "Fig. 5: segmenting")) == items
    assert "Fig. 5: segmenting" in capsys.readouterr().err
