"""Checks of the command line's numeric options, made where they are parsed."""

from __future__ import annotations

from deepnorm.errors import ConfigError

#: Largest seed the command line takes: numpy's legacy seed range, well inside torch's.
MAX_SEED = 2**32 - 1


def check_seed(seed: int | None, option: str = "--seed") -> int | None:
    """`seed` when it is None or a whole number in [0, MAX_SEED], else ConfigError naming `option`."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"{option} {seed}: a seed is a whole number from 0 to {MAX_SEED} (e.g. {option} 0)")
    return seed
