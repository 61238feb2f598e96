"""SliceViewer: browse a volume (and its normalized version) slice by slice, with a label overlay."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import DataError
from deepnorm.labels import CLASS_NAMES
from deepnorm.views import (
    AXES,
    LABEL_COLORS,
    foreground_centre,
    label_rgba,
    n_slices,
    orientation_letters,
    percentile_window,
    same_spacing,
    slice_aspect,
    take_slice,
    unwrap_volume,
)
from deepnorm.widgets.base import PngFigureViewer, new_canvas_figure


class ViewerCase(NamedTuple):
    """One case of a browsable viewer: a plain ``(image, normalized, labels)`` tuple is one too.

    `image`, `normalized` (the second panel, or None) and `labels` (or None) are arrays or Volumes;
    `spacing` is the case's voxel size in mm (x, y, z), None to take the viewer's or the Volumes';
    `names` the titles of its panels, None for the viewer's.
    """

    image: Any
    normalized: Any = None
    labels: Any = None
    spacing: Sequence[float] | None = None
    names: Sequence[str] | None = None


#: One case: a `ViewerCase` or a tuple of its first three to five fields.
Case = ViewerCase | tuple[Any, ...]
#: A case, or a function of no argument that loads it when it is first shown.
CaseSource = Case | Callable[[], Case]
#: Percentiles (%) of the default intensity window.
DEFAULT_WINDOW: tuple[float, float] = (0.5, 99.5)
#: The options of the window mode toggle: one window over all panels, or one per panel.
WINDOW_MODES: tuple[str, ...] = ("shared", "per panel")
#: The name of the label overlay: the reference segmentation the data set ships.
LABELS_NAME = "ground truth"


def _unpack(source: CaseSource) -> ViewerCase:
    loaded = source() if callable(source) else source
    return loaded if isinstance(loaded, ViewerCase) else ViewerCase(*loaded)
_EDGES = {"left": (0.02, 0.5, "left", "center"), "right": (0.98, 0.5, "right", "center"),
          "top": (0.5, 0.98, "center", "top"), "bottom": (0.5, 0.02, "center", "bottom")}


def _channel(array: np.ndarray, name: str, channel: int) -> np.ndarray:
    if array.ndim == 4:
        if not 0 <= channel < array.shape[0]:
            raise DataError(f"SliceViewer: channel={channel} is outside the {array.shape[0]} channels of {name}.")
        array = array[channel]
    if array.ndim != 3:
        raise DataError(f"SliceViewer: {name} must be (X,Y,Z) or (C,X,Y,Z), got shape {array.shape}.")
    return np.asarray(array, dtype=np.float32)


def _volume_window(volume: np.ndarray, percentiles: tuple[float, float] = DEFAULT_WINDOW) -> tuple[float, float]:
    foreground = volume != 0
    return percentile_window(volume, foreground if foreground.any() else None, *percentiles)


def _load_case(
    image: Any, normalized: Any, labels: Any, spacing: Sequence[float] | None, channel: int
) -> tuple[list[np.ndarray], np.ndarray | None, tuple[float, float, float]]:
    """(volumes, labels, spacing in mm) of one case, checked: equal shapes, one spacing."""
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
    label_array = None
    if labels is not None:
        label_array, label_spacing = unwrap_volume(labels, "SliceViewer labels")
        spacings.append(label_spacing)
        if label_array.shape != shape:
            raise DataError(f"SliceViewer: labels shape {label_array.shape} differs from image shape {shape}.")
    if spacing is None:
        spacing = same_spacing(spacings) or (1.0, 1.0, 1.0)
    return volumes, label_array, tuple(float(s) for s in spacing)  # type: ignore[return-value]  # three sizes, as given


class SliceViewer(PngFigureViewer):
    """Input and normalized volumes side by side, one slice at a time.

    `image` and `normalized` are (X,Y,Z) or (C,X,Y,Z) arrays or `Volume` objects (channel
    `channel` shown), `labels` an (X,Y,Z) label map (0 BG, 1 CSF, 2 GM, 3 WM), array or Volume.
    `spacing` is the voxel size in mm (x,y,z); None takes it from the Volumes, else 1 mm (a case
    of `browse` may carry its own). `panels` is the number of panels (default: the volumes given);
    a case with fewer volumes shows its missing panel blank, titled "<name>: none at this site".
    Controls:

    - ``site_dropdown`` and ``subject_dropdown``: the case shown (see `browse`); each is hidden
      while it offers a single choice;
    - ``axis_toggle`` (axial/coronal/sagittal) and ``slider`` (slice index, max follows the
      axis). The viewer keeps a 3D cursor (``cursor``, voxel x, y, z), starting at the centre of
      the labelled brain: the slider moves it along the shown axis, and switching the axis
      shows the slice through it, so the anatomical position is kept; ``position_label`` beside
      the slider (and the picture's title) gives the slice and its position in mm;
    - ``window_slider``: the intensity window, as percentiles (%) of the non-zero voxels
      (default 0.5 to 99.5); a colour bar under the panels gives each window's values;
    - ``window_toggle``: "shared" (one window from the non-zero voxels of all panels together, so
      a change of brightness between panels shows) or "per panel" (each panel its own window);
      `shared_window` picks the first; hidden with one panel;
    - ``overlay_toggle``: the overlay of the labels, named "ground truth" (`labels_name`; off by
      default, disabled without labels), with a legend of the tissues' colours.

    Each panel carries the orientation letters (R/L, A/P, S/I) at its edges. The picture is
    ``image_widget.value`` (PNG, shown at its native size); ``widget`` is the container to
    display (CSS class ``deepnorm-slice-viewer``).
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
        overlay: bool = False,
        shared_window: bool = False,
        labels_name: str = LABELS_NAME,
        panels: int | None = None,
        cases: Mapping[str, Mapping[str, CaseSource]] | None = None,
        case_names: Sequence[str] | None = None,
    ) -> None:
        import ipywidgets as widgets

        volumes, label_array, self.spacing = _load_case(image, normalized, labels, spacing, channel)
        self._given_spacing = spacing
        self.channel = int(channel)
        self.n_panels = len(volumes) if panels is None else int(panels)
        if not len(volumes) <= self.n_panels <= 2:
            raise DataError(f"SliceViewer: panels={panels} for a case of {len(volumes)} volumes: give 1 or 2, "
                            "at least the volumes of the first case.")
        self._default_names = list(names)[: self.n_panels]
        if len(self._default_names) < self.n_panels:
            raise DataError(f"SliceViewer: {self.n_panels} panels need {self.n_panels} names, got {list(names)}.")
        self.alpha = float(alpha)
        self.labels_name = str(labels_name)
        slice_aspect(self.spacing, axis)  # validates spacing and axis
        self._set_volumes(volumes, label_array, case_names)
        self.cases: dict[str, dict[str, CaseSource]] = {str(s): dict(c) for s, c in (cases or {}).items()}
        self._loaded: dict[tuple[str, str], tuple[list[np.ndarray], np.ndarray | None, tuple[float, float, float],
                                                  Sequence[str] | None]] = {}

        first_site = next(iter(self.cases), "")
        site_options = [(SITE_NAMES.get(s, s), s) for s in self.cases] or [("this volume", "")]
        subject_options = list(self.cases.get(first_site, {})) or [""]
        self.site_dropdown = widgets.Dropdown(options=site_options, value=first_site, description="site",
                                              layout=_shown_if(len(site_options) > 1))
        self.subject_dropdown = widgets.Dropdown(
            options=subject_options, value=subject_options[0], description="subject",
            layout=_shown_if(len(subject_options) > 1),
        )
        self.axis_toggle = widgets.ToggleButtons(options=list(AXES)[::-1], value=axis, description="view")
        n = n_slices(self.volumes[0].shape, axis)
        self.slider = widgets.IntSlider(
            value=self.cursor[AXES[axis]], min=0, max=n - 1, description="slice", continuous_update=True
        )
        self.window_slider = widgets.FloatRangeSlider(
            value=DEFAULT_WINDOW, min=0.0, max=100.0, step=0.5, description="window %", readout_format=".1f",
            continuous_update=False,
        )
        self.window_toggle = widgets.ToggleButtons(
            options=list(WINDOW_MODES), value=WINDOW_MODES[0] if shared_window else WINDOW_MODES[1],
            description="window", layout=_shown_if(self.n_panels > 1), style={"button_width": "88px"},
        )
        self.overlay_toggle = widgets.Checkbox(
            value=bool(overlay) and self.labels is not None, description=self.labels_name,
            disabled=self.labels is None,
        )
        self.position_label = widgets.Label(value="")
        self.position_label.add_class("deepnorm-slice-position")
        self.image_widget = self._make_image_widget()
        self._build_figure(axis)
        self._holding = False
        self._apply()

        self.site_dropdown.observe(self._on_site, names="value")
        self.subject_dropdown.observe(self._on_subject, names="value")
        self.axis_toggle.observe(self._on_axis, names="value")
        self.slider.observe(self._on_slider, names="value")
        self.window_slider.observe(self._on_window, names="value")
        self.window_toggle.observe(self._on_window, names="value")
        self.overlay_toggle.observe(self._on_change, names="value")
        rows = [
            widgets.HBox([self.site_dropdown, self.subject_dropdown]),
            widgets.HBox([self.axis_toggle, self.overlay_toggle]),
            widgets.HBox([self.slider, self.position_label]),
            widgets.HBox([self.window_slider, self.window_toggle]),
            self.image_widget,
        ]
        self.widget = widgets.VBox(rows)
        self.widget.add_class("deepnorm-slice-viewer")

    @classmethod
    def browse(
        cls,
        cases: Mapping[str, Mapping[str, CaseSource]],
        names: Sequence[str] = ("input", "normalized"),
        spacing: Sequence[float] | None = None,
        **options: Any,
    ) -> SliceViewer:
        """A viewer over several cases: ``cases[site][subject]`` is a `ViewerCase` (or the tuple
        ``(image, normalized, labels[, spacing[, names]])``; normalized and labels may be None), or
        a function of no argument returning it, called when the case is first shown. The site and
        subject dropdowns pick the case; `options` are the keyword options of the constructor
        (axis, alpha, channel, overlay, shared_window, labels_name, panels)."""
        if not cases or not all(cases.values()):
            raise DataError("SliceViewer.browse needs at least one subject for every site: cases[site][subject].")
        site = next(iter(cases))
        subject = next(iter(cases[site]))
        case = _unpack(cases[site][subject])
        viewer = cls(case.image, case.normalized, case.labels, case.spacing or spacing, names, cases=cases,
                     case_names=case.names, **options)
        viewer._given_spacing = spacing
        viewer._loaded[(str(site), str(subject))] = (viewer.volumes, viewer.labels, viewer.spacing, case.names)
        return viewer

    # ----------------------------------------------------------------------- state
    @property
    def axis(self) -> str:
        """The current display axis."""
        return str(self.axis_toggle.value)

    @property
    def windows(self) -> list[tuple[float, float]]:
        """The intensity window (vmin, vmax) of each panel now shown: one over the non-zero voxels of
        every shown panel when ``window_toggle`` is "shared", else each panel's own; (0, 1) for a
        blank panel."""
        lo, hi = (float(v) for v in self.window_slider.value)
        if hi <= lo:
            hi = min(lo + 0.5, 100.0)
            lo = hi - 0.5
        shown = [v for v, present in zip(self.volumes, self.present) if present]
        if self.window_toggle.value == WINDOW_MODES[0] and len(shown) > 1:
            values = np.concatenate([v[v != 0] for v in shown])
            window = _volume_window(values if values.size else np.concatenate([v.ravel() for v in shown]), (lo, hi))
            return [window if present else (0.0, 1.0) for present in self.present]
        return [_volume_window(v, (lo, hi)) if present else (0.0, 1.0) for v, present in zip(self.volumes, self.present)]

    def _set_volumes(self, volumes: list[np.ndarray], labels: np.ndarray | None,
                     names: Sequence[str] | None = None) -> None:
        if len(volumes) > self.n_panels:
            raise DataError(f"SliceViewer: a case of {len(volumes)} volumes in a viewer of {self.n_panels} panels; "
                            "give every case a normalized volume, or none (or pass panels=2).")
        self.present = [True] * len(volumes) + [False] * (self.n_panels - len(volumes))
        self.volumes = volumes + [np.zeros_like(volumes[0])] * (self.n_panels - len(volumes))
        self.labels = labels
        given = list(names or self._default_names)[: self.n_panels]
        given += self._default_names[len(given):]
        self.names = [name if present else f"{name}: none at this site" for name, present in zip(given, self.present)]
        self.cursor = list(foreground_centre(labels if labels is not None and np.any(labels) else volumes[0]))

    # ----------------------------------------------------------------------- drawing
    def _build_figure(self, axis: str) -> None:
        from matplotlib.patches import Patch

        n_panels = len(self.volumes)
        self.figure = new_canvas_figure((3.2 * n_panels, 3.9))
        grid = self.figure.add_gridspec(2, n_panels, height_ratios=(1.0, 0.05))
        self.axes = [self.figure.add_subplot(grid[0, i]) for i in range(n_panels)]
        self.colorbar_axes = [self.figure.add_subplot(grid[1, i]) for i in range(n_panels)]
        self.gray_images, self.overlay_images, self.orientation_texts, self.colorbars = [], [], [], []
        index = self.cursor[AXES[axis]]
        for ax, cax, volume, name in zip(self.axes, self.colorbar_axes, self.volumes, self.names):
            gray = take_slice(volume, axis, index)
            gray_image = ax.imshow(gray, cmap="gray", interpolation="nearest")
            self.gray_images.append(gray_image)
            self.overlay_images.append(ax.imshow(self._overlay(axis, index), interpolation="nearest"))
            ax.set_title(name, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            texts = {}
            for edge, (x, y, ha, va) in _EDGES.items():
                texts[edge] = ax.text(x, y, "", transform=ax.transAxes, ha=ha, va=va, color="yellow",
                                      fontsize=9, fontweight="bold")
            self.orientation_texts.append(texts)
            colorbar = self.figure.colorbar(gray_image, cax=cax, orientation="horizontal")
            colorbar.set_label("intensity (a.u.)", fontsize=8)
            colorbar.ax.tick_params(labelsize=7)
            self.colorbars.append(colorbar)
        handles = [Patch(color=color, label=CLASS_NAMES[k]) for k, color in LABEL_COLORS.items()]
        self.legend = self.figure.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                                         fontsize=8, frameon=False, title=self.labels_name, title_fontsize=8)

    def _overlay(self, axis: str, index: int) -> np.ndarray:
        shape2d = take_slice(self.volumes[0], axis, index).shape
        if self.labels is None:
            return np.zeros(shape2d + (4,))
        return label_rgba(take_slice(self.labels, axis, index), self.alpha)

    def _apply(self) -> None:
        self._run_exclusive(self._draw)

    def _draw(self) -> None:
        axis, index = self.axis, int(self.slider.value)
        aspect = slice_aspect(self.spacing, axis)
        overlay = self._overlay(axis, index)
        show_overlay = bool(self.overlay_toggle.value) and self.labels is not None
        letters = orientation_letters(axis)
        for ax, cax, volume, window, gray_image, overlay_image, texts, name, present in zip(
            self.axes, self.colorbar_axes, self.volumes, self.windows, self.gray_images, self.overlay_images,
            self.orientation_texts, self.names, self.present,
        ):
            ax.set_title(name, fontsize=10)
            cax.set_visible(present)  # a blank panel has no intensities to scale
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
            for edge, text in texts.items():
                text.set_text(letters[edge] if present else "")
        self.legend.set_visible(show_overlay)
        position = index * self.spacing[AXES[axis]]
        self.position_label.value = f"{axis} slice {index} ({position:.1f} mm)"
        self.figure.suptitle(self.position_label.value, fontsize=9)
        self.refresh()

    # ----------------------------------------------------------------------- cases
    def _case(self, site: str, subject: str) -> tuple[Any, ...]:
        key = (site, subject)
        if key not in self._loaded:
            case = _unpack(self.cases[site][subject])
            volumes, labels_array, spacing = _load_case(case.image, case.normalized, case.labels,
                                                        case.spacing or self._given_spacing, self.channel)
            if len(volumes) > self.n_panels:
                raise DataError(
                    f"SliceViewer: case {site}/{subject} has {len(volumes)} panels, the viewer shows {self.n_panels}; "
                    "give every case a normalized volume, or none (or pass panels=2)."
                )
            self._loaded[key] = (volumes, labels_array, spacing, case.names)
        return self._loaded[key]

    def _show_case(self, site: str, subject: str) -> None:
        volumes, labels, spacing, names = self._case(site, subject)
        self.spacing = spacing
        self._set_volumes(volumes, labels, names)
        self.overlay_toggle.disabled = labels is None
        self._holding = True
        try:
            if labels is None:
                self.overlay_toggle.value = False
            n = n_slices(volumes[0].shape, self.axis)
            self._move_slider(n, self.cursor[AXES[self.axis]])
        finally:
            self._holding = False
        self._apply()

    # ----------------------------------------------------------------------- observers
    def _on_site(self, change: dict[str, Any]) -> None:
        subjects = list(self.cases.get(str(change["new"]), {}))
        self._holding = True
        try:
            self.subject_dropdown.options = subjects
            self.subject_dropdown.value = subjects[0]
            self.subject_dropdown.layout.display = None if len(subjects) > 1 else "none"
        finally:
            self._holding = False
        self._show_case(str(change["new"]), subjects[0])

    def _on_subject(self, change: dict[str, Any]) -> None:
        if not self._holding and change["new"] is not None:
            self._show_case(str(self.site_dropdown.value), str(change["new"]))

    def _on_axis(self, change: dict[str, Any]) -> None:
        new_n = n_slices(self.volumes[0].shape, change["new"])
        self._holding = True
        try:
            self._move_slider(new_n, self.cursor[AXES[change["new"]]])
        finally:
            self._holding = False
        self._apply()

    def _move_slider(self, n: int, index: int) -> None:
        """Give the slider the range of `n` slices and the value `index`, in one message to the
        front end (so it never holds a value outside the new range)."""
        with self.slider.hold_sync():
            if index > self.slider.max:
                self.slider.max = max(n - 1, 0)
                self.slider.value = min(index, n - 1)
            else:
                self.slider.value = min(index, n - 1)
                self.slider.max = max(n - 1, 0)

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self.cursor[AXES[self.axis]] = int(change["new"])
            self._apply()

    def _on_window(self, change: dict[str, Any]) -> None:  # the window slider or the window mode
        self._apply()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self._apply()



def _shown_if(shown: bool) -> Any:
    """A widget layout, hidden (``display: none``) unless `shown`: a control with one choice is hidden."""
    import ipywidgets as widgets

    return widgets.Layout() if shown else widgets.Layout(display="none")
