"""The core's commands, grouped by what they touch; :mod:`zoo.cli` assembles them."""
