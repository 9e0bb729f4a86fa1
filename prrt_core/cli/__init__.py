"""``python -m prrt_core``: the command line, one module per command."""
from prrt_core.cli.main import main

__all__ = ["main"]
