"""Exceptions that tell the user what went wrong and how to fix it."""

from __future__ import annotations


class DeepnormError(Exception):
    """Base class of every deepnorm error; the command line prints its message and exits with `exit_code`."""

    exit_code: int = 2


class DataError(DeepnormError, ValueError):
    """Bad input data: the message names the file (or array) and the fix."""


class ConfigError(DeepnormError, ValueError):
    """An invalid configuration value: the message names the field and the allowed values."""


class RunError(DeepnormError, RuntimeError):
    """A training/evaluation run folder is missing, incomplete or incompatible."""


class Interrupted(DeepnormError):
    """Work stopped by SIGINT or SIGTERM after keeping what was finished; the message says how to resume."""

    exit_code = 130
