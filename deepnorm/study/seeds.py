"""Result tables of several seeds, aggregated into mean ± sd.

A study run over several seeds writes each seed's tables to ``results/seed-N/`` (``table2.csv`` …
``table7.csv``, ``table7_confusion.json``), every seed with the same rows. :func:`aggregate_results`
reads them and writes, into ``results/`` itself, tables of the same rows where each numeric
column ``<col>`` holds the mean over seeds, ``<col>_std`` the sample standard deviation over
seeds (``nan`` with a single seed: one training has no spread), and ``n_seeds`` the number of
seeds; ``seeds.json`` lists the seeds used. The report and the claim judges read those tables.

    aggregate_results(Path("results"))          # every results/seed-N folder
    aggregate_results(Path("results"), [0, 1])  # only seeds 0 and 1

A reproduction of some notebooks only (``deepnorm reproduce --only``, ``make reproduce-scale``)
aggregates with :func:`aggregate_partial`: the tables it wrote, and only those no other seed's
folder holds, so it never replaces the mean over seeds of a table it did not rerun in every seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.errors import DataError
from deepnorm.files import read_json, read_table, write_json, write_table

#: The result tables that are aggregated over seeds.
TABLES: tuple[str, ...] = ("table2", "table3", "table4", "table5", "table6", "table7", "data_sites", "data_jsd",
                            "table3_beyond", "table4_beyond", "unseen_site", "unseen_scanner", "i1")
#: Numeric columns that identify a row (a setting of the experiment), never averaged.
KEY_COLUMNS: frozenset[str] = frozenset({"alpha", "lam"})

_SEED_FOLDER = re.compile(r"^seed-(\d+)$")

Row = Mapping[str, Any]


def seed_folder(results: Path, seed: int) -> Path:
    """``results/seed-<seed>``: where one seed's tables are written."""
    return Path(results) / f"seed-{int(seed)}"


def seed_folders(results: Path) -> dict[int, Path]:
    """The ``seed-N`` folders under `results`, by seed, in increasing seed order."""
    found = {}
    folder = Path(results)
    if folder.is_dir():
        for path in folder.iterdir():
            match = _SEED_FOLDER.match(path.name)
            if match and path.is_dir():
                found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _key_columns(rows: Sequence[Row]) -> list[str]:
    """Columns that name a row: the non-numeric ones and those of :data:`KEY_COLUMNS`."""
    if not rows:
        return []
    keys = []
    for column in rows[0]:
        if column in KEY_COLUMNS or not all(_is_number(r.get(column)) for r in rows):
            keys.append(column)
    return keys


def _row_key(row: Row, keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(row.get(k)) for k in keys)


