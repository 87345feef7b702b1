"""The public API is pinned: changing it must be deliberate."""

import importlib

import pytest

import models
import simulator

PUBLIC = {
    "simulator": [
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
    ],
    "models": [
        "allometry",
        "biomass",
        "biomass_to_co2e",
        "chave2014_agb",
        "deforestation",
        "inventory",
        "leakage",
        "map_accuracy",
        "sampling",
    ],
}

MODULES = [
    "simulator.accounting",
    "simulator.cli",
    "simulator.config",
    "simulator.data",
    "simulator.errors",
    "simulator.gates",
    "simulator.inference",
    "simulator.kernels",
    "simulator.outputs",
    "simulator.pipeline",
    "simulator.reference",
    "simulator.report",
    "simulator.rng",
    "simulator.sensitivity",
    "simulator.standards",
    "simulator.streaming",
    "models.allometry",
    "models.biomass",
    "models.deforestation",
    "models.leakage",
    "models.inventory",
    "models.map_accuracy",
    "simulator.verify",
    "simulator.mocaredd",
    "simulator.runs",
    "simulator.batch",
    "models.sampling",
]


def test_package_exports():
    assert sorted(simulator.__all__) == sorted(PUBLIC["simulator"])
    assert sorted(models.__all__) == sorted(PUBLIC["models"])
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None
    for name in models.__all__:
        assert getattr(models, name) is not None


@pytest.mark.parametrize("name", MODULES)
def test_every_module_declares_existing_names(name):
    module = importlib.import_module(name)
    assert module.__all__, name
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public}"
