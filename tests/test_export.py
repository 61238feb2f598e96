"""deepnorm export RUN OUT: a run shared as a bundle folder, and normalize/segment --run BUNDLE.

Laws: the bundle gives the run's outputs bit for bit (same machine); its metadata.json has the
schema below and its sha256s are those of the files; an unfinished run, an existing OUT and a
damaged bundle (missing file, other version, edited weights) are refused on one line naming the
file, never with a traceback, and nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scans import central_eighth

from deepnorm.bundle import CONFIG, FIT, METADATA, MODEL, VERSION, is_bundle, load_bundle
from deepnorm.cli import main
from deepnorm.data.io import load_volume

#: metadata.json: dotted key -> the type(s) its value must have.
SCHEMA: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "version": int,
    "deepnorm_version": str,
    "torch_version": str,
    "numpy_version": str,
    "method": str,
    "profile": str,
    "seed": int,
    "config": dict,
    "config.data": dict,
    "config.model": dict,
    "config.train": dict,
    "network_data_format": dict,
    "network_data_format.inputs.image.modalities": list,
    "network_data_format.inputs.image.num_channels": int,
    "network_data_format.inputs.image.spacing_mm": float,
    "network_data_format.inputs.image.orientation": str,
    "network_data_format.inputs.image.intensity": dict,
    "network_data_format.inputs.image.patch_size": list,
    "network_data_format.outputs.pred.num_channels": int,
    "network_data_format.outputs.pred.classes": list,
    "data.manifest_digest": str,
    "data.sites": list,
    "data.data_root_kind": str,
    "metrics": (list, type(None)),
    "sha256": dict,
}


def _value(meta: dict, dotted: str):
    value = meta
    for key in dotted.split("."):
        assert isinstance(value, dict) and key in value, f"metadata.json lacks {dotted}"
        value = value[key]
    return value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export(run: Path, out: Path, capsys) -> Path:
    capsys.readouterr()
    assert main(["export", str(run), str(out)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    return out


@pytest.fixture(scope="module")
def bundle(smoke_run, tmp_path_factory) -> Path:
    """The smoke adversarial run exported through the command line."""
    out = tmp_path_factory.mktemp("bundles") / "adversarial"
    assert main(["export", str(smoke_run), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def scan(smoke_root, tmp_path_factory) -> Path:
    return central_eighth(smoke_root, tmp_path_factory.mktemp("export-scan") / "T1.nii")


def _apply(command: str, run: Path, scan: Path, out: Path) -> np.ndarray:
    assert main([command, "--device", "cpu", "--run", str(run), str(scan), str(out)]) == 0
    return np.asanyarray(load_volume(out, canonical=False).data)


@pytest.mark.parametrize("command", ["normalize", "segment"])
def test_the_bundle_gives_the_runs_outputs_bit_for_bit(command, smoke_run, bundle, scan, tmp_path):
    from_run = _apply(command, smoke_run, scan, tmp_path / "run.nii.gz")
    from_bundle = _apply(command, bundle, scan, tmp_path / "bundle.nii.gz")
    assert from_run.dtype == from_bundle.dtype
    assert np.array_equal(from_run, from_bundle)
    assert from_run.any()  # not two empty images


def test_the_bundle_gives_the_runs_probabilities_bit_for_bit(smoke_run, bundle, scan):
    """The smoke segmenter labels the whole brain with one class, so the label maps above would
    hide a change of its weights; its probabilities and G's output do not."""
    from deepnorm.evaluation.apply import _inputs, _prepare
    from deepnorm.training.runs import load_run

    run, shared = load_run(smoke_run, device="cpu"), load_bundle(bundle, device="cpu")
    prepared = _prepare(run, *_inputs(run, scan, None, None)[:3])
    for method in ("segment_volume", "normalize_volume"):
        a = getattr(run, method)(prepared.image, prepared.mask)
        b = getattr(shared, method)(prepared.image, prepared.mask)
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b), method


