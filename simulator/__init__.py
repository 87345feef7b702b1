"""reddsim's engine: config -> kernels -> streamed summaries -> accounting/standards -> report.

The Bayesian models live in the sibling package :mod:`models`. Heavy entry points
(:func:`run`, which imports PyMC) are loaded on first use so that ``reddsim --help``
and ``reddsim check`` stay fast.
"""

from simulator.accounting import (
    account,
    compare_standards,
    interval_summary,
    net_emission_reductions,
)
from simulator.config import RunConfig, RunSpec, load_config
from simulator.errors import (
    ConfigError,
    ConvergenceError,
    DataError,
    OutputError,
    ReddsimError,
    SimulationError,
)
from simulator.kernels import KernelInputs, SimulationResult, simulate
from simulator.standards import (
    STANDARDS,
    deduction,
    non_permanence_buffer,
    vcs_uncertainty_factor,
)
from simulator.streaming import Summary, stream, summarise_draws

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


def __getattr__(name: str):
    if name == "run":
        from simulator.pipeline import run

        return run
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
