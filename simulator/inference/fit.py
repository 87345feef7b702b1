"""Sample a run's Bayesian models and diagnose their convergence.

It calls each model's ``fit`` (:mod:`models`) with the run's data and settings and
summarises each posterior's convergence over the run's gated parameters
(:func:`gated_parameters`, the one list that the sampler gate, the posterior
tables and the rank plots all use). Whether a failed diagnosis stops the run is
decided by :mod:`simulator.orchestration.gates`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from models import biomass, deforestation, leakage
from models.sampling import Diagnostics, diagnose
from simulator.config import RunConfig, RunSpec
from simulator.data import RunData
from simulator.engine import rng
from simulator.inference.cache import (
    PLOT_ARRAYS,
    CacheRecord,
    PosteriorCache,
    content_key,
    key_content,
    posterior_key,
)
from simulator.inference.inventory import (
    PlotBiomass,
    apply_shared_factor,
    biomass_error_budget,
    build_inventory,
    plot_biomass,
)

__all__ = [
    "MODELS",
    "Posteriors",
    "gated_parameters",
    "model_seed",
    "fit_models",
    "fit_rate_variant",
    "cached_error_budget",
    "posterior_replicates",
    "cached_replicates",
    "cached_part",
]

#: The cache entry file of an error budget (:func:`cached_error_budget`).
BUDGET_NAME = "error_budget.npz"
#: File of a cache entry holding a run's posterior predictive replicates.
REPLICATES_NAME = "replicates.npz"

log = logging.getLogger(__name__)

MODELS = ("biomass", "deforestation", "leakage")


def gated_parameters(cfg: RunConfig) -> dict[str, list[str]]:
    """The free parameters of each model of a run, whose convergence gates it.

    The biomass model is the inventory model or the carbon-stock model
    (``[data] carbon_stocks``); an allocated baseline adds the jurisdiction's loss
    and the project's risk share to the deforestation model.
    """
    stocks = cfg.data.carbon_stocks is not None
    allocated = cfg.deforestation.allocation is not None
    return {
        "biomass": list(biomass.STOCK_FREE_PARAMETERS if stocks else biomass.FREE_PARAMETERS),
        "deforestation": deforestation.FREE_PARAMETERS
        + (deforestation.ALLOCATION_PARAMETERS if allocated else []),
        "leakage": list(leakage.FREE_PARAMETERS),
    }


@dataclass(frozen=True)
class Posteriors:
    """Posterior DataTrees by model name, their diagnostics, and the plot-level inputs."""

    trees: dict[str, xr.DataTree]
    diagnostics: list[Diagnostics]
    plots: PlotBiomass | None  # None when biomass comes from [data].carbon_stocks
    #: Gated parameters of each model present in its posterior (:func:`gated_parameters`):
    #: the ones the sampler gate diagnosed, and the ones the posterior tables and rank
    #: plots show.
    gated: dict[str, list[str]] = field(default_factory=dict)
    #: Whether the posteriors came from the posterior cache, under which key and files
    #: (:mod:`simulator.inference.cache`); ``None`` from callers that do not record it.
    cache: CacheRecord | None = None

    def combined(self, attrs: dict) -> xr.DataTree:
        """One DataTree with a child group per model (saved as ``posterior.nc``)."""
        root = xr.DataTree.from_dict({f"/{name}": None for name in self.trees})
        for name, tree in self.trees.items():
            root[name] = tree
        root.attrs.update(attrs)
        return root


def model_seed(seed: int, model: str) -> int:
    """Sampler seed of a model, derived from the run seed by the counter hash."""
    h = rng.counter_hash(seed, 0, 0, rng.MODEL_STREAMS[model], 0)
    return int(h >> np.uint64(33))  # 31 bits: accepted by every seeding API


def fit_models(
    spec: RunSpec,
    data: RunData,
    on_stage: Callable[[str], None] | None = None,
    cache: PosteriorCache | None = None,
) -> Posteriors:
    """Sample every model of the run (or reuse its cached posteriors) and diagnose them.

    Parameters
    ----------
    spec : RunSpec
    data : RunData
    on_stage : callable, optional
        Called with the name of each stage (``"sampling biomass"``, ...) as it starts.
    cache : PosteriorCache, optional
        Where posteriors of the same key (:func:`~simulator.inference.cache.posterior_key`)
        are reused from, or stored after sampling. A hit returns bit-identical
        posteriors, plots and diagnostics (the diagnostics are recomputed from the
        posteriors); without a cache every model is sampled.

    Returns
    -------
    Posteriors
        With one :class:`~models.sampling.Diagnostics` per model, over
        :func:`gated_parameters`; the caller applies the gate
        (:func:`simulator.orchestration.gates.check_sampler`).
    """
    on_stage = on_stage or (lambda stage: None)
    key = posterior_key(spec, data)
    if cache is None:
        trees, plots = _sample(spec, data, on_stage)
        return _diagnosed(spec, trees, plots, CacheRecord(key, hit=False, enabled=False))
    with_plots = data.carbon_stocks is None
    with cache.lock(key):  # two processes sampling the same key: the second one reads it
        cached = cache.load(key, with_plots)
        if cached is not None:
            on_stage("posterior cache")
            log.info("posterior cache hit %s: the models are not sampled", key)
            plots = _cached_plots(spec, data, cached.plot_arrays) if with_plots else None
            record = CacheRecord(key, hit=True, enabled=True, sha256=cached.sha256)
            return _diagnosed(spec, cached.trees, plots, record)
        trees, plots = _sample(spec, data, on_stage)
        arrays = None if plots is None else {a: getattr(plots, a) for a in PLOT_ARRAYS}
        hashes = cache.store(key, key_content(spec, data), trees, arrays)
        # what was stored, read back: a later hit returns exactly these trees (NetCDF
        # stores an object array of strings as fixed strings, the same values)
        stored = cache.load(key, with_plots) if hashes else None
    if stored is not None:
        trees = stored.trees
    return _diagnosed(spec, trees, plots, CacheRecord(key, hit=False, enabled=True, sha256=hashes))


def _fit_rate(spec: RunSpec, data: RunData, settings) -> xr.DataTree:
    """The rate model fitted to the run's loss series with ``settings``."""
    d = data.deforestation
    return deforestation.fit(
        d["year"],
        d["forest_area_ha"],
        d["loss_ha"],
        d["loss_se_ha"],
        settings,
        spec.config.sampler,
        model_seed(spec.config.simulation.seed, "deforestation"),
        monitoring=data.project_monitoring,
        loss_cov_ha2=d.get("loss_cov_ha2"),
    )


