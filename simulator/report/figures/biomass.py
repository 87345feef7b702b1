"""Figures of the biomass model: stratum densities and each plot's Monte Carlo AGB."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from models.sampling import flat_draws
from simulator.config import RunSpec
from simulator.inference import Posteriors
from simulator.report.figures.style import save, styled
from simulator.report.labels import strata_labels

__all__ = ["fig_biomass_density", "fig_plot_agb"]


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
