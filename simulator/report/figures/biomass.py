"""Figures of the biomass model: stratum densities, each plot's AGB, predictive checks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib import ticker

from models import biomass
from models.sampling import flat_draws
from models.settings import Biomass
from simulator.config import RunSpec
from simulator.inference import Posteriors
from simulator.report.figures.style import save, styled
from simulator.report.labels import strata_labels

__all__ = ["fig_biomass_density", "fig_plot_agb", "biomass_checks", "fig_biomass_checks"]


@styled
def fig_biomass_density(path: Path, spec: RunSpec, posteriors: Posteriors) -> None:
    strata = [s.name for s in spec.config.project.strata]
    labels = strata_labels(spec.config)
    tree = posteriors.trees["biomass"]
    plots = posteriors.plots
    # Stated carbon stocks have no dry-matter AGB: show AGB carbon instead.
    agb = flat_draws(tree, "agb_mg_ha" if plots is not None else "agb_tco2e_ha")
    carbon = flat_draws(tree, "carbon_tco2e_ha")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    for i, name in enumerate(strata):
        if plots is not None:
            pts = plots.mean[plots.inventory.plot_stratum == name]
            jitter = np.linspace(-0.15, 0.15, pts.size) if pts.size > 1 else np.zeros(1)
            ax1.scatter(
                pts, i + 0.25 + jitter * 0.3, s=8, color="0.6", label="plots" if i == 0 else None
            )
        lo, med, hi = np.quantile(agb[:, i], [0.05, 0.5, 0.95])
        ax1.errorbar(
            med,
            i,
            xerr=[[med - lo], [hi - med]],
            fmt="o",
            color="C0",
            capsize=3,
            label="stratum mean, 90% CI" if i == 0 else None,
        )
        lo, med, hi = np.quantile(carbon[:, i], [0.05, 0.5, 0.95])
        ax2.errorbar(med, i, xerr=[[med - lo], [hi - med]], fmt="o", color="C2", capsize=3)
    for ax in (ax1, ax2):
        ax.set_yticks(range(len(strata)), [labels[n] for n in strata])
        ax.invert_yaxis()
    if plots is not None:
        ax1.set_xlabel("above-ground biomass (Mg/ha)")
        ax2.set_xlabel("carbon density, AGB + BGB (tCO2e/ha)")
        ax1.set_title("Plot means and posterior stratum means")
    else:
        ax1.set_xlabel("above-ground biomass carbon (tCO2e/ha)")
        ax2.set_xlabel("carbon density, all pools given (tCO2e/ha)")
        ax1.set_title("Stratum AGB carbon from stated stocks")
    ax1.legend(frameon=False, fontsize=7, loc="lower right")
    ax2.set_title("Stratum carbon density, 90% CI")
    save(fig, path)


@styled
def fig_plot_agb(path: Path, strata: dict[str, str], plots) -> None:
    """Each plot's Monte Carlo AGB (median and 95% interval), grouped by stratum.

    ``strata``: each stratum's code name (as the plots name it) → its display name.
    """
    lo, med, hi = np.quantile(plots.draws, [0.025, 0.5, 0.975], axis=1)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = 0
    ticks = []
    for i, (name, label) in enumerate(strata.items()):
        idx = np.flatnonzero(plots.inventory.plot_stratum == name)
        idx = idx[np.argsort(med[idx])]
        xs = np.arange(x, x + idx.size)
        ax.errorbar(
            xs,
            med[idx],
            yerr=[med[idx] - lo[idx], hi[idx] - med[idx]],
            fmt="o",
            ms=2.5,
            color=f"C{i}",
            elinewidth=0.8,
            label=label,
        )
        ticks.append((xs.mean(), label))
        x += idx.size + 2
    ax.set_xticks([t for t, _ in ticks], [n for _, n in ticks])
    ax.set_ylabel("plot AGB (Mg/ha)")
    ax.set_title("AGB by plot: tree-level Monte Carlo, median and 95% interval")
    save(fig, path)


def biomass_checks(
    tree: xr.DataTree,
    strata: list[str],
    plot_stratum,
    agb_mg_ha,
    agb_sd_mg_ha,
    priors: Biomass,
    seed: int,
    replicated: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Posterior predictive checks of the plot AGB the biomass model was fitted to.

    Replicates ``y_rep`` are :func:`models.biomass.posterior_predictive` (the model's
    likelihood, measurement error included). Per plot: the equal-tailed 90% interval of
    ``exp(y_rep_p)`` and whether the observed ``AGB_p`` is inside it. Per stratum s: the
    between-plot SD of log AGB, ``T_s(y) = sd_{p in s}(log AGB_p)``, and its posterior
    predictive p-value ``Pr(T_s(y_rep) >= T_s(y) | y)`` (Gelman et al. 2013, *Bayesian Data
    Analysis* §6.3), NaN for a stratum of fewer than two plots. ``replicated``: the
    replicates already drawn with these arguments
    (:func:`simulator.inference.fit.posterior_replicates`, a run's cached part).

    Returns
    -------
    dict of arrays: ``observed``, ``lo``, ``hi``, ``inside`` (per plot, Mg/ha), ``index``
    (each plot's stratum), ``sd_observed`` (per stratum), ``sd_replicated`` (draws x
    strata) and ``sd_p`` (per stratum).
    """
    plot_stratum = np.asarray(plot_stratum)
    index = np.array([strata.index(s) for s in plot_stratum])
    y, _ = biomass.plot_log_data(agb_mg_ha, agb_sd_mg_ha)
    rep = (
        biomass.posterior_predictive(
            tree, strata, plot_stratum, agb_mg_ha, agb_sd_mg_ha, priors, seed
        )
        if replicated is None
        else replicated
    )
    lo, hi = np.exp(np.quantile(rep, [0.05, 0.95], axis=0))
    observed = np.exp(y)
    k = len(strata)
    sd_obs, sd_rep, sd_p = (
        np.full(k, np.nan),
        np.full((rep.shape[0], k), np.nan),
        np.full(k, np.nan),
    )
    for s in range(k):
        members = index == s
        if members.sum() > 1:
            sd_obs[s] = y[members].std(ddof=1)
            sd_rep[:, s] = rep[:, members].std(axis=1, ddof=1)
            sd_p[s] = np.mean(sd_rep[:, s] >= sd_obs[s])
    return {
        "observed": observed,
        "lo": lo,
        "hi": hi,
        "inside": (observed >= lo) & (observed <= hi),
        "index": index,
        "sd_observed": sd_obs,
        "sd_replicated": sd_rep,
        "sd_p": sd_p,
    }


