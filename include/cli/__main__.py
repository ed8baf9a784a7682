"""``python -m include.cli``: see :mod:`include.cli`."""

import sys

from include.cli import main

sys.exit(main())
