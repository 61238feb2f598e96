"""The embedded multi-site phantom: three synthetic sites written in the real data sets' layouts.

Built offline from the MNI ICBM152 2009 anatomy bundled with nilearn (deepnorm.data.phantom.anatomy)
with per-site contrasts (deepnorm.data.phantom.sites), and written in the layouts and formats of
the real data so that the same loaders (deepnorm.data.sites) read it::

    <root>/iSEG-2017/iSeg-2017-Training/subject-{1..10}-{T1,T2,label}.hdr/.img   (10 CSF/150 GM/250 WM)
    <root>/MRBrainS13/TrainingData/{1..5}/{T1.nii,T2_FLAIR.nii,LabelsForTesting.nii}  (1/2/3)
    <root>/ABIDE/<SITE>_<5-digit id>/mri/{T1.mgz,brainmask.mgz,aparc+aseg.mgz}     (FreeSurfer codes)
    <root>/PHANTOM.json   (generator, version, profile, seed, subject counts, build seconds)

Every subject comes from one numpy Generator seeded by (seed, site index, subject index), so a
subject does not depend on the others and the same seed gives the same arrays. Profiles:
``smoke`` (4 mm voxels, 10/5/5 subjects, seconds), ``cpu`` (default: 1.5 mm iSEG, MRBrainS's
real 0.958 x 0.958 x 3 mm, ABIDE 20 subjects over 4 scanners at 1.3-1.6 mm), ``paper`` (1 mm).
Measured on 2 shared CPU cores: smoke ~10 s (7 MB), cpu ~35 s (165 MB, ~1 GB peak memory),
paper ~2-6 s per subject (55 subjects).
Command line: ``deepnorm data phantom [--profile smoke|cpu|paper] [--root DIR] [--seed N] [--force]``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, DataError
from deepnorm.labels import SITES

#: Bumped whenever the generated data change; a PHANTOM.json of another version is rebuilt.
PHANTOM_VERSION = 1
#: Value of PHANTOM.json's "generator" field: what marks a folder as a phantom deepnorm may replace.
GENERATOR = "deepnorm.data.phantom"
MARKER = "PHANTOM.json"


@dataclass(frozen=True)
class PhantomSubject:
    """One subject to generate: its site, index within the site (0-based), folder/file id, scanner."""

    site: str
    index: int
    subject_id: str
    scanner: str


def plan(profile: str = "cpu") -> list[PhantomSubject]:
    """Every subject of a profile, in build order (iSEG, MRBrainS, ABIDE)."""
    from deepnorm.data.phantom.sites import ABIDE_SCANNERS, site_profile

    subjects: list[PhantomSubject] = []
    for site in SITES:
        prof = site_profile(profile, site)
        for i in range(prof.n_subjects):
            if site == "abide":
                scanner = prof.scanners[i % len(prof.scanners)]
                base = 50002 + 300 * [s.name for s in ABIDE_SCANNERS].index(scanner.name)
                number = base + i // len(prof.scanners)
                subjects.append(PhantomSubject(site, i, f"{scanner.name}_{number:05d}", scanner.name))
            else:
                subjects.append(PhantomSubject(site, i, str(i + 1), site))
    return subjects


def _affine(shape: tuple[int, ...], spacing: tuple[float, float, float]) -> np.ndarray:
    """Diagonal voxel-to-world matrix (mm) with the grid centre at the world origin."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-(n - 1) / 2.0 * s for n, s in zip(shape, spacing)]
    return np.round(affine, 4)


def generate_subject(subject: PhantomSubject, profile: str = "cpu", seed: int = 0) -> dict[str, Volume]:
    """The files of one subject: relative path (under the data root) -> Volume. No I/O.

    Seeded by (seed, site index, subject index) only. Images are int16 (iSEG, MRBrainS) or
    uint8 (ABIDE's FreeSurfer-like T1.mgz); labels in the data set's own codes.
    """
    from deepnorm.data.phantom.anatomy import deformed_anatomy
    from deepnorm.data.phantom.sites import (
        ISEG_CODES, MRBRAINS_CODES, aparc_aseg, encode_labels, head_scale_for_age, render,
        site_profile, to_stored,
    )

    prof = site_profile(profile, subject.site)
    scanner = next(s for s in prof.scanners if s.name == subject.scanner)
    rng = np.random.default_rng([int(seed), SITES.index(subject.site), int(subject.index)])
    if subject.site == "abide":
        scale = head_scale_for_age(rng.uniform(*scanner.ages))
    else:
        scale = float(rng.uniform(*prof.head_scale))
    margin = 4.0 if subject.site == "iseg" else 14.0
    anatomy = deformed_anatomy(rng, scanner.spacing, scale=scale, margin_mm=margin)
    images = {key: render(anatomy, contrast, rng, noise=scanner.noise, bias=scanner.bias)
              for key, contrast in scanner.contrasts.items()}
    affine = _affine(anatomy.labels.shape, scanner.spacing)

    def vol(data: np.ndarray) -> Volume:
        return Volume(data, scanner.spacing, affine)

    if subject.site == "iseg":
        stem = f"iSEG-2017/iSeg-2017-Training/subject-{subject.subject_id}"
        return {
            f"{stem}-T1.hdr": vol(to_stored(images["t1"], scanner.store_max)),
            f"{stem}-T2.hdr": vol(to_stored(images["t2"], scanner.store_max)),
            f"{stem}-label.hdr": vol(encode_labels(anatomy.labels, ISEG_CODES)),
        }
    if subject.site == "mrbrains":
        stem = f"MRBrainS13/TrainingData/{subject.subject_id}"
        return {
            f"{stem}/T1.nii": vol(to_stored(images["t1"], scanner.store_max)),
            f"{stem}/T2_FLAIR.nii": vol(to_stored(images["t2"], scanner.store_max)),
            f"{stem}/LabelsForTesting.nii": vol(encode_labels(anatomy.labels, MRBRAINS_CODES)),
        }
    t1 = to_stored(images["t1"], scanner.store_max, np.uint8)
    t1 = np.where(anatomy.brain, np.maximum(t1, 1), t1).astype(np.uint8)
    stem = f"ABIDE/{subject.subject_id}/mri"
    return {
        f"{stem}/T1.mgz": vol(t1),
        f"{stem}/brainmask.mgz": vol(np.where(anatomy.brain, t1, 0).astype(np.uint8)),
        f"{stem}/aparc+aseg.mgz": vol(aparc_aseg(anatomy)),
    }


