"""The viewers under Agg: set a control, assert on what its observer changed."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

pytest.importorskip("ipywidgets")

from deepnorm.data.volume import Volume
from deepnorm.errors import DataError
from deepnorm.views import percentile_window, take_slice
from deepnorm.widgets import ConfusionMatrixViewer, HistogramViewer, SliceViewer, ViewerCase

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _phantom(shape=(20, 24, 12), seed=0):
    """A smooth synthetic head: WM core, GM shell, CSF rim; intensity varies with every axis."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(axis=0))
    labels = np.zeros(shape, dtype=np.int64)
    labels[radius < 0.95] = 1
    labels[radius < 0.75] = 2
    labels[radius < 0.45] = 3
    rng = np.random.default_rng(seed)
    image = (labels / 3.0 + 0.1 * grid[0] + 0.05 * grid[1] + 0.02 * rng.random(shape)) * (labels > 0)
    return image.astype(np.float32), labels


@pytest.fixture()
def phantom():
    return _phantom()


# --- SliceViewer -------------------------------------------------------------------------------


def test_slice_slider_updates_image_data_and_png(phantom):
    image, labels = phantom
    viewer = SliceViewer(image, 1.0 - image, labels, spacing=(1.0, 1.0, 2.0))
    assert viewer.slider.max == image.shape[2] - 1
    start = viewer.slider.value
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(image, "axial", start))
    before = viewer.image_widget.value
    assert before[:8] == PNG_MAGIC

    viewer.slider.value = 2
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(image, "axial", 2))
    np.testing.assert_array_equal(viewer.gray_images[1].get_array(), take_slice(1.0 - image, "axial", 2))
    assert viewer.image_widget.value != before
    # the same AxesImage was updated, not replaced
    assert len(viewer.axes[0].images) == 2


def test_axis_toggle_changes_slider_range_and_aspect(phantom):
    image, labels = phantom
    viewer = SliceViewer(image, labels=labels, spacing=(1.0, 1.0, 2.0))
    viewer.axis_toggle.value = "coronal"
    assert viewer.slider.max == image.shape[1] - 1
    shown = viewer.gray_images[0].get_array()
    np.testing.assert_array_equal(shown, take_slice(image, "coronal", viewer.slider.value))
    assert viewer.axes[0].get_aspect() == pytest.approx(2.0)  # z rows are 2 mm, x columns 1 mm
    viewer.axis_toggle.value = "sagittal"
    assert viewer.slider.max == image.shape[0] - 1
    assert viewer.gray_images[0].get_array().shape == (image.shape[2], image.shape[1])


def test_overlay_is_off_by_default_and_toggles_with_its_legend(phantom):
    image, labels = phantom
    viewer = SliceViewer(image, labels=labels)
    assert viewer.overlay_toggle.value is False
    assert not viewer.overlay_images[0].get_visible() and not viewer.legend.get_visible()
    without = viewer.image_widget.value
    viewer.overlay_toggle.value = True
    assert viewer.overlay_images[0].get_visible()
    overlay = viewer.overlay_images[0].get_array()
    expected = take_slice(labels, "axial", viewer.slider.value)
    np.testing.assert_array_equal(overlay[..., 3] > 0, expected > 0)
    assert viewer.legend.get_visible()
    assert [t.get_text() for t in viewer.legend.get_texts()] == ["CSF", "GM", "WM"]
    assert viewer.image_widget.value != without
    assert SliceViewer(image, labels=labels, overlay=True).overlay_toggle.value is True


def test_picture_is_shown_at_its_native_size(phantom):
    image, labels = phantom
    viewer = SliceViewer(image, image, labels)
    width, height = _png_size(viewer.image_widget.value)
    assert (viewer.image_widget.layout.width, viewer.image_widget.layout.height) == (f"{width}px", f"{height}px")
    assert viewer.image_widget.layout.align_self == "flex-start"


