"""Seeded train/validation/test splits of a site's subjects (paper Sec. 2.2).

Each site's (train, val, test) fractions and scanner rule live in its file under
:mod:`deepnorm.data.sites` (``Site.fractions``, ``Site.scanner_of``): iSEG-2017 8/1/1 of its 10
subjects (0.8/0.1/0.1); MRBrainS13 3/1/1 of 5 and ABIDE 60 %/20 %/20 % (0.6/0.2/0.2), ABIDE
stratified by scanner (its acquisition sites). For other subject counts the same fractions apply,
rounded half up, with at least one test subject, one validation subject when there are three or
more subjects, and one training subject.

Stratification: each scanner's share of a split is its share of the subjects, rounded by the
largest-remainder method, so that every split holds ``n_scanner * n_split / n`` subjects of each
scanner, within one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from deepnorm.data.sites import SITES, get_site
from deepnorm.errors import ConfigError, DataError
from deepnorm.files import atomic_write_text

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def split_sizes(n: int, site: str) -> tuple[int, int, int]:
    """(train, val, test) subject counts for `n` subjects of `site` (see the module docstring)."""
    if site not in SITES:
        raise ConfigError(f"site={site!r} has no split rule; use one of {SITES}")
    if n < 2:
        raise DataError(f"site {site!r} has {n} subject(s); a split needs at least 2 (one to train, one to test)")
    _, f_val, f_test = get_site(site).fractions
    n_test = max(1, _round_half_up(n * f_test))
    n_val = _round_half_up(n * f_val)
    if n >= 3:
        n_val = max(1, n_val)
    n_val = min(n_val, n - n_test - 1)
    return n - n_val - n_test, n_val, n_test


def _allocate(targets: np.ndarray, caps: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts near `targets` (largest remainder), each <= its cap, summing to `total`."""
    counts = np.minimum(np.floor(targets + 1e-9).astype(int), caps)
    remainder = targets - counts
    tie = rng.random(len(targets))
    order = np.lexsort((tie, -remainder))  # largest remainder first, seeded tie-break
    while counts.sum() < total:
        progressed = False
        for i in order:
            if counts.sum() >= total:
                break
            if counts[i] < caps[i]:
                counts[i] += 1
                progressed = True
        if not progressed:  # pragma: no cover - total <= caps.sum() is checked by the caller
            raise DataError("split allocation failed: not enough subjects")
    return counts


def make_splits(
    subject_ids: Sequence[str],
    site: str,
    seed: int = 0,
    scanners: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Disjoint train/val/test lists (each sorted) covering `subject_ids`, fixed by `seed`.

    `scanners` maps each subject id to its scanner; the split is stratified by it. Without
    `scanners`, the site's scanner rule (``Site.scanner_of``) gives it: for ABIDE the id's prefix
    before its last "_" (``NYU_0051036`` -> ``NYU``); the other sites are one stratum. The result depends only on the
    set of ids, the site and the seed, not on the order of `subject_ids`.
    """
    ids = sorted(str(s) for s in subject_ids)
    if len(set(ids)) != len(ids):
        dupes = sorted({s for s in ids if ids.count(s) > 1})
        raise DataError(f"make_splits: duplicate subject ids {dupes[:5]}; each subject must appear once")
    n_train, n_val, n_test = split_sizes(len(ids), site)
    if scanners is not None:
        missing = [s for s in ids if s not in scanners]
        if missing:
            raise DataError(f"make_splits: no scanner given for subjects {missing[:5]}; add them to `scanners`")
        strata_of = {s: str(scanners[s]) for s in ids}
    else:
        scanner_of = get_site(site).scanner_of
        strata_of = {s: scanner_of(s) for s in ids}

    rng = np.random.default_rng(seed)
    names = sorted(set(strata_of.values()))
    members = [[s for s in ids if strata_of[s] == name] for name in names]
    for group in members:
        rng.shuffle(group)
    sizes = np.array([len(g) for g in members], dtype=float)
    n = len(ids)
    test = _allocate(sizes * n_test / n, sizes.astype(int), n_test, rng)
    left = sizes.astype(int) - test
    val = _allocate(sizes * n_val / n, left, n_val, rng)

    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for group, k_test, k_val in zip(members, test, val):
        out["test"] += group[:k_test]
        out["val"] += group[k_test : k_test + k_val]
        out["train"] += group[k_test + k_val :]
    return {k: sorted(v) for k, v in out.items()}


def _validate(splits: Mapping[str, object], where: str) -> dict[str, list[str]]:
    if not isinstance(splits, Mapping) or set(splits) != set(SPLIT_NAMES):
        keys = sorted(splits) if isinstance(splits, Mapping) else type(splits).__name__
        raise DataError(f"{where}: splits must have exactly the keys {SPLIT_NAMES}, found {keys}; regenerate it with make_splits")
    clean: dict[str, list[str]] = {}
    for name in SPLIT_NAMES:
        values = splits[name]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise DataError(f"{where}: split {name!r} must be a list of subject id strings; regenerate it with make_splits")
        clean[name] = list(values)
    seen: dict[str, str] = {}
    for name in SPLIT_NAMES:
        for v in clean[name]:
            if v in seen:
                raise DataError(f"{where}: subject {v!r} is in both {seen[v]!r} and {name!r}; splits must be disjoint")
            seen[v] = name
    return clean


def save_splits(splits: Mapping[str, Sequence[str]], path: str | os.PathLike) -> Path:
    """Write `splits` as JSON at `path` atomically (deepnorm.files.atomic_write_text); returns the path."""
    path = Path(path)
    data = _validate({k: list(v) for k, v in splits.items()}, f"save_splits({path})")
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def load_splits(path: str | os.PathLike) -> dict[str, list[str]]:
    """Read and validate a splits JSON file; DataError naming the file when it is missing or bad."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"splits file {path} does not exist; create it with save_splits(make_splits(...), path)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"splits file {path} is not valid JSON ({err}); delete it and regenerate it") from None
    return _validate(data, f"splits file {path}")
