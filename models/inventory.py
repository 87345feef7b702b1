"""Plot above-ground biomass from tree inventories, with every error propagated.

For each plot, :func:`plot_agb_draws` draws ``n`` Monte Carlo realisations of the
plot's AGB density (Mg/ha) the way BIOMASS ``AGBmonteCarlo`` does (Réjou-Méchain
et al. 2017), with each error source switchable (:class:`ErrorSources`). Sources
are of two kinds.

**Shared** (systematic): drawn once per iteration and common to every tree, plot
and stratum, so they do not average out:

* ``coefficients``: one (alpha, beta, sigma) of the posterior of Chave et al.
  (2014) Eq. 4 fitted to its harvest data (:func:`models.allometry.load_eq4_posterior`);
  off: the posterior means;
* ``height_model``: one parameter vector per fitted H-D model (multivariate normal
  with the fit's covariance); off: the point estimates;
* ``wood_density_mean``: one error per fallback wood-density mean (plot or
  inventory mean, :mod:`models.wood_density`), shared by the trees that use it;
* ``site_bias``: an optional log-scale bias of the allometry at the site,
  N(0, ``site_bias_sd``), mean-preserving (off by default: ``site_bias_sd = 0``).

**Independent** (per tree):

* ``diameter``: truncated normal on [0.1, 500] cm with Chave et al. (2004)
  SD = 0.0062 D + 0.0904 cm, and SD = 4.64 cm for a random 5% of trees;
* ``wood_density``: truncated normal on [0.08, 1.39] g/cm3 with the tree's SD;
* ``height``: trees with a measured height keep it (with an optional SD); the
  others get their H-D model's prediction plus a residual of its RSE;
* ``allometry``: the Eq. 4 residual N(0, sigma) on the log scale (the palm
  model's residual for palms).

Palms (family Arecaceae) use the palm model of Goodman et al. (2013)
(:func:`models.allometry.goodman2013_palm_agb`, diameter only) instead of Eq. 4.

With the residual off, the intercept is alpha + sigma^2/2 (log-normal mean), so
that switching a residual on or off does not move the Monte Carlo mean. Each tree
counts with its expansion factor: 1/area of the (sub)plot where trees of its size
were measured. With every source off, a draw is the deterministic sum (tested).

The shared draws come from their own random stream, so they are the same in a
run with every source on and in a run with only the shared sources on (the error
budget and the stratum model rely on this).

References
----------
Réjou-Méchain, M. et al. (2017). BIOMASS: an R package for estimating above-ground
biomass and its uncertainty in tropical forests. Methods Ecol. Evol. 8, 1163-1167
(``AGBmonteCarlo``, ``modelHD``, ``predictHeight``, ``getWoodDensity``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import special

from models.allometry import (
    GOODMAN2013_PALM,
    MIN_HEIGHTS,
    Eq4Posterior,
    HeightModel,
    chave2004_diameter_sd,
    chave2014_agb,
    feldpausch_model,
    fit_height_model,
    goodman2013_palm_agb,
    load_eq4_posterior,
)

__all__ = [
    "ErrorSources",
    "SHARED_SOURCES",
    "INDEPENDENT_SOURCES",
    "Inventory",
    "HeightModelSet",
    "fit_height_models",
    "GROSS_DIAMETER_SD",
    "GROSS_ERROR_SHARE",
    "expansion_factors",
    "plot_agb_draws",
    "plot_agb_deterministic",
    "candidate_agb",
    "stratum_log_variance",
    "source_log_variances",
    "error_budget",
    "ERROR_BUDGET_KEYS",
]

#: SD (cm) of a gross diameter error and the share of trees with one (Chave et al. 2004).
GROSS_DIAMETER_SD = 4.64
GROSS_ERROR_SHARE = 0.05
D_BOUNDS = (0.1, 500.0)
WD_BOUNDS = (0.08, 1.39)
H_MIN = 1.3

SHARED_SOURCES = ("coefficients", "height_model", "wood_density_mean", "site_bias")
INDEPENDENT_SOURCES = ("diameter", "wood_density", "height", "allometry")
#: The entries of :func:`error_budget`'s result.
ERROR_BUDGET_KEYS = (
    *INDEPENDENT_SOURCES,
    *SHARED_SOURCES,
    "sampling",
    "carbon_fraction",
    "root_shoot",
    "total",
    "independent",
    "shared",
    "height_model_choice",
)


@dataclass(frozen=True)
class ErrorSources:
    """Which sources of error the Monte Carlo propagates (see the module docstring)."""

    diameter: bool = True
    wood_density: bool = True
    height: bool = True
    allometry: bool = True
    coefficients: bool = True
    height_model: bool = True
    wood_density_mean: bool = True
    site_bias: bool = True

    @classmethod
    def none(cls) -> ErrorSources:
        return cls(**{f.name: False for f in fields(cls)})

    @classmethod
    def only(cls, *names: str) -> ErrorSources:
        return replace(cls.none(), **{name: True for name in names})

    @classmethod
    def shared(cls) -> ErrorSources:
        return cls.only(*SHARED_SOURCES)

    @classmethod
    def independent(cls) -> ErrorSources:
        return cls.only(*INDEPENDENT_SOURCES)


@dataclass(frozen=True)
class Inventory:
    """A validated tree inventory (arrays over trees, and over plots).

    Tree arrays: ``tree_plot`` (plot index), ``dbh_cm``, ``height_m`` (NaN where
    not measured), ``wood_density`` and ``wood_density_sd`` (after lookup; NaN for
    palms), ``wood_density_source``; optional ``is_palm`` (bool),
    ``wood_density_group`` (index of the shared fallback mean, -1 none) with
    ``wood_density_group_se``, and ``hd_group`` (label whose H-D model a tree
    uses, default its plot's stratum).
    Plot arrays: ``plot_id``, ``plot_stratum``, ``area_ha``, ``subplot_area_ha``,
    ``subplot_max_dbh_cm``.
    """

    tree_plot: np.ndarray
    dbh_cm: np.ndarray
    height_m: np.ndarray
    wood_density: np.ndarray
    wood_density_sd: np.ndarray
    wood_density_source: np.ndarray
    plot_id: np.ndarray
    plot_stratum: np.ndarray
    area_ha: np.ndarray
    subplot_area_ha: np.ndarray
    subplot_max_dbh_cm: np.ndarray
    is_palm: np.ndarray | None = None
    wood_density_group: np.ndarray | None = None
    wood_density_group_se: np.ndarray | None = None
    hd_group: np.ndarray | None = None

    @property
    def n_plots(self) -> int:
        return self.plot_id.size

    @property
    def palm(self) -> np.ndarray:
        return np.zeros(self.dbh_cm.size, bool) if self.is_palm is None else self.is_palm

    @property
    def tree_hd_group(self) -> np.ndarray:
        if self.hd_group is not None:
            return np.asarray(self.hd_group, dtype=str)
        return np.asarray(self.plot_stratum, dtype=str)[self.tree_plot]

    def height_model(
        self, form: str = "auto", weights: str = "none", extra_heights=None
    ) -> HeightModelSet:
        """H-D models fitted to the measured heights (:func:`fit_height_models`)."""
        return fit_height_models(self, form, weights, extra_heights)


@dataclass(frozen=True)
class HeightModelSet:
    """One H-D model per group of trees (stratum or site), and which trees use which.

    ``models[j]`` applies to the trees with ``tree_group == j``; ``labels[j]`` names
    the group and ``how[j]`` says how its model was obtained ("local", "pooled"
    or "regional").
    """

    labels: tuple
    models: tuple
    how: tuple
    tree_group: np.ndarray

    @classmethod
    def single(cls, model: HeightModel, n_trees: int) -> HeightModelSet:
        return cls(("all",), (model,), ("local",), np.zeros(n_trees, dtype=np.int64))

    def predict(self, dbh_cm, params=None) -> np.ndarray:
        out = np.empty(np.shape(dbh_cm))
        for j, m in enumerate(self.models):
            sel = self.tree_group == j
            out[sel] = m.predict(dbh_cm[sel], None if params is None else params[j])
        return out

    def sample(self, dbh_cm, gen, params) -> np.ndarray:
        out = np.empty(np.shape(dbh_cm))
        for j, m in enumerate(self.models):
            sel = self.tree_group == j
            out[sel] = m.sample(dbh_cm[sel], gen, params[j])
        return out

    def with_form(self, form: str) -> HeightModelSet:
        """The same groups with every fitted model replaced by its ``form`` candidate."""
        models = tuple(m.candidates.get(form, m) if m.candidates else m for m in self.models)
        return replace(self, models=models)

    def forms(self) -> list[str]:
        """Candidate forms fitted in every group that has a fitted model."""
        fitted = [m for m in self.models if m.candidates]
        if not fitted:
            return []
        return [f for f in fitted[0].candidates if all(f in m.candidates for m in fitted)]

    def describe(self) -> str:
        parts = []
        for label, m, how in zip(self.labels, self.models, self.how, strict=True):
            if m.form == "feldpausch":
                parts.append(f"{label}: Feldpausch 2012 western Amazonia (RSE {m.rse:.2f} m)")
            else:
                parts.append(
                    f"{label}: {m.form}{' weighted by D2H' if m.weights == 'd2h' else ''} "
                    f"({how}, n = {m.n:,}, RSE {m.rse:.2f} m)"
                )
        return "; ".join(parts)


def fit_height_models(
    inv: Inventory, form: str = "auto", weights: str = "none", extra_heights=None
) -> HeightModelSet:
    """Fit an H-D model per group where heights allow, else pooled, else Feldpausch 2012.

    Each group (default: stratum) with at least :data:`MIN_HEIGHTS` measured
    heights of non-palm trees gets its own model; a group with fewer uses the model
    fitted to all measured heights of the inventory (plus ``extra_heights``, a
    separate ``(dbh_cm, height_m)`` sample such as BIOMASS's NouraguesHD); with
    fewer than :data:`MIN_HEIGHTS` heights in all, the western-Amazonia model of
    Feldpausch et al. (2012). Palms are left out of the fits (their stems do not
    follow the dicot H-D relation; the palm allometry uses diameter only).
    """
    groups = inv.tree_hd_group
    labels = list(dict.fromkeys(groups.tolist()))
    use = np.isfinite(inv.height_m) & ~inv.palm
    d_all, h_all = inv.dbh_cm[use], inv.height_m[use]
    if extra_heights is not None:
        d_all = np.concatenate([d_all, np.asarray(extra_heights[0], float)])
        h_all = np.concatenate([h_all, np.asarray(extra_heights[1], float)])
    pooled = fit_height_model(d_all, h_all, form, weights) if d_all.size >= MIN_HEIGHTS else None
    models, how = [], []
    for label in labels:
        sel = use & (groups == label)
        if extra_heights is None and sel.sum() >= MIN_HEIGHTS and len(labels) > 1:
            models.append(fit_height_model(inv.dbh_cm[sel], inv.height_m[sel], form, weights))
            how.append("local")
        elif pooled is not None:
            models.append(pooled)
            how.append("pooled" if len(labels) > 1 else "local")
        else:
            models.append(feldpausch_model())
            how.append("regional")
    index = {label: j for j, label in enumerate(labels)}
    tree_group = np.array([index[g] for g in groups.tolist()], dtype=np.int64)
    return HeightModelSet(tuple(labels), tuple(models), tuple(how), tree_group)


def expansion_factors(inv: Inventory) -> np.ndarray:
    """Trees per hectare each tree stands for: 1 / area of the (sub)plot that measured it."""
    p = inv.tree_plot
    small = inv.dbh_cm < inv.subplot_max_dbh_cm[p]
    return np.where(small, 1.0 / inv.subplot_area_ha[p], 1.0 / inv.area_ha[p])


def _truncated_normal(gen, mean, sd, lower, upper):
    """Truncated normal by inversion (as BIOMASS ``myrtruncnorm``); sd == 0 returns mean."""
    mean, sd = np.broadcast_arrays(np.asarray(mean, float), np.asarray(sd, float))
    out = mean.copy()
    live = (sd > 0) & np.isfinite(mean)
    if np.any(live):
        m, s = mean[live], sd[live]
        lo = special.ndtr((lower - m) / s)
        hi = special.ndtr((upper - m) / s)
        u = lo + gen.random(m.shape) * (hi - lo)
        out[live] = m + s * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
    return out


def _as_set(inv: Inventory, hd) -> HeightModelSet:
    return hd if isinstance(hd, HeightModelSet) else HeightModelSet.single(hd, inv.dbh_cm.size)


@dataclass(frozen=True)
class _SharedDraws:
    """The common factors of every iteration (one row per iteration)."""

    alpha: np.ndarray
    beta: np.ndarray
    sigma: np.ndarray
    hd_params: list  # per H-D group: (n, k)
    wd_shift: np.ndarray  # (n, n_fallback_groups)
    site_bias: np.ndarray  # (n,)


def _shared_draws(inv, hd: HeightModelSet, n, seed, sources, posterior, site_bias_sd):
    gen = np.random.default_rng([seed, 0x4249_4F4D, 1])  # shared stream
    a0, b0, s0 = posterior.central()
    k = gen.choice(posterior.size, size=n, replace=n > posterior.size)
    alpha = posterior.alpha[k] if sources.coefficients else np.full(n, a0)
    beta = posterior.beta[k] if sources.coefficients else np.full(n, b0)
    sigma = posterior.sigma[k] if sources.coefficients else np.full(n, s0)
    params = []
    for m in hd.models:
        draws = m.draw_params(gen, n)
        params.append(
            draws
            if sources.height_model
            else np.repeat(np.asarray(m.params, float)[None, :], n, axis=0)
        )
    se = np.zeros(0) if inv.wood_density_group_se is None else inv.wood_density_group_se
    shift = gen.normal(0.0, 1.0, (n, se.size)) * se
    if not sources.wood_density_mean:
        shift = np.zeros_like(shift)
    bias = gen.normal(0.0, 1.0, n) * site_bias_sd - site_bias_sd**2 / 2
    if not sources.site_bias:
        bias = np.zeros(n)
    return _SharedDraws(alpha, beta, sigma, params, shift, bias)


def plot_agb_deterministic(inv: Inventory, hd, posterior: Eq4Posterior | None = None):
    """Plot AGB density (Mg/ha) with no error (measured or predicted heights).

    Eq. 4 with the posterior-mean coefficients and the log-normal mean correction
    ``exp(alpha + sigma^2/2)``; palms by the palm model's mean.
    """
    posterior = posterior or load_eq4_posterior()
    a, b, s = posterior.central()
    hd = _as_set(inv, hd)
    h = np.where(np.isfinite(inv.height_m), inv.height_m, hd.predict(inv.dbh_cm))
    agb = _tree_agb(inv, inv.wood_density, inv.dbh_cm, h, a + s**2 / 2, b, None)
    agb = agb * expansion_factors(inv) / 1000.0
    return np.bincount(inv.tree_plot, weights=agb, minlength=inv.n_plots)


def _tree_agb(inv, rho, d, h, ln_a, b, palm_residual):
    """Tree AGB (kg): Eq. 4 for dicots, the palm model for palms."""
    palm = inv.palm
    rho_safe = np.where(palm, 1.0, rho)
    agb = chave2014_agb(rho_safe, d, h, ln_a, b)
    if np.any(palm):
        agb = np.where(palm, goodman2013_palm_agb(d, palm_residual), agb)
    return agb


def plot_agb_draws(
    inv: Inventory,
    hd,
    n: int,
    seed: int,
    sources: ErrorSources = ErrorSources(),
    measured_height_sd: float = 0.0,
    posterior: Eq4Posterior | None = None,
    site_bias_sd: float = 0.0,
) -> np.ndarray:
    """Monte Carlo draws of each plot's AGB density (Mg/ha).

    Parameters
    ----------
    inv : Inventory
    hd : HeightModelSet or HeightModel
        H-D model(s) for trees without a measured height.
    n : int
        Monte Carlo iterations.
    seed : int
        Seed of the NumPy generators (the same seed gives the same draws).
    sources : ErrorSources
        Error sources to propagate.
    measured_height_sd : float
        SD (m) of a measured height (0: measured heights are exact).
    posterior : Eq4Posterior, optional
        Eq. 4 coefficient draws (default: the committed posterior).
    site_bias_sd : float
        SD of the shared site bias of the allometry (log scale).

    Returns
    -------
    ndarray, shape (n_plots, n)
    """
    posterior = posterior or load_eq4_posterior()
    hd = _as_set(inv, hd)
    shared = _shared_draws(inv, hd, n, seed, sources, posterior, site_bias_sd)
    gen = np.random.default_rng([seed, 0x4249_4F4D])  # independent stream
    n_trees = inv.dbh_cm.size
    ef = expansion_factors(inv) / 1000.0
    measured_h = np.isfinite(inv.height_m)
    h_upper = np.nanmax(inv.height_m) + 15.0 if np.any(measured_h) else 90.0
    wd_group = np.full(n_trees, -1) if inv.wood_density_group is None else inv.wood_density_group
    has_group = wd_group >= 0
    palm_rse = GOODMAN2013_PALM["rse"]
    out = np.empty((inv.n_plots, n))
    for k in range(n):
        d = inv.dbh_cm
        if sources.diameter:
            sd = chave2004_diameter_sd(inv.dbh_cm)
            gross = gen.choice(n_trees, size=round(GROSS_ERROR_SHARE * n_trees), replace=False)
            sd[gross] = GROSS_DIAMETER_SD
            d = _truncated_normal(gen, inv.dbh_cm, sd, *D_BOUNDS)
        rho_mean = inv.wood_density
        if has_group.any():
            rho_mean = rho_mean + np.where(
                has_group, shared.wd_shift[k][np.maximum(wd_group, 0)], 0.0
            )
        rho = rho_mean
        if sources.wood_density:
            rho = _truncated_normal(gen, rho_mean, inv.wood_density_sd, *WD_BOUNDS)
        elif has_group.any():
            rho = np.clip(rho_mean, *WD_BOUNDS)
        params = [p[k] for p in shared.hd_params]
        if sources.height:
            h_meas = _truncated_normal(gen, inv.height_m, measured_height_sd, H_MIN, h_upper)
            h = np.where(measured_h, h_meas, hd.sample(d, gen, params))
        else:
            h = np.where(measured_h, inv.height_m, hd.predict(d, params))
        if sources.allometry:
            z = gen.standard_normal(n_trees)
            ln_a = shared.alpha[k] + shared.sigma[k] * z
            palm_res = palm_rse * z
        else:
            ln_a = shared.alpha[k] + shared.sigma[k] ** 2 / 2
            palm_res = None
        agb = _tree_agb(inv, rho, d, h, ln_a + shared.site_bias[k], shared.beta[k], palm_res)
        if shared.site_bias[k] != 0.0 and np.any(inv.palm):
            agb = np.where(inv.palm, agb * np.exp(shared.site_bias[k]), agb)
        out[:, k] = np.bincount(inv.tree_plot, weights=agb * ef, minlength=inv.n_plots)
    return out


def candidate_agb(inv: Inventory, hd, posterior: Eq4Posterior | None = None) -> dict:
    """Deterministic plot AGB (Mg/ha) under each candidate H-D form (model-choice spread).

    Returns ``{form: ndarray over plots}`` for every form fitted in all groups with
    a local or pooled model (groups on the regional model keep it).
    """
    hd = _as_set(inv, hd)
    return {f: plot_agb_deterministic(inv, hd.with_form(f), posterior) for f in hd.forms()}


def stratum_log_variance(draws: np.ndarray, plot_stratum, strata: list[str]) -> np.ndarray:
    """Variance over iterations of the log of each stratum's mean plot AGB density."""
    plot_stratum = np.asarray(plot_stratum)
    out = np.empty(len(strata))
    for i, s in enumerate(strata):
        m = draws[plot_stratum == s].mean(axis=0)
        out[i] = np.log(m).var(ddof=1)
    return out


def source_log_variances(
    inv: Inventory,
    hd,
    n: int,
    seed: int,
    aggregate,
    measured_height_sd: float = 0.0,
    site_bias_sd: float = 0.0,
    posterior: Eq4Posterior | None = None,
) -> dict[str, np.ndarray]:
    """Variance of ``log(aggregate(draws))`` with one source on at a time, per source.

    ``aggregate`` maps plot draws (n_plots, n) to the quantity of interest per
    iteration, e.g. stratum means (n_strata, n) or the total (n,). Sources are
    :data:`INDEPENDENT_SOURCES` then :data:`SHARED_SOURCES` (``site_bias`` is 0
    without a site-bias SD).
    """
    posterior = posterior or load_eq4_posterior()
    out = {}
    for k, name in enumerate(INDEPENDENT_SOURCES + SHARED_SOURCES):
        draws = None
        if name != "site_bias" or site_bias_sd > 0:
            draws = plot_agb_draws(
                inv,
                hd,
                n,
                seed + k,
                ErrorSources.only(name),
                measured_height_sd,
                posterior,
                site_bias_sd,
            )
        if draws is None:
            out[name] = np.zeros(np.shape(aggregate(np.ones((inv.n_plots, 2))))[:-1])
        else:
            out[name] = np.log(aggregate(draws)).var(axis=-1, ddof=1)
    return out


def error_budget(
    inv: Inventory,
    hd,
    strata: list[str],
    n: int,
    seed: int,
    between_plot_var: np.ndarray,
    carbon_fraction: tuple[float, float],
    root_shoot: tuple[float, float],
    measured_height_sd: float = 0.0,
    site_bias_sd: float = 0.0,
    posterior: Eq4Posterior | None = None,
) -> dict[str, np.ndarray]:
    """Share of each error source in the variance of a stratum's mean carbon density.

    First-order decomposition on the log scale (relative variances add for
    products of independent factors). For each tree-level source, the variance
    over iterations of the log of the stratum's mean plot AGB with only that
    source on: an independent source averages over the stratum's trees and plots,
    a shared one does not. Then the sampling variance ``tau_s^2 / n_s``
    (between-plot variance of the fitted model) and the relative variances of
    the carbon fraction and of (1 + R).

    Returns
    -------
    dict of str to ndarray
        Variance contribution per source, shape (n_strata,): the independent
        sources ``allometry``, ``diameter``, ``wood_density``, ``height``; the
        shared ``coefficients``, ``height_model``, ``wood_density_mean``,
        ``site_bias``; ``sampling``, ``carbon_fraction``, ``root_shoot``; their
        sum ``total``; the subtotals ``independent`` and ``shared`` (tree-level);
        and ``height_model_choice``, the variance of the log stratum AGB across
        the candidate H-D forms (reported, not in the total: the form is chosen).
    """
    posterior = posterior or load_eq4_posterior()
    plot_s = np.asarray(inv.plot_stratum)
    n_plots = np.array([np.sum(plot_s == s) for s in strata])
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(INDEPENDENT_SOURCES + SHARED_SOURCES):
        if name == "site_bias" and site_bias_sd == 0.0:
            out[name] = np.zeros(len(strata))
            continue
        draws = plot_agb_draws(
            inv,
            hd,
            n,
            seed + k,
            ErrorSources.only(name),
            measured_height_sd,
            posterior,
            site_bias_sd,
        )
        out[name] = stratum_log_variance(draws, plot_s, strata)
    out["sampling"] = np.asarray(between_plot_var) / n_plots
    cf_mean, cf_sd = carbon_fraction
    rs_mean, rs_sd = root_shoot
    out["carbon_fraction"] = np.full(len(strata), (cf_sd / cf_mean) ** 2)
    out["root_shoot"] = np.full(len(strata), (rs_sd / (1 + rs_mean)) ** 2)
    out["total"] = np.sum(list(out.values()), axis=0)
    out["independent"] = np.sum([out[s] for s in INDEPENDENT_SOURCES], axis=0)
    out["shared"] = np.sum([out[s] for s in SHARED_SOURCES], axis=0)
    cands = candidate_agb(inv, hd, posterior)
    if len(cands) > 1:
        logs = np.array([[np.log(v[plot_s == s].mean()) for s in strata] for v in cands.values()])
        out["height_model_choice"] = logs.var(axis=0, ddof=1)
    else:
        out["height_model_choice"] = np.zeros(len(strata))
    return out
