"""The ``reddsim`` command line: thin commands that parse, call the library, print.

One module per command group, each registering its commands on :data:`app`
(:mod:`simulator.cli.common`): :mod:`~simulator.cli.run` (check, run, report,
verify), :mod:`~simulator.cli.imports` (import), :mod:`~simulator.cli.maps` (import maps,
import sample, sample-design, allocate),
:mod:`~simulator.cli.runs` (runs), :mod:`~simulator.cli.batch` (batch),
:mod:`~simulator.cli.biomass` (biomass) and :mod:`~simulator.cli.account` (account).
Results go to stdout (a table, or JSON with ``--json``); progress and logs go to
stderr; a
:class:`~simulator.errors.ReddsimError` becomes one line on stderr and exit code 2.
"""

# isort: off
# Importing a command module registers its commands, in the order `reddsim --help` lists them.
from simulator.cli import run  # noqa: F401
from simulator.cli import imports  # noqa: F401
from simulator.cli import maps  # noqa: F401
from simulator.cli import runs  # noqa: F401
from simulator.cli import batch  # noqa: F401
from simulator.cli import biomass  # noqa: F401
from simulator.cli import account  # noqa: F401
from simulator.cli.common import app

# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``reddsim`` console script."""
    app()
