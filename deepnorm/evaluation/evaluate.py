"""Evaluation of a trained run on whole test volumes (``deepnorm evaluate RUN``).

Every number of Tables 2-7 comes from here:

- :func:`segmentation_scores` — full volumes through the sliding window, per-subject and
  per-class Dice (Eq. 4) and mean Hausdorff distance in mm (Eq. 5);
- :func:`site_jsd` — the true Jensen–Shannon divergence between the sites' pooled brain
  intensity histograms (and the authors' legacy quantity), before or after normalization;
- :func:`bias_correlations` — Pearson ρ(intensity, y) on bias-degraded images (Eq. 7) before
  and after normalization;
- :func:`discriminator_confusion` — the discriminator's (K+1)×(K+1) confusion matrix on real and
  generated patches.

The cores take arrays and callables; :func:`evaluate_run` is the I/O edge: it reads a run folder
(its configuration, seed, data root and ``splits.json``) and writes ``<run>/eval/test/`` (or
``out``) atomically. It caches nothing; the experiments cache their own evaluations
(:mod:`deepnorm.study.experiments`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepnorm import metrics
from deepnorm.data.sites import SITES
from deepnorm.data.volume import Volume
from deepnorm.errors import ConfigError, RunError
from deepnorm.files import current_umask
from deepnorm.labels import TISSUE_NAMES, TISSUES
from deepnorm.training.runs import EVAL_DIR

if TYPE_CHECKING:
    from deepnorm.data.preprocess import Prepared
    from deepnorm.training.runs import Run

#: Bias-field strengths of Table 6.
ALPHAS: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
#: Histogram binning of the JSD (Table 4): intensities in [0, 1] (min-max inputs, sigmoid outputs).
JSD_BINS = 100
JSD_RANGE = (0.0, 1.0)


# --------------------------------------------------------------------------- segmentation
def subject_scores(pred: np.ndarray, target: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Dice and MHD (mm) per tissue of one predicted label map (X,Y,Z) against its reference.

    Returns ``dice_csf, dice_gm, dice_wm, dice_mean, mhd_csf, mhd_gm, mhd_wm, mhd_mean, empty_csf,
    empty_gm, empty_wm``. A tissue present in only one of the two maps (never predicted, or
    predicted where the reference has none) has Dice 0 and, as MHD, a stated penalty: the image
    diagonal in mm (:func:`deepnorm.metrics.image_diagonal`), longer than any measurable distance.
    ``empty_<tissue>`` is 1 when the tissue is in the reference but never predicted. A tissue
    absent from both maps is not measured (``nan``) and left out of the means.
    """
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ConfigError(f"prediction shape {pred.shape} differs from the reference's {target.shape}")
    row: dict[str, float] = {}
    dice = metrics.dice(pred, target, labels=TISSUES)
    penalty = metrics.image_diagonal(pred.shape, spacing)
    mhd = [metrics.mean_hausdorff(pred == c, target == c, spacing, empty_penalty=penalty) for c in TISSUES]
    empty = metrics.empty_predictions(pred, target, TISSUES)
    for name, d, h in zip(TISSUE_NAMES, dice, mhd):
        row[f"dice_{name.lower()}"] = float(d)
        row[f"mhd_{name.lower()}"] = float(h)
    row["dice_mean"] = _finite_mean(dice)
    row["mhd_mean"] = _finite_mean(mhd)
    for name, e in zip(TISSUE_NAMES, empty):
        row[f"empty_{name.lower()}"] = int(e)
    return row


