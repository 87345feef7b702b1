"""Sampler diagnostics figures: rank plots of the gated parameters."""

from __future__ import annotations

from pathlib import Path

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from simulator.report.figures.style import styled

__all__ = ["fig_rank"]


@styled
def fig_rank(path: Path, tree: xr.DataTree, var_names: list[str]) -> None:
    # Thinned: autocorrelated NUTS draws make the unthinned uniformity test flag healthy chains.
    panels = sum(int(np.prod(tree.posterior[v].shape[2:])) for v in var_names)
    rows = -(-panels // 4)
    size = (10, 2.6 * rows) if panels > 1 else (5, 2.6)
    pc = az.plot_rank(
        tree,
        var_names=var_names,
        thin=True,
        figure_kwargs={"figsize": size, "layout": "constrained"},
    )
    pc.savefig(str(path))
    plt.close("all")
