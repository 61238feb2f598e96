"""What a reader sees: display names for the result tables, and the paper's numbers beside ours.

The result tables (``results/<table>.csv``) use short keys (``dice_csf``, ``iseg``, ``adversarial``);
a notebook shows them with the names of the paper (CSF, iSEG-2017, Ours). Each experiment notebook
ends with :func:`conclusion`: the paper's numbers beside ours and the verdict on the table's claims,
read from the result files.

    display(Markdown(conclusion("table2", ctx.results_dir)))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from deepnorm.data.sites import SITE_NAMES
from deepnorm.errors import ConfigError
from deepnorm.files import read_json, read_table
from deepnorm.plots import names as plot_names
from deepnorm.study import claims, paper

Value = str | float | int
Row = Mapping[str, Value]

#: Display names of the result tables' columns.
COLUMN_NAMES: dict[str, str] = {
    "train_site": "Trained on", "test_site": "Tested on", "site": "Site", "setting": "Sites",
    "method": "Method", "stage": "Images", "modalities": "Input", "subject": "Subject",
    "dice_csf": "CSF", "dice_gm": "GM", "dice_wm": "WM", "dice_mean": "Mean Dice",
    "dice_mean_shared": "Mean Dice (iSEG-2017 + MRBrainS13 subjects)",
    "mhd_csf": "MHD CSF (mm)", "mhd_gm": "MHD GM (mm)", "mhd_wm": "MHD WM (mm)", "mhd_mean": "MHD (mm)",
    "jsd": "JSD (nats)", "jsd_legacy": "JSD, authors' quantity",
    "alpha": "α", "rho_degraded": "ρ degraded", "rho_normalized": "ρ normalized",
    "lam": "λ", "d_train_acc": "D train accuracy", "d_test_acc": "D test accuracy",
}
#: Display names of the methods (Table 3's columns and the runs).
METHOD_NAMES: dict[str, str] = dict(plot_names.METHOD_NAMES)
#: Display names of Table 3's site sets.
SETTING_NAMES: dict[str, str] = {"dual": "iSEG-2017 + MRBrainS13", "multi": "iSEG-2017 + MRBrainS13 + ABIDE"}
#: Display names of Table 4's image stages.
STAGE_NAMES: dict[str, str] = {"inputs": "Input data", **METHOD_NAMES}
#: Display names of Table 5's inputs.
#: "t2" is a site's second contrast: T2 for iSEG-2017, T2-FLAIR for MRBrainS13.
MODALITY_NAMES: dict[str, str] = {"t1": "T1", "t1+t2": "T1 + T2/FLAIR", "t2": "T2/FLAIR"}
#: The claims each table decides (docs/reproduction.md, section 4).
TABLE_CLAIMS: dict[str, tuple[str, ...]] = {
    "table2": ("C1",), "table3": ("C2", "C3", "C9"), "table4": ("C4",), "table5": ("C5",),
    "table6": ("C6",), "table7": ("C7", "C8"),
}

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


def _fmt(value: Value | None, digits: int = 3) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(rows: Sequence[Row], digits: int = 3) -> str:
    """`rows` (dicts with the same keys) as a Markdown table with display names; floats to `digits`."""
    if not rows:
        return "(no rows)"
    shown = display_rows(rows)
    keys = list(shown[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_fmt(r.get(k), digits) for k in keys) + " |" for r in shown]
    return "\n".join(lines)


def evaluated_on(data_root: str | Path, sites: Sequence[str], seed: int = 0) -> str:
    """One sentence on the test subjects a Dice table rests on: how many per site under `data_root`
    (the split of `seed`), and how many volumes in all."""
    from deepnorm.data.prepared import site_splits

    counts = {site: len(site_splits(data_root, site, seed)["test"]) for site in sites}
    parts = ", ".join(f"{SITE_NAMES.get(s, s)} {n} subject{'' if n == 1 else 's'}" for s, n in counts.items())
    total = sum(counts.values())
    return (f"*Test set:* {parts}; each Dice above rests on {total} volume{'' if total == 1 else 's'} "
            f"(the paper's split of each site), so a difference of a few hundredths may be one subject's.")


def _find(rows: Sequence[Row], **keys: Value) -> Row:
    for row in rows:
        if all(str(row.get(k)) == str(v) for k, v in keys.items()):
            return row
    return {}


def _pair(ref: float, ours: Value | None, digits: int = 3) -> str:
    return f"{ref:.{digits}f} / {_fmt(ours, digits)}"


def _pct(value: Value | None) -> str:
    return "–" if value is None or value == "" else f"{100 * float(value):.1f} %"


def paper_beside_ours(table: str, results_dir: str | Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of `table` ("table2".."table7"): each number as "paper / ours", display names.

    Ours is read from ``<results_dir>/<table>.csv``; a number we did not measure shows as "–".
    """
    rows = read_table(table, Path(results_dir))
    tissues = ("csf", "gm", "wm", "mean")
    if table == "table2":
        body = [[SITE_NAMES[a], SITE_NAMES[b]] + [_pair(ref[c], _find(rows, train_site=a, test_site=b).get(f"dice_{c}"))
                                                  for c in tissues] for (a, b), ref in paper.TABLE2.items()]
        return ["Trained on", "Tested on", "CSF", "GM", "WM", "Mean Dice"], body
    if table == "table3":
        body = []
        for (setting, method), ref in paper.TABLE3.items():
            ours = _find(rows, setting=setting, method=method)
            body.append([SETTING_NAMES[setting], METHOD_NAMES[method]]
                        + [_pair(ref[f"dice_{c}"], ours.get(f"dice_{c}")) for c in tissues]
                        + [_pair(ref["mhd_mean"], ours.get("mhd_mean"))])
        return ["Sites", "Method", "CSF", "GM", "WM", "Mean Dice", "MHD (paper: voxels; ours: mm)"], body
    if table == "table4":
        body = []
        for setting, ref in paper.TABLE4.items():
            for stage in ("inputs", "preprocessor", "adversarial"):
                ours = _find(rows, setting=setting, stage=stage)
                body.append([SETTING_NAMES[setting], STAGE_NAMES[stage], _pair(ref[stage], ours.get("jsd_legacy"), 4),
                             _fmt(ours.get("jsd"), 4)])
        return ["Sites", "Images", "Authors' quantity (paper / ours)", "JSD, nats (ours)"], body
    if table == "table5":
        body = [[MODALITY_NAMES[m], _pair(ref["dice_mean"], _find(rows, modalities=m).get("dice_mean")),
                 _pair(ref["mhd_mean"], _find(rows, modalities=m).get("mhd_mean"))] for m, ref in paper.TABLE5.items()]
        return ["Input", "Mean Dice", "MHD (paper: voxels; ours: mm)"], body
    if table == "table6":
        body = []
        for (site, alpha), ref in paper.TABLE6.items():
            ours = _find(rows, site=site, alpha=alpha)
            body.append([SITE_NAMES[site], f"{alpha:.1f}", _pair(ref["degraded"], ours.get("rho_degraded")),
                         _pair(ref["normalized"], ours.get("rho_normalized"))])
        return ["Site", "α", "ρ degraded", "ρ normalized"], body
    if table == "table7":
        body = []
        for lam, ref in paper.TABLE7.items():
            ours = _find(rows, lam=lam)
            body.append([f"{lam:g}", _pair(ref["dice_mean"], ours.get("dice_mean")),
                         f"{_pct(ref['d_train_acc'])} / {_pct(ours.get('d_train_acc'))}",
                         f"{_pct(ref['d_test_acc'])} / {_pct(ours.get('d_test_acc'))}"])
        return ["λ", "Mean Dice", "D train accuracy", "D test accuracy"], body
    raise ConfigError(f"table={table!r}: use one of {sorted(TABLE_CLAIMS)}")


