"""``python -m artifactstore``: the ``artifactstore`` command (see :mod:`artifactstore.cli`)."""

import sys

from .cli import main

sys.exit(main())
