"""From data to posteriors to kernel inputs: the seam between :mod:`models` and the engine.

* :mod:`simulator.inference.inventory` — the tree inventory's Monte Carlo (plot AGB, error budget);
* :mod:`simulator.inference.fit` — sampling every model and diagnosing its convergence;
* :mod:`simulator.inference.cache` — posteriors reused by content key (the posterior cache);
* :mod:`simulator.inference.inputs` — posterior draws flattened into kernel inputs.
"""

from simulator.inference.cache import PosteriorCache, posterior_key
from simulator.inference.fit import (
    MODELS,
    Posteriors,
    cached_error_budget,
    cached_replicates,
    fit_models,
    fit_rate_variant,
    gated_parameters,
    model_seed,
)
from simulator.inference.inputs import (
    PRIOR_DRAWS,
    crediting_years,
    kernel_inputs,
    relative_risk,
    scenario_draws,
)
from simulator.inference.inventory import (
    PlotBiomass,
    apply_shared_factor,
    biomass_error_budget,
    build_inventory,
    inventory_from_tables,
    plot_biomass,
    tree_monte_carlo,
)

__all__ = [
    "MODELS",
    "PlotBiomass",
    "PosteriorCache",
    "Posteriors",
    "apply_shared_factor",
    "inventory_from_tables",
    "tree_monte_carlo",
    "biomass_error_budget",
    "cached_error_budget",
    "cached_replicates",
    "fit_rate_variant",
    "build_inventory",
    "crediting_years",
    "fit_models",
    "gated_parameters",
    "kernel_inputs",
    "model_seed",
    "plot_biomass",
    "posterior_key",
    "relative_risk",
    "PRIOR_DRAWS",
    "scenario_draws",
]
