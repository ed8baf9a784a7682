"""``python -m include.demo <command>``: see :mod:`include.demo.commands`."""

import sys

from include.demo.commands import main

sys.exit(main(sys.argv[1:]))
