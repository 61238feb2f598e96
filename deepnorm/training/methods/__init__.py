"""Training methods by name: segmenter, standardization, preprocessor, adversarial (the paper's),
the extra baseline standardization_brain, and beyond the paper the classical normalizers nyul,
whitestripe, fcm and kde (:mod:`deepnorm.training.methods.classical`) and contrast_randomisation.

>>> from deepnorm.training.config import profile
>>> get_method("preprocessor")(profile("smoke")).uses_generator
True
"""

from __future__ import annotations

from deepnorm.errors import ConfigError
from deepnorm.training.config import Config
from deepnorm.training.methods.adversarial import Adversarial
from deepnorm.training.methods.base import Method, Nets, Optimizers, unwrap
from deepnorm.training.methods.classical import FCM, KDE, Nyul, WhiteStripe
from deepnorm.training.methods.preprocessor import Preprocessor
from deepnorm.training.methods.randomisation import ContrastRandomisation
from deepnorm.training.methods.segmenter import Segmenter
from deepnorm.training.methods.standardization import (
    Standardization,
    StandardizationBrain,
)

REGISTRY: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (Segmenter, Standardization, StandardizationBrain, Preprocessor, Adversarial,  # the paper's
                Nyul, WhiteStripe, FCM, KDE, ContrastRandomisation)  # beyond the paper
}


def get_method(name: str) -> type[Method]:
    """The method class registered under `name`."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown method {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def method_for(config: Config) -> Method:
    """The method of `config.train.method`, bound to `config`."""
    return get_method(config.train.method)(config)


__all__ = [
    "FCM", "KDE", "REGISTRY", "Adversarial", "ContrastRandomisation", "Method", "Nets", "Nyul", "Optimizers",
    "Preprocessor", "Segmenter", "Standardization", "StandardizationBrain", "WhiteStripe", "get_method", "method_for",
    "unwrap",
]
