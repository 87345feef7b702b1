"""Run configuration: the ``run.toml`` schema and its loading (the lowest layer).

Importing this package loads pydantic and the standard library only: no numba,
xarray or PyMC, so validating a run (``reddsim check``) starts at once.
"""

from simulator.config.load import (
    check_data_paths,
    load_config,
    load_run,
    read_toml,
    validate_config,
)
from simulator.config.schema import (
    CONFIG_NAME,
    SCHEMA_VERSION,
    STANDARD_KEYS,
    Accounting,
    Allocation,
    BetaPrior,
    Biomass,
    BoundedNormalPrior,
    Crediting,
    DataFiles,
    Deforestation,
    Leakage,
    NormalPrior,
    Project,
    RunConfig,
    RunSpec,
    Sampler,
    Sensitivity,
    Simulation,
    Stratum,
)

__all__ = [
    "CONFIG_NAME",
    "SCHEMA_VERSION",
    "STANDARD_KEYS",
    "Accounting",
    "Allocation",
    "BetaPrior",
    "Biomass",
    "BoundedNormalPrior",
    "Crediting",
    "DataFiles",
    "Deforestation",
    "Leakage",
    "NormalPrior",
    "Project",
    "RunConfig",
    "RunSpec",
    "Sampler",
    "Sensitivity",
    "Simulation",
    "Stratum",
    "check_data_paths",
    "load_config",
    "load_run",
    "read_toml",
    "validate_config",
]
