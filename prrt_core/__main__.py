"""``python -m prrt_core``: the command line (see ``prrt_core.cli``)."""

import sys

from prrt_core.cli import main

sys.exit(main())
