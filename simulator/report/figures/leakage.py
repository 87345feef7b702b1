"""Figures of the leakage model: the posterior predictive check of the belt's observed loss."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib import ticker

from models import leakage
from models.settings import Leakage
from simulator.data import RunData
from simulator.report.figures.style import save, styled

__all__ = ["leakage_checks", "fig_leakage_checks"]


def leakage_checks(
    tree: xr.DataTree,
    belt: dict[str, np.ndarray],
    settings: Leakage,
    seed: int,
    replicated: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Posterior predictive check of the belt loss per monitoring year.

    Replicates are :func:`models.leakage.posterior_predictive` (the model's likelihood,
    ``N(kappa belt_baseline_t + lambda avoided_t, belt_se_t)``); per year the equal-tailed
    90% and 50% intervals of the replicated belt loss and whether the observed one is
    inside the 90% interval.

    Parameters
    ----------
    tree : DataTree
        Result of :func:`models.leakage.fit`.
    belt : dict of arrays
        ``leakage_belt.csv`` by column (:attr:`simulator.data.RunData.leakage_belt`).
    settings : models.settings.Leakage
    seed : int
    replicated : array, optional
        The replicates already drawn with these arguments
        (:func:`simulator.inference.fit.posterior_replicates`, a run's cached part).

    Returns
    -------
    dict of arrays over years: ``year``, ``observed``, ``lo``, ``q25``, ``q75``, ``hi``,
    ``inside`` (ha).
    """
    rep = (
        leakage.posterior_predictive(
            tree,
            belt["year"],
            belt["avoided_ha"],
            belt["belt_loss_ha"],
            belt["belt_baseline_ha"],
            belt["belt_se_ha"],
            settings,
            seed,
        )
        if replicated is None
        else replicated
    )
    observed = np.asarray(belt["belt_loss_ha"], dtype=float)
    lo, q25, q75, hi = np.quantile(rep, [0.05, 0.25, 0.75, 0.95], axis=0)
    return {
        "year": np.asarray(belt["year"]),
        "observed": observed,
        "lo": lo,
        "q25": q25,
        "q75": q75,
        "hi": hi,
        "inside": (observed >= lo) & (observed <= hi),
    }


@styled
def fig_leakage_checks(
    path: Path,
    data: RunData,
    tree: xr.DataTree,
    settings: Leakage,
    seed: int,
    replicated: np.ndarray | None = None,
) -> dict:
    """Posterior predictive check of the belt loss (:func:`leakage_checks`); returns coverage."""
    belt = data.leakage_belt
    c = leakage_checks(tree, belt, settings, seed, replicated)
    years, obs, inside = c["year"], c["observed"], c["inside"]
    fig, ax = plt.subplots(figsize=(8, 3.0))
    ax.fill_between(years, c["lo"], c["hi"], color="C0", alpha=0.2, lw=0, label="90%")
    ax.fill_between(years, c["q25"], c["q75"], color="C0", alpha=0.4, lw=0, label="50%")
    ax.plot(
        years,
        belt["belt_baseline_ha"],
        color="0.4",
        lw=1,
        ls="--",
        label="belt baseline (stated)",
    )
    ax.plot(years[inside], obs[inside], "ko", ms=3, label="observed belt loss")
    if not inside.all():
        ax.plot(years[~inside], obs[~inside], "o", color="C3", ms=4, label="observed, outside 90%")
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_xlabel("monitoring year")
    ax.set_ylabel("belt loss (ha / yr)")
    ax.set_title(
        f"Leakage belt, posterior predictive: {int(inside.sum())} of {obs.size} inside 90%",
        fontsize=8,
    )
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    save(fig, path)
    return {"inside": str(int(inside.sum())), "n": str(obs.size)}
