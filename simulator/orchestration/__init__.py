"""Above the layers: a run end to end, its gates, batches, verification, past runs.

* :mod:`simulator.orchestration.pipeline` — one run: data → models → simulation →
  accounting → report, written atomically;
* :mod:`simulator.orchestration.gates` — the sampler and Monte Carlo gates;
* :mod:`simulator.orchestration.batch` — batch specs, and runs and chunks on Dask;
* :mod:`simulator.orchestration.verify` — re-running a run from its manifest;
* :mod:`simulator.orchestration.runs` — listing finished runs.
"""

__all__: list[str] = []
