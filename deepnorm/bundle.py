"""A finished run shared as a bundle folder (the MONAI bundle layout), and loaded back as a Run.

:func:`export_run` writes ``OUT/``:

- ``models/model.pt``: ``{network name: state dict}`` (tensors only: ``torch.load(weights_only=True)``);
- ``models/fit.json``: what a population method (``needs_fit``: "nyul") learned at fit time, when it has one;
- ``configs/config.yaml``: the run's configuration, copied;
- ``configs/metadata.json``: format and version, the versions that wrote it, method, profile, seed,
  the configuration, the network's data format (inputs and outputs), the data it was trained on
  (manifest digest, sites, phantom or real), the test summary, and the sha256 of the files above;
- ``docs/README.md``: a model card; ``LICENSE``: the project's licence (MIT).

:func:`load_bundle` checks the format, the version and every sha256, then builds the networks as
:func:`~deepnorm.training.runs.load_run` does, so ``deepnorm normalize/segment --run BUNDLE``
give the same outputs as the run folder, bit for bit on the same machine.

>>> # export_run(Path("runs/0123456789ab"), Path("shared/adversarial"))
>>> # run = load_bundle(Path("shared/adversarial"), device="cpu")
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepnorm.errors import ConfigError, DataError, RunError

if TYPE_CHECKING:
    import torch

    from deepnorm.training.config import Config
    from deepnorm.training.methods.base import Method
    from deepnorm.training.runs import Run

#: Value of metadata.json's "format".
FORMAT = "deepnorm-bundle"
#: The bundle layout this deepnorm writes and reads.
VERSION = 1
MODEL = "models/model.pt"
FIT = "models/fit.json"
CONFIG = "configs/config.yaml"
METADATA = "configs/metadata.json"
MODEL_CARD = "docs/README.md"
LICENSE = "LICENSE"
#: The files metadata.json may give a sha256 of; the first two are always there.
HASHED: tuple[str, ...] = (MODEL, CONFIG, FIT)
#: Output channels of the segmenter, by label.
CLASSES: tuple[str, ...] = ("background", "CSF", "GM", "WM")

_REEXPORT = "export the run again with `deepnorm export RUN OUT`, or copy the whole bundle folder again"

_MIT = """MIT License

Copyright (c) 2026 the deepnorm authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