def _finite_mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of `values` without the ``nan`` ones (not measured); ``nan`` if none is left.

    An infinite value is kept (the mean is then infinite): an undefined distance never vanishes
    from a mean silently.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def segmentation_scores(subjects: Sequence[Prepared], segment: Callable[[np.ndarray, np.ndarray], np.ndarray],
                        *, progress: bool = False) -> list[dict[str, Any]]:
    """Per-subject scores of ``argmax segment(image, mask)`` over prepared test `subjects`.

    `subjects` are :class:`deepnorm.data.preprocess.Prepared` (image (C,X,Y,Z), labels, mask,
    spacing in mm); `segment` returns class probabilities (4,X,Y,Z). Voxels outside the brain
    mask are background, as in the references.
    """
    rows = []
    for subject in _progress(subjects, progress, "segment"):
        probs = segment(subject.image, subject.mask)
        pred = np.argmax(probs, axis=0)
        pred[~np.asarray(subject.mask, dtype=bool)] = 0
        rows.append({"site": subject.site, "subject": subject.subject_id,
                     **subject_scores(pred, subject.labels, subject.spacing)})
    return rows


def summarize(rows: Sequence[Mapping[str, Any]], *, by: str | None = "site") -> list[dict[str, Any]]:
    """Per `by` value and over all rows ("all"): the mean and standard deviation of every score
    column, and the sum of every count column (``empty_<tissue>``: subjects in which a tissue of
    the reference was never predicted)."""
    if not rows:
        return []
    keys = [k for k, v in rows[0].items() if isinstance(v, (float, int)) and not isinstance(v, bool)]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    if by is not None:
        for row in rows:
            groups.setdefault(str(row[by]), []).append(row)
    groups["all"] = list(rows)
    out = []
    for name, members in groups.items():
        summary: dict[str, Any] = {by or "group": name, "n": len(members)}
        for key in keys:
            values = [float(m[key]) for m in members]
            if key.startswith("empty_"):
                summary[key] = int(sum(values))
                continue
            summary[key] = _finite_mean(values)
            measured = np.asarray(values)[~np.isnan(values)]
            summary[f"{key}_std"] = float(measured.std()) if measured.size else float("nan")
        out.append(summary)
    return out


# --------------------------------------------------------------------------- JSD (Table 4)
def brain_histogram(images: Sequence[tuple[np.ndarray, np.ndarray]], *, channel: int = 0, bins: int = JSD_BINS,
                    value_range: tuple[float, float] = JSD_RANGE) -> np.ndarray:
    """Pooled histogram (counts, shape (bins,)) of the brain voxels of channel `channel` of (image, mask) pairs."""
    counts = np.zeros(bins, dtype=np.float64)
    for image, mask in images:
        values = np.asarray(image)[channel][np.asarray(mask, dtype=bool)]
        counts += np.histogram(np.clip(values, *value_range), bins=bins, range=value_range)[0]
    return counts


