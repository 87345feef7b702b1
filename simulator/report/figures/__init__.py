"""The appendix figures, one module per topic.

* :mod:`~simulator.report.figures.biomass` — stratum densities, plot AGB, predictive checks;
* :mod:`~simulator.report.figures.deforestation` — rates, predictive checks, parameters;
* :mod:`~simulator.report.figures.leakage` — predictive check of the belt loss;
* :mod:`~simulator.report.figures.sampling` — rank plots;
* :mod:`~simulator.report.figures.simulation` — fan charts, total NER, convergence, waterfall;
* :mod:`~simulator.report.figures.sensitivity` — Sobol indices, planning;
* :mod:`~simulator.report.figures.style` — the look, applied per figure.
"""

__all__: list[str] = []
