"""The embedded multi-site phantom: three synthetic sites written in the real data sets' layouts.

Built offline from the MNI ICBM152 2009 anatomy bundled with nilearn (deepnorm.data.phantom.anatomy),
rendered by deepnorm.data.phantom.sites with each site's phantom model (contrasts, scanners,
subject counts, label codes and files: the ``PHANTOM`` of deepnorm.data.sites.iseg / mrbrains /
abide), and written in the layouts and formats of the real data so that the same loaders
(deepnorm.data.sites) read it::

    <root>/iSEG-2017/iSeg-2017-Training/subject-{1..10}-{T1,T2,label}.hdr/.img   (10 CSF/150 GM/250 WM)
    <root>/MRBrainS13/TrainingData/{1..5}/{T1.nii,T2_FLAIR.nii,LabelsForTesting.nii}  (1/2/3)
    <root>/ABIDE/<SITE>_<5-digit id>/mri/{T1.mgz,brainmask.mgz,aparc+aseg.mgz}     (FreeSurfer codes, LIA)
    <root>/PHANTOM.json   (generator, version, profile, seed, subject counts, build seconds)

Every subject comes from one numpy Generator seeded by (seed, site index, subject index), so a
subject does not depend on the others and the same seed gives the same arrays. Profiles:
``smoke`` (4 mm voxels, 10/5/5 subjects, seconds), ``cpu`` (default: 1.5 mm iSEG, MRBrainS's
real 0.958 x 0.958 x 3 mm, ABIDE 20 subjects over 4 scanners at 1.5 mm), ``paper`` (1 mm).
Each site's anatomy and contrast, with their sources: data/README.md. Measured on 2 quiet CPU
cores: cpu 44 s (59-65 s on a loaded machine; version 1: ~35 s), ~10 s of it the template's
one-off preparation; paper ~2-6 s per subject (55 subjects).
Command line: ``deepnorm data phantom [--profile smoke|cpu|paper] [--root DIR] [--seed N] [--force]``.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnorm.data.phantom.sites import check_profile
from deepnorm.data.sites import SITES, get_site
from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, DataError

#: Bumped whenever the generated data change; a PHANTOM.json of another version is rebuilt.
PHANTOM_VERSION = 2
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


def check_seed(seed: object) -> int:
    """`seed` as an int if it is a whole number >= 0, else ConfigError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ConfigError(f"phantom seed={seed!r} is invalid; use a whole number >= 0 (e.g. --seed 0)")
    return int(seed)


def plan(profile: str = "cpu") -> list[PhantomSubject]:
    """Every subject of a profile, in build order (iSEG, MRBrainS, ABIDE)."""
    check_profile(profile)
    subjects: list[PhantomSubject] = []
    for site in SITES:
        model = get_site(site).phantom
        for i, (subject_id, scanner) in enumerate(model.subjects(model.profile(profile))):
            subjects.append(PhantomSubject(site, i, subject_id, scanner))
    return subjects


