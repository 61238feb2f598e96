"""``deepnorm export RUN OUT``: share a finished run as a bundle folder (the MONAI bundle layout).

    deepnorm export runs/<hash> shared/adversarial      # or runs/NAME, an alias of train --name

OUT gets ``models/model.pt`` (the networks' weights), ``configs/config.yaml``,
``configs/metadata.json`` (versions, data format, training data, test scores, sha256 of each file),
``docs/README.md`` (a model card) and ``LICENSE`` (:mod:`deepnorm.bundle`). OUT must not exist
(or be an empty folder): a bundle is never written over anything. ``deepnorm normalize`` and
``deepnorm segment`` take the bundle as ``--run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``deepnorm export``."""
    parser.add_argument("run", type=Path, help="a finished training run folder (runs/<hash> or an alias)")
    parser.add_argument("out", type=Path, help="the bundle folder to write (must not exist, or be empty)")


def main(args: argparse.Namespace) -> int:
    """Run ``deepnorm export``; prints the bundle folder."""
    from deepnorm.bundle import export_run

    print(export_run(Path(args.run).expanduser(), Path(args.out).expanduser()), flush=True)
    return 0