@pytest.mark.parametrize(
    "axis, letters",
    [("axial", ("L", "R", "A", "P")), ("coronal", ("L", "R", "S", "I")), ("sagittal", ("P", "A", "S", "I"))],
)
def test_orientation_letters_follow_the_axis(phantom, axis, letters):
    image, _ = phantom
    viewer = SliceViewer(image, image)
    viewer.axis_toggle.value = axis
    for texts in viewer.orientation_texts:
        assert tuple(texts[edge].get_text() for edge in ("left", "right", "top", "bottom")) == letters


def test_window_slider_sets_each_panels_percentile_window(phantom):
    image, _ = phantom
    viewer = SliceViewer(image, 10.0 * image)
    before = viewer.image_widget.value
    viewer.window_slider.value = (0.0, 100.0)
    foreground = image[image != 0]
    assert viewer.gray_images[0].get_clim() == pytest.approx((foreground.min(), foreground.max()))
    assert viewer.gray_images[1].get_clim() == pytest.approx((10 * foreground.min(), 10 * foreground.max()), rel=1e-5)
    assert viewer.image_widget.value != before
    assert viewer.colorbars[1].mappable is viewer.gray_images[1]


def test_axis_switch_keeps_the_anatomical_position():
    image, labels = _phantom(shape=(20, 24, 16))
    labels[:, :, :5] = 0  # the brain sits in the upper slices: the middle slice is not its centre
    image = image * (labels > 0)
    viewer = SliceViewer(image, labels=labels)
    centre = [int((w.min() + w.max()) // 2) for w in np.nonzero(labels)]
    assert viewer.slider.value == centre[2]  # opens on the brain's centre, not the volume's
    viewer.slider.value = centre[2] + 2
    viewer.axis_toggle.value = "coronal"
    assert viewer.slider.value == centre[1]
    assert np.any(viewer.gray_images[0].get_array() != 0)  # not an empty slice
    viewer.slider.value = centre[1] - 3
    viewer.axis_toggle.value = "axial"
    assert viewer.slider.value == centre[2] + 2  # back where it was
    viewer.axis_toggle.value = "coronal"
    assert viewer.slider.value == centre[1] - 3
    assert viewer.cursor == [centre[0], centre[1] - 3, centre[2] + 2]


def test_browse_site_and_subject_dropdowns_switch_the_case():
    a_image, a_labels = _phantom(seed=1)
    b_image, b_labels = _phantom(shape=(16, 20, 10), seed=2)
    loads = []

    def later():
        loads.append("b2")
        return 0.5 * b_image, b_image, b_labels

    cases = {"iseg": {"s1": (a_image, 1.0 - a_image, a_labels)},
             "mrbrains": {"m1": (b_image, b_image, b_labels), "m2": later}}
    viewer = SliceViewer.browse(cases, overlay=True)
    assert viewer.site_dropdown.options == (("iSEG-2017", "iseg"), ("MRBrainS13", "mrbrains"))
    assert viewer.subject_dropdown.options == ("s1",)
    before = viewer.image_widget.value
    viewer.site_dropdown.value = "mrbrains"
    assert viewer.subject_dropdown.value == "m1" and viewer.subject_dropdown.options == ("m1", "m2")
    assert viewer.slider.max == b_image.shape[2] - 1
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(b_image, "axial", viewer.slider.value))
    assert viewer.image_widget.value != before and loads == []
    viewer.subject_dropdown.value = "m2"
    assert loads == ["b2"]
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(0.5 * b_image, "axial", viewer.slider.value))
    viewer.site_dropdown.value = "iseg"
    viewer.subject_dropdown.value = "s1"
    np.testing.assert_array_equal(viewer.gray_images[1].get_array(), take_slice(1.0 - a_image, "axial", viewer.slider.value))
    with pytest.raises(DataError, match="subject"):
        SliceViewer.browse({"iseg": {}})


def test_single_volume_viewer_hides_the_dropdowns(phantom):
    image, _ = phantom
    viewer = SliceViewer(image)
    assert viewer.site_dropdown.layout.display == "none" and viewer.subject_dropdown.layout.display == "none"


def test_percentile_window_is_applied(phantom):
    image, _ = phantom
    viewer = SliceViewer(image)
    assert viewer.gray_images[0].get_clim() == pytest.approx(percentile_window(image, image != 0))
    assert viewer.overlay_toggle.disabled


