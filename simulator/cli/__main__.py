"""``python -m simulator.cli``: the ``reddsim`` command line."""

from simulator.cli import main

main()
