"""The public API is pinned: changing it must be deliberate."""

import importlib
import pkgutil

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

#: What the sampling helpers and the biomass model offer: one gate (simulator.orchestration.gates)
#: and one path from trees to stratum carbon (the pipeline's), none beside them; and the
#: chains' progress display, which does not change a draw; and the one BLAS thread count that
#: makes a run's bits the same in a shell and on a Dask worker.
MODEL_APIS = {
    "models.sampling": [
        "RHAT_MAX",
        "ESS_MIN",
        "Diagnostics",
        "sample",
        "chain_progress",
        "diagnose",
        "flat_draws",
        "one_blas_thread",
        "replicate",
    ],
}


@pytest.mark.parametrize("name", sorted(MODEL_APIS))
def test_model_helpers_are_pinned(name):
    assert sorted(importlib.import_module(name).__all__) == sorted(MODEL_APIS[name])


def test_the_biomass_model_has_no_path_the_pipeline_does_not_take():
    from models import biomass

    assert not hasattr(biomass, "fit")  # trees -> plots is simulator.inference.plot_biomass
    assert {"fit_plots", "fit_stocks"} <= set(biomass.__all__)


#: Every module of both packages (the entry points ``__main__`` and ``bench`` aside).
MODULES = sorted(
    m.name
    for pkg in (simulator, models)
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")
    if ".templates" not in m.name and m.name.rsplit(".", 1)[-1] not in ("__main__", "bench")
)


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
    # a package that only groups its modules may export nothing itself
    assert module.__all__ or hasattr(module, "__path__"), name
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public}"