def test_volume_inputs_give_spacing_and_data(phantom):
    image, labels = phantom
    viewer = SliceViewer(
        Volume.from_array(image, (0.958, 0.958, 3.0)), labels=Volume.from_array(labels, (0.958, 0.958, 3.0)),
        axis="coronal",
    )
    assert viewer.spacing == pytest.approx((0.958, 0.958, 3.0))
    assert viewer.axes[0].get_aspect() == pytest.approx(3.0 / 0.958)
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(image, "coronal", viewer.slider.value))


def test_channel_selection_and_shape_errors(phantom):
    image, labels = phantom
    stacked = np.stack([image, 2.0 * image])
    viewer = SliceViewer(stacked, channel=1)
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(2.0 * image, "axial", viewer.slider.value))
    with pytest.raises(DataError, match="channel"):
        SliceViewer(stacked, channel=2)
    with pytest.raises(DataError, match="labels shape"):
        SliceViewer(image, labels=labels[:-1])
    with pytest.raises(DataError, match="spacings"):
        SliceViewer(Volume.from_array(image, (1, 1, 1)), Volume.from_array(image, (1, 1, 2)))


def test_static_png_representations(phantom, tmp_path):
    image, labels = phantom
    viewer = SliceViewer(image, image, labels)
    png = viewer._repr_png_()
    assert png[:8] == PNG_MAGIC and _png_size(png)[0] > 100
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" in bundle
    path = viewer.to_png(tmp_path / "sub" / "slice.png")
    assert path == png and (tmp_path / "sub" / "slice.png").read_bytes() == png
    assert not list((tmp_path / "sub").glob(".*.tmp"))


def test_slice_viewer_png_shows_the_slice(phantom):
    image, _ = phantom
    from matplotlib.image import imread

    viewer = SliceViewer(image)
    viewer.slider.value = 0  # bottom slice: a few brain voxels at most
    dark = imread(io.BytesIO(viewer.image_widget.value))
    viewer.slider.value = image.shape[2] // 2  # central slice: a bright brain
    bright = imread(io.BytesIO(viewer.image_widget.value))
    assert bright[..., :3].mean() > dark[..., :3].mean()


# --- HistogramViewer ---------------------------------------------------------------------------


def _histogram_data():
    a_img, a_lab = _phantom(seed=1)
    b_img, b_lab = _phantom(seed=2)
    return {
        "iseg": {"before": (a_img, a_lab), "after": (0.5 * a_img + 0.2, a_lab)},
        "mrbrains": {"before": (b_img**2, b_lab), "after": (Volume.from_array(b_img), Volume.from_array(b_lab))},
    }


def test_histogram_lines_hold_tissue_densities():
    data = _histogram_data()
    viewer = HistogramViewer(data, bins=20)
    image, labels = data["iseg"]["before"]
    values = np.clip(image[labels == 2].astype(np.float64), 0, 1)
    counts, edges = np.histogram(values, bins=20, range=(0, 1))
    expected = counts / (counts.sum() * np.diff(edges))
    np.testing.assert_allclose(viewer.lines[("before", "iseg", 2)].get_ydata(), expected)
    np.testing.assert_allclose(viewer.lines[("before", "iseg", 2)].get_xdata(), 0.5 * (edges[1:] + edges[:-1]))
    assert viewer.stages == ["before", "after"]