# --------------------------------------------------------------------------- small pure pieces
def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest (64 characters) of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def deepnorm_version() -> str:
    """The installed deepnorm version (the package's own when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("deepnorm")
    except PackageNotFoundError:
        import deepnorm

        return deepnorm.__version__


def license_text() -> str:
    """The project's LICENSE (from the source checkout when there is one, else the MIT text it holds)."""
    from deepnorm.paths import source_checkout

    checkout = source_checkout()
    path = checkout / "LICENSE" if checkout is not None else None
    if path is not None and path.is_file():
        return path.read_text(encoding="utf-8")
    return _MIT


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (strict JSON), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def data_root_kind(data_root: str | Path | None) -> str:
    """"phantom" when `data_root` holds the PHANTOM.json deepnorm's phantom builder wrote, "real" otherwise,
    "unknown" when the run did not record its data root or that folder is gone."""
    from deepnorm.data.phantom.build import GENERATOR, MARKER

    if data_root is None or not Path(data_root).is_dir():
        return "unknown"
    try:
        meta = json.loads((Path(data_root) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "real"
    return "phantom" if isinstance(meta, dict) and meta.get("generator") == GENERATOR else "real"


def network_data_format(config: Config) -> dict[str, Any]:
    """What the networks take and give (MONAI's ``network_data_format``): inputs, scaling, outputs."""
    from deepnorm.data.preprocess import PERCENTILES
    from deepnorm.training.methods import method_for
    from deepnorm.training.methods.base import Method

    method = type(method_for(config))
    transform = config.train.method if method.prepare_volume is not Method.prepare_volume else None
    p = config.data.patch_size
    return {
        "inputs": {"image": {
            "modalities": list(config.data.modalities),
            "num_channels": config.data.n_channels,
            "spacing_mm": float(config.data.spacing),
            "orientation": "RAS",
            "intensity": {
                "scaling": "robust min-max on the brain, clipped to [0, 1]; 0 outside the brain",
                "range": [0.0, 1.0],
                "percentiles": [float(q) for q in PERCENTILES],
                "skull_stripped": True,
                "volume_transform": transform,
            },
            "patch_size": [p, p, p],
        }},
        "outputs": {"pred": {"num_channels": len(CLASSES), "classes": list(CLASSES)}},
    }


def model_card(meta: dict[str, Any]) -> str:
    """The text of ``docs/README.md`` (a model card) for the bundle described by metadata `meta`."""
    from deepnorm.data.sites import SITE_NAMES
    from deepnorm.evaluation.apply import normalizing_methods

    data, config = meta["data"], meta["config"]
    sites = ", ".join(f"{SITE_NAMES.get(s, s)} (`{s}`)" for s in data["sites"])
    source = {
        "phantom": f"The multi-site phantom embedded in deepnorm (profile `{meta['profile']}`, seed {meta['seed']}), "
                   "built offline from real brain anatomy: it has seen no real scan",
        "real": "A real data root (the data sets' own files, laid out as deepnorm's data/README.md says)",
        "unknown": "A data root the run did not record",
    }[data["data_root_kind"]]
    image = meta["network_data_format"]["inputs"]["image"]
    t2 = " --t2 t2.nii.gz" if len(image["modalities"]) == 2 else ""
    if meta["method"] in normalizing_methods():
        normalize = f"deepnorm normalize --run BUNDLE t1.nii.gz t1_normalized.nii.gz{t2} [--mask brain.nii.gz]\n"
    else:
        normalize = ""
    note = "" if normalize else (f"\nMethod `{meta['method']}` gives the segmenter the image unchanged: it has no "
                                 "normalized image, so `deepnorm normalize` refuses it.\n")
    metrics = meta.get("metrics")
    lines = [f"- {r.get('site', '?')}: mean Dice {r['dice_mean']:.3f}" for r in metrics or []
             if isinstance(r.get("dice_mean"), (int, float))]
    scores = ("Test subjects of the run's own sites (`deepnorm evaluate`, `configs/metadata.json` \"metrics\"):\n\n"
              + "\n".join(lines)) if lines else \
        "Not evaluated before export (run `deepnorm evaluate RUN` on the run folder, then export it again)."
    widths = "-".join(str(w) for w in config["model"]["widths"])
    return f"""# deepnorm bundle: method `{meta['method']}`

A trained run of deepnorm {meta['deepnorm_version']}, a reproduction of Delisle et al., "Realistic image
normalization for multi-domain segmentation", Medical Image Analysis 2021.

## Trained on

{source}. Sites: {sites}. Contrasts: {', '.join(image['modalities'])}. Data manifest digest
`{data['manifest_digest']}`.

## Intended use

Research, not clinical: never use it to diagnose or treat anyone.

## How to use it

```bash
{normalize}deepnorm segment   --run BUNDLE t1.nii.gz t1_tissues.nii.gz{t2}       # 0 BG, 1 CSF, 2 GM, 3 WM
```
{note}
Give a skull-stripped scan (zero background) or its brain mask (`--mask`): it is processed in RAS
order at {image['spacing_mm']:g} mm, scaled to [0, 1] on the brain, and the output is written back
on the input's grid. In Python, `deepnorm.bundle.load_bundle(Path("BUNDLE"))` gives the same `Run`
as `deepnorm.training.runs.load_run` gives for the run folder.

## Known limits

Trained at the `{meta['profile']}` profile's scale (seed {meta['seed']}, U-Net widths {widths},
{config['train']['epochs']} epochs), not necessarily the paper's: read REPORT.md of deepnorm
{meta['deepnorm_version']} for what this scale reproduces and what it does not. Scans unlike its
training sites (other ages, contrasts, scanners, pathologies) may be normalized and segmented
badly without any warning.

## Scores

{scores}

## Files

`models/model.pt` (the networks' state dicts), `configs/config.yaml`, `configs/metadata.json`
(with the sha256 of each file, checked on load), this card, `LICENSE` (MIT).
"""


def _summary_rows(run_folder: Path) -> list[dict[str, Any]] | None:
    from deepnorm.files import read_table
    from deepnorm.training.folder import evaluation_folder

    folder = evaluation_folder(run_folder)
    if not (folder / "summary.csv").is_file():
        return None
    return _finite(read_table("summary", folder))


# --------------------------------------------------------------------------- export
def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RunError(f"{out} exists and is not an empty folder: deepnorm never overwrites it; choose another "
                       "output folder for the bundle")
    if out.is_dir() and any(out.iterdir()):
        raise RunError(f"{out} exists and is not empty: deepnorm never overwrites it; choose another output "
                       "folder for the bundle, or remove that one")


def _metadata(run: Run) -> dict[str, Any]:
    import numpy as np
    import torch

    from deepnorm.data.manifest import manifest_digest

    info = run.info
    return {
        "format": FORMAT,
        "version": VERSION,
        "deepnorm_version": deepnorm_version(),
        "torch_version": str(torch.__version__),
        "numpy_version": str(np.__version__),
        "method": run.method,
        "profile": run.profile,
        "seed": run.seed,
        "run": {"key": run.folder.resolve().name, "name": run.name, "created": (info or {}).get("created")},
        "config": run.config.to_dict(),
        "network_data_format": network_data_format(run.config),
        "data": {
            "manifest_digest": manifest_digest(info["manifest"]) if info else None,
            "sites": list(run.config.data.sites),
            "data_root_kind": data_root_kind(info["data_root"] if info else None),
        },
        "metrics": _summary_rows(run.folder),
        "sha256": {},
    }


def _write_bundle(run: Run, tmp: Path) -> None:
    """Write every file of the bundle of `run` into the (new, empty) folder `tmp`."""
    import torch

    from deepnorm.files import atomic_write_bytes, atomic_write_text
    from deepnorm.training.folder import CONFIG as RUN_CONFIG
    from deepnorm.training.folder import FIT as RUN_FIT
    from deepnorm.training.methods import method_for

    for sub in ("models", "configs", "docs"):
        (tmp / sub).mkdir()
    nets = {"generator": run.generator, "segmenter": run.segmenter, "discriminator": run.discriminator}
    states = {name: {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
              for name, net in nets.items() if net is not None}
    buffer = io.BytesIO()
    torch.save(states, buffer)
    atomic_write_bytes(tmp / MODEL, buffer.getbuffer())
    shutil.copyfile(run.folder / RUN_CONFIG, tmp / CONFIG)
    files = [MODEL, CONFIG]
    if method_for(run.config).needs_fit:
        shutil.copyfile(run.folder / RUN_FIT, tmp / FIT)
        files.append(FIT)
    meta = _metadata(run)
    meta["sha256"] = {name: sha256_file(tmp / name) for name in files}
    atomic_write_text(tmp / METADATA, json.dumps(meta, indent=1, allow_nan=False) + "\n")
    atomic_write_text(tmp / MODEL_CARD, model_card(meta))
    atomic_write_text(tmp / LICENSE, license_text())


def export_run(run_folder: Path, out: Path) -> Path:
    """Write the bundle of the finished run in `run_folder` to the new folder `out`; returns `out`.

    Written into a hidden temporary sibling of `out`, renamed into place at the end, so `out` is
    either the whole bundle or absent (an existing empty folder is replaced, anything else refused).

    Raises:
        RunError: the run is unfinished or unreadable, `run_folder` is already a bundle, or `out`
            exists and is not an empty folder (each one line naming the folder and the fix).
    """
    from deepnorm.training.folder import DONE
    from deepnorm.training.runs import load_run

    run_folder, out = Path(run_folder).expanduser(), Path(out).expanduser()
    if is_bundle(run_folder):
        raise RunError(f"{run_folder} is already a deepnorm bundle: share the folder as it is")
    if run_folder.is_dir() and not (run_folder / DONE).is_file():
        raise RunError(f"run folder {run_folder} is unfinished (no {DONE}): finish its training with "
                       "`deepnorm train ... --resume`, then export it")
    _check_out(out)
    if out.resolve() == run_folder.resolve() or run_folder.resolve() in out.resolve().parents:
        raise RunError(f"{out} lies inside the run folder {run_folder}: choose an output folder outside it")
    run = load_run(run_folder, device="cpu")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.export-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _write_bundle(run, tmp)
        _check_out(out)
        try:
            os.rename(tmp, out)
        except OSError as err:
            raise RunError(f"{out} appeared while the bundle was written ({err.strerror}): deepnorm never overwrites "
                           "it; choose another output folder") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- load
def is_bundle(folder: Path) -> bool:
    """Whether `folder` has a bundle's layout (``configs/`` or ``models/model.pt``, no run ``config.yaml``),
    complete or not: :func:`load_bundle` checks the rest."""
    folder = Path(folder).expanduser()
    if not folder.is_dir() or (folder / "config.yaml").is_file():
        return False
    return any((folder / name).exists() for name in (METADATA, MODEL, CONFIG))


def read_metadata(folder: Path) -> dict[str, Any]:
    """The verified ``configs/metadata.json`` of the bundle `folder`: our format, version
    :data:`VERSION`, and every listed file present with its sha256.

    Raises:
        RunError: a missing or corrupt metadata.json, another format or version, a missing file or a
            file whose sha256 differs (one line naming the file and the fix).
    """
    folder = Path(folder).expanduser()
    path = folder / METADATA
    if not path.is_file():
        raise RunError(f"bundle {folder} is missing {METADATA}; {_REEXPORT}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise RunError(f"{path} is corrupt ({err}); {_REEXPORT}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise RunError(f"{path} is not a deepnorm bundle's metadata (format {FORMAT!r} expected); {_REEXPORT}")
    if meta.get("version") != VERSION:
        raise RunError(f"{path}: bundle version {meta.get('version')!r} (written by deepnorm "
                       f"{meta.get('deepnorm_version', '?')}), but this deepnorm {deepnorm_version()} reads version "
                       f"{VERSION}; load it with the deepnorm that wrote it, or export the run again with this one")
    hashes = meta.get("sha256")
    if not isinstance(hashes, dict) or not {MODEL, CONFIG} <= set(hashes) or not set(hashes) <= set(HASHED):
        raise RunError(f"{path}: its sha256 must list {MODEL} and {CONFIG} (and {FIT} only); {_REEXPORT}")
    for name, expected in hashes.items():
        file = folder / name
        if not file.is_file():
            raise RunError(f"bundle {folder} is missing {name}; {_REEXPORT}")
        if sha256_file(file) != expected:
            raise RunError(f"{file} does not match its sha256 in {METADATA}: the file was edited or damaged; "
                           f"{_REEXPORT}")
    return meta


def _read_states(path: Path, device: torch.device) -> dict[str, dict[str, torch.Tensor]]:
    import torch

    try:
        with warnings.catch_warnings():  # torch's advice about weights_only is not for a user
            warnings.simplefilter("ignore")
            states = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for corrupt or unsafe files
        raise RunError(f"{path} cannot be read ({type(err).__name__}: truncated, corrupt, or holding objects other "
                       f"than tensors, which are never loaded); {_REEXPORT}") from None
    if not isinstance(states, dict) or not all(isinstance(s, dict) for s in states.values()):
        raise RunError(f"{path} does not hold {{network name: state dict}}; {_REEXPORT}")
    return states


def load_bundle(folder: Path, *, device: str | torch.device = "auto") -> Run:
    """The run of the bundle `folder` (networks in eval mode on `device`: "auto", "cpu", "cuda").

    The same :class:`~deepnorm.training.runs.Run` as :func:`~deepnorm.training.runs.load_run` gives for
    the run folder, with ``folder`` the bundle, no splits, no history and no run.json (``info`` None).

    Raises:
        RunError: see :func:`read_metadata`; or weights, configuration or fit that do not belong together.
    """
    from deepnorm.devices import resolve_device
    from deepnorm.training.config import Config
    from deepnorm.training.methods import method_for
    from deepnorm.training.runs import Run, load_networks

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RunError(f"bundle {folder} is not a folder; pass the folder `deepnorm export` wrote")
    meta = read_metadata(folder)
    try:
        config = Config.from_yaml(folder / CONFIG)
    except ConfigError as err:
        raise RunError(f"{folder / CONFIG}: {err}; {_REEXPORT}") from None
    if meta.get("config") != config.to_dict():
        raise RunError(f"{folder / METADATA} and {CONFIG} describe different configurations; {_REEXPORT}")
    device = resolve_device(device)
    fix = f"they do not belong to this bundle's configuration; {_REEXPORT}"
    nets = load_networks(config, _read_states(folder / MODEL, device), folder / MODEL, fix, device)
    method = method_for(config)
    if method.needs_fit:
        if FIT not in meta["sha256"]:
            raise RunError(f"bundle {folder} is missing {FIT}: method {method.name!r} needs what it learned at fit "
                           f"time; {_REEXPORT}")
        _load_fit(folder / FIT, method)
    return Run(folder, config, {}, [], nets.generator, nets.segmenter, nets.discriminator, device, None,
               _method=method)


def _load_fit(path: Path, method: Method) -> None:
    """Load the fit.json at `path` into `method` (as :func:`deepnorm.training.folder.read_fit` does)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(saved, dict) or saved.get("method") != method.name or not isinstance(saved.get("state"), dict):
            raise ValueError(f"expected {{'method': {method.name!r}, 'state': {{...}}}}")
        method.load_fit(saved["state"])
    except (ValueError, UnicodeDecodeError, DataError) as err:
        raise RunError(f"{path} is not a usable fit of this bundle ({err}); {_REEXPORT}") from None
