"""``python -m deepnorm.cli`` (e.g. under ``torchrun -m deepnorm.cli train ...``): the ``deepnorm`` command."""

import sys

from deepnorm.cli import main

if __name__ == "__main__":
    sys.exit(main())
