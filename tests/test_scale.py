"""The scale study: its grid, its summary and the rule that picks a profile from it."""

from __future__ import annotations

import math

import pytest

from deepnorm.errors import ConfigError
from deepnorm.study import scale


def test_points_parse_and_bad_points_name_the_fix():
    assert scale.parse_points("1x1, 2x3,4X9") == ((1, 1), (2, 3), (4, 9))
    for bad in ("1x2", "3x3", "two", ""):
        with pytest.raises(ConfigError, match="scale point|no scale point"):
            scale.parse_points(bad)


def test_scale_config_multiplies_widths_and_epochs_and_keeps_the_schedule(smoke_root, tmp_path):
    from deepnorm.study.experiments import Context
    from deepnorm.training.config import milestone_iterations

    ctx = Context(profile="smoke", data_root=str(smoke_root), results_dir=str(tmp_path),
                  runs_dir=str(tmp_path), figures_dir=str(tmp_path))
    one = scale.scale_config(ctx, "adversarial", 1, 1, lam=0.1)
    big = scale.scale_config(ctx, "adversarial", 4, 9, lam=0.1)
    assert big.model.widths == tuple(4 * w for w in one.model.widths)
    assert big.model.disc_widths == one.model.disc_widths
    assert big.train.epochs == 9 * one.train.epochs and big.train.lam == 0.1
    total = big.train.epochs * big.batches_per_epoch
    assert milestone_iterations(big.train.milestones, total) == [math.floor(f * total + 0.5) for f in (50 / 120, 75 / 120)]


def _row(method, lam, dice, *, width=1, budget=1, gflop=1.0, val_dice=0.8, i1=0.99, generated=0.5):
    return {"width": width, "budget": budget, "bias_augment": 0.0, "method": method,
            "lam": math.nan if lam is None else lam, "dice_mean": dice, "val_dice": val_dice,
            "d_val_accuracy_generated": generated, "d_val_accuracy_real": 0.4, "jsd": 0.01, "gflop": gflop,
            "hours": 0.5, "i1_accuracy_generated": i1}


def _point(width, budget, gflop, pre_val, i1):
    return [_row("adversarial", 1.5, 0.75, width=width, budget=budget, gflop=gflop, i1=i1),
            _row("adversarial", 0.1, 0.78, width=width, budget=budget, gflop=gflop, i1=i1, generated=0.9),
            _row("preprocessor", None, 0.80, width=width, budget=budget, gflop=gflop, val_dice=pre_val, i1=i1),
            _row("standardization", None, 0.79, width=width, budget=budget, gflop=gflop, i1=i1)]


def test_differences_are_ours_minus_the_preprocessor_per_point():
    summary = scale.differences(_point(1, 1, 2.0, 0.80, 0.99))
    assert len(summary) == 1
    row = summary[0]
    assert row["ours_minus_preprocessor"] == pytest.approx(0.75 - 0.80)
    assert row["d_generated_lam_0.1"] == 0.9 and row["d_generated_lam_1.5"] == 0.5
    assert row["gflop"] == pytest.approx(8.0) and row["hours"] == pytest.approx(2.0)


def test_the_rule_picks_the_smallest_point_that_passes_i1_and_keeps_the_dice():
    rows = _point(1, 1, 1.0, 0.70, 0.99) + _point(2, 3, 6.0, 0.795, 0.99) + _point(4, 9, 36.0, 0.80, 0.99)
    summary = scale.differences(rows)
    hours = {(1, 1): 0.5, (2, 3): 1.5, (4, 9): 9.0}
    chosen = scale.choose_scale(summary, hours)
    assert chosen["point"] == (2, 3) and chosen["within_budget"]  # (1, 1) loses 0.10 of validation Dice
    # I1 failing at (2, 3) moves the choice to the largest point, beyond 2 h: a further profile
    rows = _point(1, 1, 1.0, 0.70, 0.99) + _point(2, 3, 6.0, 0.795, 0.50) + _point(4, 9, 36.0, 0.80, 0.99)
    chosen = scale.choose_scale(scale.differences(rows), hours)
    assert chosen["point"] == (4, 9) and not chosen["within_budget"]
    rows = _point(1, 1, 1.0, 0.80, 0.10)
    assert scale.choose_scale(scale.differences(rows), hours)["point"] is None


