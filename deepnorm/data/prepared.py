"""From a data root and a DataConfig to prepared, cached, split volumes and training patches.

Steps: open each site (:mod:`deepnorm.data.sites`), split its subjects
(:mod:`deepnorm.data.splits`, fixed by the seed), pre-process every subject
(:mod:`deepnorm.data.preprocess`: skull strip, crop, resample to ``data.spacing`` mm, min-max
to [0, 1] on the brain), and zero-pad all volumes of the configured sites to one common shape
(a multiple of :func:`pad_multiple` voxels, so any U-Net whose depth divides the patch size
accepts whole volumes).

Cache: the unpadded prepared arrays of each subject are written atomically as ``.npz`` under
``<runs_dir>/.cache/<key>/<site>/<subject>.npz``, where ``key`` hashes the content of the data
(its manifest digest) and the fields of the DataConfig that change pre-processing (modalities,
spacing): a second training, or a training that differs only in sampling or network settings,
reuses them; edited data gets a new key. Each site folder also holds ``shapes.json``, the
unpadded spatial shape of each cached subject, so that the common padded shape costs no reading
of volumes.

The functions that read or write the cache take ``runs_dir``: the runs folder (default
``deepnorm.paths.runs_dir()``, a training passes the parent of its run folder), not the cache
itself, which lies below it (:func:`cache_dir`), so that every run of that folder shares it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deepnorm.data.config import DataConfig
from deepnorm.data.splits import SPLIT_NAMES
from deepnorm.data.volume import int_triple
from deepnorm.errors import DataError

if TYPE_CHECKING:
    from deepnorm.data.preprocess import Prepared
    from deepnorm.sampling import PatchSampler

#: bump when the cached arrays would change for the same inputs
#: (2: volumes are loaded in RAS order, so a data root stored in LIA or LAS gives other arrays)
CACHE_VERSION = 2
#: file of a site's cache folder: {subject id: unpadded spatial shape (voxels)}
SHAPES_INDEX = "shapes.json"


def pad_multiple(data: DataConfig) -> int:
    """Common-shape multiple (voxels): the largest power of two dividing the patch size, <= 16."""
    m = 1
    while m < 16 and data.patch_size % (2 * m) == 0:
        m *= 2
    return m


def cache_key(data_root: str | Path, data: DataConfig) -> str:
    """12 hex digits naming the cache folder of `data_root` pre-processed as `data` says.

    The key hashes the content of the data (:func:`deepnorm.data.manifest.manifest_digest` of
    every site found under the root, whatever ``data.sites`` says, so that trainings and
    evaluations on subsets of the sites share one cache) and the pre-processing fields, not the
    root's path: data that changed gets a new cache, never the stale one.
    """
    from deepnorm.data.manifest import data_manifest, manifest_digest
    from deepnorm.data.sites import available_sites

    root = Path(data_root).expanduser().resolve()
    payload = {
        "data": manifest_digest(data_manifest(root, available_sites(root))),
        "modalities": list(data.modalities),
        "spacing": data.spacing,
        "version": CACHE_VERSION,
    }
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cache_dir(data_root: str | Path, data: DataConfig, runs_dir: str | Path | None = None) -> Path:
    """The cache folder of `data_root` and `data`: ``<runs_dir>/.cache/<cache_key>``, below the runs folder
    `runs_dir` (default deepnorm.paths.runs_dir())."""
    from deepnorm import paths

    runs = Path(runs_dir) if runs_dir is not None else paths.runs_dir()
    return runs / ".cache" / cache_key(data_root, data)


# --------------------------------------------------------------------------- npz (de)serialisation
def _to_plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _to_tuple(value: Any) -> Any:
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


def _split_fields(obj: Any, prefix: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            arrays[prefix + f.name] = value
        elif dataclasses.is_dataclass(value):
            _split_fields(value, prefix + f.name + ".", arrays, meta)
        else:
            meta[prefix + f.name] = _to_plain(value)


def save_prepared(prepared: Any, path: str | Path) -> Path:
    """Write a Prepared as a compressed ``.npz`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    _split_fields(prepared, "", arrays, meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub reads a key as allow_pickle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_prepared(path: str | Path) -> Prepared:
    """Read a Prepared written by :func:`save_prepared`; DataError naming the file when unreadable."""
    from deepnorm.data.preprocess import Geometry, Prepared

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"cached volume {path} is unreadable ({err}); delete it to rebuild the cache") from None
    meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))

    def build(cls: type, prefix: str) -> Any:
        kwargs = {}
        for f in dataclasses.fields(cls):
            key = prefix + f.name
            if key in arrays:
                kwargs[f.name] = arrays[key]
            elif key in meta:
                kwargs[f.name] = _to_tuple(meta[key])
            elif f.name == "geometry":
                kwargs[f.name] = build(Geometry, key + ".")
        return cls(**kwargs)

    prepared: Prepared = build(Prepared, "")
    return prepared


# --------------------------------------------------------------------------- sites and splits
def site_splits(data_root: str | Path, site: str, seed: int = 0,
                holdout_scanners: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """train/val/test subject ids of `site` under `data_root`, fixed by `seed`.

    The subjects of `holdout_scanners` are left out of the split and all added to "test"; the
    others are split as without them.
    """
    from deepnorm.data.sites import open_site
    from deepnorm.data.splits import make_splits

    dataset = open_site(data_root, site)
    ids = list(dataset.subject_ids)
    scanners = {s: dataset.scanner_of(s) for s in ids}
    held = sorted(s for s in ids if scanners[s] in holdout_scanners)
    kept = [s for s in ids if s not in held]
    if held and len(kept) < 2:
        raise DataError(f"site {site!r} keeps {len(kept)} subject(s) once scanners {list(holdout_scanners)} are held out; "
                        "a split needs at least 2: hold out fewer scanners")
    splits = make_splits(kept, site, seed=seed, scanners={s: scanners[s] for s in kept})
    splits["test"] = sorted(splits["test"] + held)
    return splits


def check_holdout(data_root: str | Path, data: DataConfig) -> None:
    """DataError unless every scanner of ``data.holdout_scanners`` has subjects in one of ``data.sites``."""
    if not data.holdout_scanners:
        return
    from deepnorm.data.sites import open_site

    found = set()
    for site in data.sites:
        dataset = open_site(data_root, site)
        found |= {dataset.scanner_of(s) for s in dataset.subject_ids}
    missing = sorted(set(data.holdout_scanners) - found)
    if missing:
        raise DataError(f"data.holdout_scanners {missing}: no subject of {list(data.sites)} under {data_root} comes from "
                        f"them; the scanners there are {sorted(found)}")


def prepare_site(
    data_root: str | Path,
    data: DataConfig,
    site: str,
    *,
    runs_dir: str | Path | None = None,
    subject_ids: Sequence[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Unpadded Prepared volumes of `site` by subject id, pre-processed once and cached.

    Given `subject_ids` (e.g. from a run's ``splits.json``) must be subjects of the site, as site
    names must be sites: DataError naming them otherwise, so no id reaches the cache path unchecked.
    """
    from deepnorm.data.preprocess import preprocess_subject
    from deepnorm.data.sites import open_site

    dataset = open_site(data_root, site)
    ids = list(dataset.subject_ids) if subject_ids is None else list(subject_ids)
    known = set(dataset.subject_ids)
    unknown = [s for s in ids if not isinstance(s, str) or s not in known]
    if unknown:
        raise DataError(f"site {site}: subject id(s) {', '.join(map(repr, unknown[:3]))} are not subjects under "
                        f"{data_root}; check the run's splits.json (or the subject list given)")
    site_cache = cache_dir(data_root, data, runs_dir) / site
    out: dict[str, Any] = {}
    iterator: Any = ids
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(ids, desc=f"prepare {site}", leave=False)
    for subject_id in iterator:
        path = site_cache / f"{subject_id}.npz"
        if path.is_file():
            out[subject_id] = load_prepared(path)
            continue
        prepared = preprocess_subject(dataset.load(subject_id), data.modalities, data.spacing)
        save_prepared(prepared, path)
        out[subject_id] = prepared
    return out


def _read_shapes(site_cache: Path) -> dict[str, tuple[int, int, int]]:
    """The shape index of `site_cache`, a site's cache folder ({} when missing or unreadable: it is rebuilt)."""
    try:
        raw = json.loads((site_cache / SHAPES_INDEX).read_text(encoding="utf-8"))
        return {str(k): int_triple(v) for k, v in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_shapes(site_cache: Path, shapes: dict[str, tuple[int, int, int]]) -> None:
    """Write the shape index atomically (temporary file, then rename)."""
    site_cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{SHAPES_INDEX}.", suffix=".tmp", dir=site_cache)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({k: list(v) for k, v in sorted(shapes.items())}, f)
        os.replace(tmp, site_cache / SHAPES_INDEX)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def site_shapes(
    data_root: str | Path, data: DataConfig, site: str, *, runs_dir: str | Path | None = None
) -> dict[str, tuple[int, int, int]]:
    """Unpadded spatial shape (voxels) of every subject of `site`, from the cache's shape index.

    A subject missing from the index (or whose cached file is gone) is prepared (read from the
    cache or pre-processed) once and added to the index.
    """
    from deepnorm.data.sites import open_site

    site_cache = cache_dir(data_root, data, runs_dir) / site
    index = _read_shapes(site_cache)
    ids = list(open_site(data_root, site).subject_ids)
    missing = [s for s in ids if s not in index or not (site_cache / f"{s}.npz").is_file()]
    if missing:
        for subject_id, p in prepare_site(data_root, data, site, runs_dir=runs_dir, subject_ids=missing).items():
            index[subject_id] = int_triple(p.image.shape[1:])
        _write_shapes(site_cache, index)
    return {s: index[s] for s in ids}


def common_padded_shape(
    data_root: str | Path, data: DataConfig, *, runs_dir: str | Path | None = None
) -> tuple[int, int, int]:
    """The common shape (voxels) of every subject of the configured sites, a multiple of pad_multiple."""
    from deepnorm.data.preprocess import common_shape

    shapes: list[tuple[int, int, int]] = []
    for site in data.sites:
        shapes += list(site_shapes(data_root, data, site, runs_dir=runs_dir).values())
    return int_triple(common_shape(shapes, multiple=pad_multiple(data)))


def prepare_split(
    data_root: str | Path,
    data: DataConfig,
    site: str,
    split: str,
    *,
    runs_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
) -> list[Any]:
    """Prepared, padded volumes of the `split` ("train", "val", "test") subjects of `site`."""
    from deepnorm.data.preprocess import pad_to

    if split not in SPLIT_NAMES:
        raise DataError(f"split {split!r} does not exist; use one of {', '.join(SPLIT_NAMES)}")
    ids = site_splits(data_root, site, seed, data.holdout_scanners)[split]
    shape = common_padded_shape(data_root, data, runs_dir=runs_dir)
    prepared = prepare_site(data_root, data, site, runs_dir=runs_dir, subject_ids=ids, progress=progress)
    return [pad_to(prepared[s], shape) for s in ids]


def prepare_all(
    data_root: str | Path,
    data: DataConfig,
    *,
    runs_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[dict[str, list[Any]], dict[str, dict[str, list[str]]]]:
    """({split: Prepared volumes of every site, in SITES order}, {site: its splits})."""
    check_holdout(data_root, data)
    splits = {site: site_splits(data_root, site, seed, data.holdout_scanners) for site in data.sites}
    volumes: dict[str, list[Any]] = {name: [] for name in SPLIT_NAMES}
    for site in data.sites:
        for name in SPLIT_NAMES:
            volumes[name] += prepare_split(data_root, data, site, name, runs_dir=runs_dir, seed=seed, progress=progress)
    return volumes, splits


# --------------------------------------------------------------------------- training patches
class AugmentedBatches:
    """Endless balanced batches of a PatchSampler with seeded random bias fields (Eq. 7).

    Each patch, with probability `p`, is multiplied by the part over its rows of a y-ramp bias
    field of strength alpha ~ U[0, 1] that spans its whole source volume, as the test-time
    degradation does (deepnorm.data.augment.random_patch_bias_field); the draws come from one
    numpy Generator whose state is part of :meth:`state_dict`, so a resumed training draws the
    same. Each batch also carries its un-augmented patches (``clean``), the real patches of the
    discriminator. `rank`/`world` select the rank-strided share ``batch[rank::world]`` of each
    global batch.
    """

    def __init__(self, sampler: PatchSampler, batch_size: int, *, p: float, seed: int, rank: int = 0, world: int = 1) -> None:
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.p = float(p)
        self.rng = np.random.default_rng([int(seed), 7])
        self.rank, self.world = int(rank), int(world)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        from deepnorm.data.augment import random_patch_bias_field
        from deepnorm.sampling import PatchBatch

        batch = self.sampler.sample(self.batch_size)
        clean = batch.images.numpy()
        images = clean.copy()
        if self.p > 0:
            assert batch.volumes is not None and batch.centres is not None, "PatchSampler.sample records each patch's source"
            size = images.shape[-1]
            for k in range(images.shape[0]):
                # the ramp runs along the spatial y axis (axis 1 of X, Y, Z) of the source volume
                n_y = self.sampler.volume_shape(int(batch.volumes[k]))[1]
                y_start = int(batch.centres[k, 1]) - size // 2
                images[k], _ = random_patch_bias_field(images[k], self.rng, y_start=y_start, n_y=n_y, p=self.p)
        sl = slice(self.rank, None, self.world)
        return PatchBatch(
            images=torch.from_numpy(images[sl].copy()),
            labels=batch.labels[sl],
            domains=batch.domains[sl],
            clean=torch.from_numpy(clean[sl].copy()),
        )

    def state_dict(self) -> dict[str, Any]:
        """Sampler position and augmentation RNG state (plain ints and strings)."""
        return {"sampler": self.sampler.state_dict(), "rng": _rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        self.sampler.load_state_dict(state["sampler"])
        self.rng.bit_generator.state = _rng_from(state["rng"])


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    # PCG64 state holds 128-bit ints: stored as strings so any serializer keeps them exactly
    state = rng.bit_generator.state
    return json.loads(json.dumps(state, default=str), parse_int=str)


def _rng_from(state: dict[str, Any]) -> dict[str, Any]:
    def back(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: back(v) for k, v in value.items()}
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        return value

    return back(state)
