"""The study's figures show display names, fitted limits and mm axes (figure data, not pixels)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from deepnorm.files import read_table
from deepnorm.paths import project_root
from deepnorm.plots.names import METHOD_NAMES, SETTING_NAMES
from deepnorm.study import experiments as ex
from deepnorm.study import figures as figs
from deepnorm.views import percentile_window

INTERNAL_KEYS = {"dual", "multi", "inputs", "standardization", "preprocessor", "adversarial", "iseg", "mrbrains"}


def _texts(figure) -> list[str]:
    """Tick labels, titles and legend entries of every axes."""
    texts = []
    for ax in figure.axes:
        texts += [t.get_text() for t in ax.get_xticklabels()] + [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    return texts


@pytest.fixture()
def ctx(tmp_path):
    """A context writing into tmp_path (its data root, an empty folder, is never read by these figures)."""
    (tmp_path / "data").mkdir()
    return ex.Context(profile="smoke", data_root=str(tmp_path / "data"), results_dir=str(tmp_path / "results"),
                      figures_dir=str(tmp_path / "figures"), runs_dir=str(tmp_path / "runs"), progress=False)


def _committed(name: str) -> list[dict]:
    rows = read_table(name, project_root() / "results")
    if not rows:
        pytest.skip(f"results/{name}.csv is not committed")
    return rows


def test_table4_bars_fit_the_values_and_use_display_names(ctx):
    rows = _committed("table4")
    figure = figs.table4_bars(ctx, rows)
    ax = figure.axes[0]
    top = max(float(r["jsd"]) for r in rows)
    assert ax.get_ylim()[0] == 0.0 and top < ax.get_ylim()[1] < 1.5 * top
    assert ax.get_ylabel() == "JSD (nats)"
    assert not INTERNAL_KEYS & set(_texts(figure))
    # a long name may be broken into lines (untangle_tick_labels)
    assert {t.get_text().replace("\n", " ") for t in ax.get_xticklabels()} == {SETTING_NAMES[r["setting"]] for r in rows}
    assert (ctx.figure("table4_jsd")).exists()


def test_table3_and_table2_bars_use_display_names(ctx):
    rows = _committed("table3")
    figure = figs.table3_bars(ctx, rows)
    texts = _texts(figure)
    assert not INTERNAL_KEYS & set(texts)
    assert {METHOD_NAMES[r["method"]] for r in rows} <= set(texts)
    assert ctx.figure("table3_normalization").exists()
    figure = figs.table2_bars(ctx, _committed("table2"))
    assert not any(key in text for text in _texts(figure) for key in ("iseg", "mrbrains", "ours"))


class _Subject:
    """A synthetic test subject: a brain ball, 1 x 2 x 1.5 mm voxels."""

    def __init__(self) -> None:
        grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in (10, 12, 8)], indexing="ij"))
        self.mask = (grid**2).sum(axis=0) < 0.8
        self.image = (0.5 * self.mask)[None].astype(np.float32)
        self.spacing = (1.0, 2.0, 1.5)


class _Run:
    """Stands for a trained run: its generator halves the intensities."""

    def normalize_volume(self, image, mask=None):
        return 0.5 * np.asarray(image)


def test_unseen_site_bars_add_a_panel_for_the_held_out_scanner(ctx):
    rows, scanner_rows = _committed("unseen_site"), _committed("unseen_scanner")
    figure = figs.unseen_site_bars(ctx, rows, scanner_rows)
    panels = [ax for ax in figure.axes if ax.patches]
    assert len(panels) == len({r["held_out"] for r in rows}) + 1
    last = panels[-1]
    assert last.get_title().startswith("held-out scanner: ABIDE STANFORD")
    bars = {patch.get_gid(): patch.get_height() for patch in last.patches if patch.get_gid()}
    for row in scanner_rows:
        assert bars[f"{row['method']}:dice_mean"] == pytest.approx(float(row["dice_mean"]))
    assert not INTERNAL_KEYS & set(_texts(figure))
    assert len(figs.unseen_site_bars(ctx, rows).axes) < len(figure.axes)


def test_fig8_draws_alpha_zero_normalized_images_and_mm(ctx, monkeypatch):
    subject = _Subject()
    monkeypatch.setattr(ex, "run_for", lambda *args, **kwargs: _Run())
    monkeypatch.setattr(ex, "split_subjects", lambda *args, **kwargs: [subject])
    figure = figs.fig8_bias(ctx, site="iseg", alphas=(0.5,))
    titles = [ax.get_title() for ax in figure.axes if ax.images]
    assert titles == ["degraded, α = 0", "degraded, α = 0.5", "normalized, α = 0", "normalized, α = 0.5"]
    profiles = [ax for ax in figure.axes if ax.lines]
    assert [ax.get_title() for ax in profiles] == ["iSEG-2017, degraded", "iSEG-2017, normalized (Ours)"]
    assert all(len(ax.lines) == 2 for ax in profiles)
    assert profiles[0].get_ylim() == profiles[1].get_ylim()
    np.testing.assert_allclose(profiles[0].lines[0].get_xdata(), 2.0 * np.arange(12))  # y in mm
    assert all("mm" in ax.get_xlabel() for ax in profiles)
    flat = profiles[0].lines[0].get_ydata()  # α = 0: the undegraded ball, 0.5 wherever the brain is
    np.testing.assert_allclose(flat[np.isfinite(flat)], 0.5, rtol=1e-6)
    assert ctx.figure("fig8_bias_field_iseg").exists()


class _TourSubject:
    def __init__(self, subject_id: str, channels: int, seed: int, spacing=(1.0, 1.0, 1.0)) -> None:
        rng = np.random.default_rng(seed)
        self.subject_id = subject_id
        self.labels = rng.integers(0, 4, size=(8, 9, 7))
        self.image = rng.random((channels, 8, 9, 7)).astype(np.float32) * (self.labels > 0)
        self.spacing = spacing


def test_tour_viewer_browses_every_site(ctx):
    tour = figs.Tour(rows=[], subjects={"iseg": _TourSubject("1", 2, 0), "mrbrains": _TourSubject("7", 2, 1)})
    viewer = figs.tour_viewer(ctx, tour, site="mrbrains")
    assert [value for _, value in viewer.site_dropdown.options] == ["mrbrains", "iseg"]
    assert viewer.names == ["T1", "T2-FLAIR"]
    viewer.site_dropdown.value = "iseg"
    assert viewer.names == ["T1", "T2"]
    np.testing.assert_array_equal(viewer.volumes[1], tour.subjects["iseg"].image[1])
    assert viewer.overlay_toggle.description == "ground truth"


def test_tour_viewer_shows_the_second_contrast_of_the_sites_that_have_it(ctx):
    """ABIDE has T1 alone: iSEG-2017's T2 is still shown, and ABIDE's second panel says it has none."""
    tour = figs.Tour(rows=[], subjects={"iseg": _TourSubject("1", 2, 0), "abide": _TourSubject("3", 1, 2)})
    viewer = figs.tour_viewer(ctx, tour)
    assert viewer.names == ["T1", "T2"] and viewer.present == [True, True]
    np.testing.assert_array_equal(viewer.volumes[1], tour.subjects["iseg"].image[1])
    viewer.site_dropdown.value = "abide"
    assert viewer.names == ["T1", "T2: none at this site"] and viewer.present == [True, False]
    assert not np.any(viewer.gray_images[1].get_array())
    viewer.site_dropdown.value = "iseg"
    np.testing.assert_array_equal(viewer.volumes[1], tour.subjects["iseg"].image[1])
    alone = figs.Tour(rows=[], subjects={"abide": _TourSubject("3", 1, 2)})
    assert figs.tour_viewer(ctx, alone).names == ["T1"]


def test_tour_viewer_reads_out_mm_at_the_subjects_voxel_size(ctx):
    """2 mm voxels: axial slice k lies at 2k mm (it said k mm, taking 1 mm, before)."""
    tour = figs.Tour(rows=[], subjects={"iseg": _TourSubject("1", 2, 0, spacing=(2.0, 2.0, 2.0))})
    viewer = figs.tour_viewer(ctx, tour)
    assert viewer.spacing == (2.0, 2.0, 2.0)
    viewer.slider.value = 3
    assert viewer.figure._suptitle.get_text() == "axial slice 3 (6.0 mm)"
    assert viewer.site_dropdown.layout.display == "none"  # one site, one subject: nothing to choose
    assert viewer.subject_dropdown.layout.display == "none"


def test_normalized_viewer_shows_input_beside_ours(ctx, monkeypatch):
    subject = _Subject()
    subject.subject_id = "5"
    subject.labels = subject.mask.astype(int) * 2

    class _Config:
        class data:
            sites = ("iseg", "mrbrains")

    run = _Run()
    run.config = _Config()
    monkeypatch.setattr(ex, "run_for", lambda *args, **kwargs: run)
    monkeypatch.setattr(ex, "split_subjects", lambda *args, **kwargs: [subject])
    viewer = figs.normalized_viewer(ctx)
    assert viewer.names == ["input", "normalized (Ours)"]
    np.testing.assert_allclose(viewer.volumes[1], 0.5 * subject.image[0] * subject.mask)
    assert [value for _, value in viewer.site_dropdown.options] == ["iseg", "mrbrains"]
    # the subject's 1 x 2 x 1.5 mm voxels, not 1 mm: the readout of axial slice 4 is 6.0 mm
    assert viewer.spacing == (1.0, 2.0, 1.5)
    viewer.slider.value = 4
    assert viewer.figure._suptitle.get_text() == "axial slice 4 (6.0 mm)"
    # one window for both panels: the normalized image (half as bright) looks half as bright
    assert viewer.window_toggle.value == "shared"
    input_window, normalized_window = (image.get_clim() for image in viewer.gray_images)
    assert input_window == normalized_window
    viewer.window_toggle.value = "per panel"
    for image, volume in zip(viewer.gray_images, viewer.volumes):
        assert image.get_clim() == pytest.approx(percentile_window(volume, volume != 0))
    assert viewer.gray_images[0].get_clim() != viewer.gray_images[1].get_clim()


def test_table2_tick_labels_do_not_overlap(ctx):
    """The four (trained on → tested on) pairs of the committed Table 2: no two x tick labels overlap
    once the figure is drawn, and each still names both sites."""
    from deepnorm.plots.figures import tick_labels_overlap

    figure = figs.table2_bars(ctx, _committed("table2"))
    ax = figure.axes[0]
    assert not tick_labels_overlap(ax)
    labels = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert labels[1] == "iSEG-2017 → MRBrainS13", labels


def test_untangle_tick_labels_wraps_then_turns():
    """Short labels stay as they are; long ones are broken into lines where that suffices; on an axes
    too narrow for the lines they end up turned, and in no case do two overlap."""
    from deepnorm.plots import plot_dice_bars
    from deepnorm.plots.figures import tick_labels_overlap

    short = plot_dice_bars({"a": {"x": 0.5}, "b": {"x": 0.6}}).axes[0]
    assert [t.get_text() for t in short.get_xticklabels()] == ["a", "b"] and short.get_xticklabels()[0].get_rotation() == 0
    wrapped = plot_dice_bars({f"group name {i} → elsewhere": {"x": 0.5} for i in range(3)}).axes[0]
    assert not tick_labels_overlap(wrapped)
    assert all("\n" in t.get_text() for t in wrapped.get_xticklabels())
    assert wrapped.get_xticklabels()[0].get_rotation() == 0
    crowded = plot_dice_bars({f"a very long group name number {i} → elsewhere": {"x": 0.5} for i in range(8)}).axes[0]
    assert not tick_labels_overlap(crowded)
    assert crowded.get_xticklabels()[0].get_rotation() > 0