def fit_rate_variant(
    spec: RunSpec, data: RunData, settings, cache: PosteriorCache | None = None
) -> tuple[xr.DataTree, CacheRecord]:
    """The rate model alone, with ``settings`` in place of the run's ``[deforestation]``.

    Same data, sampler and seed as the run's own fit (the noise comparison fits the
    other noise form so). Reused from ``cache`` like the run's models, under its own
    key: :func:`~simulator.inference.cache.key_content` of the run with these
    settings, restricted to the rate model; a hit returns the posterior a fresh fit
    gives, bit for bit.
    """
    variant = RunSpec(spec.config.model_copy(update={"deforestation": settings}), spec.path)
    content = {**key_content(variant, data), "part": "deforestation"}
    return cached_part(
        cache,
        content,
        compute=lambda: _fit_rate(spec, data, settings),
        load=lambda key: cache.load_trees(key, ("deforestation",)),
        store=lambda key, tree: cache.store(key, content, {"deforestation": tree}, None),
        unpack=lambda entry: entry.trees["deforestation"],
    )


def cached_part(cache: PosteriorCache | None, content: dict, compute, load, store, unpack):
    """A part of a run computed, or reused from ``cache`` under the key of ``content``.

    ``load(key)`` reads the verified entry (``None``: a miss or a refused entry),
    ``store(key, value)`` writes it and returns its files' SHA-256, ``unpack(entry)``
    is the value an entry holds. A computed value is returned as stored and read
    back, so a later hit returns exactly it. Returns ``(value, CacheRecord)``.
    """
    key = content_key(content)
    if cache is None:
        return compute(), CacheRecord(key, hit=False, enabled=False)
    with cache.lock(key):
        cached = load(key)
        if cached is not None:
            log.info("posterior cache hit %s (%s)", key, content["part"])
            return unpack(cached), CacheRecord(key, hit=True, enabled=True, sha256=cached.sha256)
        value = compute()
        hashes = store(key, value)
        stored = load(key) if hashes else None
    if stored is not None:
        value = unpack(stored)
    return value, CacheRecord(key, hit=False, enabled=True, sha256=hashes)


