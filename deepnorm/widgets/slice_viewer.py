"""SliceViewer: browse a volume (and its normalized version) slice by slice, with a label overlay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deepnorm.errors import DataError
from deepnorm.widgets.base import PngFigureViewer, new_canvas_figure, same_spacing, unwrap_volume
from deepnorm.widgets.core import (
    AXES,
    label_rgba,
    n_slices,
    percentile_window,
    slice_aspect,
    take_slice,
)


def _channel(array: np.ndarray, name: str, channel: int) -> np.ndarray:
    if array.ndim == 4:
        if not 0 <= channel < array.shape[0]:
            raise DataError(f"SliceViewer: channel={channel} is outside the {array.shape[0]} channels of {name}.")
        array = array[channel]
    if array.ndim != 3:
        raise DataError(f"SliceViewer: {name} must be (X,Y,Z) or (C,X,Y,Z), got shape {array.shape}.")
    return np.asarray(array, dtype=np.float32)


def _volume_window(volume: np.ndarray) -> tuple[float, float]:
    foreground = volume != 0
    return percentile_window(volume, foreground if foreground.any() else None)


class SliceViewer(PngFigureViewer):
    """Input and normalized volumes side by side, one slice at a time.

    `image` and `normalized` are (X,Y,Z) or (C,X,Y,Z) arrays or `Volume` objects (channel
    `channel` shown), `labels` an (X,Y,Z) label map (0 BG, 1 CSF, 2 GM, 3 WM), array or Volume.
    `spacing` is the voxel size in mm (x,y,z); None takes it from the Volumes, else 1 mm. Each
    panel uses a (0.5, 99.5) percentile window of its volume's non-zero voxels. Controls:
    ``axis_toggle`` (axial/coronal/sagittal), ``slider`` (slice index, max follows the axis),
    ``overlay_toggle`` (label overlay, off without labels). The picture is
    ``image_widget.value`` (PNG); ``widget`` is the container to display (CSS class
    ``deepnorm-slice-viewer``).
    """

    def __init__(
        self,
        image: Any,
        normalized: Any | None = None,
        labels: Any | None = None,
        spacing: Sequence[float] | None = None,
        names: Sequence[str] = ("input", "normalized"),
        *,
        axis: str = "axial",
        alpha: float = 0.4,
        channel: int = 0,
    ) -> None:
        import ipywidgets as widgets

        array, image_spacing = unwrap_volume(image, "SliceViewer image")
        volumes = [_channel(array, "image", channel)]
        spacings = [image_spacing]
        if normalized is not None:
            array, normalized_spacing = unwrap_volume(normalized, "SliceViewer normalized")
            volumes.append(_channel(array, "normalized", channel))
            spacings.append(normalized_spacing)
        shape = volumes[0].shape
        for volume in volumes[1:]:
            if volume.shape != shape:
                raise DataError(f"SliceViewer: normalized shape {volume.shape} differs from image shape {shape}.")
        self.labels = None
        if labels is not None:
            self.labels, label_spacing = unwrap_volume(labels, "SliceViewer labels")
            spacings.append(label_spacing)
            if self.labels.shape != shape:
                raise DataError(f"SliceViewer: labels shape {self.labels.shape} differs from image shape {shape}.")
        if spacing is None:
            spacing = same_spacing(spacings) or (1.0, 1.0, 1.0)
        self.volumes = volumes
        self.names = list(names)[: len(volumes)]
        if len(self.names) < len(volumes):
            raise DataError(f"SliceViewer: {len(volumes)} panels need {len(volumes)} names, got {list(names)}.")
        self.spacing = tuple(float(s) for s in spacing)
        self.alpha = float(alpha)
        self.windows = [_volume_window(v) for v in volumes]
        slice_aspect(self.spacing, axis)  # validates spacing and axis

        self.axis_toggle = widgets.ToggleButtons(options=list(AXES)[::-1], value=axis, description="view")
        n = n_slices(shape, axis)
        self.slider = widgets.IntSlider(value=n // 2, min=0, max=n - 1, description="slice", continuous_update=True)
        self.overlay_toggle = widgets.Checkbox(
            value=self.labels is not None, description="labels", disabled=self.labels is None
        )
        self.image_widget = self._make_image_widget()

        self.figure = new_canvas_figure((3.2 * len(volumes), 3.4))
        axes = self.figure.subplots(1, len(volumes), squeeze=False)[0]
        self.axes = list(axes)
        self.gray_images = []
        self.overlay_images = []
        for ax, volume, window, name in zip(self.axes, volumes, self.windows, self.names):
            gray = take_slice(volume, axis, self.slider.value)
            self.gray_images.append(
                ax.imshow(gray, cmap="gray", vmin=window[0], vmax=window[1], interpolation="nearest")
            )
            self.overlay_images.append(ax.imshow(self._overlay(axis, self.slider.value), interpolation="nearest"))
            ax.set_title(name, fontsize=10)
            ax.axis("off")
        self._holding = False
        self._apply()

        self.axis_toggle.observe(self._on_axis, names="value")
        self.slider.observe(self._on_change, names="value")
        self.overlay_toggle.observe(self._on_change, names="value")
        controls = widgets.HBox([self.axis_toggle, self.overlay_toggle])
        self.widget = widgets.VBox([controls, self.slider, self.image_widget])
        self.widget.add_class("deepnorm-slice-viewer")

    @property
    def axis(self) -> str:
        """The current display axis."""
        return str(self.axis_toggle.value)

    def _overlay(self, axis: str, index: int) -> np.ndarray:
        shape2d = take_slice(self.volumes[0], axis, index).shape
        if self.labels is None:
            return np.zeros(shape2d + (4,))
        return label_rgba(take_slice(self.labels, axis, index), self.alpha)

    def _apply(self) -> None:
        axis, index = self.axis, int(self.slider.value)
        aspect = slice_aspect(self.spacing, axis)
        overlay = self._overlay(axis, index)
        show_overlay = bool(self.overlay_toggle.value) and self.labels is not None
        for ax, volume, window, gray_image, overlay_image in zip(
            self.axes, self.volumes, self.windows, self.gray_images, self.overlay_images
        ):
            gray = take_slice(volume, axis, index)
            extent = (-0.5, gray.shape[1] - 0.5, gray.shape[0] - 0.5, -0.5)
            gray_image.set_data(gray)
            gray_image.set_clim(*window)
            gray_image.set_extent(extent)
            overlay_image.set_data(overlay)
            overlay_image.set_extent(extent)
            overlay_image.set_visible(show_overlay)
            ax.set_xlim(extent[0], extent[1])
            ax.set_ylim(extent[2], extent[3])
            ax.set_aspect(aspect)
        self.refresh()

    def _on_axis(self, change: dict[str, Any]) -> None:
        old_n = n_slices(self.volumes[0].shape, change["old"])
        new_n = n_slices(self.volumes[0].shape, change["new"])
        fraction = self.slider.value / max(old_n - 1, 1)
        self._holding = True
        try:
            self.slider.max = max(new_n - 1, 0)
            self.slider.value = int(round(fraction * (new_n - 1)))
        finally:
            self._holding = False
        self._apply()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self._apply()
