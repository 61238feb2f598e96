"""The study's numbers on the smoke profile are pinned: a restructuring must not move them.

The golden files in ``tests/golden/smoke/`` are the tables of a smoke reproduction (phantom seed
0, training seed 0). A change that is meant to move the numbers regenerates them with
``python tests/golden/regenerate.py`` and says so in its commit message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from golden.regenerate import GOLDEN_FILES

GOLDEN = Path(__file__).resolve().parent / "golden" / "smoke"


@pytest.mark.parametrize("name", GOLDEN_FILES)
def test_smoke_tables_are_byte_identical_to_the_golden_files(smoke_reproduction, name):
    assert smoke_reproduction.exit_code == 0
    written = (smoke_reproduction.results / name).read_text(encoding="utf-8")
    golden = (GOLDEN / name).read_text(encoding="utf-8")
    assert written == golden, f"{name} differs from tests/golden/smoke/{name}"
