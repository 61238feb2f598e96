"""``python -m deepnorm`` is the ``deepnorm`` command."""

import sys

from deepnorm.cli import main

sys.exit(main())