def test_the_bundle_loads_the_runs_networks(smoke_run, bundle):
    from deepnorm.training.runs import load_run

    run, shared = load_run(smoke_run, device="cpu"), load_bundle(bundle, device="cpu")
    assert shared.config == run.config and shared.method == "adversarial"
    for name in ("generator", "segmenter", "discriminator"):
        a, b = getattr(run, name).state_dict(), getattr(shared, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert not getattr(shared, name).training
    states = torch.load(bundle / MODEL, weights_only=True)
    assert set(states) == {"generator", "segmenter", "discriminator"}
    assert all(isinstance(t, torch.Tensor) for s in states.values() for t in s.values())
    assert is_bundle(bundle) and not is_bundle(smoke_run)


def test_a_nyul_bundle_carries_its_fit(smoke_root, smoke_config, smoke_runs_dir, scan, tmp_path, capsys):
    """A population method's fit travels as models/fit.json (hashed) and gives the run's normalized image."""
    from deepnorm.training.loop import train

    run = train(smoke_config.replace(**{"train.method": "nyul"}), data_root=smoke_root, runs_dir=smoke_runs_dir,
                progress=False)
    out = _export(run, tmp_path / "nyul", capsys)
    meta = json.loads((out / METADATA).read_text(encoding="utf-8"))
    assert meta["sha256"][FIT] == _sha256(out / FIT)
    assert (out / FIT).read_bytes() == (run / "fit.json").read_bytes()
    assert meta["network_data_format"]["inputs"]["image"]["intensity"]["volume_transform"] == "nyul"
    assert np.array_equal(_apply("normalize", run, scan, tmp_path / "run.nii.gz"),
                          _apply("normalize", out, scan, tmp_path / "bundle.nii.gz"))
    assert load_bundle(out, device="cpu")._method.fitted is not None


def test_metadata_has_the_schema_and_the_files_sha256(bundle, smoke_run):
    from deepnorm.data.manifest import manifest_digest
    from deepnorm.training.runs import read_config, read_run_info

    meta = json.loads((bundle / METADATA).read_text(encoding="utf-8"))
    for key, kind in SCHEMA.items():
        assert isinstance(_value(meta, key), kind), f"{key}: {type(_value(meta, key)).__name__}, not {kind}"
    assert meta["format"] == "deepnorm-bundle" and meta["version"] == VERSION
    assert meta["torch_version"] == torch.__version__ and meta["numpy_version"] == np.__version__
    config = read_config(smoke_run)
    assert meta["config"] == config.to_dict()
    assert (meta["method"], meta["profile"], meta["seed"]) == ("adversarial", "smoke", 0)
    image = meta["network_data_format"]["inputs"]["image"]
    assert image["modalities"] == ["t1"] and image["num_channels"] == 1 and image["orientation"] == "RAS"
    assert image["spacing_mm"] == config.data.spacing and image["patch_size"] == [config.data.patch_size] * 3
    assert image["intensity"]["range"] == [0.0, 1.0]
    assert meta["network_data_format"]["outputs"]["pred"] == {"num_channels": 4,
                                                              "classes": ["background", "CSF", "GM", "WM"]}
    assert meta["data"] == {"manifest_digest": manifest_digest(read_run_info(smoke_run)["manifest"]),
                            "sites": ["iseg", "mrbrains"], "data_root_kind": "phantom"}
    assert set(meta["sha256"]) == {MODEL, CONFIG}
    for name, digest in meta["sha256"].items():
        assert digest == _sha256(bundle / name), name
    assert (bundle / CONFIG).read_bytes() == (smoke_run / "config.yaml").read_bytes()
    assert (bundle / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    card = (bundle / "docs" / "README.md").read_text(encoding="utf-8")
    for words in ("Research, not clinical", "deepnorm normalize --run BUNDLE", "deepnorm segment   --run BUNDLE",
                  "phantom", "REPORT.md", "iSEG"):
        assert words in card, words


def test_metrics_are_the_test_summary_when_the_run_was_evaluated(smoke_run, smoke_root, tmp_path, capsys):
    from deepnorm.files import read_table

    run = tmp_path / "runs" / smoke_run.name
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("eval", ".cache"))
    assert json.loads((_export(run, tmp_path / "before", capsys) / METADATA).read_text())["metrics"] is None
    assert main(["evaluate", str(run), "--data-root", str(smoke_root), "--no-images", "--device", "cpu"]) == 0
    meta = json.loads((_export(run, tmp_path / "after", capsys) / METADATA).read_text())
    summary = read_table("summary", run / "eval" / "test")
    assert [r["site"] for r in meta["metrics"]] == [r["site"] for r in summary] == ["iseg", "mrbrains", "all"]
    assert [r["dice_mean"] for r in meta["metrics"]] == [r["dice_mean"] for r in summary]


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepnorm: error: "), err
    return lines[0]


def test_an_unfinished_run_is_refused(smoke_run, tmp_path, capsys):
    run = tmp_path / "unfinished"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("eval", ".cache"))
    (run / "DONE").unlink()
    out = tmp_path / "bundle"
    capsys.readouterr()
    assert main(["export", str(run), str(out)]) == 2
    line = _one_error(capsys)
    assert str(run) in line and "DONE" in line and "--resume" in line
    assert not out.exists() and list(tmp_path.iterdir()) == [run]  # no bundle, no temporary folder