def _affine(shape: tuple[int, ...], spacing: tuple[float, float, float]) -> np.ndarray:
    """Diagonal voxel-to-world matrix (mm) with the grid centre at the world origin."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-(n - 1) / 2.0 * s for n, s in zip(shape, spacing)]
    return np.round(affine, 4)


def generate_subject(subject: PhantomSubject, profile: str = "cpu", seed: int = 0) -> dict[str, Volume]:
    """The files of one subject: relative path (under the data root) -> Volume. No I/O.

    Seeded by (seed, site index, subject index) only. Images are int16 (iSEG, MRBrainS) or
    uint8 (ABIDE's FreeSurfer-like T1.mgz); labels in the data set's own codes. Each volume is
    rendered on a RAS grid centred on the world origin and put in the site's voxel order
    (``PhantomModel.orientation``: LIA for ABIDE, RAS otherwise), as it is written.
    """
    from deepnorm.data.io import reorient
    from deepnorm.data.phantom.anatomy import deformed_anatomy
    from deepnorm.data.phantom.sites import head_scale_for_age, render

    model = get_site(subject.site).phantom
    prof = model.profile(profile)
    scanner = next(s for s in prof.scanners if s.name == subject.scanner)
    rng = np.random.default_rng([check_seed(seed), SITES.index(subject.site), int(subject.index)])
    if model.scale_by_age:
        scale = head_scale_for_age(rng.uniform(*scanner.ages))
    else:
        scale = float(rng.uniform(*prof.head_scale))
    site = model.anatomy
    atrophy = float(rng.uniform(*site.atrophy_mm))
    lesion = float(rng.uniform(*site.lesion_ml))
    anatomy = deformed_anatomy(rng, scanner.spacing, scale=scale, margin_mm=model.margin_mm,
                               csf_shell_mm=site.csf_shell_mm, atrophy_mm=atrophy, fossa=site.fossa,
                               lesion_ml=lesion)
    images = {key: render(anatomy, contrast, rng, noise=scanner.noise, bias=scanner.bias)
              for key, contrast in scanner.contrasts.items()}
    affine = _affine(anatomy.labels.shape, scanner.spacing)
    return {rel: reorient(Volume(data, scanner.spacing, affine), model.orientation)
            for rel, data in model.files(subject.subject_id, images, anatomy, scanner).items()}


def _read_marker(root: Path) -> dict | None:
    """PHANTOM.json of `root` if it is a deepnorm phantom's, else None."""
    try:
        meta = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("generator") == GENERATOR else None


def _matches(meta: dict | None, profile: str, seed: int) -> bool:
    if not meta:
        return False
    return meta.get("version") == PHANTOM_VERSION and meta.get("profile") == profile and meta.get("seed") == int(seed)


def _relative_files(root: Path) -> list[str]:
    """Every file and link under `root`, as sorted POSIX paths relative to it (empty folders left out)."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        found += [(here / name).relative_to(root).as_posix() for name in files]
        found += [(here / name).relative_to(root).as_posix() for name in dirs if (here / name).is_symlink()]
    return sorted(found)


def foreign_files(root: Path, meta: dict) -> list[str]:
    """The files under the phantom `root` that its build did not write (relative paths, sorted).

    A phantom's PHANTOM.json lists the files it wrote ("files"). One built before that list
    existed is recognised by its layout: nothing but the three site folders beside PHANTOM.json,
    and as many subjects in each as its PHANTOM.json counts (an added subject is foreign).
    """
    from deepnorm.data.sites import open_site

    listed = meta.get("files")
    if isinstance(listed, list):
        return [f for f in _relative_files(root) if f != MARKER and f not in set(listed)]
    tops = {importlib.import_module(f"deepnorm.data.sites.{site}").FOLDER[0] for site in SITES}
    foreign = sorted(c.name for c in root.iterdir() if c.name != MARKER and c.name not in tops)
    recorded = meta.get("sites")
    counts = recorded if isinstance(recorded, dict) else {}
    for site in SITES:
        try:
            found = list(open_site(root, site).subject_ids)
        except DataError:
            continue
        if site in counts and len(found) != counts[site]:
            foreign.append(f"{site}: {len(found)} subjects where the phantom wrote {counts[site]}")
    return foreign


def _check_replaceable(root: Path) -> None:
    """DataError unless `root` is absent, an empty folder, or a phantom (has our PHANTOM.json) that holds
    only the files its build wrote (:func:`foreign_files`): what a user added is never deleted."""
    if not root.exists():
        return
    if not root.is_dir():
        raise DataError(f"{root}: exists and is not a folder; pass another --root for the phantom")
    meta = _read_marker(root)
    if meta is None and any(root.iterdir()):
        raise DataError(
            f"{root}: this folder is not a deepnorm phantom (no {MARKER} written by {GENERATOR}) "
            "and is not empty; deepnorm will not overwrite it. Pass another --root, or move its "
            "contents away"
        )
    foreign = foreign_files(root, meta) if meta is not None else []
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise DataError(f"{root}: this phantom folder holds files its build did not write ({shown}); deepnorm will "
                        "not delete them. Move them away, or pass another --root")


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="phantom", unit="subject",
                disable=not (enabled and sys.stderr.isatty()))


def build_phantom(root: str | os.PathLike, profile: str = "cpu", seed: int = 0, progress: bool = True) -> Path:
    """Generate the phantom of `profile` and `seed` into the folder `root`; returns `root`.

    Writes into a temporary sibling folder, adds PHANTOM.json (profile, seed, version, subject
    counts per site and scanner, build seconds) and renames it into place last, so `root` is
    either the previous content or a complete phantom. Replaces an existing phantom at `root`
    (PHANTOM.json lists the files it wrote); raises DataError if `root` is a non-empty folder that
    is not a phantom, or a phantom holding files its build did not write (:func:`foreign_files`), ConfigError for an
    unknown profile or a seed that is not a whole number >= 0. Leftover folders of killed builds
    of `root` are removed first (:func:`remove_stale_builds`). `progress` shows a tqdm bar per
    subject (only on a terminal).
    """
    from deepnorm.data.io import save_volume

    check_profile(profile)
    seed = check_seed(seed)
    root = Path(root).expanduser().resolve()
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root)
    tmp = root.parent / f".{root.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
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
            "spacing_mm": {site: [list(sc.spacing) for sc in get_site(site).phantom.profile(profile).scanners]
                           for site in SITES},
            "source": "MNI ICBM152 2009 tissue maps bundled with nilearn",
            "files": _relative_files(tmp),
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


def _pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_builds(root: Path) -> list[Path]:
    """Delete the leftovers ``.<root>.building-PID`` / ``.<root>.old-PID`` of killed builds.

    A folder is stale when no process PID is alive (a build still running keeps its folder).
    Returns the folders removed.
    """
    removed: list[Path] = []
    if not root.parent.is_dir():
        return removed
    for kind in ("building", "old"):
        for folder in root.parent.glob(f".{root.name}.{kind}-*"):
            pid = folder.name.rsplit("-", 1)[1]
            if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
    Raises DataError for a non-empty folder that is not a phantom, or a phantom holding files its
    build did not write (neither is ever overwritten),
    ConfigError for an unknown profile or a seed that is not a whole number >= 0.
    """
    from deepnorm.paths import default_data_root

    check_profile(profile)
    seed = check_seed(seed)
    root = Path(default_data_root(profile, seed) if root is None else root).expanduser().resolve()
    if not force and _matches(_read_marker(root), profile, seed):
        return root
    return build_phantom(root, profile, seed, progress=progress)
