"""Beyond the paper: classical normalizers, contrast randomisation, and sites that training never saw.

Three experiments the paper does not run, each a library call of the notebook
``07_beyond_unseen_site``; every method trains with the same effort as the paper's (the profile's
updates for two or three sites), each followed by the same segmenter S.

- :func:`table3_beyond`: the classical normalizers and contrast randomisation on the paper's
  Table 3 settings (``results/table3_beyond.csv``: the same columns as ``table3.csv``); the
  report adds them to Table 3 marked "beyond the paper".
- :func:`table4_beyond`: the JSD between sites of the classical normalizers' outputs
  (``results/table4_beyond.csv``, the columns of ``table4.csv``).
- :func:`unseen_site`: train on two sites, test on the third, for every rotation of the three
  sites (``results/unseen_site.csv``: one row per method and rotation, and a ``mean`` row per
  method over rotations). The paper's methods on iSEG + MRBrainS are Table 3's runs.
- :func:`unseen_scanner`: train on all three sites without one ABIDE scanner, test on that
  scanner's subjects (``results/unseen_scanner.csv``).

    ctx = Context(profile="cpu")
    rows = unseen_site(ctx)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deepnorm.errors import ConfigError
from deepnorm.evaluation import evaluate as ev
from deepnorm.files import write_table
from deepnorm.study import claims
from deepnorm.study.experiments import (
    SETTINGS,
    Context,
    _cached,
    _mean_row,
    _setting,
    jsd_of,
    run_for,
    scores,
    split_subjects,
)
from deepnorm.training.config import RANDOMISATION_METHODS

#: Classical normalizers (intensity-normalization), each followed by S (claims B1, B2).
CLASSICAL: tuple[str, ...] = claims.CLASSICAL
#: Contrast randomisation (SynthSeg-style augmentation of S, no normalizer): the one method of
#: :data:`deepnorm.training.config.RANDOMISATION_METHODS`.
(RANDOMISATION,) = RANDOMISATION_METHODS
#: The paper's four methods, in Table 3's order with the segmenter alone first.
PAPER_METHODS: tuple[str, ...] = ("segmenter", "standardization", "preprocessor", "adversarial")
#: Every method of the unseen-site table.
UNSEEN_METHODS: tuple[str, ...] = PAPER_METHODS + CLASSICAL + (RANDOMISATION,)
#: The three sites; each rotation trains on two and tests on the third.
SITES3: tuple[str, ...] = SETTINGS["multi"]


def rotations(sites: Sequence[str] = SITES3) -> list[tuple[tuple[str, ...], str]]:
    """Every (training sites, held-out site) of `sites`: each site held out once, the others trained on.

    >>> rotations(("iseg", "mrbrains", "abide"))[0]
    (('mrbrains', 'abide'), 'iseg')
    """
    sites = tuple(sites)
    if len(sites) < 3:
        raise ConfigError(f"an unseen site needs three sites or more, got {sites}")
    return [(tuple(s for s in sites if s != held), held) for held in sites]


def _check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    from deepnorm.training.methods import REGISTRY

    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; expected some of {', '.join(REGISTRY)}")
    return tuple(methods)


def table3_beyond(ctx: Context, settings: Sequence[str] = ("dual", "multi"),
                  methods: Sequence[str] = CLASSICAL + (RANDOMISATION,)) -> list[dict[str, Any]]:
    """Table 3's rows (Dice, MHD, empty predictions) for methods beyond the paper, per setting."""
    rows = []
    for setting in settings:
        sites = _setting(setting)
        for method in _check_methods(methods):
            per_subject = scores(ctx, run_for(ctx, method, sites), sites)
            shared = [r for r in per_subject if r["site"] in SETTINGS["dual"]]
            rows.append({"setting": setting, "method": method, **_mean_row(per_subject),
                         "dice_mean_shared": _mean_row(shared)["dice_mean"]})
    write_table("table3_beyond", rows, Path(ctx.results_dir))
    return rows