def cached_error_budget(
    spec: RunSpec, data: RunData, posteriors: Posteriors, cache: PosteriorCache | None = None
) -> tuple[dict[str, np.ndarray] | None, CacheRecord | None]:
    """:func:`~simulator.inference.inventory.biomass_error_budget`, reused from ``cache``.

    The budget depends only on what the run's posteriors depend on (the inventory, the
    ``[biomass]`` settings, the seed, and the biomass posterior's between-plot SD), so
    it is kept under the key of the run's content with ``"part": "error_budget"``; a
    hit returns the arrays a fresh computation gives, bit for bit. ``(None, None)`` for
    a run from stated carbon stocks (no budget).
    """
    from models.inventory import ERROR_BUDGET_KEYS

    if posteriors.plots is None:
        return None, None
    content = {**key_content(spec, data), "part": "error_budget"}
    return cached_part(
        cache,
        content,
        compute=lambda: biomass_error_budget(spec, posteriors),
        load=lambda key: cache.load_arrays(key, BUDGET_NAME, ERROR_BUDGET_KEYS),
        store=lambda key, budget: cache.store(key, content, {}, budget, arrays_name=BUDGET_NAME),
        unpack=lambda entry: {k: entry.plot_arrays[k] for k in ERROR_BUDGET_KEYS},
    )


def posterior_replicates(spec: RunSpec, data: RunData, posteriors: Posteriors) -> dict:
    """Posterior predictive replicates of the data each model was fitted to, by model.

    ``"biomass"``: :func:`models.biomass.posterior_predictive` of the plot log AGB (an
    inventory run); ``"leakage"``: :func:`models.leakage.posterior_predictive` of the
    belt loss (a run with a leakage belt). Seeded by the run seed; the report's checks
    (:mod:`simulator.report.figures.biomass`, :mod:`simulator.report.figures.leakage`)
    summarise them.
    """
    cfg = spec.config
    seed = cfg.simulation.seed
    out = {}
    if posteriors.plots is not None:
        plots = posteriors.plots
        out["biomass"] = biomass.posterior_predictive(
            posteriors.trees["biomass"],
            [s.name for s in cfg.project.strata],
            plots.inventory.plot_stratum,
            plots.mean,
            plots.sd,
            cfg.biomass,
            seed,
        )
    belt = data.leakage_belt
    if belt is not None and "leakage" in posteriors.trees:
        out["leakage"] = leakage.posterior_predictive(
            posteriors.trees["leakage"],
            belt["year"],
            belt["avoided_ha"],
            belt["belt_loss_ha"],
            belt["belt_baseline_ha"],
            belt["belt_se_ha"],
            cfg.leakage,
            seed,
        )
    return out


