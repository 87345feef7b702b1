"""Bayesian models of a REDD+ project (PyMC), one module per quantity.

Each model module declares ``FREE_PARAMETERS`` (the parameters whose convergence
gates a run), ``build_model(...) -> pymc.Model`` and ``fit(...) -> DataTree``.
Pure formulas live in their own modules (:mod:`models.allometry`,
:mod:`models.map_accuracy`) and the settings the models read in
:mod:`models.settings`; this package never imports :mod:`simulator`.

Submodules are imported on first use, so that ``import models.settings`` (as the
run-configuration schema does) does not load PyMC.
"""

import importlib

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

_SUBMODULES = {
    "allometry",
    "biomass",
    "deforestation",
    "inventory",
    "leakage",
    "map_accuracy",
    "sampling",
    "settings",
    "wood_density",
}
_FUNCTIONS = {"biomass_to_co2e": "allometry", "chave2014_agb": "allometry"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"models.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"models.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
