"""What every viewer shares: an off-screen matplotlib figure shown as PNG bytes in an Image widget.

The figure is drawn by the Agg canvas, never by pyplot, so a viewer works under any backend
(Agg in tests, the default inline backend in JupyterLab) and needs no ipympl. Its current
picture is ``image_widget.value`` (PNG bytes); a notebook displays the live widget plus a static
``image/png`` copy, which is what remains visible in a notebook saved without a kernel.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deepnorm.errors import DataError
from deepnorm.files import atomic_write_bytes

DPI = 100


def new_canvas_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib Figure of `figsize` inches attached to an Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Any, dpi: int = DPI) -> bytes:
    """The PNG bytes of `figure` as drawn now (`dpi` dots per inch, white background)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG `data`, read from its IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        raise DataError("png_size: the bytes are not a PNG image.")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


class PngFigureViewer:
    """Base class: subclasses build ``self.figure``, the controls and ``self.widget``, and call
    `refresh` after changing the figure's artists."""

    figure: Any
    image_widget: Any
    widget: Any

    def _make_image_widget(self) -> Any:
        import ipywidgets as widgets

        # flex-start: a flex container (VBox) would otherwise stretch the picture to its width
        return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start", object_fit="contain"))

    def _run_exclusive(self, draw: Callable[[], None]) -> None:
        """Run `draw` (update the artists, then `refresh`), one call at a time.

        The kernel may deliver a control's message while a redraw is under way (from another
        thread, or re-entrantly); such a call only marks the picture stale, and the running
        redraw draws again once done, so two redraws never interleave on one figure.
        """
        import threading

        state = self.__dict__.setdefault("_draw_state", {"lock": threading.Lock(), "busy": False, "stale": False})
        with state["lock"]:
            state["stale"] = True
            if state["busy"]:
                return
            state["busy"] = True
        try:
            while True:
                with state["lock"]:
                    if not state["stale"]:
                        state["busy"] = False
                        return
                    state["stale"] = False
                draw()
        except BaseException:
            with state["lock"]:
                state["busy"] = False
            raise

    def refresh(self) -> None:
        """Redraw the figure, push its PNG into ``image_widget.value`` and pin the widget to the
        PNG's native size in pixels (no stretching, no blur)."""
        data = figure_png(self.figure)
        width, height = png_size(data)
        self.image_widget.value = data
        self.image_widget.layout.width = f"{width}px"
        self.image_widget.layout.height = f"{height}px"

    def to_png(self, path: str | Path | None = None) -> bytes:
        """PNG bytes of the current picture; also written to `path` when given."""
        data = figure_png(self.figure)
        if path is not None:
            atomic_write_bytes(path, data)
        return data

    def _repr_png_(self) -> bytes:
        """Static picture for front ends (and saved notebooks) that cannot show the live widget."""
        return self.to_png()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Live widget view plus a static ``image/png`` fallback for kernel-less notebook views."""
        bundle: dict[str, Any] = {}
        widget_bundle = self.widget._repr_mimebundle_()
        if widget_bundle:
            bundle.update(widget_bundle)
        bundle["image/png"] = base64.b64encode(self.to_png()).decode("ascii")
        bundle["text/plain"] = f"<{type(self).__name__}>"
        return bundle
