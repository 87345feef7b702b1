"""Figures of the deforestation and leakage models: rates, predictive checks, parameters."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from models import deforestation, priors
from models.sampling import flat_draws
from simulator.data import RunData
from simulator.engine.hazard import loss_fraction
from simulator.engine.kernels import KernelInputs
from simulator.engine.reference import log_hazard_paths
from simulator.inference import Posteriors
from simulator.report.figures.style import save, styled

__all__ = ["fig_rates", "fig_deforestation_checks", "fig_parameters"]


@styled
def fig_rates(path, spec, data, tree, inputs: KernelInputs, years) -> None:
    d = data.deforestation
    obs = 100 * d["loss_ha"] / d["forest_area_ha"]
    se = 100 * d["loss_se_ha"] / d["forest_area_ha"]
    fitted = flat_draws(tree, "rate_pct")
    k = np.arange(inputs.log_rate_mean.shape[0])
    projected = 100 * loss_fraction(log_hazard_paths(inputs, 0, k.astype(np.uint64), k))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for x, series, colour, label in (
        (d["year"], fitted, "C0", "fitted rate"),
        (years, projected, "C3", "projected baseline rate"),
    ):
        lo, med, hi = np.quantile(series, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(x, lo, hi, color=colour, alpha=0.25, lw=0)
        ax.plot(x, med, color=colour, label=f"{label} (median, 90% band)")
    ax.errorbar(
        d["year"],
        obs,
        yerr=1.96 * se,
        fmt="o",
        ms=3,
        color="k",
        capsize=2,
        label="map-derived loss, 95% CI",
    )
    first, last = spec.config.deforestation.highway_paving
    ax.axvspan(first, last, color="0.85", lw=0, label="highway paving")
    ax.set_ylabel("annual forest loss (% of forest)")
    ax.set_title("Reference-region deforestation rate")
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    save(fig, path)


@styled
def fig_deforestation_checks(path, data: RunData, tree: xr.DataTree, seed: int) -> dict:
    """Prior and posterior predictive checks of the observed loss rates; returns coverage."""
    d = data.deforestation
    years = d["year"]
    obs = 100 * d["loss_ha"] / d["forest_area_ha"]
    se = 100 * d["loss_se_ha"] / d["forest_area_ha"]
    prior = tree["prior_predictive"]["loss_pct"].transpose("chain", "draw", "year").values
    prior = prior.reshape(-1, prior.shape[-1])
    post = deforestation.posterior_predictive(tree, se, seed)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0), sharex=True)
    lo_post, hi_post = np.quantile(post, [0.05, 0.95], axis=0)
    inside = int(np.sum((obs >= lo_post) & (obs <= hi_post)))
    for ax, draws, title in (
        (axes[0], prior, "prior predictive"),
        (axes[1], post, f"posterior predictive: {inside} of {obs.size} inside 90%"),
    ):
        lo, q25, q75, hi = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
        ax.fill_between(years, lo, hi, color="C0", alpha=0.2, lw=0, label="90%")
        ax.fill_between(years, q25, q75, color="C0", alpha=0.4, lw=0, label="50%")
        ax.plot(years, obs, "ko", ms=3, label="observed")
        ax.set_title(title, fontsize=8)
    # the prior predictive reaches below 0 (measurement error on rates near 0): a
    # symmetric-log axis, linear within +-0.1 % and logarithmic beyond, shows both
    axes[0].set_yscale("symlog", linthresh=0.1)
    axes[0].axhline(0.0, color="0.5", lw=0.6)
    axes[0].set_ylabel("annual loss (% of forest)\nsymmetric log scale")
    axes[1].set_ylabel("annual loss (% of forest)")
    for ax in axes:
        ax.set_xlabel("year")
    axes[1].legend(frameon=False, fontsize=7, loc="upper left")
    save(fig, path)
    return {"inside": str(inside), "n": str(obs.size)}


@styled
def fig_parameters(path, spec, posteriors: Posteriors) -> None:
    cfg = spec.config
    panels = [
        ("deforestation", "effectiveness", "project effectiveness e"),
        ("leakage", "displacement", "leakage displacement λ"),
        ("deforestation", "post_conversion_tco2e_ha", "C_post after conversion (tCO2e/ha)"),
        ("deforestation", "sigma", "process noise σ of log hazard"),
        ("deforestation", "c", "highway effect c (log hazard)"),
        ("deforestation", "b", "trend b (log hazard per year)"),
    ]
    panels = [
        (posteriors.trees[model], var, label, priors.marginal_prior(cfg, model, var))
        for model, var, label in panels
    ]
    fig, axes = plt.subplots(2, 3, figsize=(8, 4.2))
    for i, (ax, (tree, var, label, prior)) in enumerate(zip(axes.flat, panels, strict=True)):
        x = flat_draws(tree, var)
        ax.hist(x, bins=50, density=True, color="C0", alpha=0.7, label="posterior")
        # the prior over the posterior's range and its own central 99%, whichever is wider
        lo, hi = np.quantile(x, [0.0005, 0.9995])
        grid = np.linspace(min(lo, prior.ppf(0.005)), max(hi, prior.ppf(0.995)), 300)
        ax.plot(grid, prior.pdf(grid), color="k", lw=1, ls="--", label="prior")
        ax.legend(frameon=False, fontsize=7, loc="upper right")
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        if i % 3 == 0:
            ax.set_ylabel("density", fontsize=8)
    save(fig, path)