def test_one_point_trains_its_four_arms_and_writes_the_table(smoke_root, tmp_path):
    from deepnorm.study.experiments import Context

    ctx = Context(profile="smoke", data_root=str(smoke_root), device="cpu", results_dir=str(tmp_path / "r"),
                  runs_dir=str(tmp_path / "runs"), figures_dir=str(tmp_path / "f"), progress=False)
    rows = scale.scale_table(ctx, ((1, 1),), augment_points=())
    assert [(r["method"], r["lam"] if r["method"] == "adversarial" else None) for r in rows] == \
        [(m, lam) for m, lam in scale.ARMS]
    assert all(r["gflop"] > 0 and r["iterations"] == rows[0]["iterations"] for r in rows)
    assert (tmp_path / "r" / "scale.csv").is_file()
    assert 0.0 <= rows[0]["i1_accuracy_generated"] <= 1.0


def test_the_figure_draws_every_series_against_compute_and_refuses_nothing_to_draw():
    from deepnorm.errors import DataError
    from deepnorm.plots.scale import plot_scale

    rows = _point(1, 1, 1.0, 0.70, 0.99) + _point(2, 3, 6.0, 0.795, 0.99)
    figure = plot_scale(scale.differences(rows), i1_criterion=0.95)
    gids = {line.get_gid() for ax in figure.axes for line in ax.get_lines()}
    assert {"ours_minus_preprocessor", "d_generated_lam_0.1", "d_generated_lam_1.5", "i1", "jsd_ours",
            "jsd_preprocessor", "zero"} <= gids
    (diff,) = [line for line in figure.axes[0].get_lines() if line.get_gid() == "ours_minus_preprocessor"]
    assert list(diff.get_xdata()) == [4.0, 24.0]  # GFLOP of the four arms, in order of compute
    assert all(ax.get_xscale() == "log" for ax in figure.axes)
    with pytest.raises(DataError, match="scale study"):
        plot_scale([], i1_criterion=0.95)


def test_training_hours_bill_the_fastest_epoch_not_the_data_preparation_nor_a_shared_machine():
    history = [{"seconds": 900.0}] + [{"seconds": 24.0}] * 5 + [{"seconds": 575.0}] * 6
    assert scale.training_hours(history) == pytest.approx(24.0 * 12 / 3600)
    assert scale.training_hours([{"seconds": 10.0}, {"seconds": 30.0}]) == pytest.approx(20.0 / 3600)
    assert math.isnan(scale.training_hours([]))


# --------------------------------------------------------------------------- a reproduction at one point
def test_a_scale_is_one_point_of_the_grid_and_empty_is_the_profiles_own():
    assert scale.parse_scale("") == (1, 1)
    assert scale.parse_scale("2x1") == (2, 1) and scale.parse_scale("4X9") == (4, 9)
    assert scale.scale_name(2, 1) == "2x1" and scale.scale_name(2.0, 3.0) == "2x3"
    for bad, match in (("1x1,2x1", "one point"), ("3x1", "width factor"), ("2", "WIDTHxBUDGET")):
        with pytest.raises(ConfigError, match=match):
            scale.parse_scale(bad)


def test_a_context_at_a_scale_trains_what_the_study_trains_at_that_point(smoke_root, tmp_path):
    """Every training of a context at scale 2x3 is the study's configuration of point 2x3 (same run key,
    so a reproduction at the chosen scale reuses the study's runs), for any site set."""
    from deepnorm.study import experiments as ex

    folders = dict(data_root=str(smoke_root), results_dir=str(tmp_path), runs_dir=str(tmp_path), figures_dir=str(tmp_path))
    plain = ex.Context(profile="smoke", **folders)
    scaled = ex.Context(profile="smoke", scale="2x3", **folders)
    assert scaled.scale_factors == (2, 3) and plain.scale_factors == (1, 1)
    for method, lam in (("adversarial", 0.1), ("preprocessor", None), ("standardization", None)):
        study = scale.scale_config(plain, method, 2, 3, lam=lam)
        assert ex.config_for(scaled, method, ex.SETTINGS["dual"], lam=lam).stable_hash() == study.stable_hash()
        # the study's point is the point, whatever the context's own scale
        assert scale.scale_config(scaled, method, 2, 3, lam=lam).stable_hash() == study.stable_hash()
    one = ex.config_for(plain, "adversarial", ex.SETTINGS["multi"])
    three = ex.config_for(scaled, "adversarial", ex.SETTINGS["multi"])
    assert three.model.widths == tuple(2 * w for w in one.model.widths)
    assert three.model.disc_widths == one.model.disc_widths
    assert three.train.epochs == 3 * one.train.epochs
    assert three.train.milestones == one.train.milestones  # fractions of the run: the schedule scales with it
    with pytest.raises(ConfigError, match="scale point"):
        ex.Context(profile="smoke", scale="5x5", **folders)
    with pytest.raises(ConfigError, match="factors of the profile's own scale"):
        scale.scale_table(scaled, ((1, 1),), ())


