"""CITATION.cff parses as YAML and holds what CFF 1.2.0 requires; LICENSE matches pyproject."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: Keys CFF 1.2.0 requires at the top level, and in a reference (preferred-citation).
REQUIRED = ("cff-version", "message", "title", "authors")
REFERENCE_REQUIRED = ("type", "title", "authors")


def _citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_citation_has_the_required_cff_keys():
    citation = _citation()
    missing = [key for key in REQUIRED if key not in citation]
    assert not missing, f"CITATION.cff lacks {missing}"
    assert citation["cff-version"] == "1.2.0"
    assert citation["type"] == "software"
    assert all(isinstance(a, dict) and ("name" in a or "family-names" in a) for a in citation["authors"])
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert str(citation["version"]) == version


def test_preferred_citation_is_the_paper():
    paper = _citation()["preferred-citation"]
    missing = [key for key in REFERENCE_REQUIRED if key not in paper]
    assert not missing, f"preferred-citation lacks {missing}"
    assert paper["type"] == "article"
    assert paper["title"] == "Realistic image normalization for multi-domain segmentation"
    assert [a["family-names"] for a in paper["authors"]] == ["Delisle", "Anctil-Robitaille", "Desrosiers", "Lombaert"]
    assert paper["journal"] == "Medical Image Analysis"
    assert (paper["volume"], paper["year"]) == (74, 2021)
    assert re.fullmatch(r"10\.\d{4,9}/\S+", paper["doi"])


def test_license_is_the_declared_mit():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"', pyproject, re.M)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the deepnorm authors" in text
