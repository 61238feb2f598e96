"""What a reader sees: display names for the result tables, and the paper's numbers beside ours.

The result tables (``results/<table>.csv``) use short keys (``dice_csf``, ``iseg``, ``adversarial``);
a notebook shows them with the names of the paper (CSF, iSEG-2017, Ours), which live in
``deepnorm.plots.names``. :func:`paper_beside_ours` builds each of Tables 2-7 as the paper's numbers
beside ours, once: each experiment notebook ends with it in :func:`conclusion` (with the verdict on
the table's claims), and REPORT.md (``deepnorm.study.report``) shows the same rows.

    display(Markdown(conclusion("table2", ctx.results_dir)))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import ConfigError
from deepnorm.files import read_json, read_table
from deepnorm.paths import results_dir as default_results_dir
from deepnorm.plots.names import COLUMN_NAMES, METHOD_NAMES, MODALITY_NAMES, SETTING_NAMES, STAGE_NAMES
from deepnorm.study import claims, paper

Value = str | float | int
Row = Mapping[str, Any]

#: The claims each table decides (docs/reproduction.md, section 4).
TABLE_CLAIMS: dict[str, tuple[str, ...]] = {
    "table2": ("C1",), "table3": ("C2", "C3", "C9"), "table4": ("C4",), "table5": ("C5",),
    "table6": ("C6",), "table7": ("C7", "C8"),
}
#: The paper's tables, in order.
TABLES: tuple[str, ...] = tuple(TABLE_CLAIMS)
#: Tables of the experiments beyond the paper (notebook 07_beyond_unseen_site).
BEYOND_TABLES: tuple[str, ...] = ("table3_beyond", "table4_beyond", "unseen_site", "unseen_scanner")

_VALUE_NAMES: dict[str, Mapping[str, str]] = {
    "train_site": SITE_NAMES, "test_site": SITE_NAMES, "site": SITE_NAMES, "setting": SETTING_NAMES,
    "method": METHOD_NAMES, "stage": STAGE_NAMES, "modalities": MODALITY_NAMES, "held_out": SITE_NAMES,
}
#: Columns whose values join several site keys ("iseg–mrbrains", "iseg+mrbrains").
_JOINED_SITES: dict[str, str] = {"pair": "–", "trained_on": "+"}


def column_name(key: str) -> str:
    """The display name of a result-table column (the key itself when it has none)."""
    return COLUMN_NAMES.get(key, key)


def value_name(key: str, value: Value) -> Value:
    """The display form of `value` in column `key`: site, method, setting, stage or input names."""
    if key in _JOINED_SITES and isinstance(value, str):
        sep = _JOINED_SITES[key]
        if value.startswith("abide scanners"):
            return "ABIDE scanners" + value[len("abide scanners"):]
        return f" {sep} ".join(SITE_NAMES.get(part, part) for part in value.split(sep))
    names = _VALUE_NAMES.get(key)
    return names.get(str(value), value) if names is not None and isinstance(value, str) else value


def display_rows(rows: Sequence[Row]) -> list[dict[str, Value]]:
    """`rows` with display names for columns and values (numbers unchanged)."""
    return [{column_name(k): value_name(k, v) for k, v in row.items()} for row in rows]


def fmt(value: Any, digits: int = 3) -> str:
    """One number as text: a float to `digits` decimals, an integer as itself, "–" for a missing value
    (None, empty, or NaN: a site without a second contrast, a method without D)."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cell(row: Row, column: str, digits: int = 3, scale: float = 1.0) -> str:
    """Our value of `column` in `row` times `scale`: ``mean ± sd`` when the row has a finite
    ``<column>_std`` (a mean over seeds), else the value; "–" when `row` lacks it."""
    value = row.get(column)
    if value is None or value == "":
        return "–"
    try:
        mean = float(value) * scale
    except (TypeError, ValueError):
        return str(value)
    try:
        sd = float(row.get(f"{column}_std")) * scale  # type: ignore[arg-type]
    except (TypeError, ValueError):
        sd = math.nan
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{mean:.{digits}f}"


