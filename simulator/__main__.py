"""``python -m simulator``: the ``reddsim`` command line."""

from simulator.cli import main

main()