def load_results(results_dir: str | Path) -> dict[str, object]:
    """The result tables (rows) and Table 7's confusion matrices by λ, as the claim judges take them."""
    folder = Path(results_dir)
    tables: dict[str, object] = {name: read_table(name, folder) for name in TABLE_CLAIMS}
    confusion = read_json("table7_confusion", folder) or {}
    tables["table7_confusion"] = {float(k): v["matrix"] for k, v in confusion.items()}
    return tables


def verdicts(table: str, results_dir: str | Path) -> list[claims.Verdict]:
    """The verdicts on the claims `table` decides, judged on the result files in `results_dir`."""
    if table not in TABLE_CLAIMS:
        raise ConfigError(f"table={table!r}: use one of {sorted(TABLE_CLAIMS)}")
    wanted = TABLE_CLAIMS[table]
    return [v for v in claims.judge_all(load_results(results_dir)) if v.claim in wanted]


_KEYS_IN_TEXT: dict[str, str] = {**SITE_NAMES, **{f"{k}:": f"{v}:" for k, v in SETTING_NAMES.items()},
                                  "standardization": "Standardization", "pre-processor": "Pre-processor",
                                  "ours": "Ours"}
_KEY_PATTERN = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(_KEYS_IN_TEXT, key=len, reverse=True)) + r")(?![\w-])")


def readable(text: str) -> str:
    """`text` (a claim's evidence) with site, setting and method keys replaced by their display names."""
    return _KEY_PATTERN.sub(lambda m: _KEYS_IN_TEXT[m.group(1)], text)


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def conclusion(table: str, results_dir: str | Path) -> str:
    """Markdown: the paper's numbers beside ours for `table`, then the verdict on each of its claims."""
    header, rows = paper_beside_ours(table, results_dir)
    name = table.replace("table", "Table ")
    parts = [f"**{name}, paper / ours**", "", _md(header, rows), "", "**Claims**", ""]
    parts.append(_md(["claim", "statement", "verdict", "numbers"],
                     [[v.claim, v.text, f"**{v.verdict}**", readable(v.evidence)] for v in verdicts(table, results_dir)]))
    return "\n".join(parts)


__all__ = ["COLUMN_NAMES", "METHOD_NAMES", "MODALITY_NAMES", "SETTING_NAMES", "STAGE_NAMES", "TABLE_CLAIMS",
           "column_name", "conclusion", "display_rows", "evaluated_on", "load_results", "markdown", "paper_beside_ours",
           "readable", "value_name", "verdicts"]