def _p_value(p: float) -> str:
    """A posterior predictive p-value for the appendix: two decimals, the ends as bounds."""
    if not np.isfinite(p):
        return "n/a"
    if p < 0.01:
        return "< 0.01"
    if p > 0.99:
        return "> 0.99"
    return f"{p:.2f}"


@styled
def fig_biomass_checks(
    path: Path,
    strata: dict[str, str],
    plots,
    tree: xr.DataTree,
    priors: Biomass,
    seed: int,
    replicated: np.ndarray | None = None,
) -> dict:
    """Posterior predictive checks of plot AGB per stratum (:func:`biomass_checks`).

    ``strata``: each stratum's code name → its display name, in the model's order. Top
    row: each plot's observed AGB against its 90% posterior predictive interval; bottom
    row: the between-plot SD of log AGB, replicated and observed. Returns the coverage
    and the SD p-values, formatted for the appendix.
    """
    names = list(strata)
    c = biomass_checks(
        tree, names, plots.inventory.plot_stratum, plots.mean, plots.sd, priors, seed, replicated
    )
    # four strata a row: each a column of two panels (plots above, their SD below)
    k = len(names)
    ncol, nrow = min(k, 4), -(-k // 4)
    fig = plt.figure(figsize=(8, 4.5 * nrow + 0.3))
    grid = fig.add_gridspec(2 * nrow + 1, ncol, height_ratios=[3, 2] * nrow + [0.3])
    axes = [
        (
            fig.add_subplot(grid[2 * (s // ncol), s % ncol]),
            fig.add_subplot(grid[2 * (s // ncol) + 1, s % ncol]),
        )
        for s in range(k)
    ]
    key = fig.add_subplot(grid[-1, :])
    ymin, ymax = min(c["lo"].min(), c["observed"].min()), max(c["hi"].max(), c["observed"].max())
    rows = []
    for s, label in enumerate(strata.values()):
        idx = np.flatnonzero(c["index"] == s)
        idx = idx[np.argsort(c["observed"][idx])]
        x = np.arange(idx.size)
        inside = c["inside"][idx]
        ax, ax_sd = axes[s]
        ax.vlines(x, c["lo"][idx], c["hi"][idx], color="C0", lw=2.5, alpha=0.35)
        ax.plot(x[inside], c["observed"][idx][inside], "ko", ms=2.5)
        ax.plot(x[~inside], c["observed"][idx][~inside], "o", color="C3", ms=3.5)
        ax.set_yscale("log")
        ax.set_ylim(ymin / 1.1, ymax * 1.1)
        ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 3, 5)))
        ax.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xticks([])
        ax.set_xlabel("plots, by observed AGB", fontsize=7)
        ax.set_title(f"{label}\n{int(inside.sum())} of {idx.size} inside 90%", fontsize=8)
        ax.tick_params(labelsize=7)
        if s % ncol == 0:
            ax.set_ylabel("plot AGB (Mg/ha, log scale)", fontsize=8)
            ax_sd.set_ylabel("replicated (density)", fontsize=8)
        ax = ax_sd
        p = c["sd_p"][s]
        if np.isfinite(p):
            ax.hist(c["sd_replicated"][:, s], bins=40, color="C0", alpha=0.6, density=True)
            ax.axvline(c["sd_observed"][s], color="k", lw=1.2)
        else:
            ax.text(0.5, 0.5, "fewer than two plots", ha="center", va="center", fontsize=7)
            ax.set_xticks([])
        ax.set_title(f"between-plot SD: p = {_p_value(p)}", fontsize=8)
        ax.set_xlabel("SD of log AGB", fontsize=7)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        rows.append(f"{label} {_p_value(p)}")
    handles = [
        plt.Line2D([], [], color="C0", lw=2.5, alpha=0.35, label="90% posterior predictive"),
        plt.Line2D([], [], color="k", marker="o", ms=2.5, ls="", label="observed, inside"),
        plt.Line2D([], [], color="C3", marker="o", ms=3.5, ls="", label="observed, outside"),
        plt.Line2D([], [], color="k", lw=1.2, label="observed SD"),
    ]
    key.axis("off")
    key.legend(handles=handles, loc="center", ncol=4, frameon=False, fontsize=7)
    save(fig, path)
    return {
        "inside": str(int(c["inside"].sum())),
        "n": str(c["inside"].size),
        "sd_p": ", ".join(rows),
    }