def test_histogram_selectors_change_visible_lines_title_and_png():
    viewer = HistogramViewer(_histogram_data(), bins=20)
    first = viewer.tissue_selector.value
    assert set(viewer.visible_lines()) == {(st, si, first) for st in ("before", "after") for si in ("iseg", "mrbrains")}
    before_png = viewer.image_widget.value
    viewer.tissue_selector.value = 3
    assert set(viewer.visible_lines()) == {(st, si, 3) for st in ("before", "after") for si in ("iseg", "mrbrains")}
    assert viewer.axes[0].get_title() == "WM, before"
    assert viewer.image_widget.value != before_png
    viewer.site_boxes["iseg"].value = False  # one click, no Ctrl
    assert viewer.selected_sites == ["mrbrains"]
    assert set(viewer.visible_lines()) == {("before", "mrbrains", 3), ("after", "mrbrains", 3)}
    one_site = viewer.image_widget.value
    viewer.site_boxes["iseg"].value = True
    assert set(viewer.visible_lines()) == {(st, si, 3) for st in ("before", "after") for si in ("iseg", "mrbrains")}
    assert viewer.image_widget.value != one_site
    viewer.select_sites(["iseg"])
    assert [box.value for box in viewer.site_boxes.values()] == [True, False]
    with pytest.raises(DataError, match="unknown sites"):
        viewer.select_sites(["abide"])
    assert viewer.axes[0].get_xlabel() == "intensity (a.u.)"


def test_histogram_viewer_rejects_empty_data():
    with pytest.raises(DataError, match="site"):
        HistogramViewer({})


# --- ConfusionMatrixViewer ---------------------------------------------------------------------


def test_confusion_selector_updates_mesh_annotations_title():
    counts_low = np.array([[90, 5, 5], [5, 90, 5], [1, 1, 98]])
    counts_high = np.array([[40, 30, 30], [30, 40, 30], [45, 45, 10]])
    viewer = ConfusionMatrixViewer({1.5: counts_high, 0.1: counts_low}, ["iSEG", "MRBrainS", "generated"])
    assert viewer.lambdas == [0.1, 1.5]
    expected_low = counts_low / counts_low.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(viewer.mesh.get_array()).ravel(), expected_low.ravel())
    first_png = viewer.image_widget.value
    viewer.selector.value = 1.5
    expected_high = counts_high / counts_high.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(viewer.mesh.get_array()).ravel(), expected_high.ravel())
    assert [t.get_text() for t in viewer.ax.texts] == [f"{v:.2f}" for v in expected_high.ravel()]
    assert "λ = 1.5" in viewer.ax.get_title()
    assert "row-normalized" in viewer.ax.get_title()
    assert viewer.colorbar.ax.get_ylabel() == "fraction of the true class's patches"
    assert viewer.image_widget.value != first_png


def test_confusion_viewer_checks_class_names():
    with pytest.raises(DataError, match="class names"):
        ConfusionMatrixViewer({0.1: np.eye(3)}, ["a", "b"])


def test_a_control_moved_during_a_redraw_is_drawn_after_it(phantom):
    """A slider message arriving while the picture is drawn (re-entrantly) ends in its slice, not a stale one."""
    image, _ = phantom
    viewer = SliceViewer(image)
    original = viewer._overlay
    moves = [3]

    def overlay_with_a_message_arriving(axis, index):
        if moves:
            viewer.slider.value = moves.pop()  # the kernel delivers the next message mid-redraw
        return original(axis, index)

    viewer._overlay = overlay_with_a_message_arriving
    viewer.slider.value = 8
    assert viewer.slider.value == 3
    np.testing.assert_array_equal(viewer.gray_images[0].get_array(), take_slice(image, "axial", 3))
    assert "slice 3 " in viewer.figure.get_suptitle()


# --- spacing, second contrast, single-choice controls, shared window, ground truth ----------------


def test_a_case_carries_its_spacing_into_the_mm_readout():
    """Bare arrays with their spacing in the case: on 2 mm voxels, axial slice 36 is at 72.0 mm."""
    image, labels = _phantom(shape=(20, 24, 40))
    viewer = SliceViewer.browse({"iseg": {"1": (image, None, labels, (2.0, 2.0, 2.0))}})
    viewer.slider.value = 36
    assert viewer.figure._suptitle.get_text() == "axial slice 36 (72.0 mm)"
    assert viewer.position_label.value == "axial slice 36 (72.0 mm)"  # beside the slider too
    other = SliceViewer.browse({"iseg": {"1": (image, None, labels, (2.0, 2.0, 2.0))},
                                "mrbrains": {"2": (image, None, labels, (1.0, 1.0, 3.0))}})
    other.site_dropdown.value = "mrbrains"
    other.slider.value = 10
    assert other.figure._suptitle.get_text() == "axial slice 10 (30.0 mm)"
    assert other.axes[0].get_aspect() == pytest.approx(1.0)  # axial: x and y, both 1 mm


