"""What drives the uncertainty, and what more sampling would buy.

* :mod:`simulator.analysis.sensitivity` — Sobol indices of total NER per input group
  and sampling-effort planning (more field plots, more accuracy points);
* :mod:`simulator.analysis.prior_sensitivity` — the credits under other priors of the
  parameters the data do not inform (effectiveness, displacement, post-conversion carbon).
"""

__all__: list[str] = []
