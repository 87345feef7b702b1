"""Which uncertain input drives the uncertainty of NER, and what more sampling would buy.

The stage (:func:`analyse`) is built from :mod:`~simulator.analysis.response` (total
NER as a deterministic function of independent latent scores, one block per input
group), :mod:`~simulator.analysis.sobol` (the indices, SALib),
:mod:`~simulator.analysis.rate_design` (the map-accuracy share of the rate's
variance) and :mod:`~simulator.analysis.planning` (what more plots or accuracy
points buy); each module's docstring states its method.

References
----------
Saltelli, A. et al. (2010) Variance based sensitivity analysis of model output.
Computer Physics Communications 181:259-270 (estimators used by SALib).
Sobol', I.M. (2001) Math. Comput. Simul. 55:271-280.
Herman, J. & Usher, W. (2017) SALib. J. Open Source Softw. 2(9):97.
Ishigami, T. & Homma, T. (1990) ISUMA '90, 398-403 (test function).
Cochran, W.G. (1977) Sampling Techniques, 3rd ed., Wiley, §5.3.
Olofsson, P. et al. (2014) Remote Sens. Environ. 148:42-57.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import special

from models.sampling import flat_draws
from simulator.accounting import account
from simulator.accounting.standards import STANDARDS
from simulator.analysis.planning import (
    Lever,
    accuracy_lever,
    planning,
    plot_lever,
    smallest_addition,
)
from simulator.analysis.rate_design import (
    gls_prediction_variance,
    map_share,
    projected_loss_se,
    run_design,
)
from simulator.analysis.response import (
    Group,
    ResponseModel,
    build_response_model,
    group_uncertainty,
    posterior_dependence,
    run_response_model,
)
from simulator.analysis.sobol import latent_sample, sobol_indices
from simulator.config import RunSpec, Sensitivity
from simulator.data import RunData
from simulator.engine.kernels import KernelInputs
from simulator.engine.streaming import stream

# The stage's entry points, and (re-exported) the parts it is built from.
__all__ = [
    "SensitivityResult",
    "analyse",
    "run_summary",
    "Group",
    "ResponseModel",
    "sobol_indices",
    "gls_prediction_variance",
    "map_share",
    "projected_loss_se",
    "posterior_dependence",
    "build_response_model",
    "run_response_model",
    "latent_sample",
    "group_uncertainty",
    "Lever",
    "plot_lever",
    "accuracy_lever",
    "smallest_addition",
    "planning",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SensitivityResult:
    """What :func:`analyse` found: indices, uncertainty per group, planning."""

    indices: xr.Dataset  # dim group: label, s1, s1_conf, st, st_conf, u_only_pct, u_fixed_pct
    planning: list[dict]
    searches: dict[str, dict]
    notes: dict


def analyse(
    spec: RunSpec,
    data: RunData,
    posteriors,
    inputs: KernelInputs,
    budget: dict,
    summary: xr.Dataset | None = None,
) -> SensitivityResult:
    """Sobol indices, uncertainty per group and planning for a run.

    Parameters
    ----------
    spec : RunSpec
    data : RunData
    posteriors : simulator.inference.Posteriors
    inputs : KernelInputs
        The run's kernel inputs.
    budget : dict
        :func:`simulator.inference.biomass_error_budget` of the run.
    summary : xarray.Dataset, optional
        The run's accounting under its standard (:func:`simulator.accounting.account`,
        ``Accounts.summary``), to which the planning is anchored. Without it the
        run's futures are simulated again (:func:`run_summary`: the same numbers,
        at the cost of a second simulation).
    """
    cfg = spec.config
    settings: Sensitivity = cfg.sensitivity
    strata = [s.name for s in cfg.project.strata]
    model = run_response_model(spec, data, posteriors, inputs, budget)
    bio = posteriors.trees["biomass"]
    agb = flat_draws(bio, "agb_mg_ha")
    cf, rs = flat_draws(bio, "carbon_fraction"), flat_draws(bio, "root_shoot")
    allometry_share, w_map = model.allometry_share, model.rate_map_share
    allocated = inputs.loss_target is not None
    rd = run_design(spec, data, inputs.rate_sigma)
    seed = cfg.simulation.seed % (2**31 - 1) + 1
    standard = STANDARDS[cfg.accounting.standard]

    def evaluate(u):
        z = special.ndtri(u)
        if not np.all(np.isfinite(z)):
            raise ValueError("a Saltelli point fell on the boundary of the unit cube")
        return model.total_ner(z)

    idx = sobol_indices(
        evaluate,
        model.column_groups(),
        settings.base_samples,
        seed,
        settings.index_confidence,
        settings.resamples,
    )
    z = latent_sample(settings.inner_draws, model.n_latent, seed)
    unc = group_uncertainty(model, z, standard.confidence, standard.relative_to)
    labels = [g.label for g in model.groups]
    indices = xr.merge([idx, unc], combine_attrs="drop").assign(label=("group", labels))

    defo = flat_draws(posteriors.trees["deforestation"], "effectiveness")
    rate_key = inputs.loss_target.mean(axis=1) if allocated else inputs.log_rate_mean.mean(axis=1)
    dependence = posterior_dependence(
        {
            **{f"biomass_{s}": {f"agb_{s}": agb[:, i]} for i, s in enumerate(strata)},
            "carbon_conversion": {"carbon_fraction": cf, "root_shoot": rs},
            "deforestation_rate": {"mean_log_rate": rate_key, "sigma": inputs.rate_sigma},
            "effectiveness": {"effectiveness": defo},
            "post_conversion": {
                "post_carbon": flat_draws(
                    posteriors.trees["deforestation"], "post_conversion_tco2e_ha"
                )
            },
        }
    )
    if summary is None:
        summary = run_summary(spec, inputs)
    run = summary.sel(period="total")
    n_plots = np.array([np.sum(data.plots["stratum"] == s) for s in strata])
    levers = [(plot_lever(n_plots, strata), settings.plots_added, settings.max_plots)]
    if data.accuracy is not None and not allocated:
        levers.append(
            (accuracy_lever(rd, data.accuracy), settings.points_added, settings.max_points)
        )
    rows, searches = [], {}
    for lever, added, k_max in levers:
        r, s = planning(
            model,
            lever,
            added,
            z,
            standard,
            cfg.accounting.buffer_pct,
            cfg.crediting.start_year,
            k_max,
            run,
        )
        rows += r
        searches[lever.name] = s
    notes = {
        "standard": standard.key,
        "confidence": standard.confidence,
        "n_base": settings.base_samples,
        "n_evaluations": int(idx.attrs["n_evaluations"]),
        "inner_draws": settings.inner_draws,
        "index_confidence": settings.index_confidence,
        "u_all_pct": float(unc.attrs["u_all_pct"]),
        "rate_map_share": w_map,
        "allometry_share": dict(zip(strata, allometry_share.tolist(), strict=True)),
        "n_plots": dict(zip(strata, n_plots.tolist(), strict=True)),
        "dependence": dependence,
        "accuracy_lever": data.accuracy is not None and not allocated,
        "planning_shares": {name: s["shares"] for name, s in searches.items()},
        "u_run_pct": float(run["uncertainty_pct"]),
        "u_run_mcse": rows[0]["uncertainty_pct_mcse"],
    }
    log.info(
        "sensitivity: %d evaluations for the indices, U (all groups) %.1f%%",
        notes["n_evaluations"],
        notes["u_all_pct"],
    )
    return SensitivityResult(indices, rows, searches, notes)


def run_summary(spec: RunSpec, inputs: KernelInputs) -> xr.Dataset:
    """The run's accounting under its standard, from its futures simulated again.

    The same call as the run's (:func:`simulator.engine.streaming.stream` with the
    run's draws, seed, chunking and tolerance, then :func:`simulator.accounting.account`):
    a run's numbers depend only on its inputs and seed, so this is the run's summary.
    """
    cfg = spec.config
    sim_cfg = cfg.simulation
    log.info("sensitivity: simulating the run's futures again to anchor the planning")
    sim = stream(
        inputs,
        sim_cfg.n_draws,
        sim_cfg.seed,
        sim_cfg.chunk_size,
        mc_tolerance=sim_cfg.mc_tolerance,
        max_draws=sim_cfg.max_draws,
    )
    return account(
        sim,
        STANDARDS[cfg.accounting.standard],
        cfg.accounting.buffer_pct,
        cfg.crediting.start_year,
    )