def test_a_second_panel_stays_for_the_sites_that_have_one():
    image, labels = _phantom()
    cases = {"abide": {"3": ViewerCase(image, None, labels, names=("T1",))},
             "iseg": {"1": ViewerCase(image, 1.0 - image, labels, names=("T1", "T2"))}}
    viewer = SliceViewer.browse(cases, names=("T1", "T2"), panels=2)
    assert viewer.present == [True, False] and viewer.names == ["T1", "T2: none at this site"]
    assert [ax.get_title() for ax in viewer.axes] == ["T1", "T2: none at this site"]
    viewer.site_dropdown.value = "iseg"
    assert viewer.present == [True, True] and [ax.get_title() for ax in viewer.axes] == ["T1", "T2"]
    np.testing.assert_array_equal(viewer.gray_images[1].get_array(), take_slice(1.0 - image, "axial", viewer.slider.value))
    with pytest.raises(DataError, match="panels"):
        SliceViewer.browse(cases, names=("T1",), panels=1).site_dropdown.value = "iseg"


def test_controls_with_one_choice_are_hidden():
    image, labels = _phantom()
    cases = {"iseg": {"1": (image, image, labels)}, "mrbrains": {"2": (image, image, labels), "3": (image, image, labels)}}
    viewer = SliceViewer.browse(cases)
    assert viewer.site_dropdown.layout.display is None
    assert viewer.subject_dropdown.layout.display == "none"  # iSEG-2017: one subject
    viewer.site_dropdown.value = "mrbrains"
    assert viewer.subject_dropdown.layout.display is None
    viewer.site_dropdown.value = "iseg"
    assert viewer.subject_dropdown.layout.display == "none"
    one_site = SliceViewer.browse({"iseg": cases["mrbrains"]})
    assert one_site.site_dropdown.layout.display == "none" and one_site.subject_dropdown.layout.display is None
    assert viewer.window_toggle.layout.display is None
    assert SliceViewer(image).window_toggle.layout.display == "none"  # one panel: one window


def test_a_shared_window_is_the_percentiles_of_both_panels_together(phantom):
    image, _ = phantom
    viewer = SliceViewer(image, 2.0 * image, shared_window=True)
    both = np.concatenate([image[image != 0], 2.0 * image[image != 0]])
    expected = percentile_window(both)
    assert viewer.gray_images[0].get_clim() == pytest.approx(expected)
    assert viewer.gray_images[1].get_clim() == pytest.approx(expected)
    viewer.window_toggle.value = "per panel"
    assert viewer.gray_images[0].get_clim() == pytest.approx(percentile_window(image, image != 0))
    assert viewer.gray_images[1].get_clim() == pytest.approx(percentile_window(2.0 * image, image != 0), rel=1e-5)
    assert SliceViewer(image, 2.0 * image).window_toggle.value == "per panel"  # the default


def test_the_labels_are_named_ground_truth(phantom):
    image, labels = phantom
    viewer = SliceViewer(image, labels=labels, overlay=True)
    assert viewer.overlay_toggle.description == "ground truth"
    assert viewer.legend.get_title().get_text() == "ground truth"
    named = SliceViewer(image, labels=labels, labels_name="prediction (Ours)")
    assert named.overlay_toggle.description == "prediction (Ours)"


def test_a_blank_panel_has_no_letters_and_no_colour_bar():
    image, labels = _phantom()
    viewer = SliceViewer.browse({"abide": {"3": (image, None, labels)}, "iseg": {"1": (image, image, labels)}},
                                names=("T1", "T2"), panels=2)
    assert not viewer.colorbar_axes[1].get_visible() and viewer.colorbar_axes[0].get_visible()
    assert {t.get_text() for t in viewer.orientation_texts[1].values()} == {""}
    viewer.site_dropdown.value = "iseg"
    assert viewer.colorbar_axes[1].get_visible()
    assert {t.get_text() for t in viewer.orientation_texts[1].values()} == {"A", "P", "L", "R"}