def cached_replicates(
    spec: RunSpec, data: RunData, posteriors: Posteriors, cache: PosteriorCache | None = None
) -> tuple[dict[str, np.ndarray], CacheRecord | None]:
    """:func:`posterior_replicates`, reused from ``cache``.

    They depend only on what the run's posteriors depend on (the seed included), so they
    are kept under the key of the run's content with ``"part": "replicates"``; a hit
    returns the arrays a fresh computation gives, bit for bit. ``({}, None)`` for a run
    with nothing to replicate (stated stocks and no belt).
    """
    names = tuple(
        name
        for name, present in (
            ("biomass", posteriors.plots is not None),
            ("leakage", data.leakage_belt is not None and "leakage" in posteriors.trees),
        )
        if present
    )
    if not names:
        return {}, None
    content = {**key_content(spec, data), "part": "replicates"}
    return cached_part(
        cache,
        content,
        compute=lambda: posterior_replicates(spec, data, posteriors),
        load=lambda key: cache.load_arrays(key, REPLICATES_NAME, names),
        store=lambda key, reps: cache.store(key, content, {}, reps, arrays_name=REPLICATES_NAME),
        unpack=lambda entry: {k: entry.plot_arrays[k] for k in names},
    )


def _cached_plots(spec: RunSpec, data: RunData, arrays: dict[str, np.ndarray]) -> PlotBiomass:
    """The tree Monte Carlo of a cache hit: its draws read back, the rest rebuilt.

    The inventory, the height models and the candidate AGB are deterministic and
    cheap; the draws (most of the stage's time) are the cached arrays, so the result
    equals :func:`~simulator.inference.inventory.plot_biomass`'s.
    """
    from models.inventory import candidate_agb

    cfg = spec.config.biomass
    inv = build_inventory(spec, data)
    hd = inv.height_model(cfg.hd_model, cfg.hd_weights, None)
    return PlotBiomass(inv, hd, candidates=candidate_agb(inv, hd), **arrays)


def _sample(
    spec: RunSpec, data: RunData, on_stage: Callable[[str], None]
) -> tuple[dict[str, xr.DataTree], PlotBiomass | None]:
    """Run the tree Monte Carlo (an inventory run) and sample every model."""
    cfg = spec.config
    seed = cfg.simulation.seed
    strata = [s.name for s in cfg.project.strata]
    plots = None
    if data.carbon_stocks is not None:

        def fit_biomass():
            return biomass.fit_stocks(
                strata, data.carbon_stocks, cfg.biomass, cfg.sampler, model_seed(seed, "biomass")
            )

    else:
        on_stage("tree Monte Carlo")
        plots = plot_biomass(spec, data)

        def fit_biomass():
            return biomass.fit_plots(
                strata,
                plots.inventory.plot_stratum,
                plots.mean,
                plots.sd,
                cfg.biomass,
                cfg.sampler,
                model_seed(seed, "biomass"),
            )

        fit_independent = fit_biomass

        def fit_biomass():
            # the shared tree-level factors reach the stratum means as common factors
            return apply_shared_factor(fit_independent(), plots.shared_ratio(strata))

    fits = {
        "biomass": fit_biomass,
        "deforestation": lambda: _fit_rate(spec, data, cfg.deforestation),
        "leakage": lambda: leakage.fit(
            data.leakage_belt["year"],
            data.leakage_belt["avoided_ha"],
            data.leakage_belt["belt_loss_ha"],
            data.leakage_belt["belt_baseline_ha"],
            data.leakage_belt["belt_se_ha"],
            cfg.leakage,
            cfg.sampler,
            model_seed(seed, "leakage"),
        ),
    }
    trees = {}
    for name in MODELS:
        on_stage(f"sampling {name}")
        log.info("sampling %s model", name)
        trees[name] = fits[name]()
    return trees, plots


def _diagnosed(
    spec: RunSpec,
    trees: dict[str, xr.DataTree],
    plots: PlotBiomass | None,
    record: CacheRecord,
) -> Posteriors:
    """Diagnose each model's posterior over its gated parameters."""
    free = gated_parameters(spec.config)
    diags, gated = [], {}
    for name in MODELS:
        # the stock model has a carbon fraction only when a pool is in dry matter
        gated[name] = [v for v in free[name] if v in trees[name].posterior]
        diags.append(diagnose(name, trees[name], gated[name]))
        log.info("%s diagnostics: %s", name, diags[-1].as_dict())
        if not diags[-1].passed:
            log.warning(
                "%s model fails the sampler gate: %s", name, ", ".join(diags[-1].failures())
            )
    return Posteriors(trees, diags, plots, gated, record)
