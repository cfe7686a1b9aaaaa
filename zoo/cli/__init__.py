"""The ``zoo`` command line: thin Click commands that parse, call the core and print.

:mod:`zoo.cli.main` builds the root group (error reporting, plugin commands); each other
module holds the commands about one thing: the catalogue, data, training and runs, hubs.
"""

from zoo.cli.main import build_cli, main

__all__ = ["build_cli", "main"]
