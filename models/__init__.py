"""Bayesian models of a REDD+ project (PyMC), one module per quantity.

Each model module declares ``FREE_PARAMETERS`` (the parameters whose convergence
gates a run), ``build_model(...) -> pymc.Model`` and ``fit(...) -> DataTree``.
"""

from models import allometry, biomass, deforestation, inventory, leakage, map_accuracy, sampling
from models.allometry import biomass_to_co2e, chave2014_agb

__all__ = [
    "allometry",
    "biomass",
    "biomass_to_co2e",
    "chave2014_agb",
    "deforestation",
    "inventory",
    "leakage",
    "map_accuracy",
    "sampling",
]
