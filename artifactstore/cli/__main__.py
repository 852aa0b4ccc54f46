"""``python -m artifactstore.cli``: the same command as ``python -m artifactstore``."""

import sys

from . import main

sys.exit(main())