def test_scaled_lets_the_precision_rule_decide_again_for_wider_networks(smoke_config):
    from deepnorm.training.config import profile

    cpu = profile("cpu")
    wide = scale.scaled(cpu, 2, 1)
    assert wide.train.precision in ("float32", "bf16")
    from deepnorm.precision import choose_precision

    assert wide.train.precision == choose_precision(wide.model.widths, wide.train.device)
    assert scale.scaled(cpu, 2, 1, precision="float32").train.precision == cpu.train.precision
    assert scale.scaled(smoke_config, 4, 1).train.precision == "float32"  # smoke's is fixed, never "auto"
    assert scale.scaled(smoke_config, 1, 1) is smoke_config


def test_paper_factors_are_the_papers_widths_and_iterations_against_the_profiles():
    assert scale.paper_factors("cpu") == (64 / 8, 600_000 / 1_920)


def test_the_extrapolation_halves_the_price_per_doubling_when_two_points_say_so():
    """Prices -0.08 at x1 and -0.04 at x2: x0.5 per doubling, so -0.01 at x8 (three doublings); a
    point with epochs x3 or bias fields is not on the width axis; a price >= 0 leaves no model."""
    summary = [{"width": 1, "budget": 1, "bias_augment": 0.0, "ours_minus_preprocessor": -0.08, "d_generated_lam_0.1": 0.8},
               {"width": 2, "budget": 1, "bias_augment": 0.0, "ours_minus_preprocessor": -0.04, "d_generated_lam_0.1": 0.7},
               {"width": 2, "budget": 3, "bias_augment": 0.0, "ours_minus_preprocessor": -0.50, "d_generated_lam_0.1": 0.1},
               {"width": 1, "budget": 1, "bias_augment": 0.5, "ours_minus_preprocessor": -0.90, "d_generated_lam_0.1": 0.1}]
    fit = scale.extrapolate_widths(summary, 8)
    assert fit is not None
    assert fit["widths"] == [1.0, 2.0] and fit["prices"] == [-0.08, -0.04]
    assert fit["ratio_per_doubling"] == pytest.approx(0.5) and fit["predicted_price"] == pytest.approx(-0.01)
    assert fit["d_generated_lam_0.1"] == [0.8, 0.7] and fit["precisions"] == ["float32", "float32"]
    # three points on a line in log space: the least-squares fit goes through them
    third = {"width": 4, "budget": 1, "bias_augment": 0.0, "ours_minus_preprocessor": -0.02, "d_generated_lam_0.1": 0.6}
    assert scale.extrapolate_widths(summary + [third], 8)["predicted_price"] == pytest.approx(-0.01)
    assert scale.extrapolate_widths(summary[:1], 8) is None  # one width: no ratio
    gain = {**summary[1], "ours_minus_preprocessor": 0.01}
    assert scale.extrapolate_widths([summary[0], gain], 8) is None


def test_a_study_in_sittings_keeps_the_points_of_earlier_sittings(tmp_path, monkeypatch):
    """Running point 2x1 alone keeps the table's 1x1 rows (plain and with bias fields) and replaces
    its own earlier 2x1 rows; the rows returned are this run's."""
    from types import SimpleNamespace

    from deepnorm.files import read_table, write_table

    earlier = (_point(1, 1, 2.0, 0.80, 0.99) + _point(2, 1, 4.0, 0.80, 0.99)
               + [{**r, "bias_augment": 0.5} for r in _point(1, 1, 2.0, 0.80, 0.99)])
    write_table("scale", earlier, tmp_path)
    fresh = [{**r, "dice_mean": 0.5} for r in _point(2, 1, 4.0, 0.82, 0.99)]
    monkeypatch.setattr(scale, "scale_point", lambda ctx, w, b, bias_augment=None: [dict(r) for r in fresh])
    ctx = SimpleNamespace(results_dir=str(tmp_path), scale="", scale_factors=(1, 1))
    assert scale.scale_table(ctx, ((2, 1),), ()) == fresh
    table = read_table("scale", tmp_path)
    points = [(int(r["width"]), int(r["budget"]), float(r["bias_augment"])) for r in table]
    assert sorted(set(points)) == [(1, 1, 0.0), (1, 1, 0.5), (2, 1, 0.0)] and len(table) == 3 * len(scale.ARMS)
    assert [r["dice_mean"] for r in table if r["width"] == 2] == [0.5] * len(scale.ARMS)


def test_the_summary_says_which_arithmetic_each_point_trained_in():
    rows = [{**r, "precision": "bf16"} for r in _point(2, 1, 4.0, 0.80, 0.99)] + _point(1, 1, 2.0, 0.80, 0.99)
    assert [(r["width"], r["precision"]) for r in scale.differences(rows)] == [(1, "float32"), (2, "bf16")]
