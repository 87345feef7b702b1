"""What drives the uncertainty, and what more sampling would buy.

* :mod:`simulator.analysis.sensitivity` — Sobol indices of total NER per input group
  and sampling-effort planning (more field plots, more accuracy points).
"""

__all__: list[str] = []
