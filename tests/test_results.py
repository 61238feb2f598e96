"""Result tables: CSV/JSON round trips and atomic writes."""

from __future__ import annotations

from pathlib import Path

from deepnorm import files as results


def test_table_round_trip(tmp_path: Path) -> None:
    rows = [{"site": "iseg", "alpha": 0.3, "rho": -0.0125}, {"site": "mrbrains", "alpha": 0.5, "rho": 0.25}]
    results.write_table("t", rows, tmp_path)
    assert results.read_table("t", tmp_path) == rows
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_table_is_empty(tmp_path: Path) -> None:
    assert results.read_table("nothing", tmp_path) == []
    assert results.read_json("nothing", tmp_path) is None


def test_json_round_trip(tmp_path: Path) -> None:
    data = {"1.5": {"matrix": [[0.5, 0.5], [0.25, 0.75]], "classes": ["a", "generated"]}}
    results.write_json("c", data, tmp_path)
    assert results.read_json("c", tmp_path) == data


def test_atomic_writes_respect_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    for mask in (0o022, 0o077, 0o002):
        old = os.umask(mask)
        try:
            plain = tmp_path / f"plain-{mask:o}"
            plain.write_bytes(b"x")  # the oracle: what an ordinary open() gives
            written = results.atomic_write_bytes(tmp_path / f"atomic-{mask:o}", b"x")
        finally:
            os.umask(old)
        assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~mask
