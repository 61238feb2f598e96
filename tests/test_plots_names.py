"""Display names: one spelling of each, defined in one module (deepnorm.plots.names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deepnorm.data.sites import SITE_NAMES
from deepnorm.plots import names
from deepnorm.study import display, experiments

PACKAGE = Path(names.__file__).resolve().parents[1]


def test_a_setting_is_named_by_its_sites():
    assert set(names.SETTING_NAMES) == set(experiments.SETTINGS)
    for key, sites in experiments.SETTINGS.items():
        assert names.SETTING_NAMES[key] == " + ".join(SITE_NAMES[s] for s in sites)


@pytest.mark.parametrize("table", ["SITE_NAMES", "SETTING_NAMES", "METHOD_NAMES", "STAGE_NAMES", "MODALITY_NAMES"])
def test_each_table_of_names_is_defined_in_one_module(table):
    assignment = re.compile(rf"^{table}\b[^=\n]*=", re.M)
    defined = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
               if assignment.search(p.read_text(encoding="utf-8"))]
    assert len(defined) == 1, f"{table} is defined in {defined}"


def test_the_notebooks_tables_use_the_names_of_the_figures():
    for table in ("SETTING_NAMES", "METHOD_NAMES", "STAGE_NAMES", "MODALITY_NAMES"):
        assert getattr(display, table) is getattr(names, table)
