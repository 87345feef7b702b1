"""The forward simulation: counter RNG → numba kernel → streamed summaries.

Layers inside, each using only the one before it:

* :mod:`simulator.engine.rng` — counter-based random numbers (numba and NumPy);
* :mod:`simulator.engine.kernels` — the jitted kernel and its validating wrapper;
* :mod:`simulator.engine.reference` — the same equations in plain NumPy (tests, benchmark);
* :mod:`simulator.engine.streaming` — exact, mergeable summaries of the simulated draws.

Arrays only: no xarray, PyMC or configuration here.
"""

from simulator.engine.kernels import MODEL_STREAMS, KernelInputs, SimulationResult, simulate
from simulator.engine.streaming import Summary, stream, summarise_draws

__all__ = [
    "MODEL_STREAMS",
    "KernelInputs",
    "SimulationResult",
    "Summary",
    "simulate",
    "stream",
    "summarise_draws",
]
