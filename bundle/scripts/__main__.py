"""``python -m scripts <command>`` from the bundle root: see :mod:`scripts.cli`."""

from .cli import main

main()