def site_jsd(histograms: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean over site pairs of the true JSD (nats) and of the legacy quantity between `histograms`.

    Returns ``{"jsd": ..., "jsd_legacy": ..., "jsd_<a>_<b>": ...}``.
    """
    names = sorted(histograms, key=lambda s: SITES.index(s) if s in SITES else len(SITES))
    if len(names) < 2:
        raise ConfigError(f"the JSD needs at least two sites, got {names}")
    out: dict[str, float] = {}
    pairs = list(combinations(names, 2))
    for a, b in pairs:
        out[f"jsd_{a}_{b}"] = metrics.jensen_shannon(histograms[a], histograms[b])
    out["jsd"] = float(np.mean([out[f"jsd_{a}_{b}"] for a, b in pairs]))
    out["jsd_legacy"] = float(metrics.legacy_jsd([histograms[n] for n in names]))
    return out


# --------------------------------------------------------------------------- bias field (Table 6)
def slice_correlation(image: np.ndarray, mask: np.ndarray, *, min_voxels: int = 50) -> float:
    """Mean over axial slices (fixed z) of Pearson ρ(intensity, y) on the `mask` voxels of each slice.

    `image` and `mask` are (X,Y,Z); slices with fewer than `min_voxels` mask voxels are skipped.
    This is Table 6's "ρ in an axial slice", averaged over all slices of the volume; `mask` is the
    brain (whole-brain ρ) or one tissue (e.g. the white matter). ``nan`` when no slice qualifies.
    """
    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    values = []
    for z in range(image.shape[2]):
        m = mask[:, :, z]
        if m.sum() < min_voxels:
            continue
        rho = metrics.pearson_y(image[:, :, z], m, axis=1)
        if np.isfinite(rho):
            values.append(rho)
    return float(np.mean(values)) if values else float("nan")


def bias_correlations(subjects: Sequence[Any], normalize: Callable[[np.ndarray, np.ndarray], np.ndarray],
                      alphas: Sequence[float] = ALPHAS, *, min_voxels: int = 50,
                      progress: bool = False) -> list[dict[str, Any]]:
    """ρ(intensity, y) of degraded and of normalized T1 images, mean over `subjects`, per α.

    Each image is degraded by Eq. 7 with a fixed α (``deepnorm.data.augment.apply_bias_field``
    on the brain), then normalized by `normalize(image (C,X,Y,Z), mask) -> (C,X,Y,Z)`.
    Rows: ``site, alpha, rho_degraded, rho_normalized, rho_degraded_wm, rho_normalized_wm, n``
    (α = 0 is the clean, undegraded image: the paper's "Original" row).

    The whole-brain ρ mixes the tissues' contrast with the field (white matter and grey matter
    need not be spread evenly along y); the ``_wm`` columns take the white-matter voxels of the
    reference labels only (``subject.labels == WM``), where a clean image is nearly flat, so
    they measure the field alone. ``nan`` when a subject has no labels.
    """
    from deepnorm.data.augment import apply_bias_field
    from deepnorm.labels import WM

    per: dict[tuple[str, float], list[tuple[float, float, float, float]]] = {}
    for subject in _progress(subjects, progress, "bias field"):
        mask = np.asarray(subject.mask, dtype=bool)
        labels = getattr(subject, "labels", None)
        wm = None if labels is None else mask & (np.asarray(labels) == WM)
        for alpha in (0.0, *alphas):
            degraded = apply_bias_field(subject.image, float(alpha), axis=1) * mask
            degraded = degraded.astype(np.float32)
            normalized = normalize(degraded, mask)
            brain = (slice_correlation(degraded[0], mask, min_voxels=min_voxels),
                     slice_correlation(normalized[0], mask, min_voxels=min_voxels))
            white = (float("nan"), float("nan")) if wm is None else (
                slice_correlation(degraded[0], wm, min_voxels=min_voxels),
                slice_correlation(normalized[0], wm, min_voxels=min_voxels))
            per.setdefault((subject.site, float(alpha)), []).append((*brain, *white))
    rows = []
    for (site, alpha), values in per.items():
        columns = np.asarray(values, dtype=float).T  # (4, n subjects)
        rows.append({"site": site, "alpha": alpha,
                     "rho_degraded": _finite_mean(columns[0]), "rho_normalized": _finite_mean(columns[1]),
                     "rho_degraded_wm": _finite_mean(columns[2]), "rho_normalized_wm": _finite_mean(columns[3]),
                     "n": len(values)})
    return rows


# --------------------------------------------------------------------------- discriminator
def discriminator_confusion(discriminate: Callable[[np.ndarray], np.ndarray], generate: Callable[[np.ndarray], np.ndarray],
                            patches: np.ndarray, domains: np.ndarray, n_domains: int) -> dict[str, Any]:
    """The discriminator's confusion matrix on real `patches` (N,C,p,p,p) and on their generated copies.

    Real patch i has true class ``domains[i]``; ``generate(patches)`` has true class K
    (= `n_domains`, "generated"). `discriminate` returns logits (N, K+1). Returns the row-normalized
    matrix (rows = true class), the raw counts and the accuracy over all 2N patches.
    """
    patches = np.asarray(patches, dtype=np.float32)
    domains = np.asarray(domains, dtype=np.int64)
    pred_real = np.argmax(discriminate(patches), axis=1)
    pred_fake = np.argmax(discriminate(generate(patches)), axis=1)
    true = np.concatenate([domains, np.full(len(patches), n_domains, dtype=np.int64)])
    pred = np.concatenate([pred_real, pred_fake])
    counts = metrics.confusion_matrix(true, pred, n_domains + 1, normalize=False)
    matrix = metrics.confusion_matrix(true, pred, n_domains + 1, normalize=True)
    return {"matrix": np.asarray(matrix).tolist(), "counts": np.asarray(counts).tolist(),
            "accuracy": float((true == pred).mean())}


# --------------------------------------------------------------------------- helpers
def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False)


def eval_key(**fields: Any) -> str:
    """A short stable key (12 hex) of the evaluation's inputs, naming its cache folder."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- a whole run (I/O edge)
def evaluate_run(folder: str | Path, *, data_root: str | Path | None = None, sites: Sequence[str] | None = None,
                 out: str | Path | None = None, save_images: bool = True, progress: bool = False,
                 device: str = "auto", force: bool = False) -> Path:
    """Evaluate a finished run on the test subjects of `sites` (default: its own) and write the results.

    The data root defaults to the one the run was trained on (run.json; else the phantom of its
    profile and seed); the test subjects of the run's sites are those of its ``splits.json``, and
    those of another site are drawn with the run's seed. The run's sites under the data root must
    hold the data it was trained on (RunError naming the changed files otherwise).

    Writes into `out` (default ``<run>/eval/test``): ``subjects.csv`` (per subject and class Dice,
    MHD in mm), ``summary.csv`` (mean ± std per site and over all), ``jsd.json`` (sites' JSD before
    and after normalization, with two or more sites), ``bias.csv`` (Table 6 ρ before/after at
    each α), ``confusion.json`` (the discriminator's, when the run has one) and the normalized
    test images as NIfTI on each input's voxel grid with its affine (``normalized/``), and the
    marker :data:`deepnorm.markers.EVALUATION`. The folder appears whole or not at all; an existing
    one is replaced only with `force`, and only when it is an evaluation deepnorm wrote; `out` is
    never the run folder, a folder holding it, or one overlapping the data root. Returns `out`.
    """
    from deepnorm.markers import write_evaluation_marker
    from deepnorm.training.runs import load_run

    run = load_run(folder, device=device)
    out = Path(out) if out is not None else run.folder / EVAL_DIR / "test"
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not force:
        raise RunError(f"evaluation folder {out} already exists; pass force=True (--force) to replace it, "
                       "or choose another output folder (--out)")
    if out.exists() and not out.is_dir():
        raise RunError(f"evaluation output {out} is a file; choose a folder (--out)")
    root = run.resolve_data_root(data_root)
    check_out(out, run.folder, root, force=force)
    run.check_data(root)
    sites = tuple(sites or run.config.data.sites)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        _evaluate_into(run, root, sites, tmp, save_images=save_images, progress=progress)
        write_evaluation_marker(tmp, run.folder, sites)  # inside the folder before it appears
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_out(out: Path, run: Path, data_root: Path | None, *, force: bool) -> None:
    """Refuse an `out` that is the run folder or holds it, overlaps the data root, or (with `force`)
    is a folder that is not an evaluation deepnorm wrote; each a RunError/ConfigError naming the folder."""
    from deepnorm.markers import check_evaluation_replaceable, check_not_input, resolved

    target, run_path = resolved(out), resolved(run)
    if target == run_path or target in run_path.parents:
        raise ConfigError(f"--out {out} is (or holds) the run folder {run}: deepnorm never writes over its inputs; "
                          "choose another output folder")
    check_not_input(out, [data_root], "--out")
    if force:
        check_evaluation_replaceable(out)


def _replace_folder(new: Path, target: Path) -> None:
    """Rename `new` to `target`, removing an old `target` only once the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    new_mode = 0o777 & ~current_umask()
    os.chmod(target, new_mode)  # mkdtemp made it 0700
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _evaluate_into(run: Run, data_root: Path, sites: Sequence[str], out: Path, *, save_images: bool,
                   progress: bool) -> None:
    """The body of :func:`evaluate_run`: every table into the (temporary) folder `out`."""
    from deepnorm.data.io import save_volume
    from deepnorm.data.preprocess import restore
    from deepnorm.data.sites import open_site
    from deepnorm.files import write_json, write_table

    subjects = {site: run.prepare_split(data_root, site, "test", progress=progress) for site in sites}
    rows = []
    for site in sites:
        rows += segmentation_scores(subjects[site], run.segment_volume, progress=progress)
    write_table("subjects", rows, out)
    write_table("summary", summarize(rows), out)
    bias_rows = []
    for site in sites:
        bias_rows += bias_correlations(subjects[site], run.normalize_volume, progress=progress)
    write_table("bias", bias_rows, out)
    if len(sites) >= 2:
        before = {s: brain_histogram([(p.image, p.mask) for p in subjects[s]]) for s in sites}
        after = {s: brain_histogram([(run.normalize_volume(p.image, p.mask), p.mask) for p in subjects[s]]) for s in sites}
        write_json("jsd", {"inputs": site_jsd(before), "normalized": site_jsd(after)}, out)
    if run.discriminator is not None and run.generator is not None and set(sites) == set(run.config.data.sites):
        write_json("confusion", run_confusion(run, [subjects[s] for s in sites], run.seed), out)
    if save_images:
        for site in sites:
            dataset = open_site(data_root, site)
            for prepared in subjects[site]:
                original = dataset.load(prepared.subject_id).images["t1"]
                image = restore(prepared, run.normalize_volume(prepared.image, prepared.mask)[0], order=1)
                save_volume(Volume(image.astype(np.float32), original.spacing, original.affine),
                            out / "normalized" / f"{site}_{prepared.subject_id}.nii.gz")


def run_confusion(run: Run, subjects_by_domain: Sequence[Sequence[Prepared]], seed: int = 0,
                  n_per_site: int = 64) -> dict[str, Any]:
    """The run's discriminator confusion on `n_per_site` foreground patches per site and their G(x) copies.

    D is in train mode (as trained; its dropout drawn from `seed`), G in eval mode.

    `subjects_by_domain[z]` are the prepared subjects of the run's site z (in the run's site
    order). Returns :func:`discriminator_confusion`'s dict plus the class names.
    """
    import torch

    from deepnorm.sampling import PatchSampler

    discriminator, generator = run.discriminator, run.generator
    if discriminator is None or generator is None:
        raise RunError(f"{run.folder}: a {run.method} run has no discriminator and generator to measure the "
                       "confusion of; only the adversarial method has both")
    images, labels, domains = [], [], []
    for z, subjects in enumerate(subjects_by_domain):
        for s in subjects:
            images.append(s.image)
            labels.append(s.labels)
            domains.append(z)
    # balanced: n_per_site patches from every site, whatever its number of subjects
    batch = PatchSampler(images, labels, run.config.data.patch_size, domains=domains, seed=seed, balance=True).sample(
        n_per_site * len(subjects_by_domain))
    device = next(discriminator.parameters()).device

    def call(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.as_tensor(x, device=device)).float().cpu().numpy()

    def discriminate(x: np.ndarray) -> np.ndarray:
        # D is judged as it is trained: train mode, dropout on (seeded below); it has no
        # normalisation layer, so nothing else differs from eval mode
        was_training = discriminator.training
        discriminator.train(True)
        try:
            return call(discriminator, x)
        finally:
            discriminator.train(was_training)

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        result = discriminator_confusion(discriminate, lambda x: call(generator, x),
                                         batch.images.numpy(), batch.domains.numpy(), len(subjects_by_domain))
    result["classes"] = [*run.config.data.sites, "generated"]
    return result