def table4_beyond(ctx: Context, settings: Sequence[str] = ("dual", "multi"),
                  methods: Sequence[str] = CLASSICAL) -> list[dict[str, Any]]:
    """Table 4's rows (true and legacy JSD between sites) of the classical normalizers' outputs."""
    rows = []
    for setting in settings:
        sites = _setting(setting)
        for method in _check_methods(methods):
            values = jsd_of(ctx, run_for(ctx, method, sites), sites, normalized=True)
            rows.append({"setting": setting, "stage": method, "jsd": values["jsd"], "jsd_legacy": values["jsd_legacy"]})
    write_table("table4_beyond", rows, Path(ctx.results_dir))
    return rows


def unseen_site(ctx: Context, methods: Sequence[str] = UNSEEN_METHODS,
                sites: Sequence[str] = SITES3) -> list[dict[str, Any]]:
    """Dice/MHD on a site training never saw, per method and rotation, plus a ``mean`` row per method.

    Rows: ``method``, ``held_out`` (a site key, or ``mean`` over the rotations), ``trained_on``
    (``iseg+mrbrains`` ...), the means over the held-out site's test subjects of Dice and MHD (mm)
    per tissue, and ``seen_dice_mean``: the same run's mean Dice on its training sites' test
    subjects, so that the cost of the new site reads beside it.
    """
    methods = _check_methods(methods)
    rows: list[dict[str, Any]] = []
    for method in methods:
        per_rotation = []
        for trained, held in rotations(sites):
            run = run_for(ctx, method, trained)
            unseen = _mean_row(scores(ctx, run, (held,)))
            seen = _mean_row(scores(ctx, run, trained))
            row = {"method": method, "held_out": held, "trained_on": "+".join(trained), **unseen,
                   "seen_dice_mean": seen["dice_mean"]}
            per_rotation.append(row)
        rows += per_rotation
        numeric = [k for k, v in per_rotation[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        rows.append({"method": method, "held_out": "mean", "trained_on": "two of three",
                     **{k: float(np.mean([r[k] for r in per_rotation])) for k in numeric}})
    write_table("unseen_site", rows, Path(ctx.results_dir))
    return rows


#: The ABIDE scanner held out of the four-site case: on the phantom the only GE/SPGR scanner, whose
#: contrast curve differs most from the others by construction (chosen from the phantom's design,
#: before any run; with real data, pass the scanner to hold out).
HOLDOUT_SCANNER = "STANFORD"


def unseen_scanner(ctx: Context, scanner: str = HOLDOUT_SCANNER, methods: Sequence[str] = UNSEEN_METHODS,
                   sites: Sequence[str] = SITES3) -> list[dict[str, Any]]:
    """Dice/MHD on one ABIDE scanner that training never saw, trained on every site without it.

    Rows: ``method``, ``held_out`` (the scanner), ``n_subjects`` (its subjects, all tested), the
    means of Dice and MHD (mm) per tissue over them, and ``seen_dice_mean`` over the test
    subjects of the other scanners and sites.
    """
    methods = _check_methods(methods)
    rows = []
    for method in methods:
        run = run_for(ctx, method, sites, holdout_scanners=(scanner,))

        def compute(run: Any = run) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for site in sites:
                out += ev.segmentation_scores(split_subjects(ctx, run, site), run.segment_volume, progress=ctx.progress)
            return out

        per_subject = _cached(run, "scores", ctx, compute, sites=list(sites))
        subjects = {(p.site, p.subject_id): p.scanner for site in sites for p in split_subjects(ctx, run, site)}
        held = [r for r in per_subject if subjects.get((r["site"], r["subject"])) == scanner]
        seen = [r for r in per_subject if subjects.get((r["site"], r["subject"])) != scanner]
        if not held:
            raise ConfigError(f"scanner {scanner!r} has no test subject under {ctx.data_root}; pass one of "
                              f"{sorted(set(subjects.values()) - {''})}")
        rows.append({"method": method, "held_out": scanner, "n_subjects": len(held), **_mean_row(held),
                     "seen_dice_mean": _mean_row(seen)["dice_mean"]})
    write_table("unseen_scanner", rows, Path(ctx.results_dir))
    return rows


__all__ = ["HOLDOUT_SCANNER", "unseen_scanner", "CLASSICAL", "PAPER_METHODS", "RANDOMISATION", "SITES3", "UNSEEN_METHODS", "rotations",
           "table3_beyond", "table4_beyond", "unseen_site"]
