"""reddsim's engine: config → inference → engine → accounting → report → cli.

The Bayesian models live in the sibling package :mod:`models`. The sub-packages
follow the flow of a run (``docs/architecture.md`` draws it):

* :mod:`simulator.config` — the ``run.toml`` schema and its loading;
* :mod:`simulator.data` — the run's CSV files, read and checked; importers;
* :mod:`simulator.inference` — fitting the models, posteriors into kernel inputs;
* :mod:`simulator.engine` — counter RNG, numba kernel, NumPy reference, streamed summaries;
* :mod:`simulator.accounting` — the standards' rules, NER → deduction → buffer → credits;
* :mod:`simulator.analysis` — sensitivity (Sobol) and sampling-effort planning;
* :mod:`simulator.report` — tables, figures, the typst appendix;
* :mod:`simulator.orchestration` — a run end to end, its gates, batches, verify, past runs;
* :mod:`simulator.cli` — the ``reddsim`` command.

Each layer imports only the layers before it (a test checks it). Every public
name below is imported on first use, so ``import simulator.config`` loads no
numba, xarray or PyMC, and ``reddsim check`` starts at once.

Modules moved into the sub-packages are still importable under their earlier
names (``simulator.standards``, ``simulator.kernels``, ``simulator.pipeline``, …):
:data:`MOVED` maps each to its home, and the import system resolves the old
name to the very same module object.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "KernelInputs",
    "OutputError",
    "ReddsimError",
    "RunConfig",
    "RunSpec",
    "STANDARDS",
    "SimulationError",
    "SimulationResult",
    "Summary",
    "account",
    "compare_standards",
    "deduction",
    "interval_summary",
    "load_config",
    "net_emission_reductions",
    "non_permanence_buffer",
    "run",
    "simulate",
    "stream",
    "summarise_draws",
    "vcs_uncertainty_factor",
]

#: Where each public name lives.
_HOME = {
    "ConfigError": "simulator.errors",
    "ConvergenceError": "simulator.errors",
    "DataError": "simulator.errors",
    "OutputError": "simulator.errors",
    "ReddsimError": "simulator.errors",
    "SimulationError": "simulator.errors",
    "RunConfig": "simulator.config",
    "RunSpec": "simulator.config",
    "load_config": "simulator.config",
    "KernelInputs": "simulator.engine.kernels",
    "SimulationResult": "simulator.engine.kernels",
    "simulate": "simulator.engine.kernels",
    "Summary": "simulator.engine.streaming",
    "stream": "simulator.engine.streaming",
    "summarise_draws": "simulator.engine.streaming",
    "STANDARDS": "simulator.accounting.standards",
    "deduction": "simulator.accounting.standards",
    "non_permanence_buffer": "simulator.accounting.standards",
    "vcs_uncertainty_factor": "simulator.accounting.standards",
    "account": "simulator.accounting.ledger",
    "compare_standards": "simulator.accounting.ledger",
    "interval_summary": "simulator.accounting.ledger",
    "net_emission_reductions": "simulator.accounting.ledger",
    "run": "simulator.orchestration.pipeline",
}

#: Earlier module paths and the modules they now are.
MOVED = {
    "simulator.batch": "simulator.orchestration.batch",
    "simulator.gates": "simulator.orchestration.gates",
    "simulator.kernels": "simulator.engine.kernels",
    "simulator.mocaredd": "simulator.data.mocaredd",
    "simulator.outputs": "simulator.report.tables",
    "simulator.pipeline": "simulator.orchestration.pipeline",
    "simulator.reference": "simulator.engine.reference",
    "simulator.rng": "simulator.engine.rng",
    "simulator.runs": "simulator.orchestration.runs",
    "simulator.sensitivity": "simulator.analysis.sensitivity",
    "simulator.standards": "simulator.accounting.standards",
    "simulator.streaming": "simulator.engine.streaming",
    "simulator.verify": "simulator.orchestration.verify",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an earlier module path of :data:`MOVED` to the module's current home."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        # The module is already executed (it is the current home); keep its own name.
        pass


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
