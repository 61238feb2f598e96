"""The data-only report of a data root: per site, what :mod:`deepnorm.data.phantom.checks` measures,
and the inputs' Table 4 JSD and Table 6 ρ (the statistics of :mod:`deepnorm.evaluation.evaluate`).

Per site: raw brain volume, tissue fractions and means, the GM-vs-WM Bayes errors, the rim numbers,
Table 6's ρ of the bias-degraded inputs (no normalizer) and Table 4's JSD of the inputs between
sites and between ABIDE's scanners. It reads a data root (real or phantom) and belongs to the study,
which judges it as the data checks D1-D3 (:mod:`deepnorm.study.data_checks`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from deepnorm import metrics
from deepnorm.data.phantom.checks import bayes_error, rim_csf
from deepnorm.labels import CSF, GM, WM


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def site_report(root: str | os.PathLike, *, spacing: float = 2.0,
                sites: Sequence[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Data-only numbers of every site under `root` (see the module docstring), all subjects.

    Returns ``{"sites": {site: {...}}, "table6": {site: {alpha: rho}}, "table4": {...}}``; the
    ρ are whole-brain means over subjects of the inputs degraded by Eq. 7 (no normalizer); the
    JSD are true JSDs (nats) of pooled T1 brain histograms (deepnorm.evaluation.evaluate).
    `progress`: a bar over each site's subjects.
    """
    from deepnorm.data.preprocess import preprocess_subject
    from deepnorm.data.sites import available_sites, open_site
    from deepnorm.evaluation import evaluate as ev

    sites = list(available_sites(root) if sites is None else sites)
    out: dict[str, Any] = {"spacing_mm": spacing, "sites": {}, "table6": {}, "table4": {}}
    histograms: dict[str, np.ndarray] = {}
    by_scanner: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for key in sites:
        dataset = open_site(root, key)
        rows: list[dict[str, float]] = []
        prepared = []
        ids = list(dataset.subject_ids)
        if progress:
            from tqdm.auto import tqdm

            ids = tqdm(ids, desc=f"data checks: {key}", leave=False)
        for sid in ids:
            subject = dataset.load(sid)
            raw = np.asarray(subject.labels.data)
            voxel_ml = float(np.prod(subject.labels.spacing)) / 1000.0
            modalities = tuple(m for m in ("t1", "t2") if m in subject.images)
            p = preprocess_subject(subject, modalities, spacing)
            prepared.append(p)
            labels = np.asarray(p.labels)
            row: dict[str, float] = {"brain_ml": float((raw > 0).sum()) * voxel_ml}
            for tissue, name in ((CSF, "csf"), (GM, "gm"), (WM, "wm")):
                row[f"{name}_fraction"] = float((raw == tissue).sum()) / float((raw > 0).sum())
            for c, m in enumerate(modalities):
                for tissue, name in ((CSF, "csf"), (GM, "gm"), (WM, "wm")):
                    row[f"{m}_{name}_mean"] = float(p.image[c][labels == tissue].mean())
                row[f"{m}_bayes_gm_wm"] = bayes_error(p.image[c][labels == GM], p.image[c][labels == WM])
            if len(modalities) == 2:
                joint = np.moveaxis(p.image, 0, -1)
                row["joint_bayes_gm_wm"] = bayes_error(joint[labels == GM], joint[labels == WM], bins=32)
            row["rim_csf_fraction"], row["rim_csf_dice"] = rim_csf(labels, p.mask)
            rows.append(row)
            by_scanner.setdefault(p.scanner if key == "abide" else key, []).append((p.image, p.mask))
        out["sites"][key] = {name: _mean([r[name] for r in rows]) for name in rows[0]}
        out["sites"][key]["n"] = len(rows)
        histograms[key] = ev.brain_histogram([(p.image, p.mask) for p in prepared])
        table6 = ev.bias_correlations(prepared, lambda image, mask: image)
        out["table6"][key] = {f"{r['alpha']:g}": r["rho_degraded"] for r in table6}
    if len(histograms) >= 2:
        out["table4"]["sites"] = ev.site_jsd(histograms)
    scanners = {k: v for k, v in by_scanner.items() if k not in sites}
    if len(scanners) >= 2:
        hist = {k: ev.brain_histogram(v) for k, v in scanners.items()}
        pairs = {f"{a}_{b}": metrics.jensen_shannon(hist[a], hist[b]) for a, b in combinations(sorted(hist), 2)}
        out["table4"]["abide_scanners"] = {**pairs, "mean": float(np.mean(list(pairs.values())))}
    return out