def percent(row: Row, column: str) -> str:
    """A fraction of `row` as a percentage (``mean ± sd %`` over seeds), or "–"."""
    return "–" if row.get(column) in (None, "") else f"{cell(row, column, 1, 100.0)} %"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """`header` and `rows` (cells already text, or shown with ``str``) as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def markdown(rows: Sequence[Row], digits: int = 3) -> str:
    """`rows` (dicts with the same keys) as a Markdown table with display names; floats to `digits`."""
    if not rows:
        return "(no rows)"
    shown = display_rows(rows)
    keys = list(shown[0])
    return markdown_table(keys, [[fmt(r.get(k), digits) for k in keys] for r in shown])


def evaluated_on(data_root: str | Path, sites: Sequence[str], seed: int = 0) -> str:
    """One sentence on the test subjects a Dice table rests on: how many per site under `data_root`
    (the split of `seed`), and how many volumes in all."""
    from deepnorm.data.prepared import site_splits

    counts = {site: len(site_splits(data_root, site, seed)["test"]) for site in sites}
    parts = ", ".join(f"{SITE_NAMES.get(s, s)} {n} subject{'' if n == 1 else 's'}" for s, n in counts.items())
    total = sum(counts.values())
    return (f"*Test set:* {parts}; each Dice above rests on {total} volume{'' if total == 1 else 's'} "
            f"(the paper's split of each site), so a difference of a few hundredths may be one subject's.")


def find(rows: Sequence[Row], **keys: Value) -> Row:
    """The first of `rows` whose values equal `keys` (compared as text), or {}."""
    for row in rows:
        if all(str(row.get(k)) == str(v) for k, v in keys.items()):
            return row
    return {}


def load_tables(folder: str | Path | None = None) -> dict[str, Any]:
    """Every result table in `folder` (default ``results/``) as rows, the one place they are read:
    Tables 2-7, Table 7's confusion matrices (and their sd over seeds) keyed by float λ, the seeds,
    the data tables, I1, the tables beyond the paper and the scale study's (from ``seed-0/`` when the
    folder has none: ``make reproduce-scale`` runs one seed). A table never written is []."""
    base = Path(folder) if folder is not None else default_results_dir()
    tables: dict[str, Any] = {name: read_table(name, base) for name in TABLES}
    confusion = read_json("table7_confusion", base) or {}
    tables["table7_confusion"] = {float(k): v["matrix"] for k, v in confusion.items()}
    tables["table7_confusion_std"] = {float(k): v["matrix_std"] for k, v in confusion.items() if "matrix_std" in v}
    tables["seeds"] = (read_json("seeds", base) or {}).get("seeds")
    tables["table4_legacy"] = read_table("table4", base)
    for name in ("data_sites", "data_jsd", "i1", *BEYOND_TABLES):
        tables[name] = read_table(name, base)
    tables["scale"] = read_table("scale", base) or read_table("scale", base / "seed-0")
    return tables


_TISSUES = ("csf", "gm", "wm", "mean")
_EMPTY = "Empty CSF/GM/WM"
_MHD = "MHD (paper: voxels; ours: mm)"


def _empties(row: Row) -> str:
    """``CSF/GM/WM`` counts of test subjects whose prediction lacks a tissue, or "–" if not recorded."""
    if "empty_csf" not in row:
        return "–"
    return "/".join(fmt(row.get(f"empty_{t}"), 0) for t in ("csf", "gm", "wm"))


def _beyond_name(name: str) -> str:
    return name if "beyond the paper" in name else f"{name} (beyond the paper)"


Table = tuple[list[str], list[list[str]]]


def _table2(tables: Mapping[str, Any]) -> Table:
    rows = tables.get("table2") or []
    body = []
    for (a, b), ref in paper.TABLE2.items():
        ours = find(rows, train_site=a, test_site=b)
        body.append([SITE_NAMES[a], SITE_NAMES[b]] + [f"{ref[c]:.3f} / {cell(ours, 'dice_' + c)}" for c in _TISSUES])
    header = ["Trained on", "Tested on", "CSF", "GM", "WM", "Mean Dice"]
    if any("empty_csf" in r for r in rows):
        header.append(_EMPTY)
        body = [line + [_empties(find(rows, train_site=a, test_site=b))] for line, (a, b) in zip(body, paper.TABLE2)]
    return header, body


def _beside(ref: Mapping[str, float] | None, ours: Row, column: str) -> str:
    """"paper / ours" of `column`; the paper's side is "–" for a row it does not have (`ref` None)."""
    return f"{ref[column]:.3f} / {cell(ours, column)}" if ref is not None else f"– / {cell(ours, column)}"


