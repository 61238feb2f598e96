"""JupyterLab in headless Chromium: run a notebook, move the SliceViewer's slider, see the picture change.

The notebook is notebooks/00_data_tour.ipynb (parameters injected with papermill, e.g.
``profile="smoke"``) when it exists, else a small synthetic notebook written into tmp_path.
Skipped, with the reason, when Chromium or Playwright is missing (`make browser` installs
Debian's Chromium). The page screenshot goes to artifacts/browser/<notebook name>.png.
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
from pathlib import Path

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

SYNTHETIC_CELLS = [
    "import numpy as np\n"
    "from deepnorm.widgets import SliceViewer\n",
    "shape = (40, 48, 32)\n"
    "grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing='ij'))\n"
    "radius = np.sqrt((grid ** 2).sum(axis=0))\n"
    "labels = (radius < 0.95).astype(int) + (radius < 0.75) + (radius < 0.45)\n"
    "image = ((labels / 3.0) * (1.0 + 0.3 * grid[1]) * (1.0 + 0.5 * grid[2])).astype('float32')\n",
    "viewer = SliceViewer(image, 1.0 - image * (labels > 0), labels, spacing=(1.0, 1.0, 1.5))\n"
    "viewer",
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


def _prepare_notebook(folder: Path) -> Path:
    """The notebook to drive, written into `folder`: a given one or the data tour with parameters
    injected, or a synthetic one (see NOTEBOOK_CHOICE)."""
    import nbformat

    source = Path(NOTEBOOK_CHOICE) if NOTEBOOK_CHOICE not in ("", "synthetic") else DATA_TOUR
    if NOTEBOOK_CHOICE != "synthetic" and source.exists():
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
    if NOTEBOOK_CHOICE not in ("", "synthetic"):
        raise FileNotFoundError(f"DEEPNORM_BROWSER_NOTEBOOK={NOTEBOOK_CHOICE!r} does not exist; give a notebook path or 'synthetic'.")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in SYNTHETIC_CELLS]
    notebook.metadata["kernelspec"] = KERNELSPEC
    target = folder / "synthetic_slice_viewer.ipynb"
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
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process by the caller
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root_dir)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _img_digest(page, image) -> str:
    """SHA-256 of the bytes behind the <img>'s src (a blob: or data: URL)."""
    src = image.get_attribute("src")
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
    return hashlib.sha256(base64.b64decode(encoded)).hexdigest()


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


def test_slice_viewer_slider_changes_picture_in_jupyterlab(tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    root_dir = tmp_path / "lab"
    root_dir.mkdir()
    notebook = _prepare_notebook(root_dir)
    port, token = _free_port(), hashlib.sha256(str(tmp_path).encode()).hexdigest()[:32]
    log_path = tmp_path / "jupyter-lab.log"
    server = _start_lab(root_dir, port, token, log_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{notebook.stem}.png"
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}&reset")
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
                page.wait_for_timeout(1000)
                _accept_dialogs(page)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
                _run_all_cells(page)

                viewer = page.locator(".deepnorm-slice-viewer").first
                viewer.wait_for(state="visible", timeout=RUN_TIMEOUT_S * 1000)
                image = viewer.locator("img.widget-image").first
                page.wait_for_function(
                    "el => el.naturalWidth > 0", arg=image.element_handle(), timeout=60_000
                )
                viewer.scroll_into_view_if_needed()
                readout = viewer.locator(".widget-readout").first
                before_value = readout.inner_text()
                before_digest = _img_digest(page, image)
                before_shot = image.screenshot()

                handle = viewer.locator(".noUi-handle").first
                handle.focus()
                for _ in range(5):
                    page.keyboard.press("ArrowRight")
                page.wait_for_function(
                    "([el, old]) => el.innerText.trim() !== old.trim()", arg=[readout.element_handle(), before_value],
                    timeout=30_000,
                )
                after_digest = _wait_for_new_picture(page, image, before_digest, timeout=30.0)
                after_value = readout.inner_text()
                after_shot = image.screenshot()
                page.screenshot(path=str(screenshot), full_page=True)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / f"{notebook.stem}-failure.png"), full_page=True)
                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                print("notebook outputs at failure:", *[o[-500:] for o in outputs], sep="\n---\n")
                raise
            finally:
                browser.close()
    finally:
        _stop(server)
    elapsed = time.monotonic() - started
    print(f"browser test: {notebook.name}, slice {before_value.strip()} -> {after_value.strip()}, {elapsed:.1f} s")
    assert int(after_value.strip()) > int(before_value.strip())
    assert after_digest != before_digest, "the <img> bytes did not change after moving the slider"
    assert after_shot != before_shot, "the rendered image did not change after moving the slider"
    assert screenshot.stat().st_size > 0
