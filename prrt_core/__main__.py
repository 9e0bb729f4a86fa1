"""``python -m prrt_core``: the command line (see ``prrt_core.cli``)."""

import sys

from .cli import main

sys.exit(main())