def _table3(tables: Mapping[str, Any]) -> Table:
    rows = list(tables.get("table3") or []) + [{**r, "_beyond": True} for r in tables.get("table3_beyond") or []]
    empties = any("empty_csf" in r for r in rows)
    columns = [f"dice_{c}" for c in _TISSUES] + ["mhd_mean"]
    body = []
    for (setting, method), ref in paper.TABLE3.items():
        ours = find(rows, setting=setting, method=method)
        body.append([SETTING_NAMES[setting], METHOD_NAMES[method], *(_beside(ref, ours, c) for c in columns)]
                    + ([_empties(ours)] if empties else []))
    for ours in rows:  # rows the paper does not have (standardization_brain, the methods beyond the paper)
        setting, method = str(ours.get("setting")), str(ours.get("method"))
        if (setting, method) in paper.TABLE3:
            continue
        name = METHOD_NAMES.get(method, method)
        body.append([SETTING_NAMES.get(setting, setting), _beyond_name(name) if ours.get("_beyond") else name,
                     *(_beside(None, ours, c) for c in columns)] + ([_empties(ours)] if empties else []))
    return ["Sites", "Method", "CSF", "GM", "WM", "Mean Dice", _MHD] + ([_EMPTY] if empties else []), body


def _table4(tables: Mapping[str, Any]) -> Table:
    rows, beyond = tables.get("table4") or [], tables.get("table4_beyond") or []
    body = []
    for setting, ref in paper.TABLE4.items():
        for stage in ("inputs", "preprocessor", "adversarial"):
            ours = find(rows, setting=setting, stage=stage)
            body.append([SETTING_NAMES[setting], STAGE_NAMES[stage], f"{ref[stage]:.4f}", cell(ours, "jsd_legacy", 4),
                         cell(ours, "jsd", 4)])
        for ours in (r for r in beyond if str(r.get("setting")) == setting):
            stage = str(ours.get("stage"))
            body.append([SETTING_NAMES[setting], _beyond_name(STAGE_NAMES.get(stage, stage)), "–",
                         cell(ours, "jsd_legacy", 4), cell(ours, "jsd", 4)])
    return ["Sites", "Images", "Paper (authors' quantity)", "Ours (authors' quantity)", "Ours (JSD, nats)"], body


def _table5(tables: Mapping[str, Any]) -> Table:
    rows = tables.get("table5") or []
    body = [[MODALITY_NAMES[m], f"{ref['dice_mean']:.3f} / {cell(find(rows, modalities=m), 'dice_mean')}",
             f"{ref['mhd_mean']:.3f} / {cell(find(rows, modalities=m), 'mhd_mean')}"] for m, ref in paper.TABLE5.items()]
    return ["Input", "Mean Dice", _MHD], body


def _table6(tables: Mapping[str, Any]) -> Table:
    rows = tables.get("table6") or []
    wm = any("rho_degraded_wm" in r for r in rows)

    def ours(site: str, alpha: float) -> list[str]:
        row = find(rows, site=site, alpha=alpha)
        return ([f"{cell(row, 'rho_degraded')} → {cell(row, 'rho_normalized')}"]
                + ([f"{cell(row, 'rho_degraded_wm')} → {cell(row, 'rho_normalized_wm')}"] if wm else []))

    body = [[SITE_NAMES[site], "clean", f"{ref:.3f} → –", *ours(site, 0.0)] for site, ref in paper.TABLE6_CLEAN.items()]
    body += [[SITE_NAMES[site], f"{alpha:.1f}", f"{refs['degraded']:.3f} → {refs['normalized']:.3f}", *ours(site, alpha)]
             for (site, alpha), refs in paper.TABLE6.items()]
    header = ["Site", "α", "ρ paper, degraded → normalized", "ρ ours, degraded → normalized"]
    return header + (["ρ ours, white matter only"] if wm else []), body