def _read_marker(root: Path) -> dict | None:
    """PHANTOM.json of `root` if it is a deepnorm phantom's, else None."""
    try:
        meta = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("generator") == GENERATOR else None


def _matches(meta: dict | None, profile: str, seed: int) -> bool:
    return bool(meta) and meta.get("version") == PHANTOM_VERSION and meta.get("profile") == profile \
        and meta.get("seed") == int(seed)


def _check_replaceable(root: Path) -> None:
    """DataError unless `root` is absent, an empty folder, or a phantom (has our PHANTOM.json)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder; pass another --root for the phantom")
    if _read_marker(root) is None and any(root.iterdir()):
        raise DataError(
            f"{root}: this folder is not a deepnorm phantom (no {MARKER} written by {GENERATOR}) "
            "and is not empty; deepnorm will not overwrite it. Pass another --root, or move its "
            "contents away"
        )


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="phantom", unit="subject",
                disable=not (enabled and sys.stderr.isatty()))


def build_phantom(root: str | os.PathLike, profile: str = "cpu", seed: int = 0, progress: bool = True) -> Path:
    """Generate the phantom of `profile` and `seed` into the folder `root`; returns `root`.

    Writes into a temporary sibling folder, adds PHANTOM.json (profile, seed, version, subject
    counts per site and scanner, build seconds) and renames it into place last, so `root` is
    either the previous content or a complete phantom. Replaces an existing phantom at `root`;
    raises DataError if `root` is a non-empty folder that is not a phantom. `progress` shows a
    tqdm bar per subject (only on a terminal).
    """
    from deepnorm.data.io import save_volume
    from deepnorm.data.phantom.sites import PROFILES

    if profile not in PROFILES:
        raise ConfigError(f"phantom profile={profile!r} is unknown; use one of {sorted(PROFILES)}")
    root = Path(root).expanduser().resolve()
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    before = _read_marker(root)
    start = time.perf_counter()
    subjects = plan(profile)
    try:
        with _progress(len(subjects), progress) as bar:
            for subject in subjects:
                for rel, volume in generate_subject(subject, profile, seed).items():
                    save_volume(volume, tmp / rel)
                bar.update(1)
        counts = {site: sum(s.site == site for s in subjects) for site in SITES}
        scanners: dict[str, int] = {}
        for s in subjects:
            if s.site == "abide":
                scanners[s.scanner] = scanners.get(s.scanner, 0) + 1
        meta = {
            "generator": GENERATOR, "version": PHANTOM_VERSION, "profile": profile, "seed": int(seed),
            "sites": counts, "abide_scanners": scanners,
            "spacing_mm": {site: [list(sc.spacing) for sc in PROFILES[profile][site].scanners] for site in SITES},
            "source": "MNI ICBM152 2009 tissue maps bundled with nilearn",
            "seconds": round(time.perf_counter() - start, 2),
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _swap_into_place(tmp, root, meta, before)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        _free_template_cache()
    return root


def _free_template_cache() -> None:
    """Drop the cached template maps (about 0.5 GB) once a build is over."""
    from deepnorm.data.phantom import anatomy as phantom_anatomy

    phantom_anatomy.load_atlas.cache_clear()
    phantom_anatomy._mni_1mm.cache_clear()


def _swap_into_place(tmp: Path, root: Path, meta: dict, before: dict | None) -> None:
    """Rename the finished folder `tmp` to `root`, replacing an old phantom (checked again).

    `before` is root's PHANTOM.json when this build started. If another process has meanwhile
    put the same phantom (same version, profile and seed, hence the same arrays) at `root`,
    that one is kept and `tmp` is discarded, so readers of it are not disturbed.
    """
    now = _read_marker(root)
    if now is not None and now != before and _matches(now, meta["profile"], meta["seed"]):
        return
    _check_replaceable(root)
    old = None
    if root.exists():
        old = root.parent / f".{root.name}.old-{os.getpid()}"
        os.replace(root, old)
    os.replace(tmp, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def ensure_phantom(profile: str = "cpu", seed: int = 0, root: str | os.PathLike | None = None,
                   *, force: bool = False, progress: bool = True) -> Path:
    """The data root of the phantom (`profile`, `seed`), built only when needed.

    `root` defaults to deepnorm.paths.default_data_root(profile, seed). Reuses it untouched when
    its PHANTOM.json matches (generator, version, profile, seed); rebuilds it when that file is
    absent from an empty/missing folder, names another profile/seed/version, or `force` is set.
    Raises DataError for a non-empty folder that is not a phantom (it is never overwritten).
    """
    from deepnorm.paths import default_data_root

    root = Path(default_data_root(profile, seed) if root is None else root).expanduser().resolve()
    if not force and _matches(_read_marker(root), profile, seed):
        return root
    return build_phantom(root, profile, seed, progress=progress)
