"""JupyterLab in headless Chromium: run notebooks, move the viewers' controls, see the pictures change.

Two tests share one JupyterLab server and one browser page:

- every control of every viewer (SliceViewer, HistogramViewer, ConfusionMatrixViewer) in a small
  synthetic notebook: each move must change the viewer's picture, and each picture is shown at
  its native size;
- the SliceViewer's slider in notebooks/00_data_tour.ipynb (parameters injected with papermill,
  e.g. ``profile="smoke"``) when it exists, else in the synthetic notebook;
- a SliceViewer on 2 mm voxels over a site with T2 and one without: the readout beside the slider
  gives the slice's position in mm, the T2 panel comes back after a site without it, and the
  shared intensity window is one for both panels until "per panel" is pressed (the viewer's
  state is read from a small HTML widget that the notebook updates on every change).

Skipped, with the reason, when Chromium or Playwright is missing (`make browser` installs
Debian's Chromium). Page and viewer screenshots go to artifacts/browser/.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
DATA_TOUR = ROOT / "notebooks" / "00_data_tour.ipynb"
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The notebook to drive: DEEPNORM_BROWSER_NOTEBOOK = a path, or "synthetic"; default: the data
#: tour when it exists, else the synthetic notebook.
NOTEBOOK_CHOICE = os.environ.get("DEEPNORM_BROWSER_NOTEBOOK", "")
#: Parameters injected into the data tour notebook (unknown names only warn in papermill).
TOUR_PARAMETERS = {"profile": "smoke"}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
#: Seconds to wait for all cells to run and the viewer to appear.
RUN_TIMEOUT_S = float(os.environ.get("DEEPNORM_BROWSER_TIMEOUT", "300"))
#: Seconds to wait for a viewer's picture to change after one of its controls moved.
CONTROL_TIMEOUT_S = 45.0

SYNTHETIC_CELLS = [
    "import numpy as np\n"
    "from deepnorm.widgets import ConfusionMatrixViewer, HistogramViewer, SliceViewer\n",
    "def head(shape, shift):\n"
    "    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing='ij'))\n"
    "    radius = np.sqrt((grid ** 2).sum(axis=0))\n"
    "    labels = (radius < 0.95).astype(int) + (radius < 0.75) + (radius < 0.45)\n"
    "    image = ((labels / 3.0) * (1.0 + 0.3 * grid[1]) * (1.0 + 0.5 * grid[2]) + shift).astype('float32')\n"
    "    return image * (labels > 0), labels\n"
    "image, labels = head((40, 48, 32), 0.0)\n"
    "other, other_labels = head((36, 40, 30), 0.2)\n",
    "viewer = SliceViewer.browse(\n"
    "    {'iseg': {'1': (image, 1.0 - image * (labels > 0), labels), '2': (0.5 * image, image, labels)},\n"
    "     'mrbrains': {'7': (other, 0.8 * other, other_labels)}},\n"
    "    spacing=(1.0, 1.0, 1.5))\n"
    "viewer",
    "histograms = HistogramViewer({'iseg': {'before': (image, labels), 'after': (0.7 * image, labels)},\n"
    "                              'mrbrains': {'before': (other, other_labels), 'after': (0.9 * other, other_labels)}},\n"
    "                             bins=32, value_range=(0.0, 1.5))\n"
    "histograms",
    "confusion = ConfusionMatrixViewer({0.1: [[9, 1, 0], [1, 9, 0], [0, 1, 9]], 1.5: [[4, 3, 3], [3, 4, 3], [4, 4, 2]]},\n"
    "                                  ['iSEG-2017', 'MRBrainS13', 'generated'])\n"
    "confusion",
]


SPACING_CELLS = [
    "import numpy as np\n"
    "import ipywidgets as widgets\n"
    "from deepnorm.widgets import SliceViewer, ViewerCase\n",
    "grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in (30, 36, 40)], indexing='ij'))\n"
    "radius = np.sqrt((grid ** 2).sum(axis=0))\n"
    "labels = (radius < 0.95).astype(int) + (radius < 0.75) + (radius < 0.45)\n"
    "t1 = ((labels / 3.0) * (1.0 + 0.3 * grid[1])).astype('float32') * (labels > 0)\n"
    "t2 = (0.5 * (1.0 - labels / 4.0)).astype('float32') * (labels > 0)\n",
    "viewer = SliceViewer.browse(\n"
    "    {'iseg': {'1': ViewerCase(t1, t2, labels, (2.0, 2.0, 2.0), ('T1', 'T2'))},\n"
    "     'abide': {'5': ViewerCase(t1, None, labels, (2.0, 2.0, 2.0), ('T1',))}},\n"
    "    names=('T1', 'T2'), panels=2, shared_window=True)\n"
    "state = widgets.HTML()\n"
    "state.add_class('deepnorm-viewer-state')\n"
    "def show_state(change=None):\n"
    "    windows = ['%.4f-%.4f' % image.get_clim() for image in viewer.gray_images]\n"
    "    state.value = f\"names={'|'.join(viewer.names)};windows={'|'.join(windows)}\"\n"
    "for control in (viewer.site_dropdown, viewer.slider, viewer.window_toggle):\n"
    "    control.observe(show_state, names='value')\n"
    "show_state()\n"
    "widgets.VBox([viewer.widget, state])",
]


def _skip_reason() -> str | None:
    if shutil.which("chromium") is None:
        return "chromium not found on PATH (run `make browser`, i.e. apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None and shutil.which("jupyter-lab") is None:
        return "jupyter-lab is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_notebook(folder: Path, name: str, cells: list[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = KERNELSPEC
    target = folder / f"{name}.ipynb"
    nbformat.write(notebook, str(target))
    return target


def _prepare_notebook(folder: Path, *, synthetic: bool = False) -> Path:
    """The notebook to drive, written into `folder`: the synthetic one when `synthetic`, else a
    given one or the data tour with parameters injected (see NOTEBOOK_CHOICE)."""
    import nbformat

    source = Path(NOTEBOOK_CHOICE) if NOTEBOOK_CHOICE not in ("", "synthetic") else DATA_TOUR
    if not synthetic and NOTEBOOK_CHOICE != "synthetic" and source.exists():
        import papermill

        target = folder / source.name
        outputs = {key: str(folder / key.replace("_dir", "")) for key in ("results_dir", "figures_dir", "runs_dir")}
        papermill.execute_notebook(
            str(source), str(target), parameters={**TOUR_PARAMETERS, **outputs}, prepare_only=True, kernel_name="python3",
            log_output=False, progress_bar=False,
        )
        prepared = nbformat.read(str(target), as_version=4)
        prepared.metadata["kernelspec"] = KERNELSPEC  # no "Select Kernel" dialog in the browser
        nbformat.write(prepared, str(target))
        return target
    if not synthetic and NOTEBOOK_CHOICE not in ("", "synthetic"):
        raise FileNotFoundError(f"DEEPNORM_BROWSER_NOTEBOOK={NOTEBOOK_CHOICE!r} does not exist; give a notebook path or 'synthetic'.")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in SYNTHETIC_CELLS]
    notebook.metadata["kernelspec"] = KERNELSPEC
    target = folder / "synthetic_viewers.ipynb"
    nbformat.write(notebook, str(target))
    return target


def _wait_for_server(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout:.0f} s")


def _start_lab(root_dir: Path, port: int, token: str, log_path: Path) -> subprocess.Popen:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(root_dir.parent / f".{name.lower()}")
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend shows returned figures as PNG
    command = [
        str(bin_dir / "jupyter-lab") if (bin_dir / "jupyter-lab").exists() else "jupyter-lab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",
        "--ServerApp.allow_root=True",
    ]
    log = open(log_path, "wb")  # closed with the process by the caller
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root_dir)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _img_digest(page, image, attempts: int = 5) -> str:
    """SHA-256 of the bytes behind the <img>'s src (a blob: or data: URL).

    The widget revokes a picture's blob: URL when the next one arrives, so a src read just before
    an update can fail to fetch ("Failed to fetch"): the src is read again and fetched anew.
    """
    for attempt in range(attempts):
        src = image.get_attribute("src")
        try:
            encoded = page.evaluate(
                """async (src) => {
                    const buffer = await (await fetch(src)).arrayBuffer();
                    let text = '';
                    const bytes = new Uint8Array(buffer);
                    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
                    return btoa(text);
                }""",
                src,
            )
        except Exception as error:  # playwright's Error: only a revoked blob is retried
            if "Failed to fetch" not in str(error) or attempt == attempts - 1:
                raise
            page.wait_for_timeout(200)
            continue
        return hashlib.sha256(base64.b64decode(encoded)).hexdigest()
    raise AssertionError("unreachable")


def _wait_for_new_picture(page, image, old_digest: str, timeout: float) -> str:
    """Poll the <img> bytes until they differ from `old_digest` (or `timeout` s pass); the last digest."""
    deadline = time.monotonic() + timeout
    digest = _img_digest(page, image)
    while digest == old_digest and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        digest = _img_digest(page, image)
    return digest


def _accept_dialogs(page) -> None:
    """Accept any modal dialog JupyterLab shows (e.g. "Select Kernel") with its default button."""
    dialog_button = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    for _ in range(3):
        if dialog_button.count() == 0:
            return
        dialog_button.first.click()
        page.wait_for_timeout(500)


def _run_all_cells(page) -> None:
    _accept_dialogs(page)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^\s*Run All Cells\s*$")).first.click()


@dataclass
class Lab:
    """A running JupyterLab server and Chromium, shared by the tests of this module; each test
    opens its own page (a notebook per page: no kernel-choice dialog for a second notebook)."""

    browser: Any
    root_dir: Path
    port: int
    token: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    work = tmp_path_factory.mktemp("browser")
    root_dir = work / "lab"
    root_dir.mkdir()
    port, token = _free_port(), hashlib.sha256(str(work).encode()).hexdigest()[:32]
    server = _start_lab(root_dir, port, token, work / "jupyter-lab.log")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            try:
                yield Lab(browser, root_dir, port, token)
            finally:
                browser.close()
    finally:
        _stop(server)


def _open_and_run(lab: Lab, notebook: Path) -> Any:
    """Open `notebook` (inside lab.root_dir) in JupyterLab on a new page, run all its cells; the page."""
    page = lab.browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"http://127.0.0.1:{lab.port}/lab/tree/{notebook.name}?token={lab.token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_timeout(1000)
    _accept_dialogs(page)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()
    _run_all_cells(page)
    return page


def _on_failure(page: Any, name: str) -> None:
    if page is None:
        return
    page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    print("notebook outputs at failure:", *[o[-500:] for o in outputs], sep="\n---\n")


def _press(page, handle, key: str, times: int) -> None:
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


def _slider_handle(box, description: str, which: str = ""):
    """The noUiSlider handle of the slider whose description is `description` inside `box`."""
    slider = box.locator(".widget-slider", has=box.page.locator(".widget-label", has_text=description)).first
    return slider.locator(f".noUi-handle{which}").first


def _controls(kind: str) -> list[tuple[str, Callable[[Any, Any], None]]]:
    """(name, action(page, viewer box)) for every control of a viewer of `kind`."""
    if kind == "slice":
        return [
            ("slice slider", lambda page, box: _press(page, _slider_handle(box, "slice"), "ArrowRight", 4)),
            ("axis: coronal", lambda page, box: box.locator("button", has_text="coronal").click()),
            ("axis: sagittal", lambda page, box: box.locator("button", has_text="sagittal").click()),
            ("window slider", lambda page, box: _press(page, _slider_handle(box, "window", "-upper"), "PageDown", 2)),
            ("window: shared", lambda page, box: box.locator("button", has_text="shared").click()),
            ("labels checkbox", lambda page, box: box.locator(".widget-checkbox input").first.click()),
            ("subject dropdown", lambda page, box: box.locator(".widget-dropdown select").nth(1).select_option(label="2")),
            ("site dropdown", lambda page, box: box.locator(".widget-dropdown select").nth(0).select_option(label="MRBrainS13")),
        ]
    if kind == "histogram":
        return [
            ("tissue: WM", lambda page, box: box.locator("button", has_text="WM").click()),
            ("site checkbox: iSEG-2017", lambda page, box: box.locator(".widget-checkbox", has_text="iSEG-2017").locator("input").click()),
            ("site checkbox: MRBrainS13", lambda page, box: box.locator(".widget-checkbox", has_text="MRBrainS13").locator("input").click()),
        ]
    return [("λ slider", lambda page, box: _press(page, box.locator(".noUi-handle").first, "ArrowRight", 1))]


def test_every_viewer_control_changes_the_picture(lab):
    started = time.monotonic()
    notebook = _prepare_notebook(lab.root_dir, synthetic=True)
    page = None
    unchanged, sizes, timings = [], {}, {}
    try:
        page = _open_and_run(lab, notebook)
        for kind in ("slice", "histogram", "confusion"):
            box = page.locator(f".deepnorm-{kind}-viewer").first
            box.wait_for(state="visible", timeout=RUN_TIMEOUT_S * 1000)
            image = box.locator("img.widget-image").first
            page.wait_for_function("el => el.naturalWidth > 0", arg=image.element_handle(), timeout=60_000)
            box.scroll_into_view_if_needed()
            for step, (name, action) in enumerate(_controls(kind)):
                image.scroll_into_view_if_needed()
                before = _img_digest(page, image)
                tic = time.monotonic()
                action(page, box)
                after = _wait_for_new_picture(page, image, before, timeout=CONTROL_TIMEOUT_S)
                timings[f"{kind}: {name}"] = round(time.monotonic() - tic, 1)
                if after == before:
                    unchanged.append(f"{kind}: {name}")
                    box.screenshot(path=str(ARTIFACTS / f"{kind}_viewer-unchanged-{step}.png"))
            rendered = image.bounding_box()
            natural = page.evaluate("el => [el.naturalWidth, el.naturalHeight]", image.element_handle())
            sizes[kind] = (round(rendered["width"]), round(rendered["height"]), *natural)
            box.screenshot(path=str(ARTIFACTS / f"{kind}_viewer.png"))
    except Exception:
        _on_failure(page, notebook.stem)
        raise
    print(f"browser test: every control of every viewer, {time.monotonic() - started:.1f} s; "
          f"seconds per control {timings}; picture sizes {sizes}")
    assert not unchanged, f"the picture did not change after moving: {unchanged}"
    for kind, (width, height, natural_width, natural_height) in sizes.items():
        assert abs(width - natural_width) <= 1 and abs(height - natural_height) <= 1, (
            f"the {kind} viewer's {natural_width}x{natural_height} px picture is shown at {width}x{height} px"
        )


def test_slice_viewer_slider_changes_picture_in_jupyterlab(lab):
    started = time.monotonic()
    notebook = _prepare_notebook(lab.root_dir)
    page = None
    screenshot = ARTIFACTS / f"{notebook.stem}.png"
    try:
        page = _open_and_run(lab, notebook)
        viewer = page.locator(".deepnorm-slice-viewer").first
        viewer.wait_for(state="visible", timeout=RUN_TIMEOUT_S * 1000)
        image = viewer.locator("img.widget-image").first
        page.wait_for_function("el => el.naturalWidth > 0", arg=image.element_handle(), timeout=60_000)
        viewer.scroll_into_view_if_needed()
        readout = viewer.locator(".widget-readout").first
        before_value = readout.inner_text()
        before_digest = _img_digest(page, image)
        before_shot = image.screenshot()

        _press(page, viewer.locator(".noUi-handle").first, "ArrowRight", 5)
        page.wait_for_function(
            "([el, old]) => el.innerText.trim() !== old.trim()", arg=[readout.element_handle(), before_value],
            timeout=30_000,
        )
        after_digest = _wait_for_new_picture(page, image, before_digest, timeout=30.0)
        after_value = readout.inner_text()
        after_shot = image.screenshot()
        page.screenshot(path=str(screenshot), full_page=True)
    except Exception:
        _on_failure(page, notebook.stem)
        raise
    elapsed = time.monotonic() - started
    print(f"browser test: {notebook.name}, slice {before_value.strip()} -> {after_value.strip()}, {elapsed:.1f} s")
    assert int(after_value.strip()) > int(before_value.strip())
    assert after_digest != before_digest, "the <img> bytes did not change after moving the slider"
    assert after_shot != before_shot, "the rendered image did not change after moving the slider"
    assert screenshot.stat().st_size > 0


def _state(page, box) -> dict[str, list[str]]:
    """The viewer's panel names and windows, as the notebook's state widget shows them."""
    text = box.locator(".deepnorm-viewer-state").first.inner_text().strip()
    if "=" not in text:
        return {}
    return {key: value.split("|") for key, value in (item.split("=", 1) for item in text.split(";"))}


def _wait_for_state(page, box, predicate: Callable[[dict[str, list[str]]], bool], what: str) -> dict[str, list[str]]:
    deadline = time.monotonic() + CONTROL_TIMEOUT_S
    state = _state(page, box)
    while not predicate(state) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        state = _state(page, box)
    assert predicate(state), f"{what}: the viewer's state is {state}"
    return state


def test_mm_readout_second_contrast_and_shared_window_in_jupyterlab(lab):
    started = time.monotonic()
    notebook = _write_notebook(lab.root_dir, "viewer_spacing", SPACING_CELLS)
    page = None
    try:
        page = _open_and_run(lab, notebook)
        viewer = page.locator(".deepnorm-slice-viewer").first
        viewer.wait_for(state="visible", timeout=RUN_TIMEOUT_S * 1000)
        box = page.locator(".jp-OutputArea-output", has=viewer).first
        image = viewer.locator("img.widget-image").first
        page.wait_for_function("el => el.naturalWidth > 0", arg=image.element_handle(), timeout=60_000)
        viewer.scroll_into_view_if_needed()
        position = viewer.locator(".deepnorm-slice-position").first

        # the readout in mm: 2 mm voxels, so slice k is at 2k mm
        before = position.inner_text().strip()
        _press(page, _slider_handle(viewer, "slice"), "ArrowRight", 3)
        page.wait_for_function("([el, old]) => el.innerText.trim() !== old", arg=[position.element_handle(), before],
                               timeout=30_000)
        match = re.fullmatch(r"axial slice (\d+) \((\d+\.\d) mm\)", position.inner_text().strip())
        assert match, position.inner_text()
        assert float(match.group(2)) == 2.0 * int(match.group(1)), match.group(0)

        # one window for both panels, until "per panel"
        state = _wait_for_state(page, box, lambda s: len(s.get("windows", [])) == 2, "two panels")
        assert state["names"] == ["T1", "T2"] and state["windows"][0] == state["windows"][1], state
        picture = _img_digest(page, image)
        viewer.locator("button", has_text="per panel").click()
        state = _wait_for_state(page, box, lambda s: len(set(s.get("windows", []))) == 2, "per-panel windows")
        assert _wait_for_new_picture(page, image, picture, timeout=CONTROL_TIMEOUT_S) != picture

        # the T2 panel: blank at ABIDE (none there), back at iSEG-2017
        sites = viewer.locator(".widget-dropdown select").nth(0)
        sites.select_option(label="ABIDE")
        _wait_for_state(page, box, lambda s: s.get("names") == ["T1", "T2: none at this site"], "ABIDE has no T2")
        sites.select_option(label="iSEG-2017")
        _wait_for_state(page, box, lambda s: s.get("names") == ["T1", "T2"], "iSEG-2017's T2 shown again")
        viewer.screenshot(path=str(ARTIFACTS / "slice_viewer_spacing.png"))
    except Exception:
        _on_failure(page, notebook.stem)
        raise
    print(f"browser test: mm readout, second contrast and shared window, {time.monotonic() - started:.1f} s")