def _table7(tables: Mapping[str, Any]) -> Table:
    rows = tables.get("table7") or []
    body = []
    for lam, ref in paper.TABLE7.items():
        ours = find(rows, lam=lam)
        body.append([f"{lam:g}", f"{ref['dice_mean']:.3f} / {cell(ours, 'dice_mean')}",
                     f"{100 * ref['d_train_acc']:.1f} % / {percent(ours, 'd_train_acc')}",
                     f"{100 * ref['d_test_acc']:.1f} % / {percent(ours, 'd_test_acc')}"])
    return ["λ", "Mean Dice", "D train accuracy", "D test accuracy"], body


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Table]] = {
    "table2": _table2, "table3": _table3, "table4": _table4, "table5": _table5, "table6": _table6, "table7": _table7,
}


def paper_beside_ours(table: str, tables: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of `table` ("table2".."table7"), plain text with display names: the paper's number
    beside ours in each cell, ours ``mean ± sd`` over seeds where `tables` (:func:`load_tables`) has a
    spread, "–" for a number not measured. Tables 3 and 4 add our rows that the paper does not have
    (its tables beyond the paper among them, when `tables` holds them); Tables 2 and 3 count the test
    subjects with an empty tissue when recorded. The notebooks and REPORT.md show these rows.
    """
    if table not in _BUILDERS:
        raise ConfigError(f"table={table!r}: use one of {sorted(TABLE_CLAIMS)}")
    return _BUILDERS[table](tables)


def verdicts(table: str, results_dir: str | Path) -> list[claims.Verdict]:
    """The verdicts on the claims `table` decides, judged on the result files in `results_dir`."""
    if table not in TABLE_CLAIMS:
        raise ConfigError(f"table={table!r}: use one of {sorted(TABLE_CLAIMS)}")
    return _verdicts(table, load_tables(results_dir))


def _verdicts(table: str, tables: Mapping[str, Any]) -> list[claims.Verdict]:
    return [v for v in claims.judge_all(tables) if v.claim in TABLE_CLAIMS[table]]


_KEYS_IN_TEXT: dict[str, str] = {**SITE_NAMES, **{f"{k}:": f"{v}:" for k, v in SETTING_NAMES.items()},
                                  "standardization": "Standardization", "pre-processor": "Pre-processor",
                                  "ours": "Ours"}
_KEY_PATTERN = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(_KEYS_IN_TEXT, key=len, reverse=True)) + r")(?![\w-])")


def readable(text: str) -> str:
    """`text` (a claim's evidence) with site, setting and method keys replaced by their display names."""
    return _KEY_PATTERN.sub(lambda m: _KEYS_IN_TEXT[m.group(1)], text)


def conclusion(table: str, results_dir: str | Path) -> str:
    """Markdown: the paper's numbers beside ours for `table`, then the verdict on each of its claims.

    A notebook shows the paper's experiments: the tables beyond the paper (another notebook's, perhaps
    of an earlier run) stay out of its rows; REPORT.md adds those of its own run.
    """
    if table not in TABLE_CLAIMS:
        raise ConfigError(f"table={table!r}: use one of {sorted(TABLE_CLAIMS)}")
    tables = load_tables(results_dir)
    header, rows = paper_beside_ours(table, {k: v for k, v in tables.items() if k not in BEYOND_TABLES})
    name = table.replace("table", "Table ")
    parts = [f"**{name}, paper / ours**", "", markdown_table(header, rows), "", "**Claims**", ""]
    parts.append(markdown_table(["claim", "statement", "verdict", "numbers"],
                                [[v.claim, v.text, f"**{v.verdict}**", readable(v.evidence)]
                                 for v in _verdicts(table, tables)]))
    return "\n".join(parts)


__all__ = ["BEYOND_TABLES", "COLUMN_NAMES", "METHOD_NAMES", "MODALITY_NAMES", "SETTING_NAMES", "STAGE_NAMES",
           "TABLES", "TABLE_CLAIMS", "cell", "column_name", "conclusion", "display_rows", "evaluated_on", "find", "fmt",
           "load_tables", "markdown", "markdown_table", "paper_beside_ours", "percent", "readable", "value_name",
           "verdicts"]
