"""Long cases that ``make test`` leaves out and ``make test-slow`` runs (``-m slow``)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every data file; PHANTOM.json is left out (it records the build time)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "PHANTOM.json"}


@pytest.mark.slow
def test_cpu_phantom_rebuilds_byte_identical(tmp_path):
    """Two builds of the `cpu` phantom (about 35 s each) write the same bytes."""
    from deepnorm.data.phantom.build import build_phantom

    first = build_phantom(tmp_path / "a", profile="cpu", seed=0, progress=False)
    second = build_phantom(tmp_path / "b", profile="cpu", seed=0, progress=False)
    assert _digests(first) == _digests(second)


def test_make_test_slow_selects_tests():
    """`make test-slow` runs ``pytest -m slow``: it must select something, or pytest exits with code 5."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "slow", str(ROOT / "tests")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "test_cpu_phantom_rebuilds_byte_identical" in result.stdout