@pytest.mark.parametrize("existing", ["a folder with a file", "a file"])
def test_an_existing_out_is_never_overwritten(existing, smoke_run, tmp_path, capsys):
    out = tmp_path / "out"
    if existing == "a file":
        out.write_bytes(b"keep me")
        kept = out
    else:
        out.mkdir()
        kept = out / "notes.txt"
        kept.write_bytes(b"keep me")
    capsys.readouterr()
    assert main(["export", str(smoke_run), str(out)]) == 2
    line = _one_error(capsys)
    assert str(out) in line and "never overwrites" in line
    assert kept.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    if existing != "a file":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_an_empty_out_folder_becomes_the_bundle(smoke_run, tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    _export(smoke_run, out, capsys)
    assert is_bundle(out) and (out / MODEL).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def _edit_weights(folder: Path) -> None:
    states = torch.load(folder / MODEL, weights_only=True)
    key = next(iter(states["segmenter"]))
    states["segmenter"][key] = states["segmenter"][key] + 1.0
    torch.save(states, folder / MODEL)


def _other_version(folder: Path) -> None:
    meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    meta["version"] = VERSION + 1
    (folder / METADATA).write_text(json.dumps(meta), encoding="utf-8")


DAMAGE = {
    "missing weights": (lambda f: (f / MODEL).unlink(), MODEL, "missing"),
    "missing config": (lambda f: (f / CONFIG).unlink(), CONFIG, "missing"),
    "missing metadata": (lambda f: (f / METADATA).unlink(), METADATA, "missing"),
    "another version": (_other_version, METADATA, f"version {VERSION + 1}"),
    "edited weights": (_edit_weights, MODEL, "sha256"),
    "edited config": (lambda f: (f / CONFIG).write_text((f / CONFIG).read_text() + "\n# edited\n"), CONFIG, "sha256"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", ["segment", "normalize"])
def test_a_damaged_bundle_is_refused_on_one_line_naming_the_file(damage, command, bundle, scan, tmp_path, capsys):
    change, name, words = DAMAGE[damage]
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    change(copy)
    out = tmp_path / "out.nii.gz"
    capsys.readouterr()
    assert main([command, "--device", "cpu", "--run", str(copy), str(scan), str(out)]) == 2
    line = _one_error(capsys)
    assert name in line and words in line, line
    assert "export" in line  # the fix
    assert not out.exists()


def test_exporting_a_bundle_again_is_refused(bundle, tmp_path, capsys):
    capsys.readouterr()
    assert main(["export", str(bundle), str(tmp_path / "again")]) == 2
    assert "already a deepnorm bundle" in _one_error(capsys)
    assert not (tmp_path / "again").exists()