def aggregate_rows(tables: Sequence[Sequence[Row]], *, name: str = "table",
                   labels: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Mean ± sd over seeds of one table given once per seed (`tables[i]`: the rows of seed i).

    Rows are matched by their key columns (text columns, and ``alpha``/``lam``); every seed must
    hold the same rows. Each numeric column ``c`` becomes ``c`` (mean over seeds, ``nan`` values
    left out), ``c_std`` (sample sd, ddof = 1; ``nan`` with fewer than two values) and the row
    gains ``n_seeds``. Rows keep the first seed's order. `name` and `labels` (one per seed, e.g.
    the seed folders) only serve the error messages.
    """
    tables = [list(t) for t in tables]
    if not tables:
        return []
    labels = list(labels) if labels is not None else [f"seed {i}" for i in range(len(tables))]
    first = tables[0]
    keys = _key_columns(first)
    values = [c for c in (first[0] if first else {}) if c not in keys]
    order = [_row_key(r, keys) for r in first]
    if len(set(order)) != len(order):
        raise DataError(f"{name} of {labels[0]} has two rows with the same {keys}: cannot match rows across seeds")
    by_seed: list[dict[tuple[str, ...], Row]] = []
    for label, rows in zip(labels, tables):
        indexed = {_row_key(r, keys): r for r in rows}
        if set(indexed) != set(order) or len(rows) != len(order):
            missing = sorted(set(order) - set(indexed))
            extra = sorted(set(indexed) - set(order))
            raise DataError(
                f"{name} of {label} does not hold the rows of {labels[0]} (missing {missing}, extra {extra}): "
                "every seed must run the same experiments; rerun that seed or leave it out"
            )
        by_seed.append(indexed)
    out = []
    for key in order:
        base = by_seed[0][key]
        row: dict[str, Any] = {k: base[k] for k in keys}
        for column in values:
            samples = np.asarray([float(s[key].get(column, math.nan)) for s in by_seed], dtype=float)
            samples = samples[~np.isnan(samples)]
            row[column] = float(samples.mean()) if samples.size else math.nan
            row[f"{column}_std"] = float(samples.std(ddof=1)) if samples.size >= 2 else math.nan
        row["n_seeds"] = len(tables)
        out.append(row)
    return out


def aggregate_confusions(confusions: Sequence[Mapping[str, Any]], *, labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """Element-wise mean ± sd over seeds of ``table7_confusion.json`` contents.

    Each item maps a λ (text) to ``{"matrix": (K+1)x(K+1) rows, "classes": [...]}``; the result has
    the same λ keys with the mean ``matrix``, ``matrix_std`` (sample sd; ``nan`` with one seed),
    ``classes`` and ``n_seeds``. Every seed must hold the same λ values.
    """
    confusions = list(confusions)
    if not confusions:
        return {}
    labels = list(labels) if labels is not None else [f"seed {i}" for i in range(len(confusions))]
    lams = list(confusions[0])
    out: dict[str, Any] = {}
    for label, item in zip(labels, confusions):
        if set(item) != set(lams):
            raise DataError(f"table7_confusion of {label} has λ {sorted(item)}, not {sorted(lams)}: every seed must run the same λ")
    for lam in lams:
        stack = np.asarray([c[lam]["matrix"] for c in confusions], dtype=float)  # (seeds, K+1, K+1)
        std = stack.std(axis=0, ddof=1) if len(stack) >= 2 else np.full(stack.shape[1:], math.nan)
        out[lam] = {"matrix": stack.mean(axis=0).tolist(), "matrix_std": std.tolist(),
                    "classes": confusions[0][lam].get("classes"), "n_seeds": len(confusions)}
    return out


def aggregate_results(results: Path, seeds: Sequence[int] | None = None,
                      tables: Sequence[str] | None = None) -> dict[str, Any]:
    """Aggregate ``results/seed-N/`` into mean ± sd tables written to `results`; returns them.

    `seeds` picks the seeds (default: every ``seed-N`` folder). A table missing in every chosen
    seed is skipped; missing in some only, it is an error. `tables` (default: every one of
    :data:`TABLES` and ``table7_confusion``) limits what is aggregated and written; only the whole
    aggregate also writes ``seeds.json``: ``{"seeds": [...]}``.
    """
    results = Path(results)
    found = seed_folders(results)
    chosen = sorted(found) if seeds is None else [int(s) for s in seeds]
    absent = [s for s in chosen if s not in found]
    if absent or not chosen:
        raise DataError(
            f"no results for seed(s) {absent or 'any'} under {results} (found {sorted(found)}): "
            "run the study for those seeds first (results/seed-N/)"
        )
    folders = [found[s] for s in chosen]
    out: dict[str, Any] = {}
    wanted = set(TABLES) | {"table7_confusion"} if tables is None else set(tables)
    for name in (t for t in TABLES if t in wanted):
        seed_tables = [read_table(name, f) for f in folders]
        present = [bool(t) for t in seed_tables]
        if not any(present):
            continue
        if not all(present):
            lacking = [f.name for f, p in zip(folders, present) if not p]
            raise DataError(f"{name}.csv is missing in {lacking} but present in other seeds: rerun those seeds")
        out[name] = aggregate_rows(seed_tables, name=name, labels=[f.name for f in folders])
        write_table(name, out[name], results)
    confusions = [read_json("table7_confusion", f) for f in folders] if "table7_confusion" in wanted else []
    if any(c is not None for c in confusions):
        if any(c is None for c in confusions):
            raise DataError("table7_confusion.json is missing in some seeds: rerun those seeds")
        out["table7_confusion"] = aggregate_confusions(confusions, labels=[f.name for f in folders])
        write_json("table7_confusion", out["table7_confusion"], results)
    if tables is None:
        write_json("seeds", {"seeds": chosen}, results)
    out["seeds"] = chosen
    return out


def aggregate_partial(results: Path, seeds: Sequence[int], written: Sequence[str]) -> list[str]:
    """Aggregate, after a reproduction of some notebooks over `seeds`, the tables it `written`
    (names without suffix) that no other seed's folder holds; returns one line per table left as
    it was (another seed holds older rows of it, so its mean over seeds stays the earlier one).

    Never touches a table the reproduction did not write, nor ``seeds.json``.
    """
    results = Path(results)
    others = [folder for seed, folder in seed_folders(results).items() if seed not in set(seeds)]
    fresh, notes = [], []
    for name in sorted(set(written) & (set(TABLES) | {"table7_confusion"})):
        suffix = ".json" if name == "table7_confusion" else ".csv"
        holders = [folder.name for folder in others if (folder / f"{name}{suffix}").is_file()]
        if holders:
            notes.append(f"results/{name}{suffix} left as it was: {', '.join(holders)} hold earlier {name} rows; "
                         f"this run's are in {', '.join(f'seed-{s}' for s in seeds)}/ (rerun every seed to refresh "
                         "the mean: make reproduce SEEDS=N)")
        else:
            fresh.append(name)
    if fresh:
        aggregate_results(results, seeds, tables=fresh)
    return notes


__all__ = ["TABLES", "KEY_COLUMNS", "seed_folder", "seed_folders", "aggregate_rows", "aggregate_confusions",
           "aggregate_results", "aggregate_partial"]
